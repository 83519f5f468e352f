"""Bad input, everywhere: every command that takes a file, a folder or a config, given broken ones, ends with exit
code 2 and one ``error:`` line on stderr naming the file or key and the problem, no traceback (the broken files are
generated here); imperfect but usable input gets the documented handling."""

import json
import shutil

import imageio.v3 as iio
import numpy as np
import pytest
from mobile_parsing_rcnn.cli import main
from mobile_parsing_rcnn.data.densepose_coco import DensePoseDataset, load_records
from mobile_parsing_rcnn.inference import image_to_tensor
from shared_utils import testing
from shared_utils.errors import InputError
from shared_utils.run import RunDir


def _write_json(path, annotations, width=64, height=48):
    data = {"images": [{"id": 1, "file_name": "a.png", "height": height, "width": width}],
            "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    path.write_text(json.dumps(data))
    return path


def _person(**kw):
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 100.0, "bbox": [10.0, 5.0, 20.0, 30.0],
           "dp_x": [10.0, 128.0, 300.0], "dp_y": [10.0, 128.0, 20.0], "dp_I": [1.0, 5.0, 2.0],
           "dp_U": [0.1, 0.5, 0.9], "dp_V": [0.2, 0.5, 0.8], "dp_masks": [[]] * 14}
    ann.update(kw)
    return ann


def test_corrupt_json_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_records(bad, tmp_path)
    bad.write_text(json.dumps({"images": 3}))
    with pytest.raises(InputError, match="lacks the COCO"):
        load_records(bad, tmp_path)
    with pytest.raises(InputError, match="not found"):
        load_records(tmp_path / "missing.json", tmp_path)


def test_points_outside_their_box_are_dropped_and_boxes_clipped(tmp_path):
    path = _write_json(tmp_path / "a.json", [
        _person(),
        _person(id=2, bbox=[50.0, 30.0, 40.0, 40.0]),  # sticks out of the 64 x 48 image
        _person(id=3, bbox=[70.0, 60.0, 10.0, 10.0]),  # entirely outside: dropped
    ])
    records = load_records(path, tmp_path)
    people = records[0].people
    assert len(people) == 2
    assert len(people[0].points) == 2  # dp_x = 300 lies outside the 256 grid of its box
    assert np.allclose(people[1].box, [50, 30, 64, 48])
    # points are re-expressed on the clipped box's grid; the one at x = 70 now lies outside the image: dropped
    x = 50 + people[1].points[:, 0] / 256 * 14
    assert np.allclose(x, 50 + np.array([10.0]) / 256 * 40)


def test_empty_annotations_skip_the_image_for_training(tmp_path):
    path = _write_json(tmp_path / "a.json", [])
    assert load_records(path, tmp_path) == []
    assert len(load_records(path, tmp_path, require_people=False)) == 1


@pytest.mark.parametrize("kind", ["gray", "rgba", "uint16"])
def test_grayscale_rgba_and_16_bit_images_load_as_rgb(tmp_path, kind):
    rng = np.random.default_rng(0)
    if kind == "gray":
        image = rng.integers(0, 255, (48, 64), dtype=np.uint8)
    elif kind == "rgba":
        image = rng.integers(0, 255, (48, 64, 4), dtype=np.uint8)
    else:
        image = rng.integers(0, 65535, (48, 64), dtype=np.uint16)  # 16-bit grayscale PNG
    iio.imwrite(tmp_path / "a.png", image)
    records = load_records(_write_json(tmp_path / "a.json", [_person()]), tmp_path)
    img, target = DensePoseDataset(records, [48], 1000)[0]
    assert img.shape == (3, 48, 64) and float(img.min()) >= 0 and float(img.max()) <= 1
    assert target["boxes"].shape == (1, 4)


def test_nan_image_is_rejected():
    with pytest.raises(InputError, match="NaN"):
        image_to_tensor(np.full((8, 8, 3), np.nan, dtype=np.float32))
    with pytest.raises(InputError, match="expected"):
        image_to_tensor(np.zeros((8, 8), dtype=np.float32))


