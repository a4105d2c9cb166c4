"""Frozen entry point of the packaged app: ``gdapp [FILE]`` / ``gdapp --self-test DIR``.

torch is imported before anything Qt (see ``gdapp.__main__``); ``freeze_support`` lets a
frozen build start worker processes (PoseBusters, data loaders) without re-running the GUI.
"""
import multiprocessing
import sys

import torch  # noqa: F401  (must come before any Qt import)

from gdapp.__main__ import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
