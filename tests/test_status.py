"""Status lists: encoding, tokens, the offline checker, and revocation seen by both verifiers."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import NOW, issue
from didlib.errors import DecodeError, LimitExceeded, UsageError
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, present_elements, verify_response
from didlib.samples import flat_claims, proof_of_age_data
from didlib.sdjwt import present_sd_jwt, verify_sd_jwt_vc
from didlib.sdjwt.profiles import VCT, issue_credential_sd_jwt
from didlib.status import IndexAllocator, Status, StatusChecker, StatusList, StatusListToken

URI = "https://dvla.example.invalid/status/1"


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_set_get_round_trip(bits):
    lst = StatusList(1000, bits)
    values = {i: (i * 7) % (1 << bits) for i in range(0, 1000, 13)}
    for index, value in values.items():
        lst.set(index, value)
    again = StatusList.from_compressed(bits, lst.compressed())
    assert all(again.get(i) == values.get(i, 0) for i in range(1000))
    with pytest.raises(UsageError):
        lst.set(0, 1 << bits)
    with pytest.raises(LimitExceeded):
        lst.get(again.size)


def test_zip_bomb_and_garbage_are_refused():
    import zlib

    with pytest.raises(LimitExceeded):
        StatusList.from_compressed(1, zlib.compress(bytes(2 << 20), 9), max_bytes=1 << 20)
    with pytest.raises(DecodeError):
        StatusList.from_compressed(1, b"not zlib")


def test_index_allocation_is_random_and_unique():
    allocator = IndexAllocator(200)
    picked = [allocator.allocate() for _ in range(200)]
    assert sorted(picked) == list(range(200))
    assert picked != sorted(picked)
    with pytest.raises(UsageError) as info:
        allocator.allocate()
    assert info.value.code == "status_list_full"


@pytest.fixture(scope="module")
def signer(pki):
    return pki.signer()


@pytest.fixture(scope="module")
def revocations():
    lst = StatusList(64, 2)
    lst.set(3, Status.INVALID)
    lst.set(4, Status.SUSPENDED)
    return lst


@pytest.mark.parametrize("form", ["jwt", "cwt"])
def test_checker_reads_both_token_forms(form, signer, revocations, trust):
    key, cert = signer
    make = StatusListToken.create_jwt if form == "jwt" else StatusListToken.create_cwt
    token = make(URI, revocations, key, now=NOW, chain=[cert])
    checker = StatusChecker({URI: token}, trust=trust)
    later = NOW + dt.timedelta(minutes=10)
    assert [checker.check(URI, i, later).state for i in (2, 3, 4)] == ["valid", "invalid", "suspended"]
    result = checker.check(URI, 2, later)
    assert result.age == dt.timedelta(minutes=10) and not result.stale
    assert checker.check(URI, 2, NOW + dt.timedelta(hours=2)).stale, "past the ttl of one hour"
    expired = checker.check(URI, 3, NOW + dt.timedelta(days=2))
    assert expired.state == "unknown" and "expired" in expired.reason


def test_checker_never_guesses_revoked(signer, revocations, trust):
    key, cert = signer
    good = StatusListToken.create_jwt(URI, revocations, key, now=NOW, chain=[cert])
    other_uri = StatusListToken.create_jwt(URI + "x", revocations, key, now=NOW, chain=[cert])
    forged = StatusListToken.create_jwt(URI, revocations, generate_key(), now=NOW, chain=[cert])
    cases = {
        "missing": StatusChecker({}, trust=trust),
        "wrong sub": StatusChecker({URI: other_uri}, trust=trust),
        "bad signature": StatusChecker({URI: forged}, trust=trust),
        "no trust": StatusChecker({URI: good}),
        "garbage": StatusChecker({URI: "junk"}, trust=trust),
    }
    for name, checker in cases.items():
        result = checker.check(URI, 3, NOW)
        assert result.state == "unknown", name
        assert result.reason, name
    assert StatusChecker({URI: good}, trust=trust).check(URI, 9999, NOW).state == "unknown"
    assert StatusChecker({URI: good}, trust=trust).check_reference({"status_list": {"idx": "3"}}, NOW).state == \
        "unknown"


@pytest.fixture(scope="module")
def status_world(pki, device_key, portrait, signer, revocations, trust):
    key, cert = signer
    token = StatusListToken.create_cwt(URI, revocations, key, now=NOW, chain=[cert])
    return StatusChecker({URI: token}, trust=trust)


@pytest.mark.parametrize(("index", "state", "codes"), [(2, "valid", []), (3, "invalid", ["status_invalid"]),
                                                       (4, "suspended", ["status_suspended"])])
def test_mdoc_status(pki, device_key, portrait, trust, status_world, session, index, state, codes):
    data = proof_of_age_data(today=NOW.date(), portrait=portrait)
    cred = issue(pki, DOCTYPE_AGE, data, device_key.public_key(), status={"status_list": {"idx": index, "uri": URI}})
    transcript, _ = session
    response = present_elements(cred, device_key, ["age_over_18"], transcript)
    result = verify_response(response, trust=trust, session_transcript=transcript, now=NOW,
                             status_checker=status_world)
    assert result.documents[0].status.state == state
    assert [p.code for p in result.documents[0].errors] == codes
    assert result.valid is (not codes)


@pytest.mark.parametrize(("index", "codes"), [(2, []), (3, ["status_invalid"])])
def test_sd_jwt_status(signer, portrait, trust, status_world, index, codes):
    key, cert = signer
    holder = generate_key()
    sd = issue_credential_sd_jwt(VCT[DOCTYPE_AGE], flat_claims(proof_of_age_data(today=NOW.date(),
                                                                                portrait=portrait)),
                                 signer_key=key, signer_chain=[cert], holder_key=holder.public_key(), now=NOW,
                                 status={"idx": index, "uri": URI})
    presentation = present_sd_jwt(sd, holder, ["age_over_18"], nonce="n", aud="a", now=NOW)
    result = verify_sd_jwt_vc(presentation, trust=trust, nonce="n", aud="a", now=NOW, status_checker=status_world)
    assert [p.code for p in result.errors] == codes
    assert result.status.index == index
