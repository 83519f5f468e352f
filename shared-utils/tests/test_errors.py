import subprocess
import sys

import numpy as np
import pytest
import torch
from shared_utils.config import ConfigError
from shared_utils.errors import InputError, check_finite, check_shape, cli_entry
from shared_utils.weights import WeightsNotFoundError


class TestCheckFinite:
    def test_smoke(self):
        check_finite(np.zeros(3), "x")
        check_finite(torch.zeros(3), "x")

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_exception(self, bad):
        for x in (np.array([0.0, bad]), torch.tensor([0.0, bad])):
            with pytest.raises(InputError, match="^depth contains NaN or infinite values$"):
                check_finite(x, "depth")


class TestCheckShape:
    def test_smoke(self):
        check_shape(np.zeros((5, 3)), (None, 3), "points")
        check_shape(torch.zeros(2, 4, 4), (2, 4, 4), "poses")

    def test_exception(self):
        with pytest.raises(InputError, match=r"^points has shape \(5, 2\), expected \(N, 3\)$"):
            check_shape(np.zeros((5, 2)), (None, 3), "points")
        with pytest.raises(InputError, match=r"expected \(N, M, 3\)"):
            check_shape(np.zeros(3), (None, None, 3), "grid")

    def test_hierarchy(self):
        assert issubclass(InputError, ValueError)
        assert issubclass(ConfigError, InputError)
        assert issubclass(WeightsNotFoundError, InputError)


def _run(code, env_extra=None):
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


class TestCliEntry:
    CODE = (
        "from shared_utils.errors import cli_entry, InputError\n"
        "@cli_entry\n"
        "def main():\n"
        "    raise {exc}\n"
        "main()\n"
    )

    def test_one_error_line_exit_2(self):
        result = _run(self.CODE.format(exc="InputError(\"mesh 'a.obj' is empty (0 faces)\")"))
        assert result.returncode == 2
        assert result.stderr.splitlines() == ["error: mesh 'a.obj' is empty (0 faces)"]

    def test_file_not_found(self, capsys):
        @cli_entry
        def main():
            open("/nonexistent/x.yaml")

        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 2
        assert capsys.readouterr().err == "error: file '/nonexistent/x.yaml' not found\n"

    def test_os_errors_name_the_path(self, tmp_path, capsys):
        blocker = tmp_path / "a-file"
        blocker.write_text("")

        @cli_entry
        def main():
            (blocker / "sub").mkdir(parents=True)

        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: cannot use '{blocker / 'sub'}'") and err.count("\n") == 1

    def test_traceback_env(self):
        result = _run(self.CODE.format(exc="InputError('boom')"), {"SHARED_UTILS_TRACEBACK": "1"})
        assert result.returncode == 1
        assert "Traceback" in result.stderr

    def test_returns_value_and_subclasses(self, capsys):
        assert cli_entry(lambda: 3)() == 3

        @cli_entry
        def main():
            raise ConfigError("unknown config key 'a'\nsecond line")

        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 2
        assert capsys.readouterr().err == "error: unknown config key 'a' second line\n"

    def test_other_errors_propagate(self):
        @cli_entry
        def main():
            raise KeyError("bug")

        with pytest.raises(KeyError):
            main()
