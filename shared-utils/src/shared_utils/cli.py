"""The console-script skeleton every member uses: subcommands, ``--config``, run folders, ``key=value`` overrides.

Three kinds of command, so that every member's CLI reads the same:

- ``kind="new"``: starts a run. ``--output-dir`` (required), ``--config`` (a shipped name or a YAML path), overrides.
- ``kind="existing"``: works on a trained run. ``--run-dir`` (required), overrides on top of the run's saved
  ``config.yaml``; ``--config`` is refused (see ``RunDir.load_config``).
- ``kind="config"``: needs a config but no run (``make-data``, ``params``, ``bench``): ``--config``, overrides.
- ``kind="plain"``: takes neither config nor overrides.

Each handler is called as ``handler(args, cfg)`` (``cfg`` is None for plain commands) and returns an exit code or
None. Every error is one ``error:`` line on stderr and exit code 2, argparse's own errors included.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from .errors import InputError, cli_entry
from .run import RunDir

CommandKind = Literal["new", "existing", "config", "plain"]
Handler = Callable[[argparse.Namespace, Any], "int | None"]


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints the usage block before its error; scripts and the bad-input tests expect one line."""

    def error(self, message: str):
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


class MemberCLI:
    """``cli = MemberCLI("def-sharp", __doc__, config.load)``; ``cli.add("train", train_handler, "...", kind="new")``;
    ``main = cli.main``. ``load(name_or_path, overrides)`` builds the member's typed config."""

    def __init__(self, prog: str, description: str | None, load: Callable[[Any, Sequence[str]], Any],
                 default_config: str = "cpu"):
        self.load = load
        self.default_config = default_config
        self.parser = _OneLineParser(prog=prog, description=description)
        self._commands = self.parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    def add(self, name: str, handler: Handler, help: str, kind: CommandKind = "config",
            report: bool = False) -> argparse.ArgumentParser:
        """Register a subcommand; returns its parser for command-specific arguments.

        ``report=True`` (eval, pipeline) writes the run folder's ``report.html`` after the handler succeeded."""
        sub = self._commands.add_parser(name, help=help, description=help)
        if kind == "new":
            sub.add_argument("--output-dir", required=True, type=Path, help="run folder to write (resumed if present)")
        if kind == "existing":
            sub.add_argument("--run-dir", required=True, type=Path, help="run folder written by train/pipeline")
            sub.add_argument("--config", default=None, help=argparse.SUPPRESS)
        if kind in ("new", "config"):
            sub.add_argument("--config", default=self.default_config,
                             help=f"shipped config name or a YAML path (default: {self.default_config})")
        if kind != "plain":
            sub.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. seed=1")
        sub.set_defaults(handler=handler, kind=kind, report=report)
        return sub

    def config_for(self, args: argparse.Namespace):
        if args.kind == "plain":
            return None
        if args.kind == "existing":
            return RunDir(args.run_dir).load_config(self.load, args.overrides)
        return self.load(args.config, args.overrides)

    def run(self, argv: Sequence[str] | None = None) -> int:
        args = self.parser.parse_args(argv)
        if args.kind == "existing" and args.config is not None:
            raise InputError("--config is not accepted with --run-dir: the run's saved config.yaml is used; "
                             "pass key=value overrides instead")
        cfg = self.config_for(args)
        if cfg is not None and hasattr(cfg, "num_threads"):
            from .runtime import use_threads

            use_threads(cfg.num_threads)
        code = int(args.handler(args, cfg) or 0)
        if args.report:
            from .report import write_report

            run = RunDir(args.output_dir if args.kind == "new" else args.run_dir)
            print(f"wrote {write_report(run, member=self.parser.prog)}")
        return code

    def main(self, argv: Sequence[str] | None = None) -> int:
        return cli_entry(self.run)(argv)
