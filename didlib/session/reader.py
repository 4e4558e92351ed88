"""The reader's side of a proximity session: engage from the holder's QR, ask, decrypt, verify.

States: ``engaged`` -> ``request_sent`` -> ``done`` (or ``closed`` when the holder ends the session).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from cryptography import x509

from didlib.errors import SessionError
from didlib.keys import PrivateKey, generate_key
from didlib.mdoc.request import DeviceRequest, DocRequest
from didlib.mdoc.verifier import VerificationResult, verify_response
from didlib.session.encryption import SessionEncryption, derive_session_keys
from didlib.session.engagement import DeviceEngagement
from didlib.session.messages import STATUS_TERMINATION, STATUS_TEXT, SessionData, establishment
from didlib.session.reader_auth import sign_reader_auth
from didlib.session.transcript import qr_transcript, reader_key_bytes
from didlib.status import StatusChecker
from didlib.trust import TrustStore

__all__ = ["ReaderSession"]

Request = Mapping[str, Mapping[str, Mapping[str, bool]]]  # docType -> namespace -> element -> intent to retain


class ReaderSession:
    """Reader side of ISO 18013-5 device retrieval with session encryption."""

    def __init__(
        self,
        engagement: DeviceEngagement | str,
        request: Request,
        *,
        trust: TrustStore,
        reader_key: PrivateKey | None = None,
        reader_chain: list[x509.Certificate] | None = None,
        now: dt.datetime | None = None,
        status_checker: StatusChecker | None = None,
    ) -> None:
        """``status_checker`` checks the credential's status list entry (revoked, suspended) too."""
        self.engagement = DeviceEngagement.from_uri(engagement) if isinstance(engagement, str) else engagement
        self._request = request
        self._trust = trust
        self._reader_key = reader_key
        self._reader_chain = reader_chain or []
        self._now = now
        self._status_checker = status_checker
        self._e_key = generate_key(_curve_name(self.engagement))
        self._e_key_bytes = reader_key_bytes(self._e_key.public_key())
        self.transcript = qr_transcript(self.engagement, self._e_key_bytes)
        keys = derive_session_keys(self._e_key, self.engagement.e_device_key, self.transcript)
        self._encryption = SessionEncryption("reader", keys)
        self.state = "engaged"
        self.result: VerificationResult | None = None

    def start(self) -> bytes:
        """SessionEstablishment carrying the encrypted DeviceRequest (reader-authenticated when keyed)."""
        if self.state != "engaged":
            raise SessionError(f"cannot start in state {self.state}", code="unexpected_message")
        docs = []
        for doctype, namespaces in self._request.items():
            plain = DocRequest(doctype, {ns: dict(els) for ns, els in namespaces.items()})
            items = plain.to_cbor()["itemsRequest"]
            auth = (
                sign_reader_auth(self._reader_key, self._reader_chain, self.transcript, items)
                if self._reader_key is not None
                else None
            )
            docs.append(DocRequest(doctype, plain.namespaces, items_request=items, reader_auth=auth))
        ciphertext = self._encryption.encrypt(DeviceRequest(docs).encode())
        self.state = "request_sent"
        return establishment(self._e_key_bytes, ciphertext)

    def receive(self, message: bytes) -> VerificationResult:
        """Decrypt and verify the holder's answer. Raises :class:`SessionError` if there is none."""
        if self.state != "request_sent":
            raise SessionError(f"a response arrived in state {self.state}", code="unexpected_message")
        data = SessionData.parse(message)
        if data.data is None:
            self.state = "closed"
            text = STATUS_TEXT.get(data.status or 0, f"status {data.status}")
            code = "session_terminated" if data.status == STATUS_TERMINATION else "session_status"
            raise SessionError(f"the holder ended the session: {text}", code=code)
        plaintext = self._encryption.decrypt(data.data)
        self.result = verify_response(
            plaintext,
            trust=self._trust,
            session_transcript=self.transcript,
            reader_key=self._e_key,
            now=self._now,
            status_checker=self._status_checker,
        )
        self.state = "done"
        return self.result

    def terminate(self) -> bytes:
        """End the session: the SessionData with status 20 (session termination) to send."""
        self.state = "closed"
        return SessionData(status=STATUS_TERMINATION).encode()


def _curve_name(engagement: DeviceEngagement) -> str:
    """EReaderKey must be on EDeviceKey's curve (cipher suite 1)."""
    curve = getattr(engagement.e_device_key, "curve", None)
    names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
    if curve is None or curve.name not in names:
        raise SessionError("the holder's ephemeral key is not on a supported curve", code="unsupported")
    return names[curve.name]
