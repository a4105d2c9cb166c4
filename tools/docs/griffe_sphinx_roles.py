"""A griffe extension for the API reference (mkdocs.yml): the engine's docstrings cross-reference
with Sphinx roles (``:class:`Cancelled```, ``:func:`engine.io.read_molecules```); mkdocstrings
renders Markdown, where such a role would show as literal text.

Each role is resolved the way Sphinx resolves it (the object's own scope, its module, then the
name as a full path; a leading ``~`` shows only the last part) against the code griffe loaded:

- a target that exists becomes a cross-reference, a link wherever the target is rendered on
  the site and plain code where it is not (an "optional" autoref);
- a target that does not exist (renamed, moved, mistyped) is logged as a warning, so
  ``mkdocs build --strict`` (tools/docs.sh, .ci/run) fails and names the docstring.

Markdown cross-references (``[text][engine.io.read_molecules]``) are checked by mkdocs-autorefs
itself: they must point at an object that the site renders.
"""
from __future__ import annotations

import importlib
import logging
import re
from typing import Any

import griffe

# counted by ``mkdocs build --strict`` (mkdocs counts the warnings of its own logger tree)
_log = logging.getLogger("mkdocs.plugins.gdapp.sphinx_roles")

# reStructuredText's "text::" before an indented literal block; Markdown shows the block as code
LITERAL_BLOCK = re.compile(r"(\S)::\n([ \t]*\n)")
ROLE = re.compile(r":(?:py:)?(?P<role>mod|class|func|meth|attr|data|exc|obj|const):`(?P<target>[^`]+)`")


def _lookup(collection, path: str):
    try:
        return collection.get_member(path)
    except (KeyError, ValueError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _imported(path: str) -> bool:
    """Whether ``path`` names an object at run time (for what griffe's static reading misses,
    e.g. names bound by tuple unpacking: ``EXIT_OK, EXIT_USAGE = 0, 2``)."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                value = getattr(value, name)
        except AttributeError:
            return False
        return True
    return False


def resolve(obj: griffe.Object | griffe.Alias, target: str, collection) -> str | None:
    """The full path ``target`` names when written in ``obj``'s docstring, or None."""
    scopes = []
    scope = obj if obj.is_class or obj.is_module else obj.parent
    while scope is not None:          # the class, then the module, then the packages above
        scopes.append(scope.path)
        scope = scope.parent
    candidates = [f"{prefix}.{target}" for prefix in scopes] + [target]
    for path in candidates:
        if _lookup(collection, path) is not None:
            return path
    for path in candidates:
        if path.split(".", 1)[0] == obj.package.path and _imported(path):
            return path
    return None


def rewrite(text: str, obj, collection, where: str) -> str:
    """``text`` with every role replaced by an optional autoref (or left alone with a warning)."""

    def one(match: re.Match) -> str:
        target = match["target"].strip()
        short = target.startswith("~")
        target = target.lstrip("~.")
        path = resolve(obj, target, collection)
        if path is None:
            _log.warning("%s: %s names %r, which does not exist in the code", where, match[0], target)
            return match[0]
        label = target.rsplit(".", 1)[-1] if short else target
        if match["role"] in ("func", "meth"):
            label += "()"
        return f'<autoref identifier="{path}" optional><code>{label}</code></autoref>'

    return ROLE.sub(one, text)


class SphinxRoles(griffe.Extension):
    """Turn the Sphinx roles of every docstring of the loaded package into cross-references."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        collection = loader.modules_collection
        seen: set[int] = set()

        def walk(obj):
            if id(obj) in seen or obj.is_alias:
                return
            seen.add(id(obj))
            doc = obj.docstring
            if doc is not None:
                value = LITERAL_BLOCK.sub(r"\1:\n\2", doc.value)
                if ROLE.search(value):
                    value = rewrite(value, obj, collection, f"{obj.filepath}:{doc.lineno} ({obj.path})")
                doc.value = value
            for member in obj.members.values():
                walk(member)

        walk(pkg)
