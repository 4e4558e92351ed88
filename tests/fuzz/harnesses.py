"""Coverage-guided fuzzing harnesses: one per entry point that reads outside input (issue 23).

Each harness is ``setup() -> one_input(data: bytes)``. ``one_input`` feeds the bytes to the entry point
and checks its contract, not only that it returns:

* only :class:`didlib.errors.DidlibError` may escape (the runner lets anything else crash the fuzzer);
* nothing is accepted that the input did not prove: a verifier harness that sees its input accepted
  checks that every signed part of it (COSE protected headers and payloads, IssuerSignedItemBytes,
  DeviceNameSpacesBytes, JWS signing inputs, SD-JWT disclosures) is byte-identical to a part of a genuine
  seed (``corpus/<harness>/genuine-*``, made by ``seeds.py`` with the fixed dev PKI in ``genuine/pki``).
  A break raises :class:`ContractBroken`.

``run.py`` drives these under atheris; ``tests/fuzz/test_fuzz_smoke.py`` replays every corpus and
regression input through them in ``make test``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from didlib import TrustStore
from didlib.cbor import Embedded, Limits, decode
from didlib.cose import Sign1
from didlib.errors import DidlibError
from didlib.jose import CompactJws
from didlib.keys import PrivateKey
from didlib.mdoc import DeviceRequest, verify_response
from didlib.mdoc.structures import IssuerSigned
from didlib.oid4vci import CredentialOffer, CredentialRequest, credential_request_json, verify_proof
from didlib.oid4vp import PresentationRequest, parse_request
from didlib.pkidir import PkiDir
from didlib.presentation.qrflows import parse_payload
from didlib.qr import Assembler, unframe
from didlib.sdjwt import verify_sd_jwt_vc
from didlib.sdjwt.core import split_sd_jwt
from didlib.session import DeviceEngagement, HolderSession
from didlib.session.ble.channel import BleChannel
from didlib.session.ble.framing import MAX_VALUE, MIN_MTU, Reassembler, chunk_payload_size, split
from didlib.session.messages import SessionData, parse_establishment
from didlib.session.reader_auth import verify_reader_auth
from didlib.status import StatusChecker, StatusList, StatusListToken
from didlib.trustlist import TrustList
from issuer_service.authorities import CONFIGS

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
REGRESSIONS = HERE / "regressions"
GENUINE = HERE / "genuine"
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
HOST = "shop.example"
RESPONSE_URI = f"https://{HOST}/response"
AUDIENCE = "https://issuer.example"
STATUS_URI = "https://issuer.example/status/1"
GRANTED = ("uk.dvla.age.mdoc", "uk.dvla.age.sd-jwt")  # the configurations of the seeds' (pretended) offer
BATCH = 10  # the issuer service's batch_size
BLE_MAX_MESSAGE = 2048  # small, so that fuzzed inputs reach the message limit


class ContractBroken(AssertionError):
    """An entry point accepted what its input did not prove."""


@dataclass(frozen=True)
class Material:
    """The fixed dev PKI and state the seeds were made with."""

    pki: PkiDir
    trust: TrustStore  # issuer IACA
    reader_trust: TrustStore  # reader CA
    device: PrivateKey  # the mdoc device key
    holder: PrivateKey  # the SD-JWT VC holder key
    operator: PrivateKey  # the trust list operator
    transcript: bytes  # the SessionTranscript the seed DeviceResponses and readerAuth were made over

    @classmethod
    def load(cls) -> Material:
        pki = PkiDir(GENUINE / "pki")
        return cls(pki, TrustStore.from_pem_files([pki.folder / "iaca.pem"]),
                   TrustStore.from_pem_files([pki.folder / "reader-ca.pem"]), pki.key("device"), pki.key("holder"),
                   pki.key("operator"), (GENUINE / "transcript.cbor").read_bytes())


def genuine(harness: str) -> list[bytes]:
    """The genuine seeds of a harness; a verifier harness without them would check its contract on nothing."""
    seeds = [p.read_bytes() for p in sorted((CORPUS / harness).glob("genuine-*"))]
    if not seeds:
        raise RuntimeError(f"no genuine seeds for {harness}: run tests/fuzz/seeds.py")
    return seeds


def genuine_jws(harness: str, accept: Callable[[str], object]) -> set[bytes]:
    """The signing inputs of a harness's genuine JWS seeds, each first accepted by ``accept`` (or it raises)."""
    tokens = [blob.decode() for blob in genuine(harness)]
    for token in tokens:
        accept(token)
    return {jws_signed_part(token) for token in tokens}


