"""Token Status List (draft-ietf-oauth-status-list): the bit array, its compression, index allocation.

Entry ``i`` of a list with ``bits`` bits per entry sits in byte ``i*bits // 8`` at bit offset
``i*bits % 8``, counting from the least significant bit. The array is compressed with DEFLATE in a zlib
wrapper (RFC 1950), level 9.
"""

from __future__ import annotations

import secrets
import zlib
from enum import IntEnum

from didlib.compression import inflate
from didlib.errors import DecodeError, LimitExceeded, UsageError

__all__ = ["Status", "StatusList", "IndexAllocator", "MAX_LIST_BYTES"]

MAX_LIST_BYTES = 16 << 20  # decompressed: 134 million entries at 1 bit


class Status(IntEnum):
    """The status values of a Token Status List entry (Token Status List: valid, invalid, suspended)."""

    VALID = 0
    INVALID = 1
    SUSPENDED = 2


class StatusList:
    """A status list of ``size`` entries of ``bits`` bits (1, 2, 4 or 8)."""

    __slots__ = ("bits", "data", "size")

    def __init__(self, size: int, bits: int = 1, data: bytes | bytearray | None = None) -> None:
        if bits not in (1, 2, 4, 8):
            raise UsageError("a status list has 1, 2, 4 or 8 bits per entry")
        if size < 1 or (size * bits + 7) // 8 > MAX_LIST_BYTES:
            raise UsageError(f"a status list holds 1 to {MAX_LIST_BYTES * 8 // bits} entries")
        length = (size * bits + 7) // 8
        self.bits, self.size = bits, size
        self.data = bytearray(data) if data is not None else bytearray(length)
        if len(self.data) != length:
            raise DecodeError("status list data does not match its size")

    def get(self, index: int) -> int:
        """The status of entry ``index`` (bits read least significant first)."""
        if not 0 <= index < self.size:
            raise LimitExceeded(f"index {index} is outside the status list of {self.size} entries", code="index_range")
        bit = index * self.bits
        return (self.data[bit >> 3] >> (bit & 7)) & ((1 << self.bits) - 1)

    def set(self, index: int, value: int) -> None:
        """Set entry ``index`` to ``value`` (which must fit the list's bits per entry)."""
        if not 0 <= value < 1 << self.bits:
            raise UsageError(f"status {value} does not fit in {self.bits} bits")
        if not 0 <= index < self.size:
            raise UsageError(f"index {index} is outside the status list of {self.size} entries")
        bit = index * self.bits
        mask = ((1 << self.bits) - 1) << (bit & 7)
        self.data[bit >> 3] = (self.data[bit >> 3] & ~mask) | (value << (bit & 7))

    def compressed(self) -> bytes:
        """The list as the token carries it: DEFLATE in a zlib wrapper, best compression."""
        return zlib.compress(bytes(self.data), 9)

    @classmethod
    def from_compressed(cls, bits: int, lst: bytes, max_bytes: int = MAX_LIST_BYTES) -> StatusList:
        """Decompress ``lst``; a list that inflates beyond ``max_bytes`` is refused (no zip bombs)."""
        if bits not in (1, 2, 4, 8):
            raise DecodeError("status list bits must be 1, 2, 4 or 8")
        data = inflate(lst, max_bytes, "status list")
        return cls(len(data) * 8 // bits, bits, data)


class IndexAllocator:
    """Hands out unused indexes of a list at random, so an index says nothing about issuance order."""

    def __init__(self, size: int, used: set[int] | None = None) -> None:
        self.size = size
        self.used: set[int] = set(used or ())

    def allocate(self) -> int:
        """A random unused index: a credential's index says nothing about when it was issued or to whom."""
        if len(self.used) >= self.size:
            raise UsageError("the status list is full; start a new list", code="status_list_full")
        while True:  # expected tries stay small while the list is less than full
            index = secrets.randbelow(self.size)
            if index not in self.used:
                self.used.add(index)
                return index
