"""The two QR-only flows, built from 18013-5 parts so any mdoc verifier can check what is inside.

**One way** (the shop counter): the wallet shows ``[1, created, nonce, DeviceResponse]``. The
DeviceResponse is device-signed over the SessionTranscript ``[null, null, ["DidlibQROneWay", created,
nonce]]``, so the signature covers the moment and a random nonce; the verifier enforces a freshness
window and remembers nonces, so a screenshot dies in seconds and a copy is never accepted twice.

**Challenge** (stronger): the verifier shows ``[2, nonce, EReaderKeyBytes, DeviceRequest]`` where the
DeviceRequest carries readerAuth over the SessionTranscript ``[null, EReaderKeyBytes, ["DidlibQRChallenge",
nonce]]``. The wallet checks the reader, asks the holder, and answers ``[3, EDeviceKeyBytes, ciphertext]``:
the DeviceResponse (deviceMac by default) encrypted with the 18013-5 session key schedule (ECDH of the
two ephemeral keys, HKDF over that transcript, AES-256-GCM as SKDevice with counter 1). Only that reader
can read it, and only once.

All payloads travel framed by :mod:`didlib.qr` (zlib + base45). Credentials are presented in the compact
profile: the document signer is named by ``x5t`` and resolved from the verifier's trust list.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from didlib.cbor import Embedded, encode
from didlib.errors import DecodeError, ReaderNotAuthorised, SessionError, UnsupportedError
from didlib.keys import PrivateKey, generate_key, public_key_from_cose
from didlib.mdoc.holder import Credential, present, present_elements
from didlib.mdoc.request import DeviceRequest, DocRequest
from didlib.qr import frame, unframe
from didlib.session.encryption import SessionEncryption, derive_session_keys
from didlib.session.holder import RequestedDocument
from didlib.session.reader_auth import ReaderIdentity, sign_reader_auth, verify_reader_auth
from didlib.session.transcript import reader_key_bytes
from didlib.trust import TrustStore

__all__ = [
    "ONE_WAY",
    "REQUEST",
    "RESPONSE",
    "OneWay",
    "Challenge",
    "ChallengeResponse",
    "PendingChallenge",
    "make_oneway",
    "parse_payload",
    "read_challenge",
    "answer_challenge",
    "oneway_transcript",
    "challenge_transcript",
]

ONE_WAY, REQUEST, RESPONSE = 1, 2, 3
NONCE_BYTES = 16
CHALLENGE_LIFETIME = dt.timedelta(minutes=3)


def oneway_transcript(created: int, nonce: bytes) -> bytes:
    return encode([None, None, ["DidlibQROneWay", created, nonce]])


def challenge_transcript(e_reader_key: Embedded, nonce: bytes) -> bytes:
    return encode([None, e_reader_key, ["DidlibQRChallenge", nonce]])


@dataclass(frozen=True)
class OneWay:
    """A one-way presentation: a DeviceResponse device-signed over its creation time and a nonce, which
    the till checks for freshness and replay."""

    created: int  # seconds since the epoch, as the wallet's clock says
    nonce: bytes
    response: bytes  # DeviceResponse

    @property
    def transcript(self) -> bytes:
        return oneway_transcript(self.created, self.nonce)


@dataclass(frozen=True)
class ChallengeResponse:
    """The wallet's answer to a challenge: the DeviceResponse encrypted to the till's ephemeral key (ECDH
    with ``e_device_key``), so a photo of the screen reveals nothing."""

    e_device_key: Embedded
    ciphertext: bytes


@dataclass(frozen=True)
class RequestPayload:
    """A till's challenge as the wallet reads it: the nonce, the till's ephemeral key and its signed
    DeviceRequest."""

    nonce: bytes
    e_reader_key: Embedded
    device_request: bytes

    @property
    def transcript(self) -> bytes:
        return challenge_transcript(self.e_reader_key, self.nonce)


def make_oneway(
    credential: Credential,
    device_key: PrivateKey,
    disclose: Iterable[str] = ("age_over_18", "portrait"),
    *,
    now: dt.datetime | None = None,
    compact: bool = True,
) -> str:
    """The text of a one-way QR code (show it for a few seconds, then make a new one)."""
    created = int((now or dt.datetime.now(dt.UTC)).timestamp())
    nonce = secrets.token_bytes(NONCE_BYTES)
    shown = credential.compact() if compact else credential
    response = present_elements(shown, device_key, disclose, oneway_transcript(created, nonce))
    return frame([ONE_WAY, created, nonce, response])


def _bytes(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        raise DecodeError(f"QR payload {what} must be {size or 'some'} bytes")
    return value


def parse_payload(text: str) -> OneWay | RequestPayload | ChallengeResponse:
    """Read an assembled ``DL1:`` text into the flow message it carries."""
    value = unframe(text)
    if not isinstance(value, list) or not value or not isinstance(value[0], int) or isinstance(value[0], bool):
        raise DecodeError("QR payload must be an array starting with its kind")
    kind = value[0]
    if kind == ONE_WAY and len(value) == 4:
        if isinstance(value[1], bool) or not isinstance(value[1], int):
            raise DecodeError("one-way QR creation time must be an integer")
        return OneWay(value[1], _bytes(value[2], "nonce", NONCE_BYTES), _bytes(value[3], "response"))
    if kind == REQUEST and len(value) == 4 and isinstance(value[2], Embedded):
        return RequestPayload(_bytes(value[1], "nonce", NONCE_BYTES), value[2], _bytes(value[3], "request"))
    if kind == RESPONSE and len(value) == 3 and isinstance(value[1], Embedded):
        return ChallengeResponse(value[1], _bytes(value[2], "ciphertext"))
    raise UnsupportedError(f"QR payload kind {kind} (length {len(value)}) is not known")


# ----------------------------------------------------------------------------------- challenge, reader
@dataclass
class Challenge:
    """The verifier's side of a challenge: the request QR to show, and the keys to open the answer."""

    text: str
    nonce: bytes
    transcript: bytes
    created: dt.datetime
    _e_key: PrivateKey = field(repr=False)
    _e_key_bytes: Embedded = field(repr=False)
    used: bool = False

    @classmethod
    def create(
        cls,
        request: Mapping[str, Mapping[str, Mapping[str, bool]]],
        *,
        reader_key: PrivateKey,
        reader_chain: Sequence[x509.Certificate],
        now: dt.datetime | None = None,
    ) -> Challenge:
        """``request`` is docType -> namespace -> element -> intent to retain."""
        e_key = generate_key()
        e_key_bytes = reader_key_bytes(e_key.public_key())
        nonce = secrets.token_bytes(NONCE_BYTES)
        transcript = challenge_transcript(e_key_bytes, nonce)
        docs = []
        for doctype, namespaces in request.items():
            plain = DocRequest(doctype, {ns: dict(els) for ns, els in namespaces.items()})
            items = plain.to_cbor()["itemsRequest"]
            auth = sign_reader_auth(reader_key, list(reader_chain), transcript, items)
            docs.append(DocRequest(doctype, plain.namespaces, items_request=items, reader_auth=auth))
        text = frame([REQUEST, nonce, e_key_bytes, DeviceRequest(docs).encode()])
        return cls(text, nonce, transcript, now or dt.datetime.now(dt.UTC), e_key, e_key_bytes)

    @property
    def reader_private_key(self) -> PrivateKey:
        """The ephemeral key, for checking a deviceMac in the answer."""
        return self._e_key

    def open(self, answer: ChallengeResponse, now: dt.datetime | None = None) -> bytes:
        """Decrypt the wallet's answer to this challenge (once, within its lifetime) to a DeviceResponse."""
        now = now or dt.datetime.now(dt.UTC)
        if self.used:
            raise SessionError("this challenge has already been answered", code="replayed")
        if now - self.created > CHALLENGE_LIFETIME:
            raise SessionError("this challenge has expired; show a new one", code="challenge_expired")
        device_key = public_key_from_cose(answer.e_device_key.decode())
        keys = derive_session_keys(self._e_key, device_key, self.transcript)
        response = SessionEncryption("reader", keys).decrypt(answer.ciphertext)
        self.used = True
        return response