def inputs(harness: str) -> Iterator[Path]:
    """Every kept input of a harness: its seed corpus and its regression inputs."""
    for folder in (CORPUS / harness, REGRESSIONS / harness):
        if folder.is_dir():
            yield from sorted(p for p in folder.iterdir() if p.is_file())


def text(data: bytes) -> str:
    """Bytes as text one to one (latin-1), so every byte the fuzzer changes changes the text."""
    return data.decode("latin-1")


def require(condition: bool, what: str) -> None:
    if not condition:
        raise ContractBroken(what)


def seeds_accepted(verdicts: Iterable[bool]) -> None:
    if not all(verdicts):
        raise RuntimeError("a genuine seed does not verify: run tests/fuzz/seeds.py again")


def jws_signed_part(token: str) -> bytes:
    return CompactJws.parse(token).signing_input


def sign1_signed_parts(obj: Any) -> tuple[bytes, bytes | None]:
    signed = Sign1.from_cbor(obj)
    return signed.protected_raw, signed.payload


# ---------------------------------------------------------------------------------------------- harnesses
OneInput = Callable[[bytes], None]
HARNESSES: dict[str, Callable[[], OneInput]] = {}


def harness(setup: Callable[[], OneInput]) -> Callable[[], OneInput]:
    HARNESSES[setup.__name__] = setup
    return setup


@harness
def cbor() -> OneInput:
    """didlib.cbor.decode under tight limits, and tag-24 items read from their two heads."""
    limits = Limits(max_size=4096, max_depth=8, max_items=256)

    def one(data: bytes) -> None:
        with contextlib.suppress(DidlibError):
            decode(data, limits)
        with contextlib.suppress(DidlibError):
            embedded = Embedded.from_raw(data, limits)
            require(embedded.raw == data and data.endswith(embedded.content), "tag 24 not kept as received")

    return one


def _document_parts(doc: Any) -> set[bytes]:
    """The signed parts of one Document: issuerAuth's protected header and MSO, each IssuerSignedItemBytes,
    DeviceNameSpacesBytes, deviceSignature's protected header and the docType (DeviceAuthentication)."""
    issuer_signed = IssuerSigned.parse(doc["issuerSigned"])
    parts = set(sign1_signed_parts(issuer_signed.issuer_auth_raw)) - {None}
    parts |= {item.embedded.raw for items in issuer_signed.namespaces.values() for item in items}
    device_signed = doc["deviceSigned"]
    parts.add(device_signed["nameSpaces"].raw)
    parts.add(doc["docType"].encode())
    if "deviceSignature" in device_signed["deviceAuth"]:
        parts.add(sign1_signed_parts(device_signed["deviceAuth"]["deviceSignature"])[0])
    return {p for p in parts if p is not None}


@harness
def device_response() -> OneInput:
    """verify_response (ISO 18013-5 8.3.2.1.2.2, 9.1.2-9.3) against the dev PKI and the seeds' transcript."""
    m = Material.load()
    known = {p for blob in genuine("device_response") for doc in decode(blob)["documents"]
             for p in _document_parts(doc)}
    seeds_accepted(verify_response(blob, trust=m.trust, session_transcript=m.transcript, now=NOW).valid
                   for blob in genuine("device_response"))

    def one(data: bytes) -> None:
        result = verify_response(data, trust=m.trust, session_transcript=m.transcript, now=NOW)
        if not any(doc.valid for doc in result.documents):
            return
        # a document accepted (results come in the input's order): everything it was accepted on must be genuine
        for doc, raw in zip(result.documents, decode(data)["documents"], strict=True):
            if doc.valid:
                require(_document_parts(raw) <= known, "a verified document carries a signed part no seed has")

    return one


@harness
def engagement() -> OneInput:
    """DeviceEngagement.parse (18013-5 8.2.1.1) and the ``mdoc:`` URI (8.2.2.3), kept as the bytes received."""

    def one(data: bytes) -> None:
        with contextlib.suppress(DidlibError):
            parsed = DeviceEngagement.parse(data)
            require(parsed.raw == data, "DeviceEngagement not kept as the exact bytes received")
        with contextlib.suppress(DidlibError):
            DeviceEngagement.from_uri(text(data))

    return one


