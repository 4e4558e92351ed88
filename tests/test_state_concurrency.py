"""A till's state with several processes at once (issue 14, item 11): every code is accepted once however
many ``didlib check`` processes read it together, every check is counted, and a saved OpenID4VP request is
answered once by concurrent ``didlib vp check`` processes. Real processes, started together."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import NOW
from didlib.cli import main
from didlib.keys import generate_key, private_key_pem
from didlib.mdoc import DOCTYPE_MDL
from didlib.pkidir import PkiDir
from didlib.presentation import make_oneway
from didlib.samples import mdl_data
from didlib.verifier.replay import ReplayCache
from didlib.verifier.state import Counts

CODES = 8  # two processes per code, all started at once: 16 processes on a 2-core machine, a few seconds


def didlib(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "didlib.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> tuple[int, dict]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 1), err
    return proc.returncode, json.loads(out)


def test_two_tills_accept_each_code_once(tmp_path, pki, age_credential, device_key):
    state = tmp_path / "state"
    codes = [make_oneway(age_credential, device_key, now=NOW) for _ in range(CODES)]
    common = ["check", "--policy", "age:18", "--trust", str(pki.folder / "iaca.pem"), "--trust",
              str(pki.folder / "ds.pem"), "--state", str(state), "--now", NOW.isoformat()]
    procs = [(i, didlib(*common, "--payload", code)) for i, code in enumerate(codes) for _ in range(2)]
    verdicts: dict[int, list[str]] = {i: [] for i in range(CODES)}
    for i, proc in procs:
        verdicts[i].append(finish(proc)[1]["verdict"])
    twice = [i for i, pair in verdicts.items() if sorted(pair) != ["accept", "reject"]]
    assert not twice, f"codes not accepted exactly once: {twice} of {CODES} ({verdicts})"
    assert len(ReplayCache(state / "verifier.sqlite")) == CODES, "every accepted nonce is remembered"
    assert Counts(state / "verifier.sqlite").read() == {"checks": 2 * CODES, "accept": CODES, "reject": CODES}


def test_two_vp_checks_on_one_form_one_is_valid(tmp_path, capsys):
    pki = PkiDir.create(tmp_path / "pki")  # valid today: the request object carries today's time
    (tmp_path / "phone.pem").write_bytes(private_key_pem(generate_key()))
    (tmp_path / "licence.json").write_text(json.dumps(mdl_data()))
    assert main(["issue", "mdoc", "--pki", str(pki.folder), "--device-key", str(tmp_path / "phone.pem"), "--doctype",
                 DOCTYPE_MDL, "--data", str(tmp_path / "licence.json"), "--out", str(tmp_path / "cred.cbor")]) == 0
    for trial in range(4):
        saved, form = tmp_path / f"state-{trial}.json", tmp_path / f"form-{trial}.json"
        assert main(["vp", "request", "--pki", str(pki.folder), "--host", "shop.example", "--plain",
                     "--out", str(tmp_path / "req.jwt"), "--state", str(saved)]) == 0
        assert main(["vp", "answer", str(tmp_path / "req.jwt"), "--reader-trust", str(pki.folder / "reader-ca.pem"),
                     "--mdoc", str(tmp_path / "cred.cbor"), "--device-key", str(tmp_path / "phone.pem"),
                     "--out", str(form)]) == 0
        capsys.readouterr()
        pair = [didlib("vp", "check", str(form), "--state", str(saved), "--trust", str(pki.folder / "iaca.pem"))
                for _ in range(2)]
        results = [finish(proc)[1] for proc in pair]
        valid = [r["valid"] for r in results]
        assert sorted(valid) == [False, True], f"trial {trial}: {results}"


@pytest.mark.parametrize("garbage", [b"not a database at all" * 100, b""])
def test_a_damaged_state_file_is_a_usage_error(tmp_path, garbage, pki, age_credential, device_key):
    (tmp_path / "verifier.sqlite").write_bytes(garbage)
    code = main(["check", "--policy", "age:18", "--trust", str(pki.folder / "iaca.pem"), "--trust",
                 str(pki.folder / "ds.pem"), "--state", str(tmp_path), "--now", NOW.isoformat(),
                 "--payload", make_oneway(age_credential, device_key, now=NOW)])
    assert code == (2 if garbage else 0)


def test_replay_claims_expire_and_stay_bounded(tmp_path, monkeypatch):
    from didlib.verifier import replay

    cache = ReplayCache(tmp_path / "verifier.sqlite")
    assert cache.remember(b"a", until=100, now=0) and not cache.remember(b"a", until=100, now=50)
    assert cache.seen(b"a", now=99) and not cache.seen(b"a", now=100)
    assert cache.remember(b"a", until=300, now=200), "an expired nonce has gone"
    monkeypatch.setattr(replay, "MAX_ENTRIES", 3)
    for n, until in enumerate((900, 400, 800, 700)):
        assert cache.remember(bytes([n]), until=until, now=200)
    assert len(cache) == 3 and not cache.seen(b"a", now=250) and not cache.seen(bytes([1]), now=250)
