"""Built-in DensePose data: posed synthetic bodies ray-cast into images, annotations written in DensePose-COCO format.

Each image holds several people at different depths (a z-buffer gives exact occlusion), over a procedural or a
scikit-image photo background. Ground truth comes from the renderer itself: for every visible pixel the fine part and
the (U, V) of the ray's hit on that part's chart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import shutil
import tempfile

import numpy as np
from pycocotools import mask as mask_utils
from shared_utils.io import save_json, write_image
from shared_utils.run import data_lock

from ..config import SyntheticConfig
from . import body

log = logging.getLogger(__name__)

# bumped whenever the renderer changes what it draws, so that cached data sets are regenerated
GENERATOR_VERSION = 2
CATEGORY = {"id": 1, "name": "person", "supercategory": "person"}
_PHOTOS = ("coffee", "chelsea", "rocket", "astronaut", "immunohistochemistry", "hubble_deep_field", "motorcycle_left",
           "colorwheel", "retina", "cat")


def _photo_backgrounds() -> list[np.ndarray]:
    """The RGB photos that scikit-image ships inside its wheel (those needing a download are skipped)."""
    from skimage import data as skdata

    photos = []
    for name in _PHOTOS:
        try:
            img = np.asarray(getattr(skdata, name)())
        except Exception:  # noqa: BLE001 - a photo that needs pooch/network is simply not used
            continue
        if img.ndim == 3 and img.shape[2] >= 3 and min(img.shape[:2]) >= 128:
            photos.append(img[..., :3].astype(np.float32) / 255.0)
    return photos


def _procedural_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / (np.ptp(t) + 1e-6)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    for _ in range(rng.integers(3, 9)):  # distractor rectangles and discs
        color = rng.uniform(0, 1, 3)
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.05, 0.3) * height
        if rng.random() < 0.5:
            m = (np.abs(np.arange(width)[None] - cx) < r) & (np.abs(np.arange(height)[:, None] - cy) < r * 0.6)
        else:
            m = (np.arange(width)[None] - cx) ** 2 + (np.arange(height)[:, None] - cy) ** 2 < r**2
        img[m] = 0.6 * img[m] + 0.4 * color
    img += rng.normal(0, 0.03, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def _photo_crop(rng, photo, height, width):
    scale = max(height / photo.shape[0], width / photo.shape[1]) * rng.uniform(1.0, 1.6)
    from skimage.transform import resize

    h, w = int(np.ceil(photo.shape[0] * scale)), int(np.ceil(photo.shape[1] * scale))
    big = resize(photo, (h, w), order=1, anti_aliasing=True)
    y, x = rng.integers(0, h - height + 1), rng.integers(0, w - width + 1)
    return big[y:y + height, x:x + width].astype(np.float32)


def _person_colors(rng: np.random.Generator) -> np.ndarray:
    """Per-segment base colours: skin for head and hands, clothes elsewhere."""
    skin = np.array([0.85, 0.65, 0.5]) * rng.uniform(0.5, 1.1)
    shirt, trousers, shoes = rng.uniform(0.05, 0.95, 3), rng.uniform(0.05, 0.9, 3), rng.uniform(0.0, 0.4, 3)
    colors = []
    for segment in body.SEGMENTS:
        if segment.name in ("head",) or segment.name.startswith("hand") or segment.name.startswith("lower_arm"):
            colors.append(skin)
        elif segment.name.startswith("foot"):
            colors.append(shoes)
        elif "leg" in segment.name:
            colors.append(trousers)
        else:
            colors.append(shirt)
    return np.clip(np.array(colors), 0, 1)


def render_people(rng: np.random.Generator, height: int, width: int, people: list[dict]):
    """Ray-cast posed bodies orthographically (camera looks along -Z, image x = world X, image y = -world Y).

    Returns per-pixel person index (-1 = none), fine part, U, V and a shaded colour image (NaN where empty).
    """
    depth = np.full((height, width), np.inf)
    person_map = np.full((height, width), -1, dtype=np.int64)
    part_map = np.zeros((height, width), dtype=np.int64)
    u_map = np.zeros((height, width))
    v_map = np.zeros((height, width))
    shade = np.zeros((height, width, 3))
    light = np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8])
    for pid, person in enumerate(people):
        scale, tx, ty = person["scale"], person["tx"], person["ty"]
        for seg_index, (centre, frame, radii) in enumerate(person["segments"]):
            half_extent = np.sqrt(((frame * radii) ** 2).sum(1))  # axis-aligned half size of the ellipsoid
            x0 = int(np.floor((centre[0] - half_extent[0]) * scale + tx))
            x1 = int(np.ceil((centre[0] + half_extent[0]) * scale + tx))
            y0 = int(np.floor(ty - (centre[1] + half_extent[1]) * scale))
            y1 = int(np.ceil(ty - (centre[1] - half_extent[1]) * scale))
            x0, x1, y0, y1 = max(x0, 0), min(x1, width), max(y0, 0), min(y1, height)
            if x0 >= x1 or y0 >= y1:
                continue
            ys, xs = np.mgrid[y0:y1, x0:x1]
            world_x = (xs + 0.5 - tx) / scale
            world_y = (ty - ys - 0.5) / scale
            to_local = frame.T / radii[:, None]  # unit-sphere coordinates of a world offset
            origin = np.stack([world_x - centre[0], world_y - centre[1], np.full_like(world_x, 10.0 - centre[2])], -1)
            q0 = origin @ to_local.T
            qd = to_local @ np.array([0.0, 0.0, -1.0])
            a = qd @ qd
            b = 2 * q0 @ qd
            c = (q0 * q0).sum(-1) - 1
            disc = b * b - 4 * a * c
            hit = disc > 0
            t = (-b - np.sqrt(np.where(hit, disc, 0))) / (2 * a)
            hit &= t < depth[y0:y1, x0:x1]
            if not hit.any():
                continue
            q = q0[hit] + t[hit, None] * qd
            q /= np.linalg.norm(q, axis=1, keepdims=True)
            theta = np.arctan2(q[:, 1], q[:, 0])
            phi = np.arccos(np.clip(q[:, 2], -1, 1))
            seg_ids = np.full(len(q), seg_index)
            part, u, v = body.angles_to_chart(seg_ids, theta, phi)
            normal = (q / radii) @ frame.T
            normal /= np.linalg.norm(normal, axis=1, keepdims=True)
            lambert = 0.35 + 0.65 * np.clip(normal @ light, 0, 1)
            yy, xx = ys[hit], xs[hit]
            depth[yy, xx] = t[hit]
            person_map[yy, xx] = pid
            part_map[yy, xx] = part
            u_map[yy, xx], v_map[yy, xx] = u, v
            stripes = 0.9 + 0.1 * np.sign(np.sin(phi * person["stripe_freq"]))
            colour = surface_colours(body.SEGMENTS[seg_index].name, q, person["colors"][seg_index], person["hair"])
            shade[yy, xx] = colour * (lambert * stripes)[:, None]
    return person_map, part_map, u_map, v_map, shade


def surface_colours(segment: str, q: np.ndarray, base: np.ndarray, hair: np.ndarray) -> np.ndarray:
    """Albedo (N, 3) at unit-sphere points ``q`` (N, 3) of a segment's local frame.

    People have a front and a back, as real ones do: a face (eyes, mouth) with hair around and behind it on the head,
    and a collar and button placket on the front of the shirt. Without these cues a plain body seen from the front
    and from the back renders the same, so front/back and left/right parts could not be told apart.
    """
    colour = np.broadcast_to(base, (len(q), 3)).copy()
    x, y, z = q[:, 0], q[:, 1], q[:, 2]
    if segment == "head":  # e1 points backwards, e2 to the person's right, e3 up
        face = (x < -0.35) & (z < 0.55)
        colour[~face] = hair
        eyes = face & (np.abs(np.abs(y) - 0.35) < 0.14) & (np.abs(z - 0.2) < 0.13)
        mouth = face & (np.abs(y) < 0.3) & (np.abs(z + 0.35) < 0.08)
        colour[eyes] = (0.05, 0.05, 0.08)
        colour[mouth] = (0.6, 0.15, 0.15)
    elif segment == "torso":  # e2 points forwards, e3 up
        placket = (y > 0.3) & (np.abs(x) < 0.1)
        collar = (y > 0.0) & (z > 0.8)
        colour[placket | collar] = 1.0 - base
    return colour


def _random_person(rng, height, width, cfg: SyntheticConfig, depth_offset: float) -> dict:
    person_h = rng.uniform(cfg.min_person_height, cfg.max_person_height) * height
    scale = person_h / 1.85
    root = body._rotation("y", rng.uniform(0, 2 * np.pi)) @ body._rotation("z", rng.uniform(-0.15, 0.15))
    segments = body.posed_segments(body.random_joint_rotations(rng), root, np.array([0.0, 0.0, depth_offset]))
    return {
        "segments": segments,
        "scale": scale,
        "tx": rng.uniform(0.1, 0.9) * width,
        "ty": rng.uniform(person_h * 1.02, height * 1.05),
        "colors": _person_colors(rng),
        "stripe_freq": rng.uniform(4, 20),
        "hair": rng.uniform(0.0, 0.35, 3),
    }


def _annotations_for_person(rng, pid, person_map, part_map, u_map, v_map, cfg, ann_id, image_id):
    visible = person_map == pid
    area = int(visible.sum())
    ys, xs = np.nonzero(visible)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    w, h = float(x1 - x0), float(y1 - y0)
    # 14 coarse part masks on a 256 x 256 grid over the box (DensePose-COCO dp_masks)
    grid = (np.arange(256) + 0.5) / 256
    gy = np.clip((y0 + grid * h).astype(int), 0, person_map.shape[0] - 1)
    gx = np.clip((x0 + grid * w).astype(int), 0, person_map.shape[1] - 1)
    coarse = np.where(visible[np.ix_(gy, gx)], body.FINE_TO_COARSE[part_map[np.ix_(gy, gx)]], 0)
    dp_masks = []
    for c in range(1, body.NUM_COARSE + 1):
        m = coarse == c
        if m.any():
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            dp_masks.append({"size": rle["size"], "counts": rle["counts"].decode("ascii")})
        else:
            dp_masks.append([])
    pick = rng.choice(area, size=min(cfg.points_per_person, area), replace=False)
    py, px = ys[pick], xs[pick]
    rle = mask_utils.encode(np.asfortranarray(visible.astype(np.uint8)))
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "area": float(area),
        "bbox": [float(x0), float(y0), w, h],
        "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")},
        "dp_x": ((px + 0.5 - x0) / w * 256).tolist(),
        "dp_y": ((py + 0.5 - y0) / h * 256).tolist(),
        "dp_I": part_map[py, px].astype(float).tolist(),
        "dp_U": u_map[py, px].tolist(),
        "dp_V": v_map[py, px].tolist(),
        "dp_masks": dp_masks,
    }


def render_scene(rng: np.random.Generator, cfg: SyntheticConfig, photos: list[np.ndarray], image_id: int,
                 first_ann_id: int):
    """One image (H, W, 3) float and its DensePose-COCO annotations; people hidden below 35 % are re-drawn."""
    height, width = cfg.height, cfg.width
    for _attempt in range(20):
        n_people = int(rng.integers(cfg.min_people, cfg.max_people + 1))
        people = [_random_person(rng, height, width, cfg, depth_offset=-3.0 * k) for k in range(n_people)]
        person_map, part_map, u_map, v_map, shade = render_people(rng, height, width, people)
        full = [render_people(rng, height, width, [p])[0] >= 0 for p in people]
        visible_ok = all((person_map == k).sum() >= max(0.35 * f.sum(), 150) for k, f in enumerate(full))
        if visible_ok:
            break
    if photos and rng.random() < cfg.photo_background_prob:
        image = _photo_crop(rng, photos[rng.integers(len(photos))], height, width)
    else:
        image = _procedural_background(rng, height, width)
    fg = person_map >= 0
    image[fg] = shade[fg]
    image = np.clip(image + rng.normal(0, 0.015, image.shape), 0, 1)
    anns = []
    for k in range(len(people)):
        if (person_map == k).sum() >= 30:
            anns.append(_annotations_for_person(rng, k, person_map, part_map, u_map, v_map, cfg,
                                                first_ann_id + len(anns), image_id))
    return image.astype(np.float32), anns


def generate_split(out_dir: pathlib.Path, split: str, num_images: int, cfg: SyntheticConfig, seed: int) -> pathlib.Path:
    """Render ``num_images`` images into ``out_dir/images/<split>`` and write ``annotations/densepose_<split>.json``."""
    rng = np.random.default_rng(seed)
    photos = _photo_backgrounds()
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        image, anns = render_scene(rng, cfg, photos, image_id, len(annotations) + 1)
        name = f"{split}_{image_id:05d}.png"
        write_image(out_dir / "images" / split / name, image)
        images.append({"id": image_id, "file_name": name, "height": cfg.height, "width": cfg.width})
        annotations.extend(anns)
    path = out_dir / "annotations" / f"densepose_{split}.json"
    save_json({"images": images, "annotations": annotations, "categories": [CATEGORY]}, path)
    return path


def dataset_settings(cfg: SyntheticConfig) -> dict:
    return {k: getattr(cfg, k) for k in cfg.__dataclass_fields__} | {"generator_version": GENERATOR_VERSION}


def ensure_synthetic_dataset(root: pathlib.Path, cfg: SyntheticConfig) -> pathlib.Path:
    """The folder ``root/synthetic-<hash of the settings>`` with the built-in data set, rendered when missing.

    Rendering runs under the data root's lock into a temporary folder that is renamed into place when complete, so
    runs sharing a root never see a half-written data set, and data sets of different settings live side by side.
    """
    root = pathlib.Path(root)
    settings = dataset_settings(cfg)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    final = root / f"synthetic-{digest}"
    if final.is_dir():
        return final
    with data_lock(root):
        if final.is_dir():  # another run rendered it while this one waited for the lock
            return final
        for stale in root.glob(".partial-synthetic-*"):  # left by a killed run; nobody else writes while locked
            shutil.rmtree(stale, ignore_errors=True)
        partial = pathlib.Path(tempfile.mkdtemp(dir=root, prefix=f".partial-synthetic-{digest}-"))
        log.info("rendering the synthetic DensePose data set into %s", final)
        generate_split(partial, "train", cfg.num_train, cfg, cfg.seed)
        generate_split(partial, "val", cfg.num_val, cfg, cfg.seed + 1)
        save_json(settings, partial / "settings.json")
        os.chmod(partial, 0o777 & ~_umask())
        os.rename(partial, final)
    return final


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
