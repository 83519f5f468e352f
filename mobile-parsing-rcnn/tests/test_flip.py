"""Horizontal flip: parts swap left/right and U, V move to the mirrored surface point of the synthetic body."""

import numpy as np
import pytest
from mobile_parsing_rcnn.config import SyntheticConfig
from mobile_parsing_rcnn.data import body
from mobile_parsing_rcnn.data.densepose_coco import DensePoseDataset, UVSymmetry, flip_mask, load_records
from mobile_parsing_rcnn.data.synthetic import generate_split


def _mirror(points):
    out = points.copy()
    out[:, 0] *= -1
    return out


@pytest.mark.parametrize("part", range(1, 25))
def test_flip_chart_is_the_mirror_image_on_the_body(part):
    rng = np.random.default_rng(part)
    u, v = rng.uniform(0.01, 0.99, 200), rng.uniform(0.01, 0.99, 200)
    parts = np.full(200, part)
    new_part, new_u, new_v = body.flip_chart(parts, u, v)
    assert np.all(new_part == body.FLIP_PART[part])
    assert np.allclose(body.surface_points(new_part, new_u, new_v), _mirror(body.surface_points(parts, u, v)),
                       atol=1e-9)
    # flipping twice is the identity
    back = body.flip_chart(new_part, new_u, new_v)
    assert np.all(back[0] == parts) and np.allclose(back[1], u) and np.allclose(back[2], v)


def test_part_swap_table_is_an_involution_keeping_torso():
    assert np.all(body.FLIP_PART[body.FLIP_PART] == np.arange(25))
    assert body.FLIP_PART[1] == 1 and body.FLIP_PART[2] == 2
    assert body.FLIP_PART[3] == 4 and body.FLIP_PART[23] == 24 and body.FLIP_PART[15] == 16


def test_dataset_flip_on_rendered_people(tmp_path):
    cfg = SyntheticConfig(num_train=3, height=96, width=128, points_per_person=60)
    json_path = generate_split(tmp_path, "train", 3, cfg, seed=3)
    records = load_records(json_path, tmp_path / "images" / "train")
    symmetry = UVSymmetry.synthetic()
    plain = DensePoseDataset(records, [96], 1000, flip_prob=0.0)
    flipped = DensePoseDataset(records, [96], 1000, flip_prob=1.0, symmetry=symmetry)
    for index in range(len(records)):
        img, tgt = plain[index]
        img_f, tgt_f = flipped[index]
        assert np.allclose(img_f.numpy(), img.flip(-1).numpy())
        boxes, boxes_f = tgt["boxes"].numpy(), tgt_f["boxes"].numpy()
        assert np.allclose(boxes_f[:, [0, 2]], 128 - boxes[:, [2, 0]], atol=1e-4)
        p, pf = tgt["dp_points"].numpy(), tgt_f["dp_points"].numpy()
        assert np.allclose(pf[:, 1], 256 - p[:, 1]) and np.allclose(pf[:, 2], p[:, 2])
        assert np.all(pf[:, 3] == body.FLIP_PART[p[:, 3].astype(int)])
        # the flipped labels name the mirrored surface point (up to the 256-step lookup tables)
        a = body.surface_points(p[:, 3].astype(int), p[:, 4], p[:, 5])
        b = body.surface_points(pf[:, 3].astype(int), pf[:, 4], pf[:, 5])
        assert np.abs(b - _mirror(a)).max() < 0.01
        # the flipped coarse mask at each flipped point holds the flipped point's coarse part
        masks_f = tgt_f["dp_masks"].numpy()
        for person, x, y, part in pf[:, :4]:
            col, row = min(int(x), 255), min(int(y), 255)
            window = masks_f[int(person), max(row - 1, 0):row + 2, max(col - 1, 0):col + 2]
            assert body.FINE_TO_COARSE[int(part)] in window


def test_flip_mask_swaps_coarse_parts():
    mask = np.zeros((256, 256), np.uint8)
    mask[:, :10] = 2  # right hand on the left of the box
    out = flip_mask(mask)
    assert np.all(out[:, -10:] == 3) and np.all(out[:, :-10] == 0)
