"""The coverage-guided fuzzing harnesses in ``make test``: every kept input (seeds and regression inputs)
replayed through its harness, every harness's contract shown to bite, and a short atheris run of all
harnesses in one process (``make fuzz-cov`` runs them for hours)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harnesses import CORPUS, HARNESSES, REGRESSIONS, ContractBroken, check, genuine, inputs

RUN = Path(__file__).resolve().parent / "run.py"


@pytest.fixture(scope="module", params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest):
    return request.param, HARNESSES[request.param]()


def test_kept_inputs_keep_the_contract(harness) -> None:
    name, one = harness
    kept = list(inputs(name))
    assert len(kept) >= 2, f"{name} has no seed corpus in {CORPUS / name}"
    for path in kept:
        check(one, path.read_bytes())


def test_every_harness_has_its_corpus_and_nothing_else() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(HARNESSES)
    if REGRESSIONS.is_dir():
        assert {p.name for p in REGRESSIONS.iterdir()} <= set(HARNESSES)


VERIFIERS = ["device_response", "device_request", "sdjwt", "status", "oid4vp_request", "oid4vp_response", "oid4vci",
             "credential_request", "trustlist"]


@pytest.mark.parametrize("name", VERIFIERS)
def test_the_signed_parts_check_bites(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A harness whose contract check passed everything would pass unnoticed: built on its first genuine seed
    alone, it must call every other genuine seed (which verifies, signed by the same dev PKI) a break."""
    import harnesses

    first, *others = sorted((CORPUS / name).glob("genuine-*"))
    assert others, f"{name} needs two genuine seeds"
    (tmp_path / name).mkdir()
    (tmp_path / name / first.name).write_bytes(first.read_bytes())
    monkeypatch.setattr(harnesses, "CORPUS", tmp_path)
    assert genuine(name) == [first.read_bytes()]
    one = HARNESSES[name]()
    for other in others:
        with pytest.raises(ContractBroken):
            one(other.read_bytes())


def test_atheris_smoke_of_every_harness(tmp_path: Path) -> None:
    """libFuzzer with a fixed seed and run count over all harnesses at once, from the kept inputs alone (a fresh
    working folder): deterministic, a few seconds."""
    done = subprocess.run([sys.executable, str(RUN), "all", "-runs=4000", "-seed=1"], capture_output=True,
                          text=True, timeout=300, check=False, env=os.environ | {"DIDLIB_FUZZ_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Done 4000 runs" in done.stderr


# ------------------------------------------------------------------ findings, each kept in regressions/
def test_offer_uri_with_a_bracketed_host_is_a_typed_error() -> None:
    """Found by the oid4vci harness: urlsplit's ValueError ("Invalid IPv6 URL") escaped from_uri."""
    from didlib.oid4vci import CredentialOffer, OID4VCIError

    found = (REGRESSIONS / "oid4vci" / "offer-bracket-host").read_text("latin-1")
    for uri in (found, "openid-credential-offer://[::1?credential_offer=%7B%7D"):
        with pytest.raises(OID4VCIError) as raised:
            CredentialOffer.from_uri(uri)
        assert raised.value.code == "invalid_request"


def test_origin_with_a_bracketed_host_is_a_typed_error() -> None:
    from didlib.errors import DecodeError
    from didlib.oid4vp.common import check_origin

    with pytest.raises(DecodeError):
        check_origin("https://[shop.example")


@pytest.mark.parametrize("link", ["openid4vp://[x?client_id=a&request_uri=https://b/r",
                                  "openid4vp://?client_id=a&request_uri=https://[b/r"])
def test_request_link_with_a_bracketed_host_is_a_typed_error(link: str) -> None:
    """The same fault in the wallet's reading of an ``openid4vp://`` link (a scanned QR code)."""
    from didlib.errors import DecodeError
    from didlib.oid4vp import request_uri_parts

    with pytest.raises(DecodeError):
        request_uri_parts(link)


def test_signed_request_with_a_bracketed_response_uri_is_a_typed_error() -> None:
    """And in a request object a trusted website signed: its response_uri is outside input too."""
    from harnesses import HOST, NOW, Material

    from didlib.errors import DecodeError
    from didlib.oid4vp import PresentationRequest, age_query, parse_request

    m = Material.load()
    request = PresentationRequest.create(HOST, f"https://[{HOST}/response", age_query(18), now=NOW)
    request_object = request.request_object(m.pki.key("website"), [m.pki.certificate("website")])
    with pytest.raises(DecodeError):
        parse_request(request_object, m.reader_trust, now=NOW)
