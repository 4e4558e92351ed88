"""MkDocs hooks (mkdocs.yml ``hooks:``): the pages made while building, and the docstring check.

- ``specs/*.md`` and ``CHANGELOG.md`` are served from where they are in the repository, never copied into
  ``docs/``: a spec added to ``specs/`` is on the site at the next build (and must be in the nav, or the
  strict build says so).
- ``guides/errors.md`` is ``docs/guides/errors.md`` with the table of every code read from the source
  (docs/error_codes.py) in place of its marker.
- Every public name of every module the API reference renders (``::: module`` in ``docs/reference/``; public
  as griffe reads ``__all__``), and every public method or property of a public class, must have a docstring:
  a missing one is a warning, which ``mkdocs build --strict`` turns into a failed build (mkdocstrings alone
  would render the name with nothing said, or leave it out).
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import griffe
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

sys.path.insert(0, str(Path(__file__).parent))
import error_codes  # docs/ is no package: the table's code is beside this file

log = logging.getLogger("mkdocs.hooks.didlib")  # under "mkdocs": counted by --strict
ROOT = Path(__file__).resolve().parent.parent
ERRORS_MARKER = "<!-- error-codes-table -->"
_DIRECTIVE = re.compile(r"^::: ([\w.]+)", re.M)


def reference_modules(docs: Path) -> list[str]:
    """The modules the API reference renders, in page order."""
    return [m for page in sorted((docs / "reference").glob("*.md")) for m in _DIRECTIVE.findall(page.read_text())]


def undocumented(modules: list[str], search_paths: list[Path]) -> list[str]:
    """The public names (``module.name``, ``module.Class.method``) of ``modules`` that have no docstring."""
    loader = griffe.GriffeLoader(search_paths=[str(p) for p in search_paths])
    for package in {m.split(".")[0] for m in modules}:
        loader.load(package)
    loader.resolve_aliases(implicit=False, external=False)
    missing: list[str] = []
    for name in modules:
        module = loader.modules_collection.get_member(name)
        if not module.docstring:
            missing.append(name)
        for member_name, member in module.members.items():
            if not member.is_public or (member_name.startswith("__") and member_name != "__version__"):
                continue
            target = member.final_target if member.is_alias else member
            if not target.docstring:
                missing.append(f"{name}.{member_name}")
            if target.is_class:
                missing += [f"{name}.{member_name}.{method}" for method, obj in target.members.items()
                            if not method.startswith("_") and not obj.is_alias and not obj.is_attribute
                            and not obj.docstring and not _inherits_docstring(target, method)]
    return missing


def _inherits_docstring(cls: griffe.Class, name: str) -> bool:
    """An override documented where it is declared (``Policy.decide`` for ``AgePolicy.decide``)."""
    try:
        bases = cls.mro()
    except (griffe.AliasResolutionError, ValueError):
        return False
    return any(name in base.members and base.members[name].docstring for base in bases)


def on_pre_build(config: MkDocsConfig, **_: Any) -> None:
    docs = Path(config.docs_dir)
    # Where mkdocstrings finds the code (relative to mkdocs.yml), so the check reads what the reference renders.
    paths = config.plugins["mkdocstrings"].config.handlers["python"].get("paths", ["."])
    base = Path(config.config_file_path).parent
    for name in undocumented(reference_modules(docs), [base / p for p in paths]):
        log.warning("public name without a docstring: %s", name)


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    for spec in sorted((ROOT / "specs").glob("*.md")):
        files.append(File.generated(config, f"specs/{spec.name}", abs_src_path=str(spec)))
    files.append(File.generated(config, "changelog.md", abs_src_path=str(ROOT / "CHANGELOG.md")))
    return files


def on_page_markdown(markdown: str, page: Page, **_: Any) -> str:
    if page.file.src_uri == "guides/errors.md":
        if ERRORS_MARKER not in markdown:
            log.warning("guides/errors.md lost its marker %s", ERRORS_MARKER)
        return markdown.replace(ERRORS_MARKER, error_codes.markdown())
    return markdown
