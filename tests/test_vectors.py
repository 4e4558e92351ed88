"""The public vectors travel with the repository: a clone needs nothing beside it to run its tests."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import ROOT, VECTORS, load_vectors

VECTOR_FOLDER = ROOT / "tests" / "vectors"
FILES = ("iso18013-5-annexD.json", "sd-jwt-examples.json", "token-status-list-examples.json")


@pytest.mark.parametrize("name", FILES)
def test_each_vector_file_is_in_the_repository_and_has_its_source_named(name):
    assert (VECTOR_FOLDER / name).is_file()
    assert load_vectors(name)["source"], "each file names where its values come from"
    assert f"`{name}`" in (VECTOR_FOLDER / "README.md").read_text()


@pytest.mark.skipif("DIDLIB_VECTORS" in os.environ, reason="DIDLIB_VECTORS names another folder on purpose")
def test_the_default_folder_is_the_copy_in_the_repository():
    assert VECTORS == VECTOR_FOLDER


def test_a_missing_vector_file_fails_rather_than_skips():
    with pytest.raises(pytest.fail.Exception, match="test vectors not found"):
        load_vectors("no-such-vectors.json")


def test_nothing_reads_outside_the_repository():
    """Tests, scripts, benchmarks, examples and the Makefile name no sibling folder of the checkout."""
    outside = re.compile(r"\.\./shared|parent\s*/\s*\"shared\"|\.parent\.parent\.parent")
    sources = [ROOT / "Makefile", ROOT / ".ci" / "run"]
    for folder in ("tests", "scripts", "bench", "examples"):
        sources += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in {".py", ".sh", ""}]
    this = Path(__file__).resolve()
    offenders = [
        str(p.relative_to(ROOT)) for p in sources if p != this and outside.search(p.read_text(errors="ignore"))
    ]
    assert offenders == []
