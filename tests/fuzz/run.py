"""Run one harness under atheris (coverage-guided, libFuzzer): ``run.py HARNESS [libFuzzer flags...]``.

didlib is instrumented for coverage; its dependencies are not. The fuzzer reads the kept seeds and
regression inputs and writes what it learns to ``.fuzz/corpus/<harness>`` (outside git); a crash, a hang
or a contract break lands in ``.fuzz/crashes/<harness>/`` and ends the run with a non-zero exit. Turn each
into a regression input (``tests/fuzz/regressions/<harness>/``) and fix the library.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["didlib"]):
    import harnesses


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in harnesses.HARNESSES:
        sys.exit(f"usage: run.py HARNESS [libFuzzer flags]; harnesses: {' '.join(harnesses.HARNESSES)}")
    name, flags = sys.argv[1], sys.argv[2:]
    one = harnesses.HARNESSES[name]()
    work = ROOT / ".fuzz" / "corpus" / name
    crashes = ROOT / ".fuzz" / "crashes" / name
    work.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    folders = [str(f) for f in (work, harnesses.CORPUS / name, harnesses.REGRESSIONS / name) if f.is_dir()]
    defaults = ["-max_len=8192", "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={crashes}/"]
    argv = [sys.argv[0], *defaults, *flags, *folders]

    def test_one_input(data: bytes) -> None:
        harnesses.check(one, data)

    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
