"""Known-answer tests on the Token Status List examples (tests/vectors/token-status-list-examples.json)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from conftest import load_vectors
from didlib.cbor import decode
from didlib.jose import b64url_decode, public_from_jwk
from didlib.sdjwt.vc import verify_sd_jwt
from didlib.status import StatusChecker, StatusList, StatusListToken

VECTORS = load_vectors("token-status-list-examples.json")
KEY = public_from_jwk({k: v for k, v in VECTORS["example_key"]["public_jwk"].items() if k not in ("kid", "alg")})
LISTS = VECTORS["status_lists"]
T = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)  # inside the example tokens' iat..exp
URI = "https://example.com/statuslists/1"


@pytest.mark.parametrize("vector", LISTS, ids=[v["name"][:24] for v in LISTS])
def test_decode_json_and_cbor_lists(vector):
    bits = int(vector["bits"])
    json_list = StatusList.from_compressed(bits, b64url_decode(vector["json_status_list"]["lst"]))
    cbor = decode(bytes.fromhex(vector["cbor_status_list_hex"]))
    cbor_list = StatusList.from_compressed(cbor["bits"], cbor["lst"])
    assert json_list.data == cbor_list.data
    if "uncompressed_byte_array_hex" in vector:
        assert json_list.data.hex() == vector["uncompressed_byte_array_hex"]
    else:
        assert hashlib.sha256(json_list.data).hexdigest() == vector["uncompressed_sha256_hex"]
    expected = {}
    for entry in vector["statuses"]:
        expected[entry["idx"]] = entry["status"]
    for index, status in expected.items():
        assert json_list.get(index) == status
    if len(expected) < json_list.size:  # small lists list every entry; large ones set only these
        nonzero = sum(1 for i in range(0, json_list.size, 997) if json_list.get(i) and i not in expected)
        assert nonzero == 0


@pytest.mark.parametrize("vector", LISTS, ids=[v["name"][:24] for v in LISTS])
def test_encode_reproduces_the_lists(vector):
    bits, size = int(vector["bits"]), int(vector["size"])
    built = StatusList(size, bits)
    for entry in vector["statuses"]:
        built.set(entry["idx"], entry["status"])
    decoded = StatusList.from_compressed(bits, b64url_decode(vector["json_status_list"]["lst"]))
    assert built.data == decoded.data
    if "compressed_hex" in vector:  # python's zlib level 9, like the draft's generator
        assert built.compressed().hex() == vector["compressed_hex"]


def test_signed_jwt_token():
    token = StatusListToken.verify(VECTORS["status_list_token_jwt"]["compact"], KEY, now=T)
    assert token.uri == URI and token.ttl == 43200 and token.issuer == "https://example.com"
    assert [token.status_list.get(i) for i in range(4)] == [1, 0, 0, 1]


def test_signed_cwt_token():
    token = StatusListToken.verify(bytes.fromhex(VECTORS["status_list_token_cwt"]["hex"]), KEY, now=T)
    assert token.uri == URI and token.ttl == 43200
    assert token.expires == dt.datetime.fromtimestamp(2291720170, dt.UTC)
    assert [token.status_list.get(i) for i in range(4)] == [1, 0, 0, 1]


def test_referenced_cwt_and_sd_jwt_resolve_to_invalid():
    checker = StatusChecker({URI: VECTORS["status_list_token_jwt"]["compact"]}, keys={URI: KEY})
    cwt = decode(bytes.fromhex(VECTORS["referenced_token_cwt"]["hex"]))
    claims = decode(cwt.value[2])
    assert checker.check_reference(claims[65535], T).state == "invalid"
    sd_jwt_key = public_from_jwk(load_vectors("sd-jwt-examples.json")["keys"]["issuer_public_jwk"])
    result = verify_sd_jwt(VECTORS["referenced_token_sd_jwt"]["compact"], issuer_key=sd_jwt_key, nonce=None,
                           aud=None, require_key_binding=False, now=T, status_checker=checker)
    assert [p.code for p in result.errors] == ["status_invalid"]
    assert result.status.state == "invalid" and result.status.index == 0
