"""CBOR in and out, with the limits and the byte-exactness ISO 18013-5 needs.

cbor2 does the decoding and encoding. 18013-5 hashes and signs the *received* bytes of every
``#6.24(bstr .cbor X)`` (IssuerSignedItemBytes, MobileSecurityObjectBytes, DeviceEngagementBytes ...),
and cbor2 does not say where an item sat in its input. So decoding works in two steps:

* the fast path lets cbor2 decode, reading the input with no read-ahead (``read_size=1``), so that when
  cbor2 hands over the content of a tag 24 the stream stands exactly at the end of that item; the item is
  accepted as received only if the bytes just before its content are the preferred tag-24 and byte-string
  heads (a longer head ends in zero bytes, so it can never pass for a preferred one) and the spans follow
  one another in document order. That pass runs only once a first pass, with read-ahead and nothing to
  track, has met a tag 24: input without one (most of it) is decoded by that first pass alone;
* otherwise (non-preferred heads, indefinite lengths, input longer than the item limit) a small head-only
  scanner, written here because no maintained library exposes item offsets, walks the input, enforces the
  limits and records the exact span of every tag-24 item for cbor2's second pass.

Either way the size, nesting depth and item-count limits hold, trailing bytes and duplicate map keys are
refused, and each tag 24 becomes an :class:`Embedded` holding its original bytes.

Output uses preferred serialization (shortest heads) with map keys in the order they were inserted, which
didlib keeps to the order of the standard's CDDL, as the Annex D examples do; so the same input always
gives the same bytes, and the vectors are reproduced byte for byte. An :class:`Embedded` is written back
exactly as it was received.
"""

from __future__ import annotations

import datetime as _dt
import io
from dataclasses import dataclass
from typing import Any

import cbor2

from didlib.errors import DecodeError, LimitExceeded

__all__ = [
    "Embedded",
    "Limits",
    "DEFAULT_LIMITS",
    "decode",
    "encode",
    "tdate",
    "full_date",
    "tag24_bytes",
]

TAG_ENCODED_CBOR = 24
TAG_TDATE = 0
TAG_FULL_DATE = 1004


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds applied to every CBOR input from outside."""

    max_size: int = 1 << 20
    max_depth: int = 32
    max_items: int = 100_000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Embedded:
    """``#6.24(bstr .cbor X)``: embedded CBOR kept as the exact bytes that were received or issued.

    ``raw`` is the whole tagged item (what 18013-5 digests and signatures cover); ``content`` is the
    embedded CBOR inside the byte string.
    """

    raw: bytes
    content: bytes

    @classmethod
    def wrap(cls, value: Any) -> Embedded:
        """Encode ``value`` and wrap it in tag 24, in preferred serialization."""
        return cls.from_content(encode(value))

    @classmethod
    def from_content(cls, content: bytes) -> Embedded:
        """Wrap already-encoded CBOR in tag 24 (preferred heads), e.g. SessionTranscript -> ...Bytes."""
        return cls(tag24_bytes(content), content)

    @classmethod
    def from_raw(cls, raw: bytes, limits: Limits = DEFAULT_LIMITS) -> Embedded:
        """Parse bytes that must be one tag-24 item (such as a COSE payload of MobileSecurityObjectBytes)."""
        if len(raw) > limits.max_size:
            raise LimitExceeded(f"CBOR input of {len(raw)} bytes exceeds the limit of {limits.max_size}")
        try:  # the usual case, read from the two heads alone
            major, tag, pos = _head(raw, 0)
            if major == 6 and tag == TAG_ENCODED_CBOR:
                major, length, pos = _head(raw, pos)
                if major == 2 and length is not None and pos + length == len(raw):
                    return cls(bytes(raw), bytes(raw[pos:]))
        except DecodeError:
            pass
        value = decode(raw, limits)
        if not isinstance(value, Embedded):
            raise DecodeError("expected #6.24(bstr .cbor ...)")
        return value

    def decode(self, limits: Limits = DEFAULT_LIMITS) -> Any:
        return decode(self.content, limits)


def tag24_bytes(content: bytes) -> bytes:
    """``#6.24(bstr .cbor X)`` of already-encoded CBOR, preferred heads: the raw of :meth:`Embedded.from_content`
    without the object, for bytes that are only hashed or signed (DeviceAuthenticationBytes, say)."""
    return _preferred_tag24_head(len(content)) + content


def tdate(moment: _dt.datetime) -> cbor2.CBORTag:
    """RFC 8949 tag 0 date-time as 18013-5 wants it: UTC, whole seconds, trailing ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("tdate needs an aware datetime")
    utc = moment.astimezone(_dt.UTC).replace(microsecond=0, tzinfo=None)
    return cbor2.CBORTag(TAG_TDATE, utc.isoformat() + "Z")


def full_date(day: _dt.date) -> cbor2.CBORTag:
    """RFC 8943 tag 1004 ``full-date`` (``YYYY-MM-DD``)."""
    if isinstance(day, _dt.datetime):
        day = day.date()
    return cbor2.CBORTag(TAG_FULL_DATE, day.isoformat())


