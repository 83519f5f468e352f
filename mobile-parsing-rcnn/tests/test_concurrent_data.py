"""Two runs sharing one data root at the same time: the data set is rendered once, completely, and both use it."""

import os
import subprocess

from mobile_parsing_rcnn.data.densepose_coco import load_records
from shared_utils.io import read_image
from shared_utils.testing import console_script


def test_two_processes_rendering_into_one_root_get_one_complete_data_set(tmp_path):
    env_root = tmp_path / "shared-root"
    argv = [console_script("mprcnn"), "make-data", "--config", "tiny", "synthetic.num_train=6"]
    env = {**os.environ, "THESIS_DATA_ROOT": str(env_root), "CI": "true"}
    processes = [subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    folders = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(folders) == 1
    root = env_root / "mprcnn"
    assert [p.name for p in root.iterdir() if not p.name.startswith(".")] == [folders.pop().rsplit("/", 1)[-1]]
    assert not list(root.glob(".partial-*"))
    dataset = next(root.glob("synthetic-*"))
    for split, count in (("train", 6), ("val", 2)):
        records = load_records(dataset / f"annotations/densepose_{split}.json", dataset / "images" / split,
                               require_people=False)
        assert len(records) == count
        for record in records:
            assert read_image(record.path).shape == (record.height, record.width, 3)
