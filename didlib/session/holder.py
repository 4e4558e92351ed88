"""The holder's side of a proximity session, as a state machine a wallet screen can observe.

States: ``engaged`` (showing the QR) -> ``request_received`` (asking the holder) -> ``responded`` ->
``closed``. Bytes in, bytes out: the transport (BLE, NFC, local network, in memory) is not its business.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from didlib.errors import DecodeError, DidlibError, ReaderNotAuthorised, SessionError
from didlib.keys import PrivateKey, generate_key, public_key_from_cose
from didlib.mdoc.holder import Credential, present
from didlib.mdoc.request import DeviceRequest
from didlib.session.encryption import SessionEncryption, derive_session_keys
from didlib.session.engagement import DeviceEngagement, RetrievalMethod
from didlib.session.messages import (
    STATUS_CBOR_DECODING_ERROR,
    STATUS_ENCRYPTION_ERROR,
    STATUS_TERMINATION,
    SessionData,
    parse_establishment,
)
from didlib.session.reader_auth import ReaderIdentity, verify_reader_auth
from didlib.session.transcript import qr_transcript
from didlib.trust import TrustStore

__all__ = ["HolderSession", "PendingRequest", "RequestedDocument"]


@dataclass
class RequestedDocument:
    """One document the reader asks for, with what the wallet can and may give."""

    doctype: str
    elements: dict[str, dict[str, bool]]  # namespace -> element -> intent to retain
    held: bool
    beyond_entitlement: dict[str, list[str]] = field(default_factory=dict)

    def allowed(self) -> dict[str, list[str]]:
        """The requested elements the reader is entitled to (the most a holder can agree to)."""
        return {
            ns: [e for e in els if e not in self.beyond_entitlement.get(ns, [])] for ns, els in self.elements.items()
        }


@dataclass
class PendingRequest:
    """What the consent screen shows: who asks (verified, or None), and for what."""

    reader: ReaderIdentity | None
    documents: list[RequestedDocument]


class HolderSession:
    """Holder side of ISO 18013-5 device retrieval with session encryption."""

    def __init__(
        self,
        holdings: list[tuple[Credential, PrivateKey]],
        *,
        reader_trust: TrustStore | None = None,
        require_reader_auth: bool = True,
        require_entitlement: bool = False,
        retrieval_methods: list[RetrievalMethod] | None = None,
        device_mac: bool = False,
        now: dt.datetime | None = None,
    ) -> None:
        """``device_mac`` answers with deviceMac (no signature a reader could show to others) instead of
        deviceSignature; ``require_reader_auth`` refuses readers that do not authenticate;
        ``require_entitlement`` (strict) also refuses readers whose certificate states no entitlement."""
        self._holdings = holdings
        self._reader_trust = reader_trust
        self._require_reader_auth = require_reader_auth
        self._require_entitlement = require_entitlement
        self._now = now
        self._device_mac = device_mac
        self._e_key = generate_key()
        self.engagement = DeviceEngagement.create(self._e_key.public_key(), retrieval_methods)
        self.state = "engaged"
        self.transcript: bytes | None = None
        self._encryption: SessionEncryption | None = None
        self._request: DeviceRequest | None = None
        self.pending: PendingRequest | None = None

    def qr_uri(self) -> str:
        """The ``mdoc:`` URI to show as a QR code for the reader to start the session."""
        return self.engagement.to_uri()

    def receive(self, message: bytes) -> PendingRequest:
        """Take the reader's SessionEstablishment; return what it asks for (and who it is)."""
        if self.state != "engaged":
            raise SessionError(f"a request arrived in state {self.state}", code="unexpected_message")
        e_reader_key, ciphertext = parse_establishment(message)
        reader_public = public_key_from_cose(e_reader_key.decode())
        self.transcript = qr_transcript(self.engagement, e_reader_key)
        self._encryption = SessionEncryption("device", derive_session_keys(self._e_key, reader_public, self.transcript))
        request = DeviceRequest.parse(self._encryption.decrypt(ciphertext))
        self._request = request
        reader = self._authenticate(request)
        if reader is not None and self._require_entitlement:
            reader.require_entitlement()
        self.pending = PendingRequest(reader, [])
        held = {c.doctype for c, _ in self._holdings}
        for doc in request.doc_requests:
            beyond = self.pending.reader.beyond_entitlement(doc.doctype, doc.namespaces) if self.pending.reader else {}
            self.pending.documents.append(RequestedDocument(doc.doctype, doc.namespaces, doc.doctype in held, beyond))
        self.state = "request_received"
        return self.pending

    def _authenticate(self, request: DeviceRequest) -> ReaderIdentity | None:
        """Verify every readerAuth; all documents must come from the same verified reader."""
        assert self.transcript is not None
        identities: list[ReaderIdentity | None] = []
        for doc in request.doc_requests:
            if doc.reader_auth is None:
                identities.append(None)
                continue
            if self._reader_trust is None or doc.items_request is None:
                raise ReaderNotAuthorised(
                    "the wallet has no reader trust anchors to check this reader", code="untrusted_reader"
                )
            now = self._now or dt.datetime.now(dt.UTC)
            identities.append(
                verify_reader_auth(doc.reader_auth, self.transcript, doc.items_request, self._reader_trust, now)
            )
        if any(i is None for i in identities):
            if self._require_reader_auth:
                raise ReaderNotAuthorised("the reader did not authenticate its request", code="reader_auth_missing")
            return None
        certificates = {i.certificate for i in identities if i is not None}
        if len(certificates) > 1:
            raise ReaderNotAuthorised("the request is signed by more than one reader", code="reader_auth_failed")
        return identities[0]

    def respond(self, consent: dict[str, dict[str, list[str]]] | None = None) -> bytes:
        """Encrypt a DeviceResponse with what the holder agreed to share (default: all that is allowed).

        Elements beyond the reader's entitlement are never shared, whatever ``consent`` says.
        """
        if self.state != "request_received" or self.pending is None or self._request is None:
            raise SessionError(f"nothing to respond to in state {self.state}", code="unexpected_message")
        assert self._encryption is not None and self.transcript is not None
        agreed: dict[str, dict[str, Any]] = {}
        for doc in self.pending.documents:
            allowed = doc.allowed() if self.pending.reader else {ns: list(els) for ns, els in doc.elements.items()}
            wanted = consent.get(doc.doctype, {}) if consent is not None else allowed
            agreed[doc.doctype] = {ns: [e for e in els if e in allowed.get(ns, [])] for ns, els in wanted.items()}
        response = present(self._holdings, self._request, self.transcript, consent=agreed, mac=self._device_mac)
        self.state = "responded"
        return SessionData(data=self._encryption.encrypt(response)).encode()

    def decline(self) -> bytes:
        """End the session without sharing anything."""
        return self.terminate()

    def terminate(self) -> bytes:
        """End the session: the SessionData with status 20 (session termination) to send."""
        self.state = "closed"
        return SessionData(status=STATUS_TERMINATION).encode()

    def error_message(self, error: DidlibError) -> bytes:
        """The SessionData status to send back when a message could not be handled."""
        self.state = "closed"
        status = STATUS_CBOR_DECODING_ERROR if isinstance(error, DecodeError) else STATUS_ENCRYPTION_ERROR
        return SessionData(status=status).encode()

    def receive_followup(self, message: bytes) -> None:
        """Handle the reader's next SessionData: termination closes; a second request is not supported."""
        if SessionData.parse(message).status == STATUS_TERMINATION:
            self.state = "closed"
            return
        raise SessionError("further requests in one session are not supported", code="unexpected_message")