def _default(encoder: Any, value: Any) -> None:
    if isinstance(value, Embedded):
        encoder.write(value.raw)
        return
    raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


def encode(value: Any) -> bytes:
    """Preferred-serialization CBOR, map keys in insertion order; :class:`Embedded` written byte for byte.

    ``datetime.date`` encodes as tag 1004 and aware ``datetime`` as tag 0; callers that need whole-second
    ``tdate`` use :func:`tdate`.
    """
    try:
        return cbor2.dumps(value, default=_default)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
        raise DecodeError(f"value cannot be encoded as CBOR: {exc}", code="unencodable") from exc


def decode(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode exactly one CBOR item, enforcing ``limits``; every tag 24 becomes an :class:`Embedded`.

    Raises :class:`DecodeError` (or its :class:`LimitExceeded`) for anything else: trailing bytes,
    truncation, reserved encodings, duplicate map keys, invalid UTF-8, bad dates.
    """
    if type(data) is not bytes:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
    if len(data) > limits.max_size:
        raise LimitExceeded(f"CBOR input of {len(data)} bytes exceeds the limit of {limits.max_size}")
    if len(data) == 1 and limits.max_items:
        # One byte is one whole item at depth 0 (an empty map, say) or an incomplete one, never a tag 24:
        # cbor2 alone decides, without the stream and its trailing-bytes check.
        try:
            return cbor2.loads(data)
        except cbor2.CBORError as exc:
            raise DecodeError(f"invalid CBOR: {exc}") from exc
    if len(data) <= limits.max_items:  # no more items than bytes: within the item limit by construction
        value = _decode_fast(data, limits)
        if value is not _SCAN:
            return value
    spans = iter(_Scanner(data, limits).scan())

    def on_tag24(content: bytes, _immutable: bool) -> Embedded:
        start, _content_start, end = next(spans)
        return Embedded(raw=data[start:end], content=content)

    try:
        return cbor2.loads(
            data,
            semantic_decoders={TAG_ENCODED_CBOR: on_tag24},
            max_depth=limits.max_depth + 1,
            allow_duplicate_keys=False,
        )
    except cbor2.CBORError as exc:
        raise DecodeError(f"invalid CBOR: {exc}") from exc


def _preferred_tag24_head(length: int) -> bytes:
    """``d8 18`` and the shortest byte-string head for ``length`` (RFC 8949 preferred serialization)."""
    if length < 24:
        return bytes((0xD8, 0x18, 0x40 | length))
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes((0xD8, 0x18, 0x40 | info)) + length.to_bytes(size, "big")
    raise DecodeError("byte string too long")


_SCAN = object()
"""What :func:`_decode_fast` returns when only the scanner can give the exact tag-24 spans."""


class _Rescan(Exception):
    """A tag 24 met by the untracked pass, so one with a longer head: the scanner gives its exact bytes."""


def _no_tag24(_content: Any, _immutable: bool) -> Any:
    raise _Rescan


_UNTRACKED = {TAG_ENCODED_CBOR: _no_tag24}


def _decode_fast(data: bytes, limits: Limits) -> Any:
    """cbor2 alone, taking each tag 24 as received when its heads are preferred; :data:`_SCAN` otherwise.

    Input holding ``d8 18``, the preferred tag-24 head (a DeviceResponse, found near its start), goes
    straight to the tracked pass. The rest (an IssuerSignedItem, the MSO) mostly holds no tag 24, so cbor2
    decodes it with read-ahead and nothing to track; a tag 24 there has a longer head, which stops that pass
    (:class:`_Rescan`) for the scanner. This spares searching every input for the three longer heads,
    and the one-byte reads of those (a portrait, say) whose bytes merely hold ``00 18``, their common end.
    """
    if b"\xd8\x18" in data:
        return _decode_tracked(data, limits)
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(
            stream, max_depth=limits.max_depth, allow_duplicate_keys=False, semantic_decoders=_UNTRACKED
        ).decode()
    except cbor2.CBORError as exc:
        if isinstance(exc.__cause__, _Rescan):  # cbor2 wraps what a tag decoder raises
            return _SCAN  # no d8 18: this tag 24 has a longer head, which only the scanner takes as received
        if "nesting depth" in str(exc):
            raise LimitExceeded(f"CBOR nesting deeper than {limits.max_depth}") from exc
        raise DecodeError(f"invalid CBOR: {exc}") from exc
    if stream.tell() != len(data):
        raise DecodeError(f"{len(data) - stream.tell()} trailing bytes after the CBOR item")
    return value


def _decode_tracked(data: bytes, limits: Limits) -> Any:
    """The pass for input holding a tag 24: its value, or :data:`_SCAN` if only the scanner can tell.

    cbor2 reads without read-ahead and with indefinite lengths left to the scanner: every byte string is
    then definite, and ``stream.tell()`` in the tag-24 decoder is the end of the item, its content the
    ``len(content)`` bytes before and its heads the bytes before those. An error of this pass is left to
    the scanner and cbor2's second pass, which report it (or accept an indefinite length).
    """
    stream = io.BytesIO(data)
    last_end = 0
    exact = True

    def on_tag24(content: Any, _immutable: bool) -> Embedded:
        nonlocal last_end, exact
        if not isinstance(content, bytes):
            raise DecodeError("tag 24 must hold a byte string")
        head = _preferred_tag24_head(len(content))
        end = stream.tell()
        start = end - len(content) - len(head)
        if start < last_end or not data.startswith(head, start) or not data.endswith(content, 0, end):
            exact = False
        last_end = end
        return Embedded(head + content, content)

    try:
        value = cbor2.CBORDecoder(
            stream,
            read_size=1,
            max_depth=limits.max_depth,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            semantic_decoders={TAG_ENCODED_CBOR: on_tag24},
        ).decode()
    except cbor2.CBORError:
        return _SCAN
    if not exact:
        return _SCAN
    if stream.tell() != len(data):
        raise DecodeError(f"{len(data) - stream.tell()} trailing bytes after the CBOR item")
    return value


def _head(data: bytes, pos: int) -> tuple[int, int | None, int]:
    """Return (major type, argument or None for indefinite, position after the head)."""
    if pos >= len(data):
        raise DecodeError("CBOR input is truncated")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        return major, info, pos
    if info <= 27:
        size = 1 << (info - 24)
        if pos + size > len(data):
            raise DecodeError("CBOR input is truncated")
        return major, int.from_bytes(data[pos : pos + size], "big"), pos + size
    if info == 31 and major in (2, 3, 4, 5, 7):
        return major, None, pos
    raise DecodeError(f"reserved CBOR additional information {info}")


class _Scanner:
    """Walks CBOR heads only: well-formedness, limits, and the spans of tag-24 items.

    Returns ``(tag_start, content_start, end)`` for every tag 24, in document order (the order in which
    cbor2 later calls the tag-24 decoder, since a tag 24 holds a byte string and never nests in place).
    """

    __slots__ = ("data", "items", "limits", "spans")

    def __init__(self, data: bytes, limits: Limits) -> None:
        self.data = data
        self.limits = limits
        self.items = 0
        self.spans: list[tuple[int, int, int]] = []

    def scan(self) -> list[tuple[int, int, int]]:
        if not self.data:
            raise DecodeError("empty CBOR input")
        end = self._item(0, 0)
        if end != len(self.data):
            raise DecodeError(f"{len(self.data) - end} trailing bytes after the CBOR item")
        return self.spans

    def _count(self) -> None:
        self.items += 1
        if self.items > self.limits.max_items:
            raise LimitExceeded(f"CBOR input has more than {self.limits.max_items} items")

    def _is_break(self, pos: int) -> bool:
        if pos >= len(self.data):
            raise DecodeError("CBOR input is truncated (missing break)")
        return self.data[pos] == 0xFF

    def _item(self, pos: int, depth: int) -> int:
        self._count()
        start = pos
        major, arg, pos = _head(self.data, pos)
        if major in (0, 1):
            return pos
        if major in (2, 3):
            if arg is not None:
                if pos + arg > len(self.data):
                    raise DecodeError("CBOR string runs past the end of the input")
                return pos + arg
            while not self._is_break(pos):
                chunk_major, chunk_len, pos = _head(self.data, pos)
                if chunk_major != major or chunk_len is None:
                    raise DecodeError("invalid chunk in an indefinite-length string")
                if pos + chunk_len > len(self.data):
                    raise DecodeError("CBOR string runs past the end of the input")
                pos += chunk_len
            return pos + 1
        if major in (4, 5):
            if depth >= self.limits.max_depth:
                raise LimitExceeded(f"CBOR nesting deeper than {self.limits.max_depth}")
            per_entry = 2 if major == 5 else 1
            if arg is None:
                while not self._is_break(pos):
                    for _ in range(per_entry):
                        pos = self._item(pos, depth + 1)
                return pos + 1
            if arg * per_entry > len(self.data) - pos:
                raise DecodeError("CBOR container declares more items than the input holds")
            for _ in range(arg * per_entry):
                pos = self._item(pos, depth + 1)
            return pos
        if major == 6:
            if depth >= self.limits.max_depth:
                raise LimitExceeded(f"CBOR nesting deeper than {self.limits.max_depth}")
            content_start = pos
            end = self._item(pos, depth + 1)
            if arg == TAG_ENCODED_CBOR:
                if self.data[content_start] >> 5 != 2:
                    raise DecodeError("tag 24 must hold a byte string")
                self.spans.append((start, content_start, end))
            return end
        # major 7: simple values and floats; a lone break is not an item.
        if arg is None:
            raise DecodeError("unexpected CBOR break")
        return pos
