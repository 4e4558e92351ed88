"""The README's Python examples run as written."""

from __future__ import annotations

import re

from conftest import ROOT


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["result"].valid
    out = capsys.readouterr().out
    assert "True" in out
    assert "{'age_over_18': True}" in out and namespace["checkout"].answered, "the OpenID4VP example"
