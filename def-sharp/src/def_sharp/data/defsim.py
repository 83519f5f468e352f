"""DEF-Sim style patch data set: procedural shapes -> orthographic patches -> exact labels, written once as shards.

Layout under `<root>/<name>/` (root: `shared_utils.run.data_root("def", data.root)`): `manifest.json` and
`<split>/shard_<5-digit index>.npz` holding `depth` (B, H, W) float32 (noisy depth, 0 off the surface),
`mask` (B, H, W) bool, `distance` (B, H, W) float32 truncated distance-to-feature (= truncation off the
surface), `shape` (B,) int32 index into the split's shape list.

Generation holds the data root's lock and writes into a hidden staging folder that is renamed into place when the
manifest is complete, so that two runs sharing a root neither generate the same set twice nor read half of it.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from shared_utils.errors import InputError
from shared_utils.io import atomic_write, load_arrays, load_json, save_json
from shared_utils.run import data_lock, data_root
from shared_utils.training import progress_bar_enabled
from tqdm import tqdm

from def_sharp.config import DataConfig, ScanConfig
from def_sharp.data.scanning import add_depth_noise, camera_looking_along, patch_view_grid, scan
from def_sharp.geometry.distances import truncated_feature_distance
from def_sharp.geometry.shapes import SharpShape, make_shape, shape_catalogue

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass
class PatchArrays:
    depth: np.ndarray
    mask: np.ndarray
    distance: np.ndarray
    shape: np.ndarray

    def __len__(self) -> int:
        return len(self.depth)

    def subset(self, index: np.ndarray) -> PatchArrays:
        return PatchArrays(self.depth[index], self.mask[index], self.distance[index], self.shape[index])


def dataset_dir(cfg: DataConfig) -> Path:
    return data_root("def", cfg.root) / cfg.name


def generation_fingerprint(cfg: DataConfig) -> dict:
    """Everything that changes the generated data; a manifest with another fingerprint is regenerated."""
    return {"version": FORMAT_VERSION, "shapes": asdict(cfg.shapes), "scan": asdict(cfg.scan)}


def split_catalogue(cfg: DataConfig, split: str) -> list[tuple[str, int]]:
    count = {"train": cfg.shapes.n_train, "val": cfg.shapes.n_val, "test": cfg.shapes.n_test}[split]
    return shape_catalogue(count, cfg.shapes.seed * 1000 + SPLITS.index(split), cfg.shapes.smooth_fraction)


def build_shape(cfg: DataConfig, kind: str, seed: int) -> SharpShape:
    shapes = cfg.shapes
    return make_shape(kind, seed, sections=shapes.sections, sharp_angle_deg=shapes.sharp_angle_deg,
                      extent=shapes.extent, curve_length_quantile=shapes.curve_length_quantile)


def scan_patches(shape: SharpShape, scan_cfg: ScanConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random DEF-Sim poses of one shape, keeping patches whose surface covers enough pixels."""
    mesh, size = shape.mesh, scan_cfg.patch_size
    standoff = float(np.linalg.norm(mesh.extents)) / 2 + 1.0
    views = patch_view_grid(mesh, scan_cfg.n_directions, scan_cfg.n_shifts, scan_cfg.n_rotations,
                            scan_cfg.pixel_size, size)
    depths, masks, distances = [], [], []
    for view_index in rng.permutation(len(views))[: 8 * scan_cfg.patches_per_shape]:
        direction, angle, shift = views[view_index]
        camera = camera_looking_along(direction, mesh.bounds.mean(0), standoff, scan_cfg.pixel_size, size, angle, shift)
        patch = scan(mesh, camera)
        if patch.mask.mean() < scan_cfg.min_foreground_fraction:
            continue
        distance = np.full(patch.mask.shape, scan_cfg.truncation)
        distance[patch.mask] = truncated_feature_distance(
            patch.points[patch.mask], patch.face_index[patch.mask], shape.curves, scan_cfg.truncation
        )
        depths.append(add_depth_noise(patch, float(rng.choice(scan_cfg.noise_sigmas)), rng))
        masks.append(patch.mask)
        distances.append(distance)
        if len(depths) == scan_cfg.patches_per_shape:
            break
    empty = np.zeros((0, size, size))
    return {
        "depth": np.asarray(depths, dtype=np.float32) if depths else empty.astype(np.float32),
        "mask": np.asarray(masks, dtype=bool) if masks else empty.astype(bool),
        "distance": np.asarray(distances, dtype=np.float32) if distances else empty.astype(np.float32),
    }


