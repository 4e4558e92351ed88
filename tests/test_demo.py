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
    assert "VOLUNTEER CLEARED" in proc.stdout and "this proof of age has been revoked by its issuer" in proc.stdout
    assert "the website learns: {'age_over_18': True} and nothing else" in proc.stdout


def test_online_demo_checkout(tmp_path):
    """make demo-online's services, with one headless checkout (free ports: tests may run beside a demo)."""
    from issuer_service.process import free_port

    script = ROOT / "examples" / "age_gated_shop" / "demo_online.py"
    proc = subprocess.run([sys.executable, str(script), "--once", "--issuer-port", str(free_port()),
                           "--shop-port", str(free_port())], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("Online demo passed")
    assert "asks for ['age_over_18']" in proc.stdout
