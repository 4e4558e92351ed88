"""Searching what a verifier wrote for the personal values it was shown (specs/verifier.md: it keeps none)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from didlib.keys import PublicKey
from didlib.samples import Person


def _encodings(name: str, value: bytes) -> dict[str, bytes]:
    """A binary value as it could be written down: raw, hex, base64 and base64url."""
    return {
        name: value,
        f"{name} (hex)": value.hex().encode(),
        f"{name} (base64)": base64.b64encode(value).rstrip(b"="),
        f"{name} (base64url)": base64.urlsafe_b64encode(value).rstrip(b"="),
    }


def needles(
    person: Person, document_number: str, portrait: bytes, device_keys: Iterable[PublicKey]
) -> dict[str, bytes]:
    """The personal values of one person a verifier may have seen, in every form looked for."""
    found = {
        "family name": person.family_name.encode(),
        "given name": person.given_name.encode(),
        "birth date": person.birth_date.isoformat().encode(),
        "document number": document_number.encode(),
        **_encodings("portrait", portrait[200:248]),
    }
    for n, key in enumerate(device_keys):
        point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        found |= _encodings(f"device key {n}", point[1:33])
    return found


def personal_traces(folder: Path, shown: Iterable[dict[str, bytes]]) -> list[str]:
    """Every ``file: what`` where a file below ``folder`` holds one of the ``shown`` values."""
    shown = list(shown)
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path.name}: {what}" for values in shown for what, needle in values.items() if needle in data]
    return found
