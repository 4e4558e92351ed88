"""make demo's story runs to the end and says so."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_demo_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("Demo passed")
    assert "VOLUNTEER CLEARED" in proc.stdout and "licence revoked" in proc.stdout
