"""COSE_Key conversion and key files."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from didlib.errors import BadKey, UnsupportedError
from didlib.jose import b64url_decode, b64url_encode, jwk_from_public, public_from_jwk
from didlib.keys import (
    cose_key_from_public,
    generate_key,
    key_kind,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_from_cose,
    public_key_pem,
    same_public_key,
)


@pytest.mark.parametrize("kind", ["P-256", "P-384", "P-521", "Ed25519", "Ed448"])
def test_cose_key_round_trip(kind):
    public = generate_key(kind).public_key()
    assert same_public_key(public_key_from_cose(cose_key_from_public(public)), public)


def test_p256_cose_key_layout():
    cose = cose_key_from_public(generate_key().public_key())
    assert cose[1] == 2 and cose[-1] == 1 and len(cose[-2]) == 32 and len(cose[-3]) == 32


@pytest.mark.parametrize(
    "cose",
    [
        "not a map",
        {1: 2, -1: 1},
        {1: 2, -1: 1, -2: b"\x00" * 32, -3: b"\x00" * 32},  # not on the curve
        {1: 2, -1: 1, -2: b"\x01" * 31, -3: b"\x01" * 32},
        {1: 2, -1: 1, -2: b"\x01" * 32, -3: True},  # compressed form
        {1: 1, -1: 6, -2: b"\x01" * 5},
    ],
)
def test_bad_cose_keys(cose):
    with pytest.raises(BadKey):
        public_key_from_cose(cose)


@pytest.mark.parametrize("cose", [{1: 2, -1: 99, -2: b"\x01"}, {1: 4, -1: 1, -2: b"\x01"}, {1: 1, -1: 4, -2: b"\x01"}])
def test_unsupported_cose_keys(cose):
    with pytest.raises(UnsupportedError):
        public_key_from_cose(cose)


def test_pem_files(tmp_path):
    key = generate_key()
    (tmp_path / "k.pem").write_bytes(private_key_pem(key))
    (tmp_path / "p.pem").write_bytes(public_key_pem(key.public_key()))
    assert same_public_key(load_private_key(tmp_path / "k.pem").public_key(), key.public_key())
    assert same_public_key(load_public_key(tmp_path / "p.pem"), key.public_key())
    assert same_public_key(load_public_key(tmp_path / "k.pem"), key.public_key())
    (tmp_path / "bad.pem").write_text("nonsense")
    for path in (tmp_path / "bad.pem", tmp_path / "missing.pem"):
        with pytest.raises(BadKey):
            load_private_key(path)
    (tmp_path / "big.pem").write_bytes(b"x" * 100_000)
    with pytest.raises(BadKey):
        load_public_key(tmp_path / "big.pem")
    with pytest.raises(UnsupportedError):
        generate_key("RSA")


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_ec_jwk_round_trip_and_refusals(curve):
    """A holder's EC JWK is read as an uncompressed point: every curve round-trips; a point off the curve,
    a coordinate of the wrong length, padding, an unknown curve and a private member are refused."""
    key = ec.generate_private_key(curve).public_key()
    jwk = jwk_from_public(key)
    assert public_from_jwk(jwk).public_numbers() == key.public_numbers()
    size = (curve.key_size + 7) // 8
    off_curve = b64url_encode((int.from_bytes(b64url_decode(jwk["y"]), "big") ^ 1).to_bytes(size, "big"))
    for bad in (
        {**jwk, "y": off_curve},
        {**jwk, "x": b64url_encode(b64url_decode(jwk["x"])[1:])},
        {**jwk, "x": jwk["x"] + "="},
        {**jwk, "crv": "secp256k1"},
        {**jwk, "x": 7},
        {k: v for k, v in jwk.items() if k != "y"},
        {**jwk, "d": jwk["x"]},
    ):
        with pytest.raises(BadKey):
            public_from_jwk(bad)


def test_key_kind_per_class():
    """key_kind answers from the class once decided; a private key never passes for a public one."""
    for kind in ("P-256", "P-384", "Ed25519"):
        private = generate_key(kind)
        family = "ec" if kind.startswith("P-") else "eddsa"
        for _ in range(2):  # the second answer comes from the per-class memo
            assert key_kind(private) == f"{family}-private"
            assert key_kind(private.public_key()) == f"{family}-public"
    assert key_kind(b"not a key") == key_kind(None) == ""


def test_verify_ecdsa_raw_takes_r_and_s_and_refuses_the_wrong_length_and_a_changed_message():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from didlib.errors import InvalidSignature
    from didlib.keys import generate_key, verify_ecdsa_raw

    key, scheme = generate_key(), ec.ECDSA(hashes.SHA256())
    r, s = decode_dss_signature(key.sign(b"message", scheme))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    verify_ecdsa_raw(key.public_key(), raw, b"message", scheme, "test")
    with pytest.raises(InvalidSignature, match="test signature does not verify"):
        verify_ecdsa_raw(key.public_key(), raw, b"messagf", scheme, "test")
    with pytest.raises(InvalidSignature, match="wrong length"):
        verify_ecdsa_raw(key.public_key(), raw[:-1], b"message", scheme, "test")
