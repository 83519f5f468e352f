"""Multi-NeuS benchmarks: renderer rays/s, marching-cubes time at 128^3 / 256^3, Chamfer vs fitting iterations.

python multi-neus/benchmarks/run_all.py [--run-dir outputs/multineus/default] [--budgets 60 150 300] [--skip-fit]

The fitting benchmark needs a meta-learned model: it uses RUN_DIR/meta/model.pt (from `make train-multineus`) and
the run's held-out identity; without it that part is skipped with a note. Writes outputs/multineus/bench/*.json.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import mcubes
import torch
from multi_neus.config import MultiNeuSConfig, load
from multi_neus.data.generate import prepare_data
from multi_neus.data.scene import load_split
from multi_neus.evaluate import h3ds_chamfer
from multi_neus.geometry.rays import camera_rays
from multi_neus.losses import neus_loss
from multi_neus.mesh import extract_mesh, sdf_grid
from multi_neus.models.multi_neus import MultiNeuS
from multi_neus.models.renderer import render_rays, render_rays_chunked
from multi_neus.train import fit_multineus, fit_scratch, load_model
from shared_utils.io import markdown_table, save_json
from shared_utils.run import RunDir
from shared_utils.runtime import use_threads


def _rays(n: int):
    origins = torch.tensor([0.0, -3.75, 0.0]).expand(n, 3)
    pixels = torch.rand(n, 2) * 64
    k = torch.tensor([[119.4, 0, 32], [0, 119.4, 32], [0, 0, 1.0]]).expand(n, 3, 3)
    c2w = torch.eye(4).clone()
    c2w[:3, :3] = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    c2w[:3, 3] = origins[0]
    return camera_rays(pixels, k, c2w.expand(n, 4, 4))


def bench_renderer(cfg: MultiNeuSConfig, repeats: int = 3) -> dict:
    model = MultiNeuS(cfg, 8)
    origins, directions = _rays(4096)
    start = time.perf_counter()
    for _ in range(repeats):
        render_rays_chunked(model, 0, origins, directions, cfg.renderer)
    inference = repeats * 4096 / (time.perf_counter() - start)
    n = cfg.meta.batch_rays
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)
    start = time.perf_counter()
    for step in range(repeats * 2):
        out = render_rays(model, step % 8, origins[:n], directions[:n], cfg.renderer)
        loss = neus_loss(out, torch.rand(n, 3), torch.ones(n, 1), cfg.loss)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start
    samples = cfg.renderer.n_samples + cfg.renderer.n_importance
    return {"inference_rays_per_s": inference, "training_rays_per_s": repeats * 2 * n / elapsed,
            "training_step_s": elapsed / (repeats * 2), "samples_per_ray": samples}


def bench_marching_cubes(cfg: MultiNeuSConfig, resolutions=(128, 256)) -> dict:
    model = MultiNeuS(cfg, 1)
    result = {}
    for res in resolutions:
        start = time.perf_counter()
        values = sdf_grid(model, 0, res, 1.01)
        query = time.perf_counter() - start
        start = time.perf_counter()
        mcubes.marching_cubes(values, 0.0)
        result[f"{res}^3"] = {"sdf_query_s": query, "marching_cubes_s": time.perf_counter() - start}
    return result


def bench_fit_curve(run_dir: Path, budgets: list[int]) -> dict:
    meta_file = run_dir / "meta" / "model.pt"
    if not meta_file.exists():
        return {"skipped": f"no meta-learned model at {meta_file}: run `make train-multineus` first"}
    run_cfg = RunDir(run_dir).load_config(load)
    _, meta_model, _ = load_model(meta_file)
    scene = load_split(prepare_data(run_cfg), "test", run_cfg.data.downscale)[0]
    inputs = scene.subset([run_cfg.eval.frontal_view])
    curve = []
    for budget in budgets:
        cfg = copy.deepcopy(run_cfg)
        cfg.fit.stage1_steps = max(1, round(budget * 2 / 3))
        cfg.fit.stage1_decay_step = max(1, round(budget * 0.5))
        cfg.fit.stage2_steps = budget - cfg.fit.stage1_steps
        with tempfile.TemporaryDirectory() as tmp:
            multi = fit_multineus(cfg, meta_model, inputs, Path(tmp) / "multineus")[0][-1].model
            scratch = fit_scratch(cfg, inputs, Path(tmp) / "scratch").model
        row = {"iterations": budget}
        for name, model in (("multineus", multi), ("scratch", scratch)):
            mesh = extract_mesh(model, 0, scene.scale_mat, cfg.eval.mesh_resolution, cfg.eval.mesh_bound, False)
            row[name] = h3ds_chamfer(mesh, scene.gt_mesh, scene.face_vertices, cfg.eval)["chamfer_face_mm"]
        curve.append(row)
    return {"scene": scene.name, "face_chamfer_mm_vs_iterations": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", default="outputs/multineus/default")
    parser.add_argument("--output-dir", default="outputs/multineus/bench")
    parser.add_argument("--budgets", type=int, nargs="+", default=[60, 150, 300])
    parser.add_argument("--skip-fit", action="store_true")
    args = parser.parse_args()
    cfg = load("cpu")
    use_threads(cfg.num_threads)
    out = Path(args.output_dir)
    renderer = bench_renderer(cfg)
    save_json(renderer, out / "renderer.json")
    cubes = bench_marching_cubes(cfg)
    save_json(cubes, out / "marching_cubes.json")
    rows = [["renderer inference", f"{renderer['inference_rays_per_s']:.0f} rays/s"],
            ["renderer training", f"{renderer['training_rays_per_s']:.0f} rays/s "
                                  f"({renderer['training_step_s']:.3f} s per {cfg.meta.batch_rays}-ray step)"]]
    rows += [[f"marching cubes {k}", f"SDF query {v['sdf_query_s']:.2f} s + mcubes {v['marching_cubes_s']:.2f} s"]
             for k, v in cubes.items()]
    if not args.skip_fit:
        curve = bench_fit_curve(Path(args.run_dir), args.budgets)
        save_json(curve, out / "fit_curve.json")
        if "skipped" in curve:
            rows.append(["fit curve", curve["skipped"]])
        for row in curve.get("face_chamfer_mm_vs_iterations", []):
            rows.append([f"face Chamfer @ {row['iterations']} it",
                         f"Multi-NeuS {row['multineus']:.2f} mm, scratch {row['scratch']:.2f} mm"])
    print(markdown_table(["benchmark", "result"], rows))
    save_json({"cpu_threads": torch.get_num_threads(), "rows": rows}, out / "summary.json")


if __name__ == "__main__":
    main()
