"""DeviceRequest (18013-5 8.3.2.1.2.1): what a reader asks for, per document type.

Reader authentication (the ``readerAuth`` COSE_Sign1) is carried through untouched here; checking it
belongs to the session layer, which knows the SessionTranscript it signs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from didlib.cbor import DEFAULT_LIMITS, Embedded, Limits, decode, encode
from didlib.errors import DecodeError, UnsupportedError

__all__ = ["DocRequest", "DeviceRequest"]

MAX_DOC_REQUESTS = 16
MAX_ELEMENTS = 512


@dataclass(frozen=True)
class DocRequest:
    """One ItemsRequest: docType and {namespace: {element: intent_to_retain}}."""

    doctype: str
    namespaces: dict[str, dict[str, bool]]
    request_info: dict[str, Any] = field(default_factory=dict)
    items_request: Embedded | None = None  # ItemsRequestBytes as received (reader auth signs these)
    reader_auth: Any = None

    def to_cbor(self) -> dict[str, Any]:
        """The DocRequest map: ItemsRequest as tag-24 bytes (kept as received, since readerAuth signs them),
        with readerAuth when signed."""
        items = self.items_request
        if items is None:
            body: dict[str, Any] = {"docType": self.doctype, "nameSpaces": self.namespaces}
            if self.request_info:
                body["requestInfo"] = self.request_info
            items = Embedded.wrap(body)
        out: dict[str, Any] = {"itemsRequest": items}
        if self.reader_auth is not None:
            out["readerAuth"] = self.reader_auth
        return out


@dataclass(frozen=True)
class DeviceRequest:
    """A reader's request (ISO 18013-5 8.3.2.1.2.1): one DocRequest per docType it asks for."""

    doc_requests: list[DocRequest]
    version: str = "1.0"

    def encode(self) -> bytes:
        """The CBOR DeviceRequest, as sent in SessionEstablishment or a request QR code."""
        return encode({"version": self.version, "docRequests": [d.to_cbor() for d in self.doc_requests]})

    @classmethod
    def for_elements(cls, doctype: str, elements: Mapping[str, Mapping[str, bool]]) -> DeviceRequest:
        """A request for one docType: namespace -> element -> intent to retain."""
        return cls([DocRequest(doctype, {ns: dict(els) for ns, els in elements.items()})])

    @classmethod
    def parse(cls, data: bytes, limits: Limits = DEFAULT_LIMITS) -> DeviceRequest:
        """Read a DeviceRequest from outside, with size limits; a version other than 1.x is refused."""
        obj = decode(data, limits)
        if not isinstance(obj, dict):
            raise DecodeError("DeviceRequest must be a map")
        version = obj.get("version")
        if not isinstance(version, str):
            raise DecodeError("DeviceRequest has no version")
        if not version.startswith("1."):
            raise UnsupportedError(f"DeviceRequest version {version!r} is not supported")
        docs = obj.get("docRequests")
        if not isinstance(docs, list) or not 1 <= len(docs) <= MAX_DOC_REQUESTS:
            raise DecodeError(f"DeviceRequest needs 1 to {MAX_DOC_REQUESTS} docRequests")
        return cls([_parse_doc_request(d, i) for i, d in enumerate(docs)], version)


def _parse_doc_request(obj: Any, index: int) -> DocRequest:
    where = f"docRequests[{index}]"
    if not isinstance(obj, dict) or not isinstance(obj.get("itemsRequest"), Embedded):
        raise DecodeError(f"{where} must hold itemsRequest as #6.24(bstr .cbor ItemsRequest)")
    embedded = obj["itemsRequest"]
    items = embedded.decode()
    if not isinstance(items, dict) or not isinstance(items.get("docType"), str):
        raise DecodeError(f"{where}.itemsRequest has no docType")
    namespaces = items.get("nameSpaces")
    if not isinstance(namespaces, dict):
        raise DecodeError(f"{where}.itemsRequest has no nameSpaces map")
    count = 0
    for ns, elements in namespaces.items():
        if not isinstance(ns, str) or not isinstance(elements, dict):
            raise DecodeError(f"{where}.itemsRequest.nameSpaces must map names to maps")
        for name, retain in elements.items():
            if not isinstance(name, str) or not isinstance(retain, bool):
                raise DecodeError(f"{where}.itemsRequest element entries must be name: intent-to-retain")
            count += 1
    if count > MAX_ELEMENTS:
        raise DecodeError(f"{where} asks for more than {MAX_ELEMENTS} elements")
    info = items.get("requestInfo", {})
    if not isinstance(info, dict):
        raise DecodeError(f"{where}.itemsRequest.requestInfo must be a map")
    return DocRequest(items["docType"], namespaces, info, embedded, obj.get("readerAuth"))
