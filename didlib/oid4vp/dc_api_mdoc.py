"""ISO/IEC 18013-7 Annex C: an mdoc exchange over the W3C Digital Credentials API (protocol ``org-iso-mdoc``),
which Safari speaks instead of OpenID4VP, both sides.

The page asks with ``data = {"deviceRequest": B64(DeviceRequest), "encryptionInfo": B64(EncryptionInfo)}``
(base64url without padding), where::

    EncryptionInfo = ["dcapi", {"nonce": bstr, "recipientPublicKey": COSE_Key}]   ; P-256, fresh per request

Both sides build the SessionTranscript from the ``encryptionInfo`` text exactly as sent and the origin the
browser asserts (:func:`didlib.session.transcript.iso_dc_api_transcript`); the DeviceRequest's ``readerAuth`` and
the DeviceResponse's device authentication sign it, as in an ISO 18013-5 session. The wallet answers with
``data = {"response": B64(["dcapi", {"enc": bstr, "cipherText": bstr}])}``: the DeviceResponse sealed with HPKE
(RFC 9180) in base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, ``info`` the SessionTranscript
bytes, empty ``aad``; ``enc`` is the 65-byte uncompressed ephemeral point.

The HPKE is pyca/cryptography's (``cryptography.hazmat.primitives.hpke``, 47 and later). A DeviceRequest says what
it asks for per document type and nothing about alternatives; the wallet reads it as a DCQL query whose document
requests are each asked for, the holder answering those it holds, while document requests that ask for the same
elements of different document types are alternatives in the verifier's order (:func:`device_request_dcql`), so
that the choice, the consent screen and the entitlement checks are those of OpenID4VP, and the verifier judges the
answer by the DCQL query it made the DeviceRequest from.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from didlib.cbor import Limits, decode, encode
from didlib.errors import DecodeError, DidlibError, ReaderNotAuthorised, VerificationError
from didlib.jose import b64url_decode, b64url_encode
from didlib.keys import (
    PrivateKey,
    cose_key_from_public,
    load_private_key,
    private_key_pem,
    public_key_from_cose,
)
from didlib.mdoc.holder import Credential, present
from didlib.mdoc.request import DeviceRequest, DocRequest
from didlib.oid4vp.common import MAX_REQUEST
from didlib.oid4vp.dcql import MDOC, check_dcql
from didlib.session.reader_auth import ReaderIdentity, sign_reader_auth, verify_reader_auth
from didlib.session.transcript import iso_dc_api_transcript
from didlib.trust import TrustStore

__all__ = [
    "SUITE",
    "MdocRequestKey",
    "MdocWalletRequest",
    "make_encryption_info",
    "read_encryption_info",
    "device_request_for",
    "device_request_dcql",
    "read_request",
    "seal_response",
    "open_response",
]

HANDOVER = "dcapi"  # the first element of EncryptionInfo, EncryptedResponse and the handover alike
SUITE = Suite(KEM.P256, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
"""The HPKE suite Annex C fixes: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM (RFC 9180, base mode)."""
ENC_LENGTH = 65  # Npk of DHKEM(P-256): an uncompressed point
NONCE_BYTES = 32
MIN_NONCE = 16  # Annex C asks for enough entropy; a shorter nonce is refused
ENVELOPE_LIMITS = Limits(max_size=MAX_REQUEST, max_depth=4, max_items=16)


def make_encryption_info(nonce: bytes, recipient: ec.EllipticCurvePublicKey) -> str:
    """``encryptionInfo`` as the page sends it: base64url (no padding) of the CBOR EncryptionInfo."""
    return b64url_encode(encode([HANDOVER, {"nonce": nonce, "recipientPublicKey": cose_key_from_public(recipient)}]))


def read_encryption_info(text: Any) -> tuple[bytes, ec.EllipticCurvePublicKey]:
    """The nonce and the P-256 recipient key of an ``encryptionInfo``; ``DecodeError`` for anything else."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_REQUEST:
        raise DecodeError("encryptionInfo must be a short base64url string")
    try:
        value = decode(b64url_decode(text), ENVELOPE_LIMITS)
        if not isinstance(value, list) or len(value) != 2 or value[0] != HANDOVER or not isinstance(value[1], dict):
            raise DecodeError('EncryptionInfo must be ["dcapi", EncryptionParameters]')
        nonce, key = value[1].get("nonce"), public_key_from_cose(value[1].get("recipientPublicKey"))
    except DecodeError:
        raise
    except DidlibError as exc:  # BadKey, UnsupportedError
        raise DecodeError(f"EncryptionInfo has no usable recipient key: {exc.message}") from exc
    if not isinstance(nonce, bytes) or len(nonce) < MIN_NONCE:
        raise DecodeError(f"EncryptionInfo needs a nonce of at least {MIN_NONCE} bytes")
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise DecodeError("the recipient key must be a P-256 key (DHKEM(P-256, HKDF-SHA256))")
    return nonce, key


