"""COSE_Key conversion and key files."""

from __future__ import annotations

import pytest

from didlib.errors import BadKey, UnsupportedError
from didlib.keys import (
    cose_key_from_public,
    generate_key,
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
