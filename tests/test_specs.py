"""specs/ stays true to the code: the element tables in specs/mdoc.md are the registry's."""

from __future__ import annotations

import re

from conftest import ROOT
from didlib.mdoc.registry import markdown_tables


def test_mdoc_spec_element_tables_match_the_registry():
    spec = (ROOT / "specs" / "mdoc.md").read_text()
    match = re.search(r"<!-- registry-tables:start -->\n(.*)\n<!-- registry-tables:end -->", spec, re.S)
    assert match, "specs/mdoc.md lost its registry table markers"
    assert match.group(1).strip() == markdown_tables().strip(), (
        "specs/mdoc.md is out of date: regenerate with python -c "
        "'from didlib.mdoc.registry import markdown_tables; print(markdown_tables())'"
    )
