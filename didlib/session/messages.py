"""SessionEstablishment and SessionData (ISO/IEC 18013-5 9.1.1.4), and the session status codes."""

from __future__ import annotations

from dataclasses import dataclass

from didlib.cbor import Embedded, Limits, decode, encode
from didlib.errors import DecodeError

__all__ = [
    "STATUS_ENCRYPTION_ERROR",
    "STATUS_CBOR_DECODING_ERROR",
    "STATUS_TERMINATION",
    "SessionData",
    "establishment",
    "parse_establishment",
]

STATUS_ENCRYPTION_ERROR = 10
STATUS_CBOR_DECODING_ERROR = 11
STATUS_TERMINATION = 20
STATUS_TEXT = {10: "session encryption error", 11: "CBOR decoding error", 20: "session termination"}

MESSAGE_LIMITS = Limits(max_size=1 << 20, max_depth=8, max_items=64)


def establishment(e_reader_key: Embedded, ciphertext: bytes) -> bytes:
    """SessionEstablishment = {eReaderKey: EReaderKeyBytes, data: encrypted DeviceRequest}."""
    return encode({"eReaderKey": e_reader_key, "data": ciphertext})


def parse_establishment(message: bytes) -> tuple[Embedded, bytes]:
    value = decode(message, MESSAGE_LIMITS)
    if not isinstance(value, dict) or not isinstance(value.get("eReaderKey"), Embedded):
        raise DecodeError("SessionEstablishment needs eReaderKey as #6.24(bstr .cbor COSE_Key)")
    data = value.get("data")
    if not isinstance(data, bytes):
        raise DecodeError("SessionEstablishment needs data as a byte string")
    return value["eReaderKey"], data


@dataclass(frozen=True)
class SessionData:
    """SessionData = {? data: bstr, ? status: uint}."""

    data: bytes | None = None
    status: int | None = None

    def encode(self) -> bytes:
        body: dict[str, object] = {}
        if self.data is not None:
            body["data"] = self.data
        if self.status is not None:
            body["status"] = self.status
        return encode(body)

    @classmethod
    def parse(cls, message: bytes) -> SessionData:
        value = decode(message, MESSAGE_LIMITS)
        if not isinstance(value, dict) or not value:
            raise DecodeError("SessionData must be a map with data or status")
        data, status = value.get("data"), value.get("status")
        if data is not None and not isinstance(data, bytes):
            raise DecodeError("SessionData data must be a byte string")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or status < 0):
            raise DecodeError("SessionData status must be an unsigned integer")
        if data is None and status is None:
            raise DecodeError("SessionData must carry data or a status")
        return cls(data, status)