def seal_response(device_response: bytes, recipient: ec.EllipticCurvePublicKey, transcript: bytes) -> dict[str, str]:
    """The wallet's ``data``: the DeviceResponse sealed to the page's recipient key, ``info`` the transcript."""
    sealed = SUITE.encrypt(device_response, recipient, info=transcript)  # enc || ciphertext (RFC 9180 6.1)
    envelope = [HANDOVER, {"enc": sealed[:ENC_LENGTH], "cipherText": sealed[ENC_LENGTH:]}]
    return {"response": b64url_encode(encode(envelope))}


def open_response(data: Mapping[str, Any], recipient: ec.EllipticCurvePrivateKey, transcript: bytes) -> bytes:
    """The DeviceResponse inside an answer, opened with the request's key for this transcript: a tampered
    ciphertext, another recipient, or another transcript (another origin, another request) is
    ``decryption_failed``; a malformed envelope ``DecodeError`` (``malformed``)."""
    response = data.get("response") if isinstance(data, Mapping) else None
    if not isinstance(response, str) or not 0 < len(response) <= MAX_REQUEST:
        raise DecodeError("an org-iso-mdoc answer is {response: base64url EncryptedResponse} of at most 64 KiB",
                          code="malformed")
    try:
        value = decode(b64url_decode(response), ENVELOPE_LIMITS)
    except DecodeError as exc:
        raise DecodeError(f"the answer is not an EncryptedResponse: {exc.message}", code="malformed") from exc
    parts = value[1] if isinstance(value, list) and len(value) == 2 and value[0] == HANDOVER else None
    enc = parts.get("enc") if isinstance(parts, dict) else None
    ciphertext = parts.get("cipherText") if isinstance(parts, dict) else None
    if not isinstance(enc, bytes) or len(enc) != ENC_LENGTH or not isinstance(ciphertext, bytes):
        raise DecodeError('the answer must be ["dcapi", {"enc": 65 bytes, "cipherText": bytes}]', code="malformed")
    try:
        return SUITE.decrypt(enc + ciphertext, recipient, info=transcript)
    except Exception as exc:  # cryptography's InvalidTag, or ValueError for a point not on the curve
        raise VerificationError(f"the answer does not open with this request's key: {type(exc).__name__}",
                                code="decryption_failed") from exc