CONFIG_COMMANDS = ["make-data", "params", "export", "bench", "train", "pipeline"]


def argv_with_config(command: str, config: str, tmp_path) -> list[str]:
    extra = {"train": ["--output-dir", str(tmp_path / "out")], "pipeline": ["--output-dir", str(tmp_path / "out")],
             "export": ["--output-dir", str(tmp_path / "out")], "bench": ["--size", "64"]}.get(command, [])
    return [command, "--config", config, *extra]



@pytest.mark.parametrize("command", CONFIG_COMMANDS)
@pytest.mark.parametrize("case", testing.BROKEN_CONFIG_CASES)
def test_bad_config(command, case, tmp_path, capsys):
    config, mention = testing.broken_config(tmp_path, case, unknown_key="model.neck.out_channel")
    result = testing.run_main(main, argv_with_config(command, config, tmp_path), capsys)
    testing.assert_clean_error(result, mention)


@pytest.mark.parametrize("command", ["make-data", "params", "train"])
def test_unknown_override_key(command, tmp_path, capsys):
    argv = argv_with_config(command, "tiny", tmp_path) + ["model.neck.out_channel=3"]
    testing.assert_clean_error(testing.run_main(main, argv, capsys), "out_channels")


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_config_is_refused_with_a_run_dir(command, tiny_run, tmp_path, capsys):
    argv = [command, "--run-dir", str(tiny_run), "--config", "cpu"]
    if command == "predict":
        argv += ["--input", str(tmp_path)]
    testing.assert_clean_error(testing.run_main(main, argv, capsys), "--config")


def run_folders(tmp_path, tiny_run):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    no_config = tmp_path / "no-config"
    no_config.mkdir()
    no_checkpoint = tmp_path / "no-checkpoint"
    no_checkpoint.mkdir()
    shutil.copy(RunDir(tiny_run).config, no_checkpoint / "config.yaml")
    return {"missing": (tmp_path / "missing", "not found"), "a file": (a_file, "not a folder"),
            "no config": (no_config, "config.yaml"), "no checkpoint": (no_checkpoint, "no checkpoint")}


@pytest.mark.parametrize("command", ["eval", "predict"])
@pytest.mark.parametrize("case", ["missing", "a file", "no config", "no checkpoint"])
def test_bad_run_folder(command, case, tiny_run, tmp_path, capsys):
    folder, mention = run_folders(tmp_path, tiny_run)[case]
    image = tiny_run.parent / "data"
    argv = [command, "--run-dir", str(folder)] + (["--input", str(image)] if command == "predict" else [])
    testing.assert_clean_error(testing.run_main(main, argv, capsys), mention)


def broken_checkpoint(case, tmp_path, tiny_run):
    good = RunDir(tiny_run).last_checkpoint
    return {"zero-byte": lambda: testing.zero_byte(tmp_path, "x.ckpt"),
            "text": lambda: testing.text_as(tmp_path, "x.ckpt"),
            "truncated": lambda: testing.truncated_copy(good, tmp_path),
            "missing": lambda: testing.missing(tmp_path, "x.ckpt")}[case]()


