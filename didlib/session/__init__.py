"""ISO/IEC 18013-5 proximity sessions: engagement, session encryption, requests and reader authentication."""

from didlib.session.engagement import BleOptions, DeviceEngagement, RetrievalMethod
from didlib.session.exchange import run_reader, serve_holder
from didlib.session.holder import HolderSession, PendingRequest, RequestedDocument
from didlib.session.reader import ReaderSession
from didlib.session.reader_auth import ReaderIdentity, entitlement_extension, entitlement_of
from didlib.session.transport import InMemoryTransport, TcpListener, TcpTransport, Transport

__all__ = [
    "BleOptions",
    "DeviceEngagement",
    "HolderSession",
    "InMemoryTransport",
    "PendingRequest",
    "ReaderIdentity",
    "ReaderSession",
    "RequestedDocument",
    "RetrievalMethod",
    "TcpListener",
    "TcpTransport",
    "Transport",
    "entitlement_extension",
    "entitlement_of",
    "run_reader",
    "serve_holder",
]
