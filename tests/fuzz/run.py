"""Run one harness under atheris (coverage-guided, libFuzzer): ``run.py HARNESS [libFuzzer flags...]``;
``run.py all`` runs every harness in one process, ``run.py --list`` names them.

didlib is instrumented for coverage; its dependencies are not. The fuzzer reads the kept seeds and
regression inputs and writes what it learns to ``.fuzz/corpus/<harness>`` (outside git; ``DIDLIB_FUZZ_DIR``
moves ``.fuzz``); a crash, a hang or a contract break lands in ``.fuzz/crashes/<harness>/`` and ends the run
with a non-zero exit. Turn each
into a regression input (``tests/fuzz/regressions/<harness>/``) and fix the library.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["didlib"]):
    import harnesses

ALL = "all"


def main() -> None:
    names = list(harnesses.HARNESSES)
    if sys.argv[1:2] == ["--list"]:
        print(" ".join(names))
        return
    if len(sys.argv) < 2 or sys.argv[1] not in [*names, ALL]:
        sys.exit(f"usage: run.py HARNESS|{ALL}|--list [libFuzzer flags]; harnesses: {' '.join(names)}")
    name, flags = sys.argv[1], sys.argv[2:]
    state = Path(os.environ.get("DIDLIB_FUZZ_DIR", ROOT / ".fuzz"))
    work, crashes = state / "corpus" / name, state / "crashes" / name
    work.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    if name == ALL:
        test_one_input = _all(names, work)
        folders = [str(work)]
    else:
        one = harnesses.HARNESSES[name]()
        folders = [str(f) for f in (work, harnesses.CORPUS / name, harnesses.REGRESSIONS / name) if f.is_dir()]

        def test_one_input(data: bytes) -> None:
            harnesses.check(one, data)

    defaults = ["-max_len=8192", "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={crashes}/"]
    atheris.Setup([sys.argv[0], *defaults, *flags, *folders], test_one_input)
    atheris.Fuzz()


def _all(names: list[str], work: Path) -> Callable[[bytes], None]:
    """Every harness in one process (the smoke in ``make test``): the first byte picks the harness, so
    one fuzzer start-up covers them all. The kept inputs are copied in with their harness's byte."""
    ones = [harnesses.HARNESSES[name]() for name in names]
    for number, name in enumerate(names):
        for path in harnesses.inputs(name):
            (work / f"{name}-{path.name}").write_bytes(bytes([number]) + path.read_bytes())

    def test_one_input(data: bytes) -> None:
        if data:
            harnesses.check(ones[data[0] % len(ones)], data[1:])

    return test_one_input


if __name__ == "__main__":
    main()
