"""DeviceEngagement (ISO/IEC 18013-5 8.2.1.1) and the ``mdoc:`` QR URI (8.2.2.3).

The holder's phone shows its engagement; the reader needs the exact bytes later, because they are part of
the SessionTranscript every key and signature depends on. A parsed engagement therefore keeps the bytes it
came from, and re-encoding is never used to rebuild them.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from typing import Any

from didlib.cbor import Embedded, Limits, decode
from didlib.errors import DecodeError, UnsupportedError
from didlib.keys import PublicKey, cose_key_from_public, public_key_from_cose

__all__ = ["DeviceEngagement", "RetrievalMethod", "BLE", "NFC", "WIFI_AWARE", "LOCAL_NETWORK", "URI_PREFIX"]

URI_PREFIX = "mdoc:"
CIPHER_SUITE_1 = 1  # ECDH on the curve of EDeviceKey, HKDF-SHA-256, AES-256-GCM
NFC, BLE, WIFI_AWARE = 1, 2, 3
# Not an 18013-5 method: didlib's TCP transport on the local network, options {0: host, 1: port}.
LOCAL_NETWORK = 100
MAX_ENGAGEMENT_BYTES = 4096
ENGAGEMENT_LIMITS = Limits(max_size=MAX_ENGAGEMENT_BYTES, max_depth=12, max_items=512)

# BLE retrieval options (8.2.2.2 / Table 11)
BLE_PERIPHERAL_SERVER_MODE, BLE_CENTRAL_CLIENT_MODE = 0, 1
BLE_PERIPHERAL_SERVER_UUID, BLE_CENTRAL_CLIENT_UUID, BLE_DEVICE_ADDRESS = 10, 11, 20


@dataclass(frozen=True)
class RetrievalMethod:
    """One DeviceRetrievalMethod: [type, version, options]."""

    type: int
    version: int
    options: dict[Any, Any]

    @classmethod
    def ble(cls, *, peripheral_server: bool = False, central_client_uuid: uuid.UUID | None = None) -> RetrievalMethod:
        options: dict[Any, Any] = {
            BLE_PERIPHERAL_SERVER_MODE: peripheral_server,
            BLE_CENTRAL_CLIENT_MODE: central_client_uuid is not None,
        }
        if central_client_uuid is not None:
            options[BLE_CENTRAL_CLIENT_UUID] = central_client_uuid.bytes
        return cls(BLE, 1, options)

    @classmethod
    def local_network(cls, host: str, port: int) -> RetrievalMethod:
        return cls(LOCAL_NETWORK, 1, {0: host, 1: port})

    def address(self) -> tuple[str, int] | None:
        """(host, port) of a local-network method."""
        host, port = self.options.get(0), self.options.get(1)
        if self.type != LOCAL_NETWORK or not isinstance(host, str) or not isinstance(port, int):
            return None
        return host, port

    def to_cbor(self) -> list[Any]:
        return [self.type, self.version, self.options]


@dataclass(frozen=True)
class DeviceEngagement:
    """A DeviceEngagement with the bytes it was read from (``embedded.content``)."""

    embedded: Embedded
    version: str
    e_device_key: PublicKey
    e_device_key_bytes: Embedded
    retrieval_methods: list[RetrievalMethod] = field(default_factory=list)
    origin_infos: list[Any] = field(default_factory=list)

    @property
    def raw(self) -> bytes:
        """DeviceEngagement as encoded (what the QR code carries)."""
        return self.embedded.content

    @classmethod
    def create(
        cls,
        e_device_key: PublicKey,
        retrieval_methods: list[RetrievalMethod] | None = None,
        *,
        version: str = "1.0",
    ) -> DeviceEngagement:
        """A new engagement for the holder's ephemeral key; cipher suite 1."""
        key_bytes = Embedded.wrap(cose_key_from_public(e_device_key))
        body: dict[int, Any] = {0: version, 1: [CIPHER_SUITE_1, key_bytes]}
        methods = retrieval_methods or []
        if methods:
            body[2] = [m.to_cbor() for m in methods]
        return cls(Embedded.wrap(body), version, e_device_key, key_bytes, methods)

    @classmethod
    def parse(cls, data: bytes) -> DeviceEngagement:
        """Read DeviceEngagement bytes (as scanned), keeping them exactly."""
        value = decode(data, ENGAGEMENT_LIMITS)
        if not isinstance(value, dict):
            raise DecodeError("DeviceEngagement must be a map")
        version = value.get(0)
        if not isinstance(version, str):
            raise DecodeError("DeviceEngagement has no version")
        if not version.startswith("1."):
            raise UnsupportedError(f"DeviceEngagement version {version!r} is not supported")
        security = value.get(1)
        if (
            not isinstance(security, list)
            or len(security) != 2
            or not isinstance(security[1], Embedded)
            or isinstance(security[0], bool)
            or not isinstance(security[0], int)
        ):
            raise DecodeError("DeviceEngagement Security must be [cipher suite, EDeviceKeyBytes]")
        if security[0] != CIPHER_SUITE_1:
            raise UnsupportedError(f"cipher suite {security[0]} is not supported")
        key = public_key_from_cose(security[1].decode())
        methods = []
        for method in value.get(2) or []:
            if (
                not isinstance(method, list)
                or len(method) < 3
                or not isinstance(method[0], int)
                or not isinstance(method[1], int)
                or not isinstance(method[2], dict)
            ):
                raise DecodeError("DeviceRetrievalMethod must be [type, version, options]")
            methods.append(RetrievalMethod(method[0], method[1], method[2]))
        origin_infos = value.get(5) or []
        if not isinstance(origin_infos, list):
            raise DecodeError("OriginInfos must be an array")
        return cls(Embedded.from_content(data), version, key, security[1], methods, origin_infos)

    def to_uri(self) -> str:
        """``mdoc:`` + base64url without padding (8.2.2.3)."""
        return URI_PREFIX + base64.urlsafe_b64encode(self.raw).rstrip(b"=").decode()

    @classmethod
    def from_uri(cls, uri: str) -> DeviceEngagement:
        if not isinstance(uri, str) or not uri.startswith(URI_PREFIX):
            raise DecodeError("an engagement URI starts with 'mdoc:'")
        text = uri[len(URI_PREFIX) :].strip()
        if len(text) > MAX_ENGAGEMENT_BYTES * 2 or not text:
            raise DecodeError("engagement URI is empty or too long")
        if "=" in text or "+" in text or "/" in text:
            raise DecodeError("engagement URI must be base64url without padding")
        try:
            data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as exc:
            raise DecodeError(f"engagement URI is not base64url: {exc}") from exc
        return cls.parse(data)
