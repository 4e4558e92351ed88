"""The README's Python examples run as written."""

from __future__ import annotations

from conftest import ROOT
from markdown_code import blocks, run_page


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert len(blocks(ROOT / "README.md", {"python"})) >= 2
    namespace = run_page(ROOT / "README.md", {"python"})
    assert namespace["result"].valid
    out = capsys.readouterr().out
    assert "True" in out
    assert "{'age_over_18': True}" in out and namespace["checkout"].answered, "the OpenID4VP example"