# ----------------------------------------------------------------------------------- challenge, wallet
@dataclass
class PendingChallenge:
    """What the wallet's consent screen shows for a scanned challenge."""

    reader: ReaderIdentity
    documents: list[RequestedDocument]
    request: RequestPayload = field(repr=False)
    device_request: DeviceRequest = field(repr=False)


def read_challenge(
    text: str,
    holdings: Sequence[tuple[Credential, PrivateKey]],
    reader_trust: TrustStore,
    now: dt.datetime | None = None,
    *,
    require_entitlement: bool = False,
) -> PendingChallenge:
    """Check a scanned request QR: the reader must authenticate; say what it asks and may ask.
    ``require_entitlement`` (strict) refuses a reader whose certificate states no entitlement."""
    payload = parse_payload(text)
    if not isinstance(payload, RequestPayload):
        raise DecodeError("this QR code is not a request from a verifier", code="not_a_request")
    request = DeviceRequest.parse(payload.device_request)
    now = now or dt.datetime.now(dt.UTC)
    identities = []
    for doc in request.doc_requests:
        if doc.reader_auth is None or doc.items_request is None:
            raise ReaderNotAuthorised("the verifier did not sign its request", code="reader_auth_missing")
        identities.append(verify_reader_auth(doc.reader_auth, payload.transcript, doc.items_request, reader_trust, now))
    if len({i.certificate for i in identities}) != 1:
        raise ReaderNotAuthorised("the request is signed by more than one reader", code="reader_auth_failed")
    reader = identities[0]
    if require_entitlement:
        reader.require_entitlement()
    held = {c.doctype for c, _ in holdings}
    documents = [
        RequestedDocument(
            d.doctype, d.namespaces, d.doctype in held, reader.beyond_entitlement(d.doctype, d.namespaces)
        )
        for d in request.doc_requests
    ]
    return PendingChallenge(reader, documents, payload, request)


def answer_challenge(
    pending: PendingChallenge,
    holdings: Sequence[tuple[Credential, PrivateKey]],
    consent: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
    *,
    device_mac: bool = True,
) -> str:
    """The response QR text: what the holder agreed to (never beyond the entitlement), encrypted to the reader."""
    agreed: dict[str, dict[str, Iterable[str]]] = {}
    for doc in pending.documents:
        allowed = doc.allowed()
        wanted = consent.get(doc.doctype, {}) if consent is not None else allowed
        agreed[doc.doctype] = {ns: [e for e in els if e in allowed.get(ns, [])] for ns, els in wanted.items()}
    compact = [(credential.compact(), key) for credential, key in holdings]
    response = present(compact, pending.device_request, pending.request.transcript, consent=agreed, mac=device_mac)
    e_key = generate_key()
    reader_public = public_key_from_cose(pending.request.e_reader_key.decode())
    keys = derive_session_keys(e_key, reader_public, pending.request.transcript)
    ciphertext = SessionEncryption("device", keys).encrypt(response)
    return frame([RESPONSE, reader_key_bytes(e_key.public_key()), ciphertext])
