"""``mprcnn predict``: an image, a folder of images or a video -> labelled part pictures and U/V contour pictures at
the input's resolution, DensePose JSON."""

from __future__ import annotations

import pathlib

import numpy as np
from shared_utils.errors import InputError
from shared_utils.io import read_image, read_video, save_json, write_image, write_video

from .config import Config
from .inference import densepose_result_json, predict_images
from .lightning import load_trained
from .vis import contour_picture, labelled_iuv_picture, overlay_parts, paste_iuv

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".gif", ".webm"}


def _frames(path: pathlib.Path):
    """(name, RGB float image) pairs of an image, a folder of images or a video."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"folder '{path}' holds no image ({', '.join(sorted(IMAGE_SUFFIXES))})")
        for f in files:
            yield f.stem, read_image(f, channels=3)
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        for i, frame in enumerate(read_video(path)):
            yield f"{path.stem}_{i:05d}", frame.astype(np.float32) / 255.0
    elif path.is_file():
        yield path.stem, read_image(path, channels=3)
    else:
        raise InputError(f"input '{path}' not found")


def predict_path(checkpoint, input_path, output_dir, cfg: Config, score_thresh: float = 0.5) -> list[pathlib.Path]:
    model = load_trained(checkpoint).model
    input_path, output_dir = pathlib.Path(input_path), pathlib.Path(output_dir)
    is_video = input_path.suffix.lower() in VIDEO_SUFFIXES
    written, results, video_frames = [], [], []
    for name, image in _frames(input_path):
        dets = predict_images(model, [image], cfg.data.min_size_test, cfg.data.max_size_test, score_thresh,
                              cfg.eval.foreground)[0]
        iuv = paste_iuv(dets, image.shape[0], image.shape[1], score_thresh)
        results += [{"file": name, **densepose_result_json(name, d)} for d in dets]
        if is_video:
            video_frames.append(np.concatenate([image, overlay_parts(image, iuv)], axis=1))
            continue
        for suffix, picture in (("iuv", labelled_iuv_picture(image, iuv, f"{name}: predicted parts")),
                                ("contours", contour_picture(image, iuv, name))):
            path = output_dir / f"{name}_{suffix}.png"
            write_image(path, picture)
            written.append(path)
    if is_video:
        path = output_dir / f"{input_path.stem}_iuv.mp4"
        write_video(path, np.stack(video_frames), fps=10)
        written.append(path)
    json_path = output_dir / "densepose_results.json"
    save_json(results, json_path)
    written.append(json_path)
    return written
