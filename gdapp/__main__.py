"""Entry point: ``gdapp [FILE]`` and ``gdapp --self-test DIR`` (the self-test: docs/app.md).

torch is imported before Qt on purpose: importing it after PySide6 can load a second,
incompatible copy of some shared libraries (OpenMP, libstdc++) on Linux.
"""
from __future__ import annotations

import argparse
import sys

import torch  # noqa: F401  (must come before any Qt import)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gdapp", description="Graph diffusion of 3D structures: "
                                "desktop viewer, sampler and trainer.")
    p.add_argument("file", nargs="?", help="molecule file to open (default: bundled demo)")
    p.add_argument("--self-test", metavar="DIR", dest="self_test",
                   help="load the demo, run one reverse-diffusion animation, write "
                        "DIR/window.png and exit (0 on success)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from gdapp.app import run

    return run(file=args.file, self_test=args.self_test)


if __name__ == "__main__":
    sys.exit(main())