@harness
def session() -> OneInput:
    """SessionEstablishment and SessionData (18013-5 9.1.1.4), and a holder taking any first message."""
    m = Material.load()
    # One holder for every input (a key pair per input would cost more than the parsing): it stays "engaged"
    # as long as no request decrypts, and none can, its ephemeral key being new.
    holder = HolderSession([], reader_trust=m.reader_trust, now=NOW)

    def one(data: bytes) -> None:
        with contextlib.suppress(DidlibError):
            parse_establishment(data)
        with contextlib.suppress(DidlibError):
            SessionData.parse(data)
        with contextlib.suppress(DidlibError):
            holder.receive(data)
            raise ContractBroken("a holder decrypted a request no reader could have sent to its fresh key")

    return one


@harness
def device_request() -> OneInput:
    """DeviceRequest (18013-5 8.3.2.1.2.1) and each readerAuth (9.1.4) over the seeds' transcript."""
    m = Material.load()
    known: set[bytes] = set()
    for blob in genuine("device_request"):
        for doc in DeviceRequest.parse(blob).doc_requests:
            assert doc.items_request is not None
            known |= {doc.items_request.raw, sign1_signed_parts(doc.reader_auth)[0]}
            verify_reader_auth(doc.reader_auth, m.transcript, doc.items_request, m.reader_trust, NOW)

    def one(data: bytes) -> None:
        request = DeviceRequest.parse(data)
        for doc in request.doc_requests:
            if doc.reader_auth is None or doc.items_request is None:
                continue
            with contextlib.suppress(DidlibError):
                verify_reader_auth(doc.reader_auth, m.transcript, doc.items_request, m.reader_trust, NOW)
                require({doc.items_request.raw, sign1_signed_parts(doc.reader_auth)[0]} <= known,
                        "readerAuth accepted over an ItemsRequest no reader signed")

    return one


@harness
def qr() -> OneInput:
    """Multi-part QR assembly and unframing (specs: DL1:/DLM: payloads): one scanned text per line."""

    def one(data: bytes) -> None:
        assembler = Assembler()
        for number, line in enumerate(text(data).split("\n")):
            with contextlib.suppress(DidlibError):
                whole = assembler.add(line, now=float(number))
                if whole is not None:
                    unframe(whole)
                    parse_payload(whole)

    return one


def _sd_jwt_parts(presentation: str) -> set[bytes | str]:
    """The signed parts of an SD-JWT VC presentation: both JWS signing inputs and every disclosure."""
    jwt, disclosures, kb = split_sd_jwt(presentation)
    require(kb is not None, "a presentation without key binding verified")
    assert kb is not None
    return {jws_signed_part(jwt), jws_signed_part(kb), *disclosures}


@harness
def sdjwt() -> OneInput:
    """verify_sd_jwt_vc (RFC 9901, SD-JWT VC) with key binding to nonce ``n`` and the issuer audience."""
    m = Material.load()
    known: set[bytes | str] = set()
    for blob in genuine("sdjwt"):
        known |= _sd_jwt_parts(blob.decode())
        seeds_accepted([verify_sd_jwt_vc(blob.decode(), trust=m.trust, nonce="n", aud=AUDIENCE, now=NOW).valid])

    def one(data: bytes) -> None:
        presentation = text(data)
        result = verify_sd_jwt_vc(presentation, trust=m.trust, nonce="n", aud=AUDIENCE, now=NOW)
        if result.valid:
            require(_sd_jwt_parts(presentation) <= known, "an SD-JWT VC verified with a signed part no seed has")

    return one


@harness
def status() -> OneInput:
    """Status list tokens (draft-ietf-oauth-status-list): JWT from the text, CWT from the bytes."""
    m = Material.load()
    known: set[bytes] = set()
    for blob in genuine("status"):
        if blob.startswith(b"ey"):
            known.add(jws_signed_part(blob.decode()))
        else:
            known |= set(sign1_signed_parts(decode(blob))) - {None}  # type: ignore[arg-type]
        StatusListToken.verify(blob.decode() if blob.startswith(b"ey") else blob, trust=m.trust, now=NOW)

    def one(data: bytes) -> None:
        for token in (text(data), data):
            with contextlib.suppress(DidlibError):
                StatusListToken.verify(token, trust=m.trust, now=NOW)
                signed = ({jws_signed_part(token)} if isinstance(token, str)
                          else set(sign1_signed_parts(decode(token))) - {None})
                require(signed <= known, "a status list token verified with a signed part no seed has")
            checker = StatusChecker.from_tokens([token], trust=m.trust)
            state = checker.check(STATUS_URI, 3, NOW).state  # the seeds' list has index 3 revoked
            require(state in ("unknown", "invalid"), f"a status list token no issuer signed says {state!r}")
        with contextlib.suppress(DidlibError):
            StatusList.from_compressed(1 + data[0] % 8 if data else 1, data)

    return one


