"""Run the issuer service as a separate process (for the demo, tests and benchmarks) and wait until ready."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["free_port", "launch", "start", "stop"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    data: Path,
    port: int | None = None,
    *,
    capture: bool = False,
    log: Path | None = None,
    args: tuple[str, ...] = ("--demo",),
    **env: str,
) -> tuple[subprocess.Popen, str]:
    """``python -m issuer_service`` on ``port`` (a free one by default) with ``env`` added; returns once
    ``/health`` answers. With ``capture`` its output is kept on ``proc.stdout``, with ``log`` written to that
    file (else discarded). ``args`` go on its command line: demo mode by default, as demos and tests want
    the transaction code in the offer response."""
    port = port or free_port()
    environment = os.environ | {"DIDLIB_ISSUER_DATA": str(data)} | env
    argv = [sys.executable, "-m", "issuer_service", "--port", str(port), *args]
    base = f"http://127.0.0.1:{port}"
    return launch(argv, base, environment, capture=capture, log=log), base


def launch(
    argv: list[str], base: str, env: dict[str, str] | None = None, *, capture: bool = False, log: Path | None = None
) -> subprocess.Popen:
    """Start a web service process and return once ``{base}/health`` answers (also used for the demo shop)."""
    if log is not None:
        with log.open("ab") as output:  # the child keeps its own descriptor
            proc = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
        capture = False
    else:
        stream = subprocess.PIPE if capture else subprocess.DEVNULL
        proc = subprocess.Popen(argv, env=env, stdout=stream, stderr=subprocess.STDOUT if capture else stream)
    for _ in range(300):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
        if proc.poll() is not None:
            break
    proc.kill()
    detail = proc.stdout.read().decode(errors="replace")[-2000:] if capture and proc.stdout else ""
    raise RuntimeError(f"{argv[1:3]} did not start {detail}")


def stop(proc: subprocess.Popen, timeout: float = 20) -> int:
    """SIGTERM, then wait: uvicorn shuts down gracefully (and re-raises the signal, so -15 is a clean exit)."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)
