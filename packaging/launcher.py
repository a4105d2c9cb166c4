"""Frozen entry point of the packaged app.

``gdapp [FILE]`` / ``gdapp --self-test DIR`` run ``gdapp.__main__.main``;
``gdapp --check-bundle`` runs the headless bundle checks (``packaging/bundle_check.py``).

torch is imported before anything Qt (see ``gdapp.__main__``); ``freeze_support`` lets a
frozen build start worker processes (PoseBusters, data loaders) without re-running the GUI.
"""
import multiprocessing
import sys

import torch  # noqa: F401  (must come before any Qt import)


def launch(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--check-bundle"]:
        import bundle_check

        return bundle_check.run()
    from gdapp.__main__ import main

    return main(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(launch())
