"""Exit codes of ``python -m engine …`` and the one way a command reports an error.

  0  success
  1  the work failed (a training run or a corpus build stopped by an error)
  2  usage error, unreadable INPUT, or no molecule written
  3  some molecules could not be processed (the others were written)
"""
from __future__ import annotations

import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def error(message, code: int = EXIT_USAGE) -> int:
    """Print ``error: MESSAGE`` on stderr and return ``code`` (the command's exit code)."""
    print(f"error: {message}", file=sys.stderr)
    return code
