"""DensePose-COCO loading: COCO json with dp_x, dp_y, dp_I, dp_U, dp_V, dp_masks; resize and mirror augmentation.

Handling of imperfect input (documented in the README): corrupt or structurally wrong json -> InputError; grayscale,
RGBA and 16-bit images are converted to RGB floats by ``read_image``; boxes are clipped to the image and dropped when
empty afterwards; crowd annotations are dropped; DensePose points outside their box's 256 grid, with a part outside
1..24, or with U/V outside [0, 1] are dropped (counted in the log); images without any usable box are skipped.
"""

from __future__ import annotations

import json
import logging
import pathlib
import pickle
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pycocotools import mask as mask_utils
from shared_utils.errors import InputError
from shared_utils.io import read_image

from . import body

log = logging.getLogger(__name__)
DP_FIELDS = ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")


@dataclass
class Person:
    box: np.ndarray  # xyxy in image pixels
    points: np.ndarray | None  # (P, 5): dp_x, dp_y (0..256 over the box), I, U, V
    mask: np.ndarray | None  # (256, 256) uint8 coarse part labels over the box


@dataclass
class Record:
    image_id: int
    path: pathlib.Path
    height: int
    width: int
    people: list[Person]


def load_json(path) -> dict:
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"annotation file '{path}' not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"annotation file '{path}' is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise InputError(f"annotation file '{path}' lacks the COCO 'images' and 'annotations' lists")
    return data


def decode_dp_masks(dp_masks) -> np.ndarray:
    """14 RLE part masks on the 256 box grid -> one (256, 256) label map (later parts overwrite, as DensePose)."""
    labels = np.zeros((256, 256), dtype=np.uint8)
    for part, rle in enumerate(dp_masks, start=1):
        if rle:
            rle = dict(rle)
            if isinstance(rle["counts"], str):
                rle["counts"] = rle["counts"].encode("ascii")
            labels[mask_utils.decode(rle) > 0] = part
    return labels


def _parse_person(ann: dict, height: int, width: int, stats: dict) -> Person | None:
    if ann.get("iscrowd", 0) or ann.get("category_id", 1) != 1:
        return None
    bbox = ann.get("bbox")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not np.all(np.isfinite(bbox)):
        raise InputError(f"annotation {ann.get('id')} has an invalid bbox {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    box = np.array([max(x, 0.0), max(y, 0.0), min(x + w, width), min(y + h, height)], dtype=np.float32)
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        stats["empty_boxes"] += 1
        return None
    points = mask = None
    if all(k in ann for k in DP_FIELDS) and len(ann["dp_x"]) > 0:
        pts = np.stack([np.asarray(ann[k], dtype=np.float32) for k in DP_FIELDS], 1)
        ok = (np.all(np.isfinite(pts), 1) & (pts[:, 0] >= 0) & (pts[:, 0] <= 256) & (pts[:, 1] >= 0)
              & (pts[:, 1] <= 256) & (pts[:, 2] >= 1) & (pts[:, 2] <= 24) & (pts[:, 3] >= 0) & (pts[:, 3] <= 1)
              & (pts[:, 4] >= 0) & (pts[:, 4] <= 1))
        stats["dropped_points"] += int((~ok).sum())
        # points refer to the annotated (unclipped) box; re-express them on the clipped box
        img_x = x + pts[ok, 0] / 256.0 * w
        img_y = y + pts[ok, 1] / 256.0 * h
        pts = pts[ok]
        pts[:, 0] = (img_x - box[0]) / (box[2] - box[0]) * 256.0
        pts[:, 1] = (img_y - box[1]) / (box[3] - box[1]) * 256.0
        inside = (pts[:, 0] >= 0) & (pts[:, 0] <= 256) & (pts[:, 1] >= 0) & (pts[:, 1] <= 256)
        stats["dropped_points"] += int((~inside).sum())
        points = pts[inside]
        if "dp_masks" in ann and ann["dp_masks"]:
            mask = decode_dp_masks(ann["dp_masks"])
            if not np.allclose(box, [x, y, x + w, y + h]):
                mask = _regrid_mask(mask, np.array([x, y, x + w, y + h]), box)
        else:
            mask = np.zeros((256, 256), dtype=np.uint8)
    return Person(box, points, mask)


def _regrid_mask(mask: np.ndarray, src_box: np.ndarray, dst_box: np.ndarray) -> np.ndarray:
    centers = (np.arange(256) + 0.5) / 256
    xs = dst_box[0] + centers * (dst_box[2] - dst_box[0])
    ys = dst_box[1] + centers * (dst_box[3] - dst_box[1])
    mx = np.clip(((xs - src_box[0]) / (src_box[2] - src_box[0]) * 256).astype(int), 0, 255)
    my = np.clip(((ys - src_box[1]) / (src_box[3] - src_box[1]) * 256).astype(int), 0, 255)
    return mask[np.ix_(my, mx)]


def load_records(json_path, image_dir, require_people: bool = True) -> list[Record]:
    """Parse a DensePose-COCO json into records (images without usable people are skipped when training)."""
    data = load_json(json_path)
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann.get("image_id"), []).append(ann)
    stats = {"empty_boxes": 0, "dropped_points": 0}
    records = []
    for img in data["images"]:
        try:
            image_id, name, height, width = img["id"], img["file_name"], int(img["height"]), int(img["width"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"image entry {img!r} in '{json_path}' lacks id/file_name/height/width") from exc
        people = [p for a in by_image.get(image_id, []) if (p := _parse_person(a, height, width, stats)) is not None]
        if require_people and not people:
            continue
        records.append(Record(image_id, pathlib.Path(image_dir) / name, height, width, people))
    if stats["empty_boxes"] or stats["dropped_points"]:
        log.warning("%s: dropped %d empty boxes and %d DensePose points outside their box or range",
                    json_path, stats["empty_boxes"], stats["dropped_points"])
    return records


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and plain containers only: a pickle naming any other class is refused, not run."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which is not a NumPy array")
        return super().find_class(module, name)


