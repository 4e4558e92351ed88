"""Write the fuzzing seeds: genuine objects made by the project's own issuing code with a fixed dev PKI.

``python tests/fuzz/seeds.py [HARNESS...]`` (re)writes ``tests/fuzz/corpus/<harness>/`` and the state the harnesses read
(``tests/fuzz/genuine/``). The PKI in ``genuine/pki`` is made once and kept, so seeds written at different
times verify alike; every time is the fixed :data:`harnesses.NOW`. Genuine inputs are named ``genuine-*``:
the verifier harnesses take their signed parts as the only ones a mutated input may carry and still verify.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import urllib.parse
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402
from harnesses import (  # noqa: E402 (the harness module sits beside this script)
    AUDIENCE,
    BLE_MAX_MESSAGE,
    CHUNK,
    CORPUS,
    GENUINE,
    GRANTED,
    HOST,
    LOST,
    NOW,
    RECEIVE,
    RESPONSE_URI,
    STATE,
    STATUS_URI,
    Material,
    ble_input,
)

from didlib.cbor import Embedded, encode  # noqa: E402
from didlib.files import write_private  # noqa: E402
from didlib.keys import generate_key, private_key_pem  # noqa: E402
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_MDL, Credential, DeviceRequest, issue_mdoc, present_elements  # noqa: E402
from didlib.mdoc.registry import ONLINE_AGE_ENTITLEMENT  # noqa: E402
from didlib.oid4vci import CredentialOffer, make_proof  # noqa: E402
from didlib.oid4vp import PresentationRequest, age_query, build_response, parse_request  # noqa: E402
from didlib.pkidir import PkiDir  # noqa: E402
from didlib.presentation.qrflows import make_oneway  # noqa: E402
from didlib.qr import frame, split  # noqa: E402
from didlib.samples import flat_claims, mdl_data, portrait_jpeg, proof_of_age_data  # noqa: E402
from didlib.sdjwt import present_sd_jwt  # noqa: E402
from didlib.sdjwt.profiles import VCT, issue_credential_sd_jwt  # noqa: E402
from didlib.session import DeviceEngagement, RetrievalMethod  # noqa: E402
from didlib.session.ble.framing import split as ble_split  # noqa: E402
from didlib.session.ble.gatt import STATE_END  # noqa: E402
from didlib.session.engagement import BleOptions  # noqa: E402
from didlib.session.messages import SessionData, establishment  # noqa: E402
from didlib.session.reader_auth import sign_reader_auth  # noqa: E402
from didlib.session.transcript import fresh_qr_transcript, reader_key_bytes  # noqa: E402
from didlib.status import StatusList, StatusListToken  # noqa: E402
from didlib.trustlist import TrustList, TrustListEntry  # noqa: E402

VECTORS = HERE.parent / "vectors"


def make_pki() -> None:
    """The fixed dev PKI (kept in the repository): made once, never rewritten by later runs."""
    pki_dir = GENUINE / "pki"
    if (pki_dir / "iaca.pem").exists():
        return
    PkiDir.create(pki_dir, now=NOW - dt.timedelta(days=30))
    for name in ("device", "holder", "operator"):
        write_private(pki_dir / f"{name}.key", private_key_pem(generate_key()))
    website = PkiDir(pki_dir).website_reader(HOST, organisation="Example Shop", entitlement=ONLINE_AGE_ENTITLEMENT,
                                             now=NOW - dt.timedelta(days=1))
    write_private(pki_dir / "website.key", private_key_pem(website[0]))
    (pki_dir / "website.pem").write_bytes(website[1][0].public_bytes(Encoding.PEM))
    (GENUINE / "transcript.cbor").write_bytes(fresh_qr_transcript()[0])


def write(harness: str, name: str, data: bytes | str) -> None:
    """Write one seed, of the harnesses named on the command line only when any are (``seeds.py ble``):
    signatures differ run to run, so rewriting every corpus for a new harness would churn them all."""
    if sys.argv[1:] and harness not in sys.argv[1:]:
        return
    folder = CORPUS / harness
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)


def main() -> None:
    make_pki()
    m = Material.load()
    signer_key, signer_cert = m.pki.signer()
    portrait = portrait_jpeg(7, max_bytes=900)

    def mdoc(doctype: str, data: dict[str, object]) -> Credential:
        issued = issue_mdoc(doctype, data, signer_key=signer_key, signer_chain=[signer_cert],
                            device_key=m.device.public_key(), now=NOW)
        return Credential.from_bytes(Credential.from_issuer_signed(issued).to_bytes())

    licence = mdoc(DOCTYPE_MDL, mdl_data(today=NOW.date(), portrait=portrait))
    age = mdoc(DOCTYPE_AGE, proof_of_age_data(today=NOW.date(), portrait=portrait))
    vectors = json.loads((VECTORS / "iso18013-5-annexD.json").read_text())["vectors"]
    annex_d = {k: bytes.fromhex(v["hex"]) for k, v in vectors.items()}

    # CBOR and DeviceResponse
    for name, elements, credential in (("licence", ["age_over_18", "family_name", "portrait"], licence),
                                       ("age", ["age_over_18"], age),
                                       ("licence-privileges", ["driving_privileges", "birth_date"], licence)):
        response = present_elements(credential, m.device, elements, m.transcript)
        write("device_response", f"genuine-{name}", response)
        write("cbor", name, response)
    write("device_response", "annex-d", annex_d["DEVICE_RESPONSE"])
    write("cbor", "annex-d-request", annex_d["DEVICE_REQUEST"])
    write("cbor", "nested", encode({"a": [1, -1, b"x", 1.5, None, True, Embedded.wrap({"b": [[[]]]})]}))

    # DeviceEngagement and mdoc: URIs
    e_key = generate_key().public_key()
    for name, methods in (("plain", None), ("ble", [RetrievalMethod.ble(BleOptions(uuid.UUID(int=1)))]),
                          ("lan", [RetrievalMethod.local_network("127.0.0.1", 8443)])):
        engagement = DeviceEngagement.create(e_key, methods)
        write("engagement", f"{name}.cbor", engagement.raw)
        write("engagement", f"{name}.uri", engagement.to_uri())
    write("engagement", "annex-d.cbor", annex_d["DEVICE_ENGAGEMENT"])

    # SessionEstablishment / SessionData
    write("session", "annex-d-establishment", annex_d["SESSION_ESTABLISHMENT"])
    write("session", "annex-d-data", annex_d["SESSION_DATA"])
    write("session", "establishment", establishment(reader_key_bytes(generate_key().public_key()), b"\0" * 40))
    write("session", "data", SessionData(b"\1" * 32, None).encode())
    write("session", "termination", SessionData(None, 20).encode())

    # DeviceRequest with readerAuth (signed over the fixed transcript)
    reader_key, reader_cert = m.pki.key("reader"), m.pki.certificate("reader")
    for name, doctype, names in (("age", DOCTYPE_AGE, ["age_over_18", "portrait"]),
                                 ("licence", DOCTYPE_MDL, ["age_over_18"])):
        plain = DeviceRequest.for_elements(doctype, {doctype if doctype == DOCTYPE_AGE else "org.iso.18013.5.1":
                                                     dict.fromkeys(names, False)})
        request = encode({"version": "1.0", "docRequests": [
            {"itemsRequest": items, "readerAuth": sign_reader_auth(reader_key, [reader_cert], m.transcript, items)}
            for items in (d.to_cbor()["itemsRequest"] for d in plain.doc_requests)]})
        write("device_request", f"genuine-{name}", request)
        write("device_request", f"unsigned-{name}", plain.encode())
    write("device_request", "annex-d", annex_d["DEVICE_REQUEST"])

    # QR payload assembly and unframing
    oneway = make_oneway(age, m.device, now=NOW)
    write("qr", "oneway", oneway)
    write("qr", "oneway-parts", "\n".join(split(oneway, len(oneway) // 3 + 40)))
    write("qr", "framed-list", frame([1, b"\0" * 16, Embedded.wrap({"a": 1}), b"x"]))

    # SD-JWT VC presentations
    sd_jwts = {}
    for doctype, data in ((DOCTYPE_AGE, proof_of_age_data(today=NOW.date(), portrait=portrait)),
                          (DOCTYPE_MDL, mdl_data(today=NOW.date(), portrait=portrait))):
        sd_jwts[doctype] = issue_credential_sd_jwt(VCT[doctype], flat_claims(data), signer_key=signer_key,
                                                   signer_chain=[signer_cert], holder_key=m.holder.public_key(),
                                                   now=NOW)
    for name, doctype, disclose in (("age", DOCTYPE_AGE, ["age_over_18"]),
                                    ("licence", DOCTYPE_MDL, ["age_over_18", "family_name", "given_name"])):
        write("sdjwt", f"genuine-{name}",
              present_sd_jwt(sd_jwts[doctype], m.holder, disclose, nonce="n", aud=AUDIENCE, now=NOW))

    sd_vectors = json.loads((VECTORS / "sd-jwt-examples.json").read_text())["examples"]
    for example in sd_vectors[:4]:  # RFC 9901's examples: other issuers, other shapes
        if example.get("sd_jwt_presentation"):
            write("sdjwt", f"rfc9901-{example['name']}", example["sd_jwt_presentation"])

    # Status list tokens, JWT and CWT, signed by the document signer (x5c / x5chain)
    statuses = StatusList(64)
    statuses.set(3, 1)
    write("status", "genuine-jwt",
          StatusListToken.create_jwt(STATUS_URI, statuses, signer_key, now=NOW, chain=[signer_cert]))
    write("status", "genuine-cwt",
          StatusListToken.create_cwt(STATUS_URI, statuses, signer_key, now=NOW, chain=[signer_cert]))

    status_vectors = json.loads((VECTORS / "token-status-list-examples.json").read_text())
    write("status", "draft-jwt", status_vectors["status_list_token_jwt"]["compact"])
    write("status", "draft-cwt", bytes.fromhex(status_vectors["status_list_token_cwt"]["hex"]))

    # OpenID4VP request objects (wallet side) and responses (verifier side, JWE included)
    website = (m.pki.key("website"), [m.pki.certificate("website")])
    requests = {}
    for encrypted in (True, False):
        request = PresentationRequest.create(HOST, RESPONSE_URI, age_query(18), encrypted=encrypted, now=NOW)
        request_object = request.request_object(*website)
        tag = "jwe" if encrypted else "plain"
        write("oid4vp_request", f"genuine-{tag}", request_object)
        requests[tag] = json.loads(request.to_json())
        parsed = parse_request(request_object, m.reader_trust, now=NOW)
        form = build_response(parsed, [(sd_jwts[DOCTYPE_AGE], m.holder)], [], now=NOW).form
        write("oid4vp_response", f"genuine-{tag}", urllib.parse.urlencode(form))
    if not sys.argv[1:] or "oid4vp_response" in sys.argv[1:]:  # the state its genuine responses answer
        (GENUINE / "oid4vp_requests.json").write_text(json.dumps(requests, indent=1, sort_keys=True) + "\n")

    # OpenID4VCI credential offers and key proofs
    write("oid4vci", "offer", CredentialOffer(AUDIENCE, ["uk.gov.dvla.age.1"], "code-123").uri())
    write("oid4vci", "genuine-proof", make_proof(m.holder, AUDIENCE, "nonce-1", now=NOW))
    write("oid4vci", "genuine-proof-no-nonce", make_proof(m.device, AUDIENCE, None, now=NOW, client_id="wallet"))

    # The issuer's credential request bodies (POST /credential): a batch whose proofs share the c_nonce, one
    # proof, and requests refused for their shape
    def body(config: str, proofs: list[str], **more: object) -> str:
        return json.dumps({"credential_configuration_id": config, "proofs": {"jwt": proofs}} | more)

    write("credential_request", "genuine-batch", body(GRANTED[0], [make_proof(key, AUDIENCE, "nonce-1", now=NOW)
                                                                   for key in (m.holder, m.device)]))
    write("credential_request", "genuine-one", body(GRANTED[1], [make_proof(m.device, AUDIENCE, "nonce-2", now=NOW)]))
    write("credential_request", "no-nonce", body(GRANTED[0], [make_proof(m.holder, AUDIENCE, None, now=NOW)]))
    write("credential_request", "encryption", body(GRANTED[0], [], credential_response_encryption={"enc": "A"}))
    write("credential_request", "identifier", json.dumps({"credential_identifier": "CivilEngineeringDegree-2023"}))

    # BLE chunks as a peer sends them (the Annex D session messages at the smallest, a common and the largest
    # MTU), the session reading each message, then the peer's end signal; and a broken chunk between two messages
    messages = [annex_d["SESSION_ESTABLISHMENT"], annex_d["SESSION_DATA"]]
    for mtu in (23, 185, 517):
        events = [event for message in messages
                  for event in [*((CHUNK, chunk) for chunk in ble_split(message, mtu)), (RECEIVE, b"")]]
        write("ble", f"annex-d-mtu{mtu}", ble_input(mtu, [*events, (STATE, bytes([STATE_END])), (RECEIVE, b"")]))
    write("ble", "broken-chunk", ble_input(185, [(CHUNK, b"\1abc"), (CHUNK, b"\7x"), (RECEIVE, b""),
                                                 (CHUNK, b"\0whole"), (RECEIVE, b""), (LOST, b""), (RECEIVE, b"")]))
    write("ble", "too-long", ble_input(517, [(CHUNK, b"\1" + b"x" * 511)] * (BLE_MAX_MESSAGE // 511 + 1)
                                       + [(CHUNK, b"\0"), (RECEIVE, b"")]))

    # The trust list
    entry = TrustListEntry("DVLA", "issuer", [m.pki.certificate("iaca")], [signer_cert], [STATUS_URI])
    readers = TrustListEntry("Readers", "reader_ca", [m.pki.certificate("reader-ca")])
    trust_list = TrustList("Trust operator", NOW - dt.timedelta(hours=1), NOW + dt.timedelta(days=30), [entry, readers])
    write("trustlist", "genuine-list", trust_list.sign(m.operator))
    write("trustlist", "genuine-readers-only", TrustList("Trust operator", NOW, NOW + dt.timedelta(days=1),
                                                         [readers]).sign(m.operator))


if __name__ == "__main__":
    main()
