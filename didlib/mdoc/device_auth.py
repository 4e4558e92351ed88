"""mdoc authentication (18013-5 9.1.3): the holder's device key signs or MACs DeviceAuthentication.

This is what binds a presentation to one session: without it a copied IssuerSigned would verify anywhere.
The MAC variant derives EMacKey from the static device key and the reader's ephemeral key (9.1.3.5).
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from didlib.cbor import Embedded, decode
from didlib.cose import Mac0, Sign1
from didlib.errors import BadKey, DecodeError, UnsupportedError
from didlib.keys import PrivateKey, PublicKey, public_key_from_cose
from didlib.mdoc.structures import device_authentication_bytes, session_transcript_bytes

__all__ = ["transcript_kdf", "emac_key", "reader_key_from_transcript", "create_device_auth", "verify_device_auth"]


def transcript_kdf(private_key: PrivateKey, peer_key: PublicKey, transcript: bytes, *infos: bytes) -> tuple[bytes, ...]:
    """ECDH, then one 32-byte HKDF-SHA256 output per ``info`` with salt SHA-256(SessionTranscriptBytes).

    The key schedule 18013-5 uses for both the session keys (9.1.1.5) and EMacKey (9.1.3.5); returns the
    shared secret first, then the derived keys.
    """
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(peer_key, ec.EllipticCurvePublicKey):
        raise UnsupportedError("ECDH needs EC keys on both sides")
    if private_key.curve.name != peer_key.curve.name:
        raise BadKey("the two keys are on different curves")
    shared = private_key.exchange(ec.ECDH(), peer_key)
    salt = hashlib.sha256(session_transcript_bytes(transcript)).digest()
    return shared, *(HKDF(hashes.SHA256(), 32, salt=salt, info=info).derive(shared) for info in infos)


def emac_key(private_key: PrivateKey, peer_key: PublicKey, transcript: bytes) -> bytes:
    """EMacKey = HKDF-SHA256(ECDH(device key, reader ephemeral key), transcript salt, info 'EMacKey')."""
    return transcript_kdf(private_key, peer_key, transcript, b"EMacKey")[1]


def reader_key_from_transcript(transcript: bytes) -> PublicKey:
    """EReaderKey from SessionTranscript = [DeviceEngagementBytes, EReaderKeyBytes, Handover]."""
    value = decode(transcript)
    if not isinstance(value, list) or len(value) != 3:
        raise DecodeError("SessionTranscript must be an array of three elements")
    reader_key = value[1]
    if not isinstance(reader_key, Embedded):
        raise DecodeError("SessionTranscript has no EReaderKeyBytes; a MAC cannot be made for it")
    return public_key_from_cose(reader_key.decode())


def create_device_auth(
    device_key: PrivateKey, transcript: bytes, doctype: str, device_namespaces: Embedded, *, mac: bool
) -> dict[str, Any]:
    payload = device_authentication_bytes(transcript, doctype, device_namespaces)
    if mac:
        key = emac_key(device_key, reader_key_from_transcript(transcript), transcript)
        return {"deviceMac": Mac0.create(key, payload, detached=True).to_cbor()}
    return {"deviceSignature": Sign1.create(device_key, payload, detached=True).to_cbor()}


def verify_device_auth(
    device_auth: Any,
    device_key: PublicKey,
    transcript: bytes,
    doctype: str,
    device_namespaces: Embedded,
    reader_key: PrivateKey | None,
) -> str:
    """Verify deviceSignature or deviceMac; return which one it was. Raises didlib errors on failure."""
    if not isinstance(device_auth, dict) or len(device_auth) != 1:
        raise DecodeError("deviceAuth must hold exactly one of deviceSignature or deviceMac")
    payload = device_authentication_bytes(transcript, doctype, device_namespaces)
    if "deviceSignature" in device_auth:
        Sign1.from_cbor(device_auth["deviceSignature"]).verify(device_key, detached_payload=payload)
        return "signature"
    if "deviceMac" in device_auth:
        mac = Mac0.from_cbor(device_auth["deviceMac"])
        if reader_key is None:
            raise BadKey(
                "the response uses deviceMac; the reader's ephemeral private key is needed to check it",
                code="missing_reader_key",
            )
        mac.verify(emac_key(reader_key, device_key, transcript), detached_payload=payload)
        return "mac"
    raise DecodeError("deviceAuth must hold deviceSignature or deviceMac")
