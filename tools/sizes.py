"""No source file over MAX_FILE_LINES lines and no function over MAX_FUNCTION_LINES lines.

    python tools/sizes.py DIR [DIR ...]      (tools/lint.sh runs it on gdapp/)

A function counts from its ``def`` (decorators excluded) to its last line, nested functions
included; a class's methods count one by one (a widget's ``__init__`` too). A file may
exceed a limit if it says why: a line ``# size: <the reason>``. Prints each file or function
over its limit and exits 1 if there is one.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 100
REASON = re.compile(r"^\s*#\s*size:\s*\S", re.MULTILINE)


def oversized(path: Path) -> list[str]:
    """What in ``path`` is over its limit (nothing when the file says why)."""
    text = path.read_text(encoding="utf-8")
    if REASON.search(text):
        return []
    found = []
    lines = len(text.splitlines())
    if lines > MAX_FILE_LINES:
        found.append(f"{path}: {lines} lines (at most {MAX_FILE_LINES})")
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path}:{node.lineno}: {node.name} is {length} lines "
                             f"(at most {MAX_FUNCTION_LINES})")
    return found


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    found = [line for root in argv for path in sorted(Path(root).rglob("*.py"))
             for line in oversized(path)]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