@harness
def oid4vp_request() -> OneInput:
    """A wallet reading a signed request object (OpenID4VP 1.0 5, x509_san_dns client identifiers)."""
    m = Material.load()
    known = genuine_jws("oid4vp_request", lambda token: parse_request(token, m.reader_trust, now=NOW))

    def one(data: bytes) -> None:
        request_object = text(data)
        parse_request(request_object, m.reader_trust, now=NOW)
        require(jws_signed_part(request_object) in known, "a request object verified that no reader signed")

    return one


def _vp_token_parts(request: PresentationRequest, form: dict[str, str]) -> set[bytes | str]:
    """The signed parts of every SD-JWT VC presentation in a response (decrypted, for direct_post.jwt, as
    the verifier does)."""
    token = request._open(form)["vp_token"]
    token = json.loads(token) if isinstance(token, str) else token
    return {part for presentations in token.values() for one in presentations for part in _sd_jwt_parts(one)}


@harness
def oid4vp_response() -> OneInput:
    """A verifier checking the wallet's direct_post / direct_post.jwt form (OpenID4VP 1.0 8.2, 8.3)."""
    m = Material.load()
    requests = {tag: json.dumps(state) for tag, state in
                json.loads((GENUINE / "oid4vp_requests.json").read_text()).items()}
    known: set[bytes | str] = set()
    for blob in genuine("oid4vp_response"):
        form = dict(urllib.parse.parse_qsl(blob.decode()))
        request = PresentationRequest.from_json(requests["jwe" if "response" in form else "plain"])
        seeds_accepted([request.check(form, trust=m.trust, now=NOW).valid])
        known |= _vp_token_parts(request, form)

    def one(data: bytes) -> None:
        form = dict(urllib.parse.parse_qsl(text(data)))
        for state in requests.values():
            request = PresentationRequest.from_json(state)
            if request.check(form, trust=m.trust, now=NOW).valid:
                require(_vp_token_parts(PresentationRequest.from_json(state), form) <= known,
                        "a response verified with a signed part no seed has")

    return one


@harness
def oid4vci() -> OneInput:
    """A wallet reading a credential offer (OpenID4VCI 1.0 4.1) and an issuer checking a key proof (F.1)."""
    known = genuine_jws("oid4vci", lambda token: verify_proof(token, audience=AUDIENCE, now=NOW))

    def one(data: bytes) -> None:
        with contextlib.suppress(DidlibError):
            CredentialOffer.from_uri(text(data))
        with contextlib.suppress(DidlibError):
            verify_proof(text(data), audience=AUDIENCE, now=NOW)
            require(jws_signed_part(text(data)) in known, "a key proof verified that no key signed")

    return one


@harness
def credential_request() -> OneInput:
    """The issuer service's reading of a ``POST /credential`` body (OpenID4VCI 1.0 8.2, proofs F.1), in-process:
    the JSON with its limits, the request's shape against the service's configurations, then every key proof."""
    known = {jws_signed_part(proof) for body in genuine("credential_request") for proof in _proven(body)}

    def one(data: bytes) -> None:
        request = CredentialRequest.parse(credential_request_json(data), known=CONFIGS, granted=GRANTED,
                                          max_proofs=BATCH)
        require(request.configuration_id in GRANTED and 0 < len(request.proofs) <= BATCH,
                "a request accepted for a configuration not granted or with too many proofs")
        keys, nonces = request.proven_keys(audience=AUDIENCE, now=NOW)
        require(len(keys) == len(request.proofs) and len(nonces) >= 1, "a proof accepted without key or nonce")
        require({jws_signed_part(p) for p in request.proofs} <= known, "a key proof verified that no key signed")

    return one


def _proven(body: bytes) -> Iterable[str]:
    """The proofs of a genuine credential request body, each first proven (or it raises)."""
    request = CredentialRequest.parse(credential_request_json(body), known=CONFIGS, granted=GRANTED, max_proofs=BATCH)
    request.proven_keys(audience=AUDIENCE, now=NOW)
    return request.proofs


class _Port:
    """A GATT port that sends nowhere: the harness only feeds what a peer would send."""

    def __init__(self, mtu: int) -> None:
        self.mtu = mtu

    def send_chunk(self, chunk: bytes, timeout: float) -> None: ...

    def send_state(self, value: int, timeout: float) -> None: ...

    def disconnect(self, timeout: float) -> None: ...


