"""The pictures carry what they show: titles, one row/column label per panel, colour bars with units."""

import numpy as np
from def_sharp.visualize import curves_picture, patch_picture, summary_picture, views_picture
from shared_utils.io import read_image


def _masks_and_fields(count: int, size: int = 16):
    rng = np.random.default_rng(0)
    masks = [rng.uniform(size=(size, size)) > 0.3 for _ in range(count)]
    fields = [rng.uniform(0, 0.25, size=(size, size)) for _ in range(count)]
    return np.array(masks), np.array(fields)


def test_every_picture_is_written_and_readable(tmp_path, monkeypatch):
    import matplotlib.figure

    titles = []
    original = matplotlib.figure.Figure.suptitle

    def record(self, text, **kwargs):
        titles.append(text)
        return original(self, text, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "suptitle", record)
    masks, fields = _masks_and_fields(3)
    patch_picture(tmp_path / "patches.png", fields, fields, masks, {"DEF": fields, "PCA baseline": fields}, 0.25,
                  0.02)
    summary_picture(tmp_path / "summary.png", fields, masks, {"DEF": fields}, {"DEF": "recall 1 %"}, 0.25, 0.02)
    views_picture(tmp_path / "views.png", list(masks), {"DEF": fields[masks], "truth": fields[masks]}, 0.25, 0.02,
                  "views")
    t = np.linspace(0, 1, 50)
    line = np.c_[t, t, t]
    curves_picture(tmp_path / "curves.png", np.random.default_rng(0).uniform(size=(200, 3)), [line], [line])
    for name in ("patches", "summary", "views", "curves"):
        assert read_image(tmp_path / f"{name}.png").shape[-1] in (3, 4)
    assert len(titles) == 3 and all(titles)


def test_views_picture_puts_each_views_values_on_its_own_pixels(tmp_path, monkeypatch):
    import matplotlib.axes

    shown = []
    original = matplotlib.axes.Axes.imshow

    def record(self, data, **kwargs):
        shown.append(np.ma.filled(data, -1.0))
        return original(self, data, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "imshow", record)
    masks = [np.eye(3, dtype=bool), np.ones((2, 2), dtype=bool)]
    values = np.array([0.1, 0.2, 0.3, 0.01, 0.02, 0.03, 0.04])
    views_picture(tmp_path / "views.png", masks, {"field": values}, 0.25, 0.02, "two views")
    assert np.array_equal(shown[0], np.where(np.eye(3, dtype=bool), np.diag([0.1, 0.2, 0.3]), -1.0))
    assert np.array_equal(shown[1], [[0.01, 0.02], [0.03, 0.04]])
