"""A griffe extension (mkdocs.yml, mkdocstrings' ``extensions``): didlib's docstrings name other objects with
Sphinx roles (``:class:`TrustStore```, ``:meth:`~PresentationRequest.check```), which Markdown would show as
written. They become code spans, the name as Sphinx would print it (``~`` keeps the last part only)."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`(~?)([^`]+)`")


def plain(text: str) -> str:
    """The docstring with every role as a code span."""
    return ROLE.sub(lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text)


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of every docstring of a package once griffe has loaded it."""

    def on_package(self, *, pkg: griffe.Module, **_: Any) -> None:
        todo: list[griffe.Object] = [pkg]
        while todo:
            obj = todo.pop()
            if obj.docstring is not None:
                obj.docstring.value = plain(obj.docstring.value)
            todo += [m for m in obj.members.values() if not m.is_alias]  # type: ignore[misc]
