"""``python -m engine <command>``: each command lives in ``engine/commands/<name>.py``.

A command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Commands are imported lazily so ``--help`` stays fast. An output a
command cannot write (``engine.commands._output.OutputError``) is reported here, the same
way for every command.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from engine.commands._exit import EXIT_USAGE, error

# command name -> module under engine.commands
COMMANDS = {
    "sample": "sample",
    "baseline": "baseline",
    "evaluate": "evaluate",
    "train": "train",
    "data": "data",
    "merge": "merge",
}


def _load(name: str):
    try:
        return importlib.import_module(f"engine.commands.{COMMANDS[name]}")
    except ModuleNotFoundError as exc:  # a command not built yet
        if exc.name == f"engine.commands.{COMMANDS[name]}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Graph-structured diffusion of 3D structures (headless engine).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _load(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help()
        return EXIT_USAGE
    from engine.commands._output import OutputError

    try:
        return int(args._module.run(args) or 0)
    except OutputError as exc:
        return error(exc)


if __name__ == "__main__":
    sys.exit(main())
