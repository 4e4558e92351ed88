"""Run the code blocks of a Markdown page as written: the README's and every guide's (tests/test_readme.py,
tests/test_docs.py). One runner for both, so a page cannot document code that no longer runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
RUN = {"python", "sh"}  # what runs; a ```console block shows a command that runs until stopped (a server)


def blocks(page: Path, languages: set[str] = RUN) -> list[tuple[str, str]]:
    """(language, code) of each fenced block of ``page`` in one of ``languages``, in page order."""
    return [(lang, code) for lang, code in FENCE.findall(page.read_text()) if lang in languages]


def run_page(page: Path, languages: set[str] = RUN, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the page's blocks in order in the current directory: Python blocks in one namespace (a later block
    uses what an earlier one made), shell blocks in bash with this interpreter's scripts (``didlib``) first
    on PATH. Returns the namespace; a failing block fails with its output."""
    namespace = {} if namespace is None else namespace
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for number, (language, code) in enumerate(blocks(page, languages), 1):
        if language == "python":
            exec(compile(code, f"{page.name} block {number}", "exec"), namespace)
        else:
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], env=env, capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 0, f"{page.name} block {number} exited {done.returncode}:\n{code}\n" \
                f"{done.stdout}\n{done.stderr}"
            print(done.stdout, end="")
    return namespace
