"""COSE_Sign1 / COSE_Mac0 round trips and every rejection."""

from __future__ import annotations

import cbor2
import pytest

from didlib.cbor import decode, encode
from didlib.cose import ALG_EDDSA, ALG_ES256, ALG_ES384, ALG_ES512, Mac0, Sign1
from didlib.errors import BadKey, CertificateError, DecodeError, InvalidMac, InvalidSignature, UnsupportedError
from didlib.keys import generate_key


@pytest.mark.parametrize(
    ("kind", "alg"),
    [("P-256", ALG_ES256), ("P-384", ALG_ES384), ("P-521", ALG_ES512), ("Ed25519", ALG_EDDSA), ("Ed448", ALG_EDDSA)],
)
def test_sign1_round_trip(kind, alg):
    key = generate_key(kind)
    signed = Sign1.create(key, b"payload", unprotected={4: b"kid"})
    parsed = Sign1.from_cbor(decode(encode(signed.to_cbor())))
    assert parsed.alg == alg
    parsed.verify(key.public_key())
    with pytest.raises((InvalidSignature, BadKey)):
        parsed.verify(generate_key(kind).public_key())


def test_sign1_tagged_input_accepted():
    key = generate_key()
    signed = Sign1.create(key, b"p")
    tagged = decode(cbor2.dumps(cbor2.CBORTag(18, signed.to_cbor())))
    Sign1.from_cbor(tagged).verify(key.public_key())
    with pytest.raises(DecodeError):
        Sign1.from_cbor(cbor2.CBORTag(17, signed.to_cbor()))


def test_detached_payload():
    key = generate_key()
    signed = Sign1.create(key, b"detached", detached=True)
    assert signed.payload is None
    signed.verify(key.public_key(), detached_payload=b"detached")
    with pytest.raises(InvalidSignature):
        signed.verify(key.public_key(), detached_payload=b"other")
    with pytest.raises(DecodeError):
        signed.verify(key.public_key())


def test_tampered_payload_signature_and_header():
    key = generate_key()
    arr = Sign1.create(key, b"payload").to_cbor()
    for index, value in ((2, b"payloaD"), (3, bytes(64)), (0, encode({1: -7, 99: 1}))):
        forged = list(arr)
        forged[index] = value
        with pytest.raises(InvalidSignature):
            Sign1.from_cbor(forged).verify(key.public_key())


def test_algorithm_key_mismatch():
    signed = Sign1.create(generate_key("P-256"), b"x")
    with pytest.raises(BadKey):
        signed.verify(generate_key("P-384").public_key())
    with pytest.raises(BadKey):
        signed.verify(generate_key("Ed25519").public_key())


def test_unsupported_or_missing_algorithm():
    key = generate_key()
    arr = Sign1.create(key, b"x").to_cbor()
    for protected in (encode({1: -257}), b""):
        forged = [protected, *arr[1:]]
        with pytest.raises(UnsupportedError):
            Sign1.from_cbor(forged).verify(key.public_key())


@pytest.mark.parametrize(
    "shape",
    [
        [],
        [b"", {}, None],
        "x",
        [1, {}, None, b""],
        [b"", [], None, b""],
        [b"", {}, 5, b""],
        [b"", {}, None, None],
        [b"\x01", {}, None, b""],
    ],
)
def test_malformed_sign1(shape):
    with pytest.raises(DecodeError):
        Sign1.from_cbor(shape)


def test_mac0():
    key = b"k" * 32
    mac = Mac0.create(key, b"data", detached=True)
    parsed = Mac0.from_cbor(decode(encode(mac.to_cbor())))
    parsed.verify(key, detached_payload=b"data")
    with pytest.raises(InvalidMac):
        parsed.verify(b"j" * 32, detached_payload=b"data")
    with pytest.raises(InvalidMac):
        parsed.verify(key, detached_payload=b"datA")


def test_x5chain_forms(pki):
    from cryptography.hazmat.primitives.serialization import Encoding

    ds = pki.certificate("ds").public_bytes(Encoding.DER)
    iaca = pki.certificate("iaca").public_bytes(Encoding.DER)
    key = generate_key()
    assert len(Sign1.create(key, b"x", unprotected={33: ds}).x5chain()) == 1
    assert len(Sign1.create(key, b"x", unprotected={33: [ds, iaca]}).x5chain()) == 2
    for bad in ([], [1], b"not a certificate", [ds] * 9):
        with pytest.raises(CertificateError):
            Sign1.create(key, b"x", unprotected={33: bad}).x5chain()
    with pytest.raises(CertificateError) as info:
        Sign1.create(key, b"x").x5chain()
    assert info.value.code == "missing_certificate"
