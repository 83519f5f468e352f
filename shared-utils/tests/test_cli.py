from dataclasses import dataclass

import pytest
from shared_utils.cli import MemberCLI
from shared_utils.config import load_config
from shared_utils.run import RunDir
from shared_utils.testing import assert_clean_error, run_main


@dataclass
class ToyConfig:
    seed: int = 0
    width: int = 4


def load(source, overrides=()):
    if source == "cpu":
        source = None
    return load_config(ToyConfig, source, overrides)


def make_cli(calls):
    cli = MemberCLI("toy", "a toy member", load)

    def record(name):
        def handler(args, cfg):
            calls.append((name, cfg))
            return 0

        return handler

    cli.add("train", record("train"), "train", kind="new")
    cli.add("eval", record("eval"), "evaluate", kind="existing")
    cli.add("params", record("params"), "count", kind="config")
    plain = cli.add("curves", record("curves"), "no config", kind="plain")
    plain.add_argument("--points", required=True)
    return cli


class TestMemberCLI:
    def test_kinds(self, tmp_path, capsys):
        calls = []
        cli = make_cli(calls)
        assert run_main(cli.main, ["train", "--output-dir", str(tmp_path / "r"), "width=8"], capsys).returncode == 0
        assert calls[-1] == ("train", ToyConfig(width=8))
        run = RunDir(tmp_path / "r").create()
        run.save_config(ToyConfig(seed=5))
        assert run_main(cli.main, ["eval", "--run-dir", str(run.path), "width=2"], capsys).returncode == 0
        assert calls[-1] == ("eval", ToyConfig(seed=5, width=2))
        assert run_main(cli.main, ["curves", "--points", "p.ply"], capsys).returncode == 0
        assert calls[-1] == ("curves", None)

    def test_config_thread_count_is_applied(self, tmp_path, capsys):
        import torch

        @dataclass
        class ThreadedConfig:
            seed: int = 0
            num_threads: int = 0

        seen = []
        cli = MemberCLI("toy", None, lambda source, overrides=(): load_config(ThreadedConfig, None, overrides))
        cli.add("params", lambda args, cfg: seen.append(torch.get_num_threads()), "count", kind="config")
        before = torch.get_num_threads()
        try:
            for threads in (1, 2):
                assert run_main(cli.main, ["params", f"num_threads={threads}"], capsys).returncode == 0
            assert run_main(cli.main, ["params", "num_threads=0"], capsys).returncode == 0
            assert seen == [1, 2, 2]
            assert_clean_error(run_main(cli.main, ["params", "num_threads=-1"], capsys), "num_threads must be")
        finally:
            torch.set_num_threads(before)

    @pytest.mark.parametrize(
        "argv, mention",
        [
            (["eval", "--run-dir", "RUN", "--config", "cpu"], "--config is not accepted with --run-dir"),
            (["eval", "--run-dir", "ABSENT"], "not found"),
            (["train", "--output-dir", "o", "widht=3"], "unknown config key 'widht'"),
            (["train", "--output-dir", "o", "width"], "key=value"),
            (["train", "--output-dir", "o", "--config", "EMPTY"], "is empty"),
            (["train", "--output-dir", "o", "--config", "LIST"], "mapping"),
            (["params", "--config", "ABSENT.yaml"], "not found"),
            (["curves", "--points", "p", "--config", "cpu"], "unrecognized arguments"),
            (["nonsense"], "invalid choice"),
            (["train"], "--output-dir"),
        ],
    )
    def test_exceptions_are_one_line(self, tmp_path, capsys, argv, mention):
        run = RunDir(tmp_path / "run").create()
        run.save_config(ToyConfig())
        (tmp_path / "empty.yaml").write_text("")
        (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
        names = {"RUN": str(run.path), "ABSENT": str(tmp_path / "absent"), "EMPTY": str(tmp_path / "empty.yaml"),
                 "LIST": str(tmp_path / "list.yaml"), "ABSENT.yaml": str(tmp_path / "absent.yaml")}
        argv = [names.get(a, a) for a in argv]
        result = run_main(make_cli([]).main, argv, capsys)
        assert_clean_error(result, mention)
