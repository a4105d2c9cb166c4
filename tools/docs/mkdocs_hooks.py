"""mkdocs hooks (mkdocs.yml ``hooks:``): the repository files that live outside ``docs/`` but
belong to the site.

- ``README.md`` becomes the page ``readme.md``; the model card in ``resources/models`` the page
  ``model_card.md``; the quickstart notebook is copied as a download.
- A relative link in any page is read the way GitHub reads it (relative to the page's file in
  the repository) and pointed at the file's place on the site, so README's ``docs/math.md``
  and ``docs/math.md``'s ``../README.md`` work in both. A link to a repository file that is not
  on the site stays as written, and mkdocs' link check (an error under ``--strict``) names it.
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
DOCS = "docs"
# repository path -> path on the site (relative to docs/)
EXTRA = {
    "README.md": "readme.md",
    "resources/models/molecule_egnn.md": "model_card.md",
    "notebooks/quickstart.ipynb": "notebooks/quickstart.ipynb",
}
LINK = re.compile(r"(?P<open>!?\[[^\]]*\]\()(?P<target>[^)\s#]+)(?P<rest>#[^)\s]*)?(?P<close>\))")
FENCED = re.compile(r"(^[ \t]*(?:```|~~~)[^\n]*\n.*?^[ \t]*(?:```|~~~)[ \t]*$)", re.M | re.S)


def on_files(files: Files, config) -> Files:
    for repo_path, site_path in EXTRA.items():
        source = ROOT / repo_path
        content = source.read_bytes() if site_path.endswith(".ipynb") else source.read_text()
        files.append(File.generated(config, site_path, content=content))
    return files


def _repo_path(page_src: str) -> str:
    """The repository path of the page whose site source is ``page_src``."""
    for repo_path, site_path in EXTRA.items():
        if site_path == page_src:
            return repo_path
    return f"{DOCS}/{page_src}"


def site_target(page_src: str, target: str) -> str | None:
    """Where a relative ``target`` written in the page ``page_src`` points on the site
    (relative to that page), or None to leave it alone."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith(("/", "<")):
        return None                                            # a URL, an absolute path
    here = posixpath.dirname(_repo_path(page_src))
    wanted = posixpath.normpath(posixpath.join(here, target))
    if wanted.startswith(DOCS + "/"):
        site = wanted[len(DOCS) + 1:]
    elif wanted in EXTRA:
        site = EXTRA[wanted]
    else:
        return None
    return posixpath.relpath(site, posixpath.dirname(page_src) or ".")


def on_page_markdown(markdown: str, page, config, files) -> str:
    src = page.file.src_uri

    def fix(m: re.Match) -> str:
        new = site_target(src, m["target"])
        return m[0] if new is None else f"{m['open']}{new}{m['rest'] or ''}{m['close']}"

    # fenced code blocks are left alone; a link's text may run over a line break
    parts = FENCED.split(markdown)
    return "".join(part if i % 2 else LINK.sub(fix, part) for i, part in enumerate(parts))
