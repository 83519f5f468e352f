"""The synthetic people carry front/back cues (face, hair, shirt placket), so facing direction is visible."""

import numpy as np
from mobile_parsing_rcnn.data import body, synthetic

HAIR = np.array([0.1, 0.05, 0.02])


def _person(yaw: float) -> dict:
    rest = {name: np.eye(3) for name in body.JOINT_PARENT}
    segments = body.posed_segments(rest, body._rotation("y", yaw), np.zeros(3))
    colors = np.tile([0.8, 0.6, 0.5], (len(body.SEGMENTS), 1))
    return {"segments": segments, "scale": 60.0, "tx": 64.0, "ty": 120.0, "colors": colors, "stripe_freq": 0.0,
            "hair": HAIR}


def _head_hair_fraction(yaw: float) -> float:
    person_map, part_map, _, _, shade = synthetic.render_people(np.random.default_rng(0), 128, 128, [_person(yaw)])
    head = (person_map == 0) & np.isin(part_map, [23, 24])
    albedo_ratio = shade[head] / HAIR  # shading scales every channel alike
    is_hair = np.ptp(albedo_ratio, axis=1) < 1e-6
    return float(is_hair.mean())


def test_back_of_the_head_is_hair_and_front_shows_a_face():
    assert _head_hair_fraction(np.pi) > 0.95
    assert _head_hair_fraction(0.0) < 0.5


def test_face_and_placket_only_on_the_front_half():
    base = np.array([0.2, 0.4, 0.6])
    q = np.array([[-0.9, 0.0, 0.0], [0.9, 0.0, 0.0]])  # head: e1 points backwards
    head = synthetic.surface_colours("head", q, base, HAIR)
    assert np.allclose(head[1], HAIR) and np.allclose(head[0], base)
    q = np.array([[0.0, 0.9, 0.2], [0.0, -0.9, 0.2]])  # torso: e2 points forwards
    torso = synthetic.surface_colours("torso", q, base, HAIR)
    assert np.allclose(torso[0], 1.0 - base) and np.allclose(torso[1], base)
    limb = synthetic.surface_colours("upper_leg_left", q, base, HAIR)
    assert np.allclose(limb, base)