CHECKPOINT_CASES = ["zero-byte", "text", "truncated", "missing"]


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_broken_checkpoint_in_a_run_to_eval(case, tiny_run, tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    shutil.copytree(tiny_run, run.path)
    ckpt = broken_checkpoint(case, tmp_path, tiny_run)
    run.last_checkpoint.unlink()
    if ckpt.exists():
        shutil.copy(ckpt, run.last_checkpoint)
    mention = "no checkpoint" if case == "missing" else "last.ckpt"
    testing.assert_clean_error(testing.run_main(main, ["eval", "--run-dir", str(run.path)], capsys), mention)


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_broken_checkpoint_to_export(case, tiny_run, tmp_path, capsys):
    ckpt = broken_checkpoint(case, tmp_path, tiny_run)
    argv = ["export", "--config", "tiny", "--checkpoint", str(ckpt), "--output-dir", str(tmp_path / "out")]
    testing.assert_clean_error(testing.run_main(main, argv, capsys), ckpt.name)


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_broken_checkpoint_to_predict(case, tiny_run, tmp_path, capsys):
    ckpt = broken_checkpoint(case, tmp_path, tiny_run)
    argv = ["predict", "--run-dir", str(tiny_run), "--input", str(tmp_path), "--checkpoint", str(ckpt)]
    testing.assert_clean_error(testing.run_main(main, argv, capsys), ckpt.name)


def bad_inputs(case, tmp_path):
    empty_folder = tmp_path / "no-images"
    empty_folder.mkdir()
    return {"text as .jpg": lambda: (testing.text_as(tmp_path, "photo.jpg"), "photo.jpg"),
            "zero-byte .png": lambda: (testing.zero_byte(tmp_path, "photo.png"), "photo.png"),
            "text as .mp4": lambda: (testing.text_as(tmp_path, "clip.mp4"), "clip.mp4"),
            "missing": lambda: (testing.missing(tmp_path, "photo.png"), "photo.png"),
            "folder without images": lambda: (empty_folder, "no image")}[case]()


@pytest.mark.parametrize("case", ["text as .jpg", "zero-byte .png", "text as .mp4", "missing",
                                  "folder without images"])
def test_bad_input_to_predict(case, tiny_run, tmp_path, capsys):
    path, mention = bad_inputs(case, tmp_path)
    argv = ["predict", "--run-dir", str(tiny_run), "--input", str(path), "--output-dir", str(tmp_path / "out")]
    testing.assert_clean_error(testing.run_main(main, argv, capsys), mention)


@pytest.mark.parametrize("size", ["8", "0", "-3"])
def test_bench_with_an_input_too_small_for_the_network(size, capsys):
    testing.assert_clean_error(testing.run_main(main, ["bench", "--size", size, "--models", "thesis"], capsys),
                               f"--size {size}")


def test_params_json_under_a_file(tmp_path, capsys):
    target = testing.unwritable_root(tmp_path) / "params.json"
    argv = ["params", "--models", "thesis", "--json", str(target)]
    testing.assert_clean_error(testing.run_main(main, argv, capsys), "a-file")


@pytest.mark.parametrize("command", ["make-data", "train", "pipeline"])
@pytest.mark.parametrize("how", ["THESIS_DATA_ROOT through a file", "THESIS_DATA_ROOT is a file",
                                 "data.root through a file"])
def test_unwritable_data_root(command, how, tmp_path, capsys, monkeypatch):
    argv = argv_with_config(command, "tiny", tmp_path)
    if how == "THESIS_DATA_ROOT through a file":
        monkeypatch.setenv("THESIS_DATA_ROOT", str(testing.unwritable_root(tmp_path)))
    elif how == "THESIS_DATA_ROOT is a file":
        monkeypatch.setenv("THESIS_DATA_ROOT", str(testing.zero_byte(tmp_path, "root-file")))
    else:
        argv.append(f"data.root={testing.unwritable_root(tmp_path)}")
    testing.assert_clean_error(testing.run_main(main, argv, capsys), "a-file" if "through" in how else "root-file")


@pytest.mark.parametrize("command", ["train", "pipeline", "export"])
def test_output_folder_under_a_file(command, tmp_path, capsys):
    argv = [command, "--config", "tiny", "--output-dir", str(testing.unwritable_root(tmp_path))]
    testing.assert_clean_error(testing.run_main(main, argv, capsys), "a-file")


@pytest.mark.parametrize("case", ["text renamed .json", "zero-byte .json", "json without images"])
def test_bad_densepose_coco_annotations_to_train(case, tmp_path, capsys):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    annotations = root / "annotations" / "train.json"
    if case == "text renamed .json":
        annotations.write_text(testing.TEXT)
    elif case == "json without images":
        annotations.write_text('{"annotations": []}')
    else:
        annotations.write_bytes(b"")
    argv = ["train", "--config", "tiny", "--output-dir", str(tmp_path / "out"), "data.dataset=densepose_coco",
            f"data.root={root}", "data.train_json=annotations/train.json", "data.flip_prob=0"]
    testing.assert_clean_error(testing.run_main(main, argv, capsys), "train.json")
