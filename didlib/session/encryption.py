"""Session encryption (ISO/IEC 18013-5 9.1.1.5): ECDH, HKDF-SHA-256, AES-256-GCM with counters.

ZAB = ECDH(own ephemeral private key, peer's ephemeral public key); the salt is SHA-256 of the
tag-24-wrapped SessionTranscriptBytes; SKReader and SKDevice are 32-byte HKDF outputs with those info
strings. Each message uses the sender's key and a 12-byte IV: an 8-byte identifier (reader all zero,
device ``00..01``) and a 4-byte big-endian counter that starts at 1. A receiver accepts only the next
counter value, so a replayed, reordered or dropped message fails to decrypt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from didlib.errors import SessionError
from didlib.keys import PrivateKey, PublicKey
from didlib.mdoc.device_auth import transcript_kdf

__all__ = ["SessionKeys", "derive_session_keys", "SessionEncryption", "Role"]

Role = Literal["reader", "device"]
READER_ID = bytes(8)
DEVICE_ID = bytes(7) + b"\x01"
MAX_COUNTER = 2**32 - 1


@dataclass(frozen=True)
class SessionKeys:
    shared_secret: bytes  # ZAB
    sk_reader: bytes
    sk_device: bytes


def derive_session_keys(private_key: PrivateKey, peer_key: PublicKey, transcript: bytes) -> SessionKeys:
    return SessionKeys(*transcript_kdf(private_key, peer_key, transcript, b"SKReader", b"SKDevice"))


class SessionEncryption:
    """One side's encryptor/decryptor with its two counters."""

    def __init__(self, role: Role, keys: SessionKeys) -> None:
        reader = role == "reader"
        self._send = AESGCM(keys.sk_reader if reader else keys.sk_device)
        self._receive = AESGCM(keys.sk_device if reader else keys.sk_reader)
        self._send_id, self._receive_id = (READER_ID, DEVICE_ID) if reader else (DEVICE_ID, READER_ID)
        self.sent = 0
        self.received = 0

    def encrypt(self, plaintext: bytes) -> bytes:
        if self.sent >= MAX_COUNTER:
            raise SessionError("message counter exhausted; start a new session", code="counter_exhausted")
        self.sent += 1
        return self._send.encrypt(self._send_id + self.sent.to_bytes(4, "big"), plaintext, None)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt the next message; raises :class:`SessionError` for tampered, replayed or reordered ones."""
        if self.received >= MAX_COUNTER:
            raise SessionError("message counter exhausted; start a new session", code="counter_exhausted")
        counter = self.received + 1
        try:
            plaintext = self._receive.decrypt(self._receive_id + counter.to_bytes(4, "big"), ciphertext, None)
        except (InvalidTag, ValueError):
            raise SessionError(
                f"message {counter} does not decrypt: tampered, replayed, out of order or for another session",
                code="decryption_failed",
            ) from None
        self.received = counter
        return plaintext