CHUNK, STATE, RECEIVE, LOST = range(4)


def ble_events(data: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """Read a fuzz input as a BLE link's ATT_MTU (first byte) and the events a peer causes: per event a byte
    (``% 4``: a chunk on Server2Client/Client2Server, a State value, the session reading, the link lost), a
    chunk's two-byte length (at most the largest attribute value) and bytes."""
    mtu, events, at = MIN_MTU + 2 * data[0] if data else MIN_MTU, [], 1
    while at < len(data):
        kind, at = data[at] % 4, at + 1
        if kind == CHUNK:
            size = min(int.from_bytes(data[at : at + 2], "big"), MAX_VALUE)
            events.append((kind, data[at + 2 : at + 2 + size]))
            at += 2 + size
        elif kind == STATE:
            events.append((kind, data[at : at + 1]))
            at += 1
        else:
            events.append((kind, b""))
    return mtu, events


def ble_input(mtu: int, events: list[tuple[int, bytes]]) -> bytes:
    """The fuzz input of :func:`ble_events` (seeds are made with it)."""
    out = bytearray([(mtu - MIN_MTU) // 2])
    for kind, value in events:
        out += bytes([kind]) + (len(value).to_bytes(2, "big") if kind == CHUNK else b"") + value
    return bytes(out)


@harness
def ble() -> OneInput:
    """BLE chunk reassembly (18013-5 8.3.3.1.1.6) behind one side of a connection (:class:`BleChannel`), fed
    what a peer could send. Each message read must be the payloads of the chunks since the previous message,
    error or start, joined (none past the limit), and a session the peer ended or the link lost stays so;
    every message read splits at the link's MTU into chunks that fit and that join back to it."""

    def one(data: bytes) -> None:
        mtu, events = ble_events(data)
        channel = BleChannel(_Port(mtu), "server", max_message=BLE_MAX_MESSAGE)
        channel.state_received(bytes([1]))
        pending: list[bytes] = []
        sent: list[bytes] = []  # the messages the chunks carried, in order
        ended = False
        for kind, value in events:
            if kind == CHUNK:
                channel.chunk_received(value)
                if not value or value[0] > 1 or sum(map(len, pending)) + len(value) - 1 > BLE_MAX_MESSAGE:
                    pending = []
                elif value[0] == 1:
                    pending.append(value[1:])
                else:
                    sent.append(b"".join([*pending, value[1:]]))
                    pending = []
            elif kind == STATE:
                channel.state_received(value)
            elif kind == LOST:
                channel.link_lost()
            else:
                try:
                    message = channel.receive(timeout=0)
                except DidlibError as exc:
                    ended = ended or exc.code in ("session_terminated", "connection_lost")
                    continue
                require(not ended, "a message read after the session ended or the link was lost")
                require(bool(sent) and message == sent.pop(0), "a message read that is not the chunks sent, in order")
                _roundtrip(message, mtu)

    return one


def _roundtrip(message: bytes, mtu: int) -> None:
    chunks = split(message, mtu)
    require(all(len(c) <= min(mtu - 3, MAX_VALUE) for c in chunks), "a chunk longer than the link carries")
    require(all(len(c) == chunk_payload_size(mtu) + 1 for c in chunks[:-1]), "a chunk shorter than it could be")
    reassembler = Reassembler(BLE_MAX_MESSAGE)
    joined = [reassembler.feed(c) for c in chunks]
    require(joined[-1] == message and not any(joined[:-1]), "a message split and joined again changed")


@harness
def trustlist() -> OneInput:
    """A verifier reading the signed trust list it downloaded (specs: trust list)."""
    m = Material.load()
    operator = m.operator.public_key()
    known = genuine_jws("trustlist", lambda token: TrustList.verify(token, operator, now=NOW))

    def one(data: bytes) -> None:
        listed = TrustList.verify(text(data), operator, now=NOW)
        require(jws_signed_part(text(data)) in known, "a trust list verified that the operator did not sign")
        listed.issuer_store()
        listed.reader_store()
        for entry in listed.entries:
            require(all(isinstance(c, x509.Certificate) for c in entry.certificates), "certificates not parsed")

    return one


def check(one: OneInput, data: bytes) -> None:
    """Run one input through a harness: a DidlibError is a fine answer, anything else is a finding."""
    with contextlib.suppress(DidlibError):
        one(data)
