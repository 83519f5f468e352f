import numpy as np
import pytest
import trimesh
import yaml
from def_sharp.data.abc import load_abc
from def_sharp.geometry.distances import truncated_feature_distance
from def_sharp.geometry.features import sharp_feature_curves
from shared_utils.errors import InputError


def _write_box_abc(folder, curves_override=None):
    box = trimesh.creation.box((1.0, 2.0, 3.0))
    obj = folder / "box.obj"
    box.export(obj)
    reference = sharp_feature_curves(box, 20.0)
    curves = [{"sharp": True, "type": "Line", "vert_indices": [int(a), int(b)]} for a, b in reference.segments]
    curves.append({"sharp": False, "type": "Line", "vert_indices": [0, 1]})
    surfaces = [{"type": "Plane", "face_indices": np.flatnonzero(reference.face_patch == p).tolist()}
                for p in np.unique(reference.face_patch)]
    yml = folder / "box.yml"
    yml.write_text(yaml.safe_dump({"curves": curves_override if curves_override is not None else curves,
                                   "surfaces": surfaces}))
    return obj, yml, box


def test_abc_box_gives_the_same_labels_as_the_constructed_box(tmp_path):
    obj, yml, box = _write_box_abc(tmp_path)
    shape = load_abc(obj, yml)
    assert len(shape.curves.segments) == 12
    assert np.all(shape.curves.segment_patches >= 0)
    # Scaled so that the 25 % quantile of curve lengths (edges 1, 2, 3; four each) is 1: the box keeps its size.
    assert np.allclose(np.sort(shape.mesh.extents), [1.0, 2.0, 3.0])
    points, faces = shape.mesh.sample(200, return_index=True)
    labels = truncated_feature_distance(points, faces, shape.curves, 1.0)
    scaled = box.copy()
    scaled.apply_scale(shape.mesh.extents.max() / box.extents.max())
    reference = sharp_feature_curves(scaled, 20.0)
    assert np.allclose(labels, truncated_feature_distance(points, faces, reference, 1.0), atol=1e-9)


def test_abc_bad_annotations_raise_input_error(tmp_path):
    obj, yml, _ = _write_box_abc(tmp_path, curves_override=[{"sharp": True, "vert_indices": [0, 999]}])
    with pytest.raises(InputError, match="outside"):
        load_abc(obj, yml)
    yml.write_text("surfaces: []\n")
    with pytest.raises(InputError, match="curves"):
        load_abc(obj, yml)
    with pytest.raises(InputError, match="does not exist"):
        load_abc(obj, tmp_path / "missing.yml")
