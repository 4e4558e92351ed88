"""Message chunking of the ISO/IEC 18013-5 BLE transport (8.3.3.1.1.6), independent of any Bluetooth stack.

A session message is longer than one characteristic value, so it travels as chunks: each chunk is one
write to Client2Server or one notification on Server2Client, at most ATT_MTU - 3 bytes (the ATT header)
and never more than 512 (the largest attribute value), and starts with a continuation byte: ``0x01``
when more chunks of this message follow, ``0x00`` on the last one. So a chunk carries MTU - 3 - 1 bytes
of the message.
"""

from __future__ import annotations

from didlib.errors import DecodeError, LimitExceeded

__all__ = ["MIN_MTU", "MAX_VALUE", "MORE", "LAST", "chunk_payload_size", "split", "Reassembler"]

MIN_MTU = 23  # ATT_MTU every LE link starts with
MAX_VALUE = 512  # the longest attribute value (Core Vol 3 Part F 3.2.9)
ATT_HEADER = 3  # opcode + attribute handle of a write command or notification
MORE, LAST = 0x01, 0x00


def chunk_payload_size(mtu: int) -> int:
    """How many message bytes one chunk carries at this ATT_MTU."""
    if mtu < MIN_MTU:
        raise ValueError(f"ATT_MTU {mtu} is below the minimum {MIN_MTU}")
    return min(mtu - ATT_HEADER, MAX_VALUE) - 1


def split(message: bytes, mtu: int) -> list[bytes]:
    """The chunks of one message, in order; an empty message is one empty last chunk."""
    size = chunk_payload_size(mtu)
    parts = [message[i : i + size] for i in range(0, len(message), size)] or [b""]
    return [bytes([MORE]) + part for part in parts[:-1]] + [bytes([LAST]) + parts[-1]]


class Reassembler:
    """Joins received chunks into messages, refusing malformed chunks and messages over ``max_size``."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> bytes | None:
        """Take one chunk; return the message it completes, or None while more is to come.

        After an error the partial message is dropped, so a broken sender cannot grow it further."""
        if not chunk:
            self.reset()
            raise DecodeError("an empty BLE chunk has no continuation byte")
        if chunk[0] not in (MORE, LAST):
            self.reset()
            raise DecodeError(f"BLE chunk starts with 0x{chunk[0]:02x}; expected 0x00 (last) or 0x01 (more)")
        self._size += len(chunk) - 1
        if self._size > self._max_size:
            self.reset()
            raise LimitExceeded(f"a BLE message is longer than {self._max_size} bytes")
        self._parts.append(chunk[1:])
        if chunk[0] == MORE:
            return None
        message = b"".join(self._parts)
        self.reset()
        return message

    def reset(self) -> None:
        """Drop a partly received message (after an error or the end of a session)."""
        self._parts, self._size = [], 0