DEMO_FIELDS = ("ICrop", "x", "y", "I", "U", "V")


def read_densepose_demo(path) -> tuple[np.ndarray, dict]:
    """DensePose's demo annotation (``demo_dp_single_ann.pkl`` of the DensePose repository) as an RGB float image and
    a DensePose-COCO dict in the official fields.

    The file holds one annotated person: ``ICrop`` (the photo cropped to the person's box, H x W x 3 uint8), ``x``,
    ``y`` (the points in crop pixels) and ``I``, ``U``, ``V``. The person's box is the whole crop; the points go to
    the official 256-cell box grid as ``dp_x = x / W * 255`` (the DensePose-COCO notebooks stretch ``dp_x / 255`` to
    the box, as the official evaluation does).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"DensePose annotation '{path}' not found")
    try:
        with open(path, "rb") as handle:
            raw = _ArraysOnlyUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise InputError(f"DensePose annotation '{path}' is not a readable pickle ({exc})") from exc
    if not isinstance(raw, dict) or any(k not in raw for k in DEMO_FIELDS):
        found = ", ".join(sorted(map(str, raw))) if isinstance(raw, dict) else type(raw).__name__
        raise InputError(f"DensePose annotation '{path}' lacks the fields {', '.join(DEMO_FIELDS)} (found: {found})")
    crop = np.asarray(raw["ICrop"])
    points = [np.asarray(raw[k], dtype=np.float64).reshape(-1) for k in ("x", "y", "I", "U", "V")]
    if crop.ndim != 3 or crop.shape[2] != 3 or len({len(p) for p in points}) != 1:
        raise InputError(f"DensePose annotation '{path}' has an image of shape {crop.shape} or point lists of "
                         f"different lengths")
    height, width = crop.shape[:2]
    x, y, part, u, v = points
    annotation = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": float(width * height),
                  "bbox": [0.0, 0.0, float(width), float(height)], "dp_x": (x / width * 255).tolist(),
                  "dp_y": (y / height * 255).tolist(), "dp_I": part.tolist(), "dp_U": u.tolist(), "dp_V": v.tolist()}
    coco = {"images": [{"id": 1, "file_name": f"{path.stem}.png", "height": height, "width": width}],
            "annotations": [annotation], "categories": [{"id": 1, "name": "person"}]}
    return crop.astype(np.float32) / 255.0, coco


class UVSymmetry:
    """What a horizontal flip does to DensePose labels: part swap plus per-part U, V lookup tables.

    Tables are indexed like DensePose's UV_symmetry_transforms.mat: ``table[part - 1][round(V*255), round(U*255)]``.
    """

    def __init__(self, u_tables: np.ndarray, v_tables: np.ndarray):
        self.u_tables, self.v_tables = u_tables, v_tables

    @classmethod
    def synthetic(cls) -> UVSymmetry:
        return cls(*body.uv_symmetry_tables())

    @classmethod
    def from_mat(cls, path) -> UVSymmetry:
        from scipy.io import loadmat

        path = pathlib.Path(path)
        if not path.is_file():
            raise InputError(f"UV symmetry file '{path}' not found (UV_symmetry_transforms.mat of DensePose)")
        data = loadmat(path)
        u = np.stack([np.asarray(data["U_transforms"][0, i], dtype=np.float32) for i in range(24)])
        v = np.stack([np.asarray(data["V_transforms"][0, i], dtype=np.float32) for i in range(24)])
        return cls(u, v)

    def flip_points(self, points: np.ndarray) -> np.ndarray:
        """Mirror (P, 5) points ``[x, y, I, U, V]`` on the 256 box grid of a mirrored box."""
        out = points.copy()
        part = points[:, 2].astype(np.int64)
        res = self.u_tables.shape[-1] - 1
        u_loc = np.clip(np.round(points[:, 3] * res), 0, res).astype(np.int64)
        v_loc = np.clip(np.round(points[:, 4] * res), 0, res).astype(np.int64)
        out[:, 0] = 256.0 - points[:, 0]
        out[:, 2] = body.FLIP_PART[part]
        out[:, 3] = self.u_tables[part - 1, v_loc, u_loc]
        out[:, 4] = self.v_tables[part - 1, v_loc, u_loc]
        return out


def flip_mask(mask: np.ndarray) -> np.ndarray:
    """Mirror a coarse part label map over its box and swap left/right coarse parts."""
    return body.FLIP_COARSE[mask[:, ::-1]].astype(np.uint8)


def resize_scale(height: int, width: int, short: int, max_size: int) -> float:
    scale = short / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return scale


class DensePoseDataset(torch.utils.data.Dataset):
    """Records -> (image (3, h, w) in [0, 1], target dict for :class:`MobileParsingRCNN`).

    Training: short side sampled from ``min_sizes``, horizontal flip with ``flip_prob``. An item is read by its index or
    by ``(index, step)``: the augmentation is drawn from ``(seed, step, index)``, so a resumed run sees the same
    augmented batches as an uninterrupted one. Targets: ``boxes`` (N, 4),
    ``labels`` (N,), ``dp_has`` (N,), ``dp_masks`` (N, 256, 256) uint8, ``dp_points`` (P, 6)
    ``[person, x, y, I, U, V]``, plus ``image_id`` and ``scale`` (resized / original).
    """

    def __init__(self, records: list[Record], min_sizes: list[int], max_size: int, flip_prob: float = 0.0,
                 symmetry: UVSymmetry | None = None, seed: int = 0):
        self.records, self.min_sizes, self.max_size = records, list(min_sizes), max_size
        self.flip_prob = flip_prob
        self.symmetry = symmetry
        if flip_prob > 0 and symmetry is None:
            raise InputError("flip augmentation needs UV symmetry tables (data.uv_symmetry_file for DensePose-COCO)")
        self.seed = seed

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]):
        index, step = key if isinstance(key, tuple) else (key, 0)
        rng = np.random.default_rng([self.seed, step, index])
        rec = self.records[index]
        image = read_image(rec.path, channels=3)
        if image.shape[:2] != (rec.height, rec.width):
            raise InputError(f"image '{rec.path}' is {image.shape[1]}x{image.shape[0]}, json says "
                             f"{rec.width}x{rec.height}")
        flip = self.flip_prob > 0 and rng.random() < self.flip_prob
        short = int(rng.choice(self.min_sizes))
        scale = resize_scale(rec.height, rec.width, short, self.max_size)
        img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        new_size = (max(int(round(rec.height * scale)), 1), max(int(round(rec.width * scale)), 1))
        img = F.interpolate(img[None], size=new_size, mode="bilinear", align_corners=False, antialias=True)[0]
        boxes, has, masks, points = [], [], [], []
        for k, person in enumerate(rec.people):
            box = person.box.copy()
            pts, mask = person.points, person.mask
            if flip:
                box = np.array([rec.width - box[2], box[1], rec.width - box[0], box[3]], dtype=np.float32)
                if pts is not None:
                    pts = self.symmetry.flip_points(pts)
                    mask = flip_mask(mask)
            boxes.append(box * np.array([new_size[1] / rec.width, new_size[0] / rec.height] * 2, dtype=np.float32))
            has.append(pts is not None)
            masks.append(mask if mask is not None else np.zeros((256, 256), np.uint8))
            if pts is not None and len(pts):
                points.append(np.concatenate([np.full((len(pts), 1), k, np.float32), pts], 1))
        if flip:
            img = img.flip(-1)
        target = {
            "boxes": torch.from_numpy(np.array(boxes, dtype=np.float32).reshape(-1, 4)),
            "labels": torch.ones(len(boxes), dtype=torch.int64),
            "dp_has": torch.tensor(has, dtype=torch.bool),
            "dp_masks": torch.from_numpy(np.array(masks, dtype=np.uint8).reshape(-1, 256, 256)),
            "dp_points": torch.from_numpy(np.concatenate(points) if points else np.zeros((0, 6), np.float32)),
            "image_id": rec.image_id,
            "scale": torch.tensor([new_size[1] / rec.width, new_size[0] / rec.height]),
        }
        return img.clamp(0, 1), target


def collate(batch):
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