def _shape_job(job: tuple[DataConfig, str, int, int]) -> dict[str, np.ndarray]:
    cfg, kind, seed, patch_seed = job
    return scan_patches(build_shape(cfg, kind, seed), cfg.scan, np.random.default_rng(patch_seed))


def _write_shard(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())


def _generate_split(cfg: DataConfig, split: str, out_dir: Path, progress: bool) -> dict:
    catalogue = split_catalogue(cfg, split)
    jobs = [(cfg, kind, seed, seed + 7919) for kind, seed in catalogue]
    shards, pending, n_patches, depth_ranges = [], [], 0, []

    def flush() -> None:
        if not pending:
            return
        arrays = {key: np.concatenate([p[key] for p in pending]) for key in ("depth", "mask", "distance", "shape")}
        name = f"{split}/shard_{len(shards):05d}.npz"
        _write_shard(out_dir / name, arrays)
        shards.append(name)
        pending.clear()

    workers = max(1, cfg.generation_workers)
    with get_context("fork").Pool(workers) if workers > 1 else _InlinePool() as pool:
        results = pool.imap(_shape_job, jobs, chunksize=1)
        for shape_index, patches in enumerate(tqdm(results, total=len(jobs), desc=f"def data {split}",
                                                    disable=not progress_bar_enabled(progress))):
            patches["shape"] = np.full(len(patches["depth"]), shape_index, dtype=np.int32)
            for depth, mask in zip(patches["depth"], patches["mask"], strict=True):
                depth_ranges.append(float(depth[mask].max() - depth[mask].min()))
            pending.append(patches)
            n_patches += len(patches["depth"])
            if sum(len(p["depth"]) for p in pending) >= cfg.shard_size:
                flush()
        flush()
    return {"shards": shards, "n_patches": n_patches, "shapes": [list(item) for item in catalogue],
            "depth_range_q95": float(np.quantile(depth_ranges, 0.95)) if depth_ranges else 1.0}


class _InlinePool:
    """Single-process stand-in for multiprocessing.Pool (no fork when one worker is asked for)."""

    def __enter__(self) -> _InlinePool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def imap(fn, jobs, chunksize=1):  # noqa: ARG004 - same signature as Pool.imap
        return map(fn, jobs)


def _is_complete(out_dir: Path, fingerprint: dict) -> bool:
    manifest_path = out_dir / MANIFEST
    try:
        return manifest_path.is_file() and load_json(manifest_path).get("fingerprint") == fingerprint
    except (ValueError, AttributeError):  # an unreadable manifest (edited by hand) means: generate again
        return False


def ensure_dataset(cfg: DataConfig, progress: bool = True) -> Path:
    """Generate the data set unless a complete one with the same fingerprint exists; returns its folder."""
    out_dir = dataset_dir(cfg)
    fingerprint = generation_fingerprint(cfg)
    if _is_complete(out_dir, fingerprint):
        return out_dir
    with data_lock(out_dir.parent):
        if _is_complete(out_dir, fingerprint):  # another run finished it while this one waited for the lock
            return out_dir
        staging, retired = out_dir.with_name(f".{cfg.name}.partial"), out_dir.with_name(f".{cfg.name}.old")
        shutil.rmtree(staging, ignore_errors=True)  # left by a run that was killed while generating
        splits = {split: _generate_split(cfg, split, staging, progress) for split in SPLITS}
        save_json({"fingerprint": fingerprint, "splits": splits}, staging / MANIFEST)
        if out_dir.exists():
            shutil.rmtree(retired, ignore_errors=True)
            out_dir.rename(retired)
        staging.rename(out_dir)
        shutil.rmtree(retired, ignore_errors=True)
    return out_dir


def load_manifest(data_dir: Path) -> dict:
    path = Path(data_dir) / MANIFEST
    if not path.exists():
        raise InputError(f"data set manifest '{path}' not found; run 'def-sharp make-data' first")
    return load_json(path)


def load_split(data_dir: Path, split: str) -> PatchArrays:
    """All patches of one split, concatenated in memory."""
    manifest = load_manifest(data_dir)
    if split not in manifest["splits"]:
        raise InputError(f"split '{split}' is not in the data set manifest of '{data_dir}'")
    parts: dict[str, list[np.ndarray]] = {"depth": [], "mask": [], "distance": [], "shape": []}
    for shard in manifest["splits"][split]["shards"]:
        arrays = load_arrays(Path(data_dir) / shard, required=tuple(parts))
        for key in parts:
            parts[key].append(arrays[key])
    if not parts["depth"]:
        raise InputError(f"split '{split}' of '{data_dir}' holds no patches")
    return PatchArrays(*(np.concatenate(parts[key]) for key in ("depth", "mask", "distance", "shape")))
