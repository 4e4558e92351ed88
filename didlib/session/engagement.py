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

__all__ = [
    "DeviceEngagement", "RetrievalMethod", "BleOptions", "BLE", "NFC", "WIFI_AWARE", "LOCAL_NETWORK", "URI_PREFIX",
]

URI_PREFIX = "mdoc:"
CIPHER_SUITE_1 = 1  # ECDH on the curve of EDeviceKey, HKDF-SHA-256, AES-256-GCM
NFC, BLE, WIFI_AWARE = 1, 2, 3
# Not an 18013-5 method: didlib's TCP transport on the local network, options {0: host, 1: port}.
LOCAL_NETWORK = 100
MAX_ENGAGEMENT_BYTES = 4096
ENGAGEMENT_LIMITS = Limits(max_size=MAX_ENGAGEMENT_BYTES, max_depth=12, max_items=512)

# BleOptions keys (18013-5 8.2.1.1): mode support flags, the service UUID of each mode, the mdoc's address.
BLE_PERIPHERAL_SERVER_MODE, BLE_CENTRAL_CLIENT_MODE = 0, 1
BLE_PERIPHERAL_SERVER_UUID, BLE_CENTRAL_CLIENT_UUID, BLE_DEVICE_ADDRESS = 10, 11, 20


@dataclass(frozen=True)
class BleOptions:
    """BleOptions of a BLE DeviceRetrievalMethod (18013-5 8.2.1.1)::

        BleOptions = {0: bool, 1: bool, ? 10: bstr, ? 11: bstr, ? 20: bstr}

    0/1: mdoc peripheral server / central client mode supported; 10/11: the service UUID of that mode (16
    bytes); 20: the mdoc's BLE device address for peripheral server mode (6 bytes, most significant first).
    A supported mode must come with its UUID, or a reader could not find the service."""

    peripheral_server_uuid: uuid.UUID | None = None
    central_client_uuid: uuid.UUID | None = None
    address: bytes | None = None

    @property
    def peripheral_server(self) -> bool:
        return self.peripheral_server_uuid is not None

    @property
    def central_client(self) -> bool:
        return self.central_client_uuid is not None

    def to_cbor(self) -> dict[int, Any]:
        """The BLE options map of a DeviceRetrievalMethod (ISO 18013-5 8.2.1.1)."""
        options: dict[int, Any] = {
            BLE_PERIPHERAL_SERVER_MODE: self.peripheral_server,
            BLE_CENTRAL_CLIENT_MODE: self.central_client,
        }
        if self.peripheral_server_uuid is not None:
            options[BLE_PERIPHERAL_SERVER_UUID] = self.peripheral_server_uuid.bytes
        if self.central_client_uuid is not None:
            options[BLE_CENTRAL_CLIENT_UUID] = self.central_client_uuid.bytes
        if self.address is not None:
            options[BLE_DEVICE_ADDRESS] = self.address
        return options

    @classmethod
    def from_cbor(cls, options: dict[Any, Any]) -> BleOptions:
        """Read BLE options from a DeviceEngagement (ISO 18013-5 8.2.1.1); a mode claimed without its UUID is
        refused."""
        peripheral, central = options.get(BLE_PERIPHERAL_SERVER_MODE), options.get(BLE_CENTRAL_CLIENT_MODE)
        if not isinstance(peripheral, bool) or not isinstance(central, bool):
            raise DecodeError("BleOptions must say (true/false) whether each mode is supported (keys 0 and 1)")

        def read_uuid(key: int, supported: bool, name: str) -> uuid.UUID | None:
            value = options.get(key)
            if value is None:
                if supported:
                    raise DecodeError(f"BleOptions supports {name} mode but gives no UUID (key {key})")
                return None
            if not isinstance(value, bytes) or len(value) != 16:
                raise DecodeError(f"BleOptions key {key} ({name} mode UUID) must be 16 bytes")
            return uuid.UUID(bytes=value) if supported else None

        address = options.get(BLE_DEVICE_ADDRESS)
        if address is not None and (not isinstance(address, bytes) or len(address) != 6):
            raise DecodeError("BleOptions key 20 (device address) must be 6 bytes")
        return cls(
            read_uuid(BLE_PERIPHERAL_SERVER_UUID, peripheral, "peripheral server"),
            read_uuid(BLE_CENTRAL_CLIENT_UUID, central, "central client"),
            address if peripheral else None,
        )


@dataclass(frozen=True)
class RetrievalMethod:
    """One DeviceRetrievalMethod: [type, version, options]."""

    type: int
    version: int
    options: dict[Any, Any]

    @classmethod
    def ble(cls, options: BleOptions) -> RetrievalMethod:
        """Bluetooth LE retrieval (ISO 18013-5 8.3.3.1.1) in the modes ``options`` support."""
        if not options.peripheral_server and not options.central_client:
            raise ValueError("a BLE retrieval method supports at least one mode")
        return cls(BLE, 1, options.to_cbor())

    @property
    def ble_options(self) -> BleOptions | None:
        """The options of a BLE method (checked when the engagement was parsed), else None."""
        return BleOptions.from_cbor(self.options) if self.type == BLE else None

    @classmethod
    def local_network(cls, host: str, port: int) -> RetrievalMethod:
        """didlib's local-network retrieval (TCP to ``host``:``port``), for desktops and tests."""
        return cls(LOCAL_NETWORK, 1, {0: host, 1: port})

    def address(self) -> tuple[str, int] | None:
        """(host, port) of a local-network method."""
        host, port = self.options.get(0), self.options.get(1)
        if self.type != LOCAL_NETWORK or not isinstance(host, str) or not isinstance(port, int):
            return None
        return host, port

    def to_cbor(self) -> list[Any]:
        """The DeviceRetrievalMethod array: type, version, options."""
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
        listed = value.get(2, [])
        if not isinstance(listed, list):
            raise DecodeError("DeviceRetrievalMethods must be an array")
        methods = []
        for method in listed:
            if (
                not isinstance(method, list)
                or len(method) < 3
                or not isinstance(method[0], int)
                or not isinstance(method[1], int)
                or not isinstance(method[2], dict)
            ):
                raise DecodeError("DeviceRetrievalMethod must be [type, version, options]")
            retrieval = RetrievalMethod(method[0], method[1], method[2])
            _ = retrieval.ble_options  # a BLE method's options are checked now, not when a reader acts on them
            methods.append(retrieval)
        origin_infos = value.get(5) or []
        if not isinstance(origin_infos, list):
            raise DecodeError("OriginInfos must be an array")
        return cls(Embedded.from_content(data), version, key, security[1], methods, origin_infos)

    def to_uri(self) -> str:
        """``mdoc:`` + base64url without padding (8.2.2.3)."""
        return URI_PREFIX + base64.urlsafe_b64encode(self.raw).rstrip(b"=").decode()

    @classmethod
    def from_uri(cls, uri: str) -> DeviceEngagement:
        """Read an ``mdoc:`` URI from a QR code (8.2.2.3: base64url without padding), keeping
        the exact bytes for the SessionTranscript."""
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
