"""The GATT layout of the ISO/IEC 18013-5 BLE transport (8.3.3.1.1), identical for every Bluetooth stack.

Two modes, named after the mdoc's role. In *mdoc peripheral server mode* the holder's phone is the GATT
server and advertises the service UUID from its engagement; the reader connects as the GATT client. In
*mdoc central client mode* the reader is the GATT server advertising that UUID and the holder's phone
connects to it, reading the Ident characteristic first to make sure it found the reader that scanned its
QR code. The characteristic UUIDs differ between the two modes (Tables 11 and 12 of 18013-5).

The GATT client subscribes to State and Server2Client, then writes ``0x01`` (start) to State; from then on
the client writes messages to Client2Server (write without response) and the server notifies them on
Server2Client, each message cut into chunks behind a continuation byte (:mod:`.framing`). ``0x02`` (end)
on State, written by the client or notified by the server, ends the session (transport-specific
termination, 18013-5 9.1.1.4).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "Mode",
    "Characteristics",
    "PERIPHERAL_SERVER",
    "CENTRAL_CLIENT",
    "STATE_START",
    "STATE_END",
    "IDENT_LENGTH",
    "ident",
]

STATE_START = 0x01  # the GATT client is ready: the session may begin
"""The State characteristic's value when the GATT client is ready and the session may begin."""
STATE_END = 0x02  # either side ends the session (transport-specific termination)
"""The State characteristic's value that ends the session from either side (transport-specific termination)."""
IDENT_LENGTH = 16


class Mode(enum.Enum):
    """Which role the mdoc (holder) takes; the reader takes the other."""

    PERIPHERAL_SERVER = "peripheral_server"  # mdoc = GATT server, reader = GATT client
    CENTRAL_CLIENT = "central_client"  # mdoc = GATT client, reader = GATT server


@dataclass(frozen=True)
class Characteristics:
    """The characteristic UUIDs of one mode's service."""

    state: uuid.UUID
    client2server: uuid.UUID
    server2client: uuid.UUID
    ident: uuid.UUID | None  # central client mode only: the reader proves which engagement it read
    l2cap: uuid.UUID  # listed for completeness; didlib does not offer L2CAP


def _uuid(prefix: str) -> uuid.UUID:
    return uuid.UUID(prefix + "-A123-48CE-896B-4C76973373E6")


# 18013-5 Table 11: the mdoc's service in mdoc peripheral server mode.
PERIPHERAL_SERVER = Characteristics(
    state=_uuid("00000001"),
    client2server=_uuid("00000002"),
    server2client=_uuid("00000003"),
    ident=None,
    l2cap=_uuid("0000000A"),
)
"""The characteristics of the mdoc's GATT service in mdoc peripheral server mode (18013-5 Table 11)."""
# 18013-5 Table 12: the reader's service in mdoc central client mode.
CENTRAL_CLIENT = Characteristics(
    state=_uuid("00000005"),
    client2server=_uuid("00000006"),
    server2client=_uuid("00000007"),
    ident=_uuid("00000008"),
    l2cap=_uuid("0000000B"),
)
"""The characteristics of the reader's GATT service in mdoc central client mode (18013-5 Table 12)."""


def characteristics(mode: Mode) -> Characteristics:
    return PERIPHERAL_SERVER if mode is Mode.PERIPHERAL_SERVER else CENTRAL_CLIENT


def ident(e_device_key_bytes: bytes) -> bytes:
    """The Ident characteristic's value (18013-5 8.3.3.1.1.4): HKDF-SHA-256 with IKM = EDeviceKeyBytes (the
    tag-24-wrapped encoding, as in the engagement), no salt, info "BLEIdent", 16 bytes.

    Only the reader that read this engagement can compute it, so the holder's phone connects to the right
    reader in a room of tills."""
    return HKDF(algorithm=hashes.SHA256(), length=IDENT_LENGTH, salt=None, info=b"BLEIdent").derive(
        e_device_key_bytes
    )