@dataclass(frozen=True)
class MdocRequestKey:
    """What a verifier keeps of an ``org-iso-mdoc`` request: its HPKE recipient key and the ``encryptionInfo``
    text exactly as sent (the transcript hashes that text, so it is never rebuilt)."""

    key: ec.EllipticCurvePrivateKey
    encryption_info: str

    @classmethod
    def create(cls) -> MdocRequestKey:
        """A fresh recipient key and nonce for one request: neither is ever reused across requests."""
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(key, make_encryption_info(secrets.token_bytes(NONCE_BYTES), key.public_key()))

    def transcript(self, origin: str) -> bytes:
        """The SessionTranscript of this request on the page at ``origin``, from ``encryptionInfo`` as sent."""
        return iso_dc_api_transcript(self.encryption_info, origin)

    def request_data(self, origin: str, dcql: Mapping[str, Any],
                     signer: tuple[PrivateKey, Sequence[x509.Certificate]] | None) -> dict[str, str] | None:
        """The request's ``data``, or None when the DCQL query asks for no mdoc (nothing to ask in this protocol)."""
        device_request = device_request_for(dcql, self.transcript(origin), signer)
        if device_request is None:
            return None
        return {"deviceRequest": b64url_encode(device_request), "encryptionInfo": self.encryption_info}

    def open(self, data: Mapping[str, Any], origin: str) -> bytes:
        """The DeviceResponse of an answer given to the page at ``origin`` (see :func:`open_response`)."""
        return open_response(data, self.key, self.transcript(origin))

    def to_dict(self) -> dict[str, str]:
        """What a server saves between the request and the answer: the key as PEM and ``encryptionInfo``."""
        return {"key": private_key_pem(self.key).decode(), "encryption_info": self.encryption_info}

    @classmethod
    def from_dict(cls, value: Any) -> MdocRequestKey:
        """A request saved with :meth:`to_dict`; anything else is a :class:`DecodeError`."""
        try:
            key = load_private_key(value["key"].encode())
            info = value["encryption_info"]
        except (DidlibError, KeyError, TypeError, AttributeError) as exc:
            raise DecodeError(f"not a saved org-iso-mdoc request: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise DecodeError("not a saved org-iso-mdoc request: the key is not an EC key")
        read_encryption_info(info)
        return cls(key, info)


def device_request_for(dcql: Mapping[str, Any], transcript: bytes,
                       signer: tuple[PrivateKey, Sequence[x509.Certificate]] | None) -> bytes | None:
    """A DeviceRequest (ISO 18013-5 8.3.2.1.2.1) with one DocRequest per ``mso_mdoc`` credential query, in the
    query's order, each reader-authenticated over ``transcript`` when ``signer`` is given; None without one."""
    docs = []
    for query in dcql.get("credentials", []):
        if query.get("format") != MDOC:
            continue
        namespaces: dict[str, dict[str, bool]] = {}
        for claim in query.get("claims", []):
            namespace, element = claim["path"]
            namespaces.setdefault(namespace, {})[element] = claim.get("intent_to_retain") is True
        plain = DocRequest(query["meta"]["doctype_value"], namespaces)
        items = plain.to_cbor()["itemsRequest"]
        auth = sign_reader_auth(signer[0], list(signer[1]), transcript, items) if signer is not None else None
        docs.append(DocRequest(plain.doctype, namespaces, items_request=items, reader_auth=auth))
    return DeviceRequest(docs).encode() if docs else None


def device_request_dcql(request: DeviceRequest) -> dict[str, Any]:
    """The DeviceRequest as the wallet's DCQL query: one ``mso_mdoc`` credential query per DocRequest (``doc0``,
    ``doc1``, ...; each element a claim, ``intent_to_retain`` kept), as :func:`device_request_for` makes them.

    ISO 18013-5 asks for every DocRequest and lets the holder return the documents it holds and agrees to: each
    becomes an optional credential set. DocRequests asking for the same elements of different document types
    (over 18 and a photo from a proof of age or from a licence) are one set of alternatives, in the verifier's
    order, so the holder sends one of them, never both (a licence beside a single-use proof would link it)."""
    credentials = []
    alike: dict[frozenset[str], list[str]] = {}  # the elements asked -> the DocRequests asking them
    for index, doc in enumerate(request.doc_requests):
        alike.setdefault(frozenset(e for elements in doc.namespaces.values() for e in elements), []).append(
            f"doc{index}")
        claims = [{"path": [namespace, element], "intent_to_retain": retain}
                  for namespace, elements in doc.namespaces.items() for element, retain in elements.items()]
        credentials.append({"id": f"doc{index}", "format": MDOC, "meta": {"doctype_value": doc.doctype},
                            **({"claims": claims} if claims else {})})
    dcql: dict[str, Any] = {"credentials": credentials}
    if len(credentials) > 1:
        dcql["credential_sets"] = [{"options": [[i] for i in ids], "required": False} for ids in alike.values()]
    check_dcql(dcql)  # its limits: 32 documents, 64 elements each
    return dcql


@dataclass(frozen=True)
class MdocWalletRequest:
    """An ``org-iso-mdoc`` request as the wallet read it: what it asks (as DCQL), who asks (its readerAuth, or None),
    and where the answer goes (the recipient key, the transcript)."""

    device_request: DeviceRequest
    dcql: dict[str, Any]
    reader: ReaderIdentity | None
    recipient: ec.EllipticCurvePublicKey
    transcript: bytes

    def answer(self, picks: Sequence[tuple[Credential, PrivateKey, Sequence[Sequence[str]]]]) -> dict[str, str]:
        """The sealed answer: a DeviceResponse with one document per picked credential disclosing exactly the
        picked ``[namespace, element]`` paths, device-signed over the transcript."""
        request = DeviceRequest([
            DocRequest(credential.doctype, _namespaces(paths)) for credential, _, paths in picks
        ])
        response = present([(credential, key) for credential, key, _ in picks], request, self.transcript)
        return seal_response(response, self.recipient, self.transcript)


def _namespaces(paths: Sequence[Sequence[str]]) -> dict[str, dict[str, bool]]:
    namespaces: dict[str, dict[str, bool]] = {}
    for namespace, element in paths:
        namespaces.setdefault(namespace, {})[element] = False
    return namespaces


def read_request(data: Any, origin: str, reader_trust: TrustStore, *, now: dt.datetime,
                 require_entitlement: bool = False) -> MdocWalletRequest:
    """Read an ``org-iso-mdoc`` request for the page at ``origin`` (checked by the caller): the EncryptionInfo,
    the transcript, the DeviceRequest and its reader authentication. Every DocRequest's ``readerAuth`` must
    verify over this transcript (a request relayed from another origin does not) and come from one reader
    certificate of a trusted reader CA; a request with none is answered like an unsigned OpenID4VP one, to the
    origin; one with some signed and some not is refused (``reader_auth_missing``)."""
    if not isinstance(data, dict):
        raise DecodeError("the request data must be an object")
    device_request, info = data.get("deviceRequest"), data.get("encryptionInfo")
    if not isinstance(device_request, str) or not 0 < len(device_request) <= MAX_REQUEST:
        raise DecodeError("an org-iso-mdoc request carries a base64url DeviceRequest of at most 64 KiB")
    _, recipient = read_encryption_info(info)
    transcript = iso_dc_api_transcript(str(info), origin)
    request = DeviceRequest.parse(b64url_decode(device_request), Limits(max_size=MAX_REQUEST))
    identities = []
    for doc in request.doc_requests:
        if doc.reader_auth is not None and doc.items_request is not None:
            identities.append(verify_reader_auth(doc.reader_auth, transcript, doc.items_request, reader_trust, now))
    if identities and len(identities) != len(request.doc_requests):
        raise ReaderNotAuthorised("only some of the documents are asked for by an authenticated reader",
                                  code="reader_auth_missing")
    if len({identity.certificate for identity in identities}) > 1:
        raise ReaderNotAuthorised("the request is signed by more than one reader", code="reader_auth_failed")
    reader = identities[0] if identities else None
    if reader is not None and require_entitlement:
        reader.require_entitlement()
    return MdocWalletRequest(request, device_request_dcql(request), reader, recipient, transcript)

