"""The ISO/IEC 18013-5 data structures shared by issuer, holder and verifier (clause 8.3.2.1.2).

Parsing is strict about shape and keeps every tag-24 item as the bytes that were received, because the
MSO digests and the device signature cover those bytes and nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2

from didlib.cbor import Embedded, encode, tag24_bytes
from didlib.cose import Sign1
from didlib.errors import DecodeError, UnsupportedError
from didlib.keys import PublicKey, public_key_from_cose

__all__ = [
    "IssuerSignedItem",
    "IssuerSigned",
    "MobileSecurityObject",
    "DIGEST_ALGORITHMS",
    "device_authentication_bytes",
    "session_transcript_bytes",
]

DIGEST_ALGORITHMS = {"SHA-256": hashlib.sha256, "SHA-384": hashlib.sha384, "SHA-512": hashlib.sha512}
MAX_ELEMENTS_PER_NAMESPACE = 1024


def _field(mapping: Any, key: str, kind: type | tuple[type, ...], where: str, *, optional: bool = False) -> Any:
    if not isinstance(mapping, dict):
        raise DecodeError(f"{where} must be a map")
    value = mapping.get(key, _MISSING)
    if value is _MISSING:
        if optional:
            return None
        raise DecodeError(f"{where} has no {key}")
    if not isinstance(value, kind) or (kind is int and type(value) is bool):
        raise DecodeError(f"{where}.{key} has the wrong type")
    return value


_MISSING = object()


@dataclass(frozen=True, slots=True)
class IssuerSignedItem:
    """One IssuerSignedItem with the exact IssuerSignedItemBytes it arrived in."""

    embedded: Embedded
    digest_id: int
    random: bytes
    identifier: str
    value: Any

    @classmethod
    def parse(cls, obj: Any, where: str) -> IssuerSignedItem:
        if not isinstance(obj, Embedded):
            raise DecodeError(f"{where} must be #6.24(bstr .cbor IssuerSignedItem)")
        item = obj.decode()
        digest_id = _field(item, "digestID", int, where)
        if digest_id < 0:
            raise DecodeError(f"{where}.digestID must be an unsigned integer")
        if "elementValue" not in item:
            raise DecodeError(f"{where} has no elementValue")
        return cls(
            embedded=obj,
            digest_id=digest_id,
            random=_field(item, "random", bytes, where),
            identifier=_field(item, "elementIdentifier", str, where),
            value=item["elementValue"],
        )

    @classmethod
    def create(cls, digest_id: int, random: bytes, identifier: str, value: Any) -> IssuerSignedItem:
        embedded = Embedded.wrap(
            {"digestID": digest_id, "random": random, "elementIdentifier": identifier, "elementValue": value}
        )
        return cls(embedded, digest_id, random, identifier, value)

    def digest(self, algorithm: str) -> bytes:
        return DIGEST_ALGORITHMS[algorithm](self.embedded.raw).digest()


@dataclass(frozen=True, slots=True)
class IssuerSigned:
    """IssuerSigned: the disclosed items per namespace and the issuerAuth COSE_Sign1."""

    namespaces: dict[str, list[IssuerSignedItem]]
    issuer_auth: Sign1
    issuer_auth_raw: Any  # the decoded array, re-emitted as received

    @classmethod
    def parse(cls, obj: Any, where: str = "issuerSigned") -> IssuerSigned:
        namespaces_obj = _field(obj, "nameSpaces", dict, where, optional=True) or {}
        namespaces: dict[str, list[IssuerSignedItem]] = {}
        for ns, items in namespaces_obj.items():
            if not isinstance(ns, str) or not isinstance(items, list) or not items:
                raise DecodeError(f"{where}.nameSpaces must map namespace names to non-empty arrays")
            if len(items) > MAX_ELEMENTS_PER_NAMESPACE:
                raise DecodeError(f"{where}.nameSpaces.{ns} has too many elements")
            namespaces[ns] = [
                IssuerSignedItem.parse(item, f"{where}.nameSpaces.{ns}[{i}]") for i, item in enumerate(items)
            ]
        auth = _field(obj, "issuerAuth", (list, cbor2.CBORTag), where)
        return cls(namespaces, Sign1.from_cbor(auth), auth)

    def to_bytes(self) -> bytes:
        """The encoded IssuerSigned as issued (what a wallet stores and OpenID4VCI's ``mso_mdoc`` carries):
        every item's bytes exactly as signed, since the digests cover them (9.1.2.4)."""
        return encode(self.to_cbor())

    def to_cbor(self, only: dict[str, list[IssuerSignedItem]] | None = None) -> dict[str, Any]:
        chosen = self.namespaces if only is None else only
        out: dict[str, Any] = {}
        if chosen:
            out["nameSpaces"] = {ns: [item.embedded for item in items] for ns, items in chosen.items() if items}
        out["issuerAuth"] = self.issuer_auth_raw
        return out

    def mso(self) -> MobileSecurityObject:
        payload = self.issuer_auth.payload
        if payload is None:
            raise DecodeError("issuerAuth has no payload (the MSO must be attached)")
        return MobileSecurityObject.parse(Embedded.from_raw(payload))


@dataclass(frozen=True, slots=True)
class MobileSecurityObject:
    """The MSO (9.1.2.4): digests of every issued element, the device key and the validity window."""

    version: str
    digest_algorithm: str
    value_digests: dict[str, dict[int, bytes]]
    device_key: PublicKey
    device_key_cose: dict[Any, Any]
    key_authorizations: dict[str, Any] | None
    doctype: str
    signed: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime
    expected_update: dt.datetime | None
    status: dict[str, Any] | None

    @classmethod
    def parse(cls, embedded: Embedded) -> MobileSecurityObject:
        mso = embedded.decode()
        where = "MobileSecurityObject"
        version = _field(mso, "version", str, where)
        if not version.startswith("1."):
            raise UnsupportedError(f"MSO version {version!r} is not supported")
        algorithm = _field(mso, "digestAlgorithm", str, where)
        if algorithm not in DIGEST_ALGORITHMS:
            raise UnsupportedError(f"MSO digest algorithm {algorithm!r} is not supported")
        digests: dict[str, dict[int, bytes]] = {}
        for ns, ids in _field(mso, "valueDigests", dict, where).items():
            if not isinstance(ns, str) or not isinstance(ids, dict):
                raise DecodeError(f"{where}.valueDigests must map namespaces to maps")
            for digest_id, digest in ids.items():
                if isinstance(digest_id, bool) or not isinstance(digest_id, int) or digest_id < 0:
                    raise DecodeError(f"{where}.valueDigests digest IDs must be unsigned integers")
                if not isinstance(digest, bytes):
                    raise DecodeError(f"{where}.valueDigests digests must be byte strings")
            digests[ns] = ids
        key_info = _field(mso, "deviceKeyInfo", dict, where)
        cose_key = _field(key_info, "deviceKey", dict, f"{where}.deviceKeyInfo")
        validity = _field(mso, "validityInfo", dict, where)
        vwhere = f"{where}.validityInfo"
        return cls(
            version=version,
            digest_algorithm=algorithm,
            value_digests=digests,
            device_key=public_key_from_cose(cose_key),
            device_key_cose=cose_key,
            key_authorizations=_field(key_info, "keyAuthorizations", dict, f"{where}.deviceKeyInfo", optional=True),
            doctype=_field(mso, "docType", str, where),
            signed=_field(validity, "signed", dt.datetime, vwhere),
            valid_from=_field(validity, "validFrom", dt.datetime, vwhere),
            valid_until=_field(validity, "validUntil", dt.datetime, vwhere),
            expected_update=_field(validity, "expectedUpdate", dt.datetime, vwhere, optional=True),
            status=_field(mso, "status", dict, where, optional=True),
        )


def session_transcript_bytes(transcript: bytes) -> bytes:
    """SessionTranscriptBytes = #6.24(bstr .cbor SessionTranscript), from the encoded array."""
    return tag24_bytes(transcript)


def device_authentication_bytes(transcript: bytes, doctype: str, device_namespaces: Embedded) -> bytes:
    """DeviceAuthenticationBytes (9.1.3.4), splicing in the SessionTranscript exactly as received."""
    content = b"".join((_DEVICE_AUTHENTICATION_HEAD, transcript, cbor2.dumps(doctype), device_namespaces.raw))
    return tag24_bytes(content)


# An array of four whose first element is the text "DeviceAuthentication"; the rest is spliced in as received.
_DEVICE_AUTHENTICATION_HEAD = b"\x84" + cbor2.dumps("DeviceAuthentication")
