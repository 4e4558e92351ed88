"""SessionTranscript (ISO/IEC 18013-5 9.1.5.1) and its handovers.

SessionTranscript = [DeviceEngagementBytes, EReaderKeyBytes, Handover]. Everything in a session derives
from it: the session keys, ReaderAuthentication and DeviceAuthentication. It is always built from the
*received* bytes of the engagement and reader key, and passed around encoded (``bytes``).

Handover: ``null`` for QR engagement; ``[HandoverSelect, HandoverRequest or null]`` for NFC;
``["OpenID4VPHandover", SHA-256(OpenID4VPHandoverInfo)]`` for OpenID4VP 1.0 (Appendix B.2.6.1), where
OpenID4VPHandoverInfo = [client_id, nonce, JWK thumbprint or null, response_uri] and both
DeviceEngagementBytes and EReaderKeyBytes are null; ``["OpenID4VPDCAPIHandover", SHA-256(OpenID4VPDCAPIHandoverInfo)]``
over the Digital Credentials API (B.2.6.2), where OpenID4VPDCAPIHandoverInfo = [origin, nonce, JWK thumbprint or
null]; ``["dcapi", SHA-256(dcapiInfo)]`` for ISO/IEC 18013-7 Annex C (``org-iso-mdoc``), where
dcapiInfo = [Base64EncryptionInfo, origin].
"""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2

from didlib.cbor import Embedded, decode, encode
from didlib.errors import DecodeError
from didlib.keys import PrivateKey, PublicKey, cose_key_from_public, generate_key
from didlib.session.engagement import DeviceEngagement

__all__ = [
    "qr_transcript",
    "nfc_transcript",
    "openid4vp_transcript",
    "dc_api_handover_info",
    "dc_api_transcript",
    "iso_dc_api_transcript",
    "reader_key_bytes",
    "parse_transcript",
    "fresh_qr_transcript",
]


def reader_key_bytes(e_reader_key: PublicKey) -> Embedded:
    """EReaderKeyBytes = #6.24(bstr .cbor COSE_Key)."""
    return Embedded.wrap(cose_key_from_public(e_reader_key))


def _transcript(engagement: Embedded | None, e_reader_key: Embedded | None, handover: Any) -> bytes:
    return encode([engagement, e_reader_key, handover])


def qr_transcript(engagement: DeviceEngagement, e_reader_key: Embedded) -> bytes:
    """The SessionTranscript of a QR engagement (ISO 18013-5 9.1.5.1): the engagement's bytes as shown,
    the reader's ephemeral key, no handover."""
    return _transcript(engagement.embedded, e_reader_key, None)


def nfc_transcript(
    engagement: DeviceEngagement, e_reader_key: Embedded, handover_select: bytes, handover_request: bytes | None
) -> bytes:
    """NFC static or negotiated handover: the NDEF messages exactly as exchanged."""
    return _transcript(engagement.embedded, e_reader_key, [handover_select, handover_request])


def openid4vp_transcript(client_id: str, nonce: str, response_uri: str | None, jwk_thumbprint: bytes | None) -> bytes:
    """The SessionTranscript of an mdoc presented over OpenID4VP 1.0 (redirect flows)."""
    info = cbor2.dumps([client_id, nonce, jwk_thumbprint, response_uri])
    return _transcript(None, None, ["OpenID4VPHandover", hashlib.sha256(info).digest()])


def dc_api_handover_info(origin: str, nonce: str, jwk_thumbprint: bytes | None) -> bytes:
    """OpenID4VPDCAPIHandoverInfo (OpenID4VP 1.0 B.2.6.2): the page's origin as the browser asserted it (never
    prefixed with ``origin:``), the request's nonce, and the thumbprint of the response key for ``dc_api.jwt``
    (null for ``dc_api``)."""
    return cbor2.dumps([origin, nonce, jwk_thumbprint])


def dc_api_transcript(origin: str, nonce: str, jwk_thumbprint: bytes | None) -> bytes:
    """The SessionTranscript of an mdoc presented over the Digital Credentials API (OpenID4VP 1.0 B.2.6.2)."""
    digest = hashlib.sha256(dc_api_handover_info(origin, nonce, jwk_thumbprint)).digest()
    return _transcript(None, None, ["OpenID4VPDCAPIHandover", digest])


def iso_dc_api_transcript(encryption_info: str, origin: str) -> bytes:
    """The SessionTranscript of ISO/IEC 18013-7 Annex C (``org-iso-mdoc``): ``[null, null, ["dcapi",
    SHA-256(dcapiInfo)]]`` with dcapiInfo = ``[Base64EncryptionInfo, origin]``: the request's ``encryptionInfo``
    exactly as the page sent it (base64url text, never re-encoded) and the origin the browser asserts. It binds
    the reader authentication, the device authentication and (as HPKE ``info``) the sealed response alike."""
    digest = hashlib.sha256(cbor2.dumps([encryption_info, origin])).digest()
    return _transcript(None, None, ["dcapi", digest])


def fresh_qr_transcript() -> tuple[bytes, PrivateKey]:
    """A QR-engagement SessionTranscript with new ephemeral keys on both sides, and the reader's private
    key (needed to check deviceMac). For one-shot presentations outside a live session: CLI, tests."""
    reader = generate_key()
    engagement = DeviceEngagement.create(generate_key().public_key())
    return qr_transcript(engagement, reader_key_bytes(reader.public_key())), reader


def parse_transcript(data: bytes) -> tuple[Embedded | None, Embedded | None, Any]:
    """Check a SessionTranscript's shape; returns (DeviceEngagementBytes, EReaderKeyBytes, Handover)."""
    value = decode(data)
    if not isinstance(value, list) or len(value) != 3:
        raise DecodeError("SessionTranscript must be an array of three elements", code="bad_transcript")
    engagement, reader_key, handover = value
    for part in (engagement, reader_key):
        if part is not None and not isinstance(part, Embedded):
            raise DecodeError("SessionTranscript parts must be tag-24 embedded CBOR or null", code="bad_transcript")
    return engagement, reader_key, handover
