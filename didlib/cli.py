"""The ``didlib`` command: a thin shell over the library for operators, demos and tests.

Exit codes: 0 valid / done, 1 invalid (verification failed, data rejected), 2 usage error or unreadable
input. Verification prints one JSON object on standard output; errors go to standard error as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from didlib.cbor import Embedded, decode
from didlib.errors import BadKey, DecodeError, DidlibError, UsageError
from didlib.files import locked, read_limited, write_private
from didlib.jose import b64url_decode, b64url_encode, parse_json, public_from_jwk
from didlib.jsonview import to_json
from didlib.keys import PublicKey, generate_key, load_private_key, load_public_key, private_key_pem
from didlib.mdoc import Credential, issue_mdoc, present_elements, verify_response
from didlib.mdoc.registry import ONLINE_AGE_ENTITLEMENT
from didlib.mdoc.verifier import VerificationResult
from didlib.oid4vp import PresentationRequest, age_query, build_response, parse_dc_api_request, parse_request
from didlib.oid4vp.dc_api import choose_request, navigator_options, read_answer
from didlib.pki import common_name_of
from didlib.pkidir import PkiDir
from didlib.presentation import make_oneway
from didlib.qr import codes_for, decode_image, qr_png, qr_terminal, qr_version
from didlib.sdjwt import present_sd_jwt, verify_sd_jwt_vc
from didlib.sdjwt.profiles import VCT, issue_credential_sd_jwt
from didlib.session.transcript import fresh_qr_transcript
from didlib.status import StatusChecker, StatusList
from didlib.trust import TrustStore
from didlib.trustlist import ISSUER, READER_CA, TrustList, TrustListEntry
from didlib.verifier import ReplayCache, TrustData, Verdict, VerifierEngine, policy_from_text
from didlib.verifier.state import Counts, StateDb

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
EXIT_PIPE = 128 + 13  # as a process ended by SIGPIPE reports it
MAX_INPUT_FILE = 4 << 20
STATE_FILE = "verifier.sqlite"  # in --state DIR: nonces and counts, shared by tills running at once


class _Usage(Exception):
    """Raised inside commands for unreadable input (exit 2)."""


def _read(path: str | Path, what: str) -> bytes:
    try:
        return read_limited(path, MAX_INPUT_FILE, what)
    except UsageError as exc:
        raise _Usage(exc.message) from exc


def _write(path: str | Path, data: bytes) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise _Usage(f"cannot write {path}: {exc.strerror}") from exc


def _transcript(path: str) -> bytes:
    data = _read(path, "session transcript")
    try:
        value = decode(data)
    except DecodeError as exc:
        raise _Usage(f"session transcript {path} is not CBOR: {exc}") from exc
    if isinstance(value, Embedded):  # accept SessionTranscriptBytes (tag 24) as well as the bare array
        data, value = value.content, value.decode()
    if not isinstance(value, list) or len(value) != 3:
        raise _Usage(f"session transcript {path} must be a CBOR array of three elements")
    return data


def _now(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _Usage(f"--now {text!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _split(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


# ------------------------------------------------------------------------------------------- commands
def cmd_pki_init(args: argparse.Namespace) -> int:
    PkiDir.create(args.dir, country=args.country, issuer=args.issuer, overwrite=args.force)
    print(json.dumps({"pki": str(args.dir), "files": sorted(p.name for p in Path(args.dir).iterdir())}))
    return EXIT_OK


def cmd_keygen(args: argparse.Namespace) -> int:
    if Path(args.out).exists() and not args.force:
        raise _Usage(f"{args.out} exists; refusing to overwrite a key (use --force)")
    key = generate_key(args.type)
    write_private(args.out, private_key_pem(key))
    return EXIT_OK


def cmd_issue_mdoc(args: argparse.Namespace) -> int:
    try:
        data = json.loads(_read(args.data, "credential data"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Usage(f"{args.data} is not JSON: {exc}") from exc
    pki = PkiDir(Path(args.pki))
    signer_key, signer_cert = pki.signer()
    device_key = load_public_key(args.device_key)
    issued = issue_mdoc(
        args.doctype,
        data,
        signer_key=signer_key,
        signer_chain=[signer_cert],
        device_key=device_key,
        now=_now(args.now),
        valid_for=dt.timedelta(days=args.valid_days) if args.valid_days else None,
    )
    credential = Credential.from_issuer_signed(issued)
    _write(args.out, credential.to_bytes())
    print(
        json.dumps(
            {
                "docType": credential.doctype,
                "validUntil": to_json(credential.mso.valid_until),
                "elements": {ns: sorted(els) for ns, els in credential.elements().items()},
            }
        )
    )
    return EXIT_OK


def _credential(path: str) -> Credential:
    try:
        return Credential.from_bytes(_read(path, "credential"))
    except DidlibError as exc:
        raise _Usage(f"{path} is not a readable mdoc credential: {exc.message}") from exc


def cmd_present_mdoc(args: argparse.Namespace) -> int:
    credential = _credential(args.credential)
    device_key = load_private_key(args.device_key)
    response = present_elements(
        credential, device_key, _split(args.disclose), _transcript(args.transcript), mac=args.mac
    )
    _write(args.out, response)
    return EXIT_OK


def result_json(result: VerificationResult) -> dict[str, Any]:
    """The documented JSON shape of a verification result."""
    return {
        "valid": result.valid,
        "documents": [
            {
                "docType": doc.doctype,
                "issuer": doc.issuer,
                "elements": to_json(doc.elements),
                "deviceAuth": doc.device_auth,
                "validUntil": to_json(doc.valid_until),
                "valid": doc.valid,
                "checks": doc.checks,
                "notReturned": doc.not_returned,
                "warnings": doc.warnings,
                "status": doc.status.as_dict() if doc.status else None,
            }
            for doc in result.documents
        ],
        "errors": [p.as_dict() for p in result.errors],
    }


def cmd_verify_mdoc(args: argparse.Namespace) -> int:
    data = _read(args.response, "response")
    trust = _trust(args.trust)
    reader_key = load_private_key(args.reader_key) if args.reader_key else None
    result = verify_response(
        data,
        trust=trust,
        session_transcript=_transcript(args.transcript),
        reader_key=reader_key,
        now=_now(args.now),
        status_checker=_status_checker(args.status_token, trust),
    )
    print(json.dumps(result_json(result), indent=2))
    return EXIT_OK if result.valid else EXIT_INVALID


def _trust_data(paths: list[str], operator: str | None, status_files: list[str] | None) -> TrustData:
    """``--trust``: PEM files/folders, or a signed trust list (checked with the pinned ``--operator`` key)."""
    lists = [p for p in paths if Path(p).is_file() and _read(p, "trust file")[:3] == b"eyJ"]
    if not lists:
        store = _trust(paths)
        return TrustData(store, _status_checker(status_files, store))
    if len(lists) != 1 or len(paths) != 1:
        raise _Usage("give one trust list, or PEM files, not both")
    if operator is None:
        raise _Usage("a trust list needs --operator (the trust list operator's public key)")
    token = _text(lists[0], "trust list")
    try:
        trust_list = TrustList.verify(token, load_public_key(operator))
    except DidlibError as exc:
        raise _Usage(f"trust list not accepted: {exc.message}") from exc
    store = trust_list.issuer_store()
    fetched = dt.datetime.fromtimestamp(Path(lists[0]).stat().st_mtime, dt.UTC)
    return TrustData(store, _status_checker(status_files, store), fetched_at=fetched)


def cmd_check(args: argparse.Namespace) -> int:
    """The till: read QR codes (images or text), decide, print the verdict. Keeps only nonces and counts."""
    if args.camera:
        raise _Usage("this build has no camera support; pass QR images or --payload (the verifier app has a camera)")
    if not args.images and not args.payload and not args.video:
        raise _Usage("give QR images, --payload TEXT, --video FILE or --camera")
    texts: list[str] = list(args.payload or [])
    for image in args.images:
        try:
            found = decode_image(image)
        except DidlibError as exc:
            raise _Usage(exc.message) from exc
        if not found:
            raise _Usage(f"no QR code found in {image}")
        texts.extend(found)
    state = StateDb(Path(args.state) / STATE_FILE) if args.state else None
    engine = VerifierEngine(
        policy_from_text(args.policy),
        _trust_data(args.trust, args.operator, args.status_token),
        replay=ReplayCache(state),
        window=dt.timedelta(seconds=args.window),
        clock=_clock(_now(args.now)),
    )
    verdict = _scan_video(args.video, engine) if args.video else None
    for text in texts:
        verdict = engine.scan(text) or verdict
    if verdict is None:
        progress = engine.progress()
        raise _Usage(f"the QR codes are incomplete: {progress}")
    if state:
        Counts(state).add(verdict.decision)
    print(json.dumps(verdict.as_json(), indent=2))
    return EXIT_OK if verdict.decision == "accept" else EXIT_INVALID


def _scan_video(path: str, engine: VerifierEngine) -> Verdict | None:
    """``check --video``: the video's frames through the apps' own frame-to-verdict path (didlib.scanner)."""
    from didlib.scanner import VideoSource, scan_video

    source = VideoSource(path)
    try:
        return scan_video(source, engine, source.fps)
    finally:
        source.close()


def _clock(fixed: dt.datetime | None) -> Callable[[], dt.datetime]:
    return (lambda: fixed) if fixed is not None else (lambda: dt.datetime.now(dt.UTC))


def cmd_present_qr(args: argparse.Namespace) -> int:
    """The wallet's one-way QR: one PNG, or QR-1.png, QR-2.png ... when the presentation is split."""
    try:
        credential = Credential.from_bytes(_read(args.credential, "credential"))
    except DidlibError as exc:
        raise _Usage(f"{args.credential} is not a readable mdoc credential: {exc.message}") from exc
    disclose = _split(args.disclose or ["age_over_18,portrait"])
    text = make_oneway(credential, load_private_key(args.device_key), disclose, now=_now(args.now))
    codes = codes_for(text)
    out = Path(args.out)
    names = (
        [out] if len(codes) == 1 else [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, len(codes) + 1)]
    )
    ecc = "L" if len(codes) == 1 else "M"
    for name, code in zip(names, codes, strict=True):
        _write(name, qr_png(code, ecc))
        if args.terminal:
            print(qr_terminal(code, ecc), file=sys.stderr)
    print(
        json.dumps(
            {
                "files": [str(n) for n in names],
                "versions": [qr_version(c, ecc) for c in codes],
                "level": ecc,
                "characters": len(text),
            }
        )
    )
    return EXIT_OK


def cmd_trustlist_create(args: argparse.Namespace) -> int:
    """A signed trust list naming each PKI folder's IACA, document signer and reader CA."""
    entries = []
    for folder in args.pki:
        pki = PkiDir(Path(folder))
        iaca = pki.certificate("iaca")
        entries.append(
            TrustListEntry(common_name_of(iaca), ISSUER, [iaca], [pki.certificate("ds")], list(args.status_uri or []))
        )
        reader_ca = pki.certificate("reader-ca")
        entries.append(TrustListEntry(common_name_of(reader_ca), READER_CA, [reader_ca]))
    now = _now(args.now) or dt.datetime.now(dt.UTC)
    trust_list = TrustList(args.operator_name, now, now + dt.timedelta(days=args.days), entries)
    _write(args.out, trust_list.sign(load_private_key(args.operator_key)).encode())
    print(json.dumps({"entries": len(entries), "expires": trust_list.expires.strftime("%Y-%m-%dT%H:%M:%SZ")}))
    return EXIT_OK


def cmd_transcript_new(args: argparse.Namespace) -> int:
    """A QR-engagement SessionTranscript with fresh ephemeral keys, for demos and tests."""
    transcript, reader_ephemeral = fresh_qr_transcript()
    _write(args.out, transcript)
    if args.reader_key_out:
        _write(args.reader_key_out, private_key_pem(reader_ephemeral))
    return EXIT_OK


def _status_checker(files: list[str] | None, trust: TrustStore | None) -> StatusChecker | None:
    """Cached status list tokens from files: JWT as text, CWT as binary."""
    if not files:
        return None
    tokens: list[str | bytes] = []
    for file in files:
        data = _read(file, "status list token")
        try:
            tokens.append(data.decode("ascii").strip())
        except UnicodeDecodeError:
            tokens.append(data)
    return StatusChecker.from_tokens(tokens, trust=trust)


def _trust(paths: list[str]) -> TrustStore:
    try:
        trust = TrustStore.from_pem_files(paths)
    except DidlibError as exc:
        raise _Usage(f"trust anchors: {exc.message}") from exc
    if not len(trust):
        raise _Usage("no trust anchors were loaded (--trust)")
    return trust


def _text(path: str, what: str) -> str:
    try:
        return _read(path, what).decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise _Usage(f"{what} {path} is not ASCII text") from exc


def cmd_issue_sd_jwt(args: argparse.Namespace) -> int:
    try:
        claims = json.loads(_read(args.data, "credential claims"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Usage(f"{args.data} is not JSON: {exc}") from exc
    if (args.status_uri is None) != (args.status_idx is None):
        raise _Usage("--status-uri and --status-idx go together")
    signer_key, signer_cert = PkiDir(Path(args.pki)).signer()
    status = {"idx": args.status_idx, "uri": args.status_uri} if args.status_uri else None
    credential = issue_credential_sd_jwt(
        args.vct,
        claims,
        signer_key=signer_key,
        signer_chain=[signer_cert],
        holder_key=load_public_key(args.holder_key),
        now=_now(args.now),
        status=status,
        valid_for=dt.timedelta(days=args.valid_days) if args.valid_days else None,
    )
    _write(args.out, credential.encode())
    print(json.dumps({"vct": args.vct, "disclosures": credential.count("~") - 1}))
    return EXIT_OK


def cmd_present_sd_jwt(args: argparse.Namespace) -> int:
    presentation = present_sd_jwt(
        _text(args.credential, "credential"),
        load_private_key(args.holder_key),
        _split(args.disclose),
        nonce=args.nonce,
        aud=args.aud,
        now=_now(args.now),
    )
    _write(args.out, presentation.encode())
    return EXIT_OK


def _issuer_key(path: str) -> PublicKey:
    data = _read(path, "issuer key")
    if data.lstrip().startswith(b"{"):
        try:
            return public_from_jwk(json.loads(data))
        except json.JSONDecodeError as exc:
            raise _Usage(f"{path} is not a JWK: {exc}") from exc
    return load_public_key(data)


def cmd_verify_sd_jwt(args: argparse.Namespace) -> int:
    presentation = _text(args.presentation, "presentation")
    trust = _trust(args.trust) if args.trust else None
    key = _issuer_key(args.issuer_key) if args.issuer_key else None
    result = verify_sd_jwt_vc(
        presentation,
        trust=trust,
        issuer_key=key,
        nonce=args.nonce,
        aud=args.aud,
        now=_now(args.now),
        expected_vct=args.vct or None,
        status_checker=_status_checker(args.status_token, trust),
    )
    print(
        json.dumps(
            {
                "valid": result.valid,
                "vct": result.vct,
                "issuer": result.issuer,
                "claims": result.claims,
                "status": result.status.as_dict() if result.status else None,
                "errors": [p.as_dict() for p in result.errors],
            },
            indent=2,
        )
    )
    return EXIT_OK if result.valid else EXIT_INVALID


def cmd_vp_request(args: argparse.Namespace) -> int:
    """A website's side, part 1: an age check request signed with a new reader certificate naming ``--host``."""
    key, chain = PkiDir(Path(args.pki)).website_reader(args.host, organisation=args.organisation,
                                                 entitlement=ONLINE_AGE_ENTITLEMENT)
    if args.dc_api:  # OpenID4VP 1.0 Appendix A: the page hands the options to navigator.credentials.get
        if not args.origin:
            raise _Usage("--dc-api needs --origin (the page's origin, e.g. https://shop.example)")
        try:
            dc_request = PresentationRequest.create_dc_api(args.origin, age_query(args.age), host=args.host,
                                                           encrypted=not args.plain)
        except DecodeError as exc:
            raise _Usage(exc.message) from exc
        options = navigator_options(dc_request, (key, chain))
        _write(args.out, json.dumps(options).encode())
        write_private(args.state, dc_request.to_json().encode())
        print(json.dumps({"origin": dc_request.origin, "client_id": dc_request.client_id,
                          "protocols": [r["protocol"] for r in options["digital"]["requests"]],
                          "response_mode": dc_request.response_mode}))
        return EXIT_OK
    request = PresentationRequest.create(args.host, args.response_uri or f"https://{args.host}/response",
                                         age_query(args.age), encrypted=not args.plain)
    _write(args.out, request.request_object(key, chain).encode())
    write_private(args.state, request.to_json().encode())
    link = request.uri(args.request_uri or f"https://{args.host}/request")
    print(json.dumps({"client_id": request.client_id, "link": link, "response_mode": request.response_mode}))
    return EXIT_OK


def cmd_vp_answer(args: argparse.Namespace) -> int:
    """The wallet's side: check who asks, then write the form it would POST (only what was asked)."""
    if (args.sd_jwt and not args.holder_key) or (args.mdoc and not args.device_key):
        raise _Usage("--sd-jwt needs --holder-key and --mdoc needs --device-key")
    if args.origin:  # over the DC API: the navigator.credentials.get options, and the origin the browser asserts
        protocol, data = choose_request(parse_json(_read(args.request, "request options")))
        asked = parse_dc_api_request(protocol, data, args.origin, _trust(args.reader_trust), now=_now(args.now))
    else:
        asked = parse_request(_text(args.request, "request object"), _trust(args.reader_trust), now=_now(args.now))
    sd_jwts = [(_text(path, "SD-JWT VC"), load_private_key(args.holder_key)) for path in args.sd_jwt or []]
    mdocs = [(_credential(path), load_private_key(args.device_key)) for path in args.mdoc or []]
    answer = build_response(asked, sd_jwts, mdocs, now=_now(args.now))
    _write(args.out, json.dumps(answer.form).encode())
    print(json.dumps({"client_id": asked.client_id, "reader": asked.asker, "claims": asked.requested_claims()}))
    return EXIT_OK


def cmd_vp_check(args: argparse.Namespace) -> int:
    """A website's side, part 2: verify the posted form against the saved request; a request is answered once."""
    with locked(args.state):  # read, check, mark answered: one process at a time, so one answer is valid
        try:
            request = PresentationRequest.from_json(_read(args.state, "saved request"))
            raw = _read(args.form, "response form")
            form = parse_json(raw)
            if request.origin is not None and isinstance(form, dict) and "protocol" in form:
                form = read_answer(raw)  # the DigitalCredential as the page posts it: {protocol, data}
        except DecodeError as exc:
            raise _Usage(exc.message) from exc
        if not isinstance(form, dict):
            raise _Usage(f"{args.form} must hold a JSON object (the form fields)")
        trust = _trust(args.trust)
        result = request.check(form, trust=trust, now=_now(args.now),
                               status_checker=_status_checker(args.status_token, trust))
        write_private(args.state, request.to_json().encode())
    print(json.dumps({"valid": result.valid, "claims": result.claims, "credential": result.credential_id,
                      "errors": [p.as_dict() for p in result.errors]}, indent=2))
    return EXIT_OK if result.valid else EXIT_INVALID


def cmd_status_encode(args: argparse.Namespace) -> int:
    try:
        values = [int(v) for v in _split(args.values)]
    except ValueError as exc:
        raise _Usage("--values takes whole numbers separated by commas") from exc
    if not values:
        raise _Usage("--values is empty")
    status_list = StatusList(len(values), args.bits)
    for index, value in enumerate(values):
        status_list.set(index, value)
    print(json.dumps({"bits": args.bits, "lst": b64url_encode(status_list.compressed())}))
    return EXIT_OK


def cmd_status_decode(args: argparse.Namespace) -> int:
    try:
        status_list = StatusList.from_compressed(args.bits, b64url_decode(args.lst))
    except DidlibError as exc:
        raise _Usage(f"not a status list: {exc.message}") from exc
    entries = {str(i): v for i in range(status_list.size) if (v := status_list.get(i))}
    print(json.dumps({"bits": args.bits, "size": status_list.size, "nonZero": entries}))
    return EXIT_OK


# --------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="didlib", description="Issue, present and verify mdoc and SD-JWT VC credentials."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    pki = sub.add_parser("pki", help="development PKI").add_subparsers(dest="pki_command", required=True)
    init = pki.add_parser("init", help="write an IACA, document signer, reader CA and reader certificate")
    init.add_argument("dir")
    init.add_argument("--country", default="GB")
    init.add_argument("--issuer", default="DVLA", help="issuer name used in certificate common names")
    init.add_argument("--force", action="store_true", help="overwrite existing keys")
    init.set_defaults(func=cmd_pki_init)

    keygen = sub.add_parser("keygen", help="write a new private key (PKCS#8 PEM)")
    keygen.add_argument("out")
    keygen.add_argument("--type", default="P-256", choices=["P-256", "P-384", "P-521", "Ed25519"])
    keygen.add_argument("--force", action="store_true")
    keygen.set_defaults(func=cmd_keygen)

    issue = sub.add_parser("issue", help="issue a credential").add_subparsers(dest="format", required=True)
    mdoc = issue.add_parser("mdoc", help="issue an ISO 18013-5 mdoc (IssuerSigned CBOR)")
    mdoc.add_argument("--doctype", required=True)
    mdoc.add_argument("--data", required=True, help="JSON {namespace: {element: value}}")
    mdoc.add_argument("--pki", required=True, help="folder written by 'didlib pki init'")
    mdoc.add_argument("--device-key", required=True, help="holder device key (private or public PEM)")
    mdoc.add_argument("--out", required=True)
    mdoc.add_argument("--valid-days", type=int)
    mdoc.add_argument("--now", help="issue as of this ISO 8601 time")
    mdoc.set_defaults(func=cmd_issue_mdoc)

    sd = issue.add_parser("sd-jwt", help="issue an SD-JWT VC (text)")
    sd.add_argument("--vct", required=True, help="one of " + ", ".join(VCT.values()))
    sd.add_argument("--data", required=True, help="JSON {claim: value}")
    sd.add_argument("--pki", required=True)
    sd.add_argument("--holder-key", required=True, help="holder key (private or public PEM), bound in cnf.jwk")
    sd.add_argument("--out", required=True)
    sd.add_argument("--status-uri")
    sd.add_argument("--status-idx", type=int)
    sd.add_argument("--valid-days", type=int)
    sd.add_argument("--now")
    sd.set_defaults(func=cmd_issue_sd_jwt)

    present = sub.add_parser("present", help="present a credential").add_subparsers(dest="format", required=True)
    pm = present.add_parser("mdoc", help="write a DeviceResponse disclosing chosen elements")
    pm.add_argument("credential")
    pm.add_argument("--device-key", required=True)
    pm.add_argument("--transcript", required=True, help="CBOR SessionTranscript array")
    pm.add_argument("--disclose", required=True, action="append", help="ELEMENT[,ELEMENT...] or ns:element")
    pm.add_argument("--out", required=True)
    pm.add_argument("--mac", action="store_true", help="deviceMac instead of deviceSignature")
    pm.set_defaults(func=cmd_present_mdoc)

    ps = present.add_parser("sd-jwt", help="disclose chosen claims with a key binding JWT")
    ps.add_argument("credential")
    ps.add_argument("--holder-key", required=True)
    ps.add_argument("--disclose", required=True, action="append", help="CLAIM[,CLAIM...] or parent.child")
    ps.add_argument("--nonce", required=True)
    ps.add_argument("--aud", required=True)
    ps.add_argument("--out", required=True)
    ps.add_argument("--now")
    ps.set_defaults(func=cmd_present_sd_jwt)

    verify = sub.add_parser("verify", help="verify a presentation").add_subparsers(dest="format", required=True)
    vm = verify.add_parser("mdoc", help="verify a DeviceResponse; prints JSON")
    vm.add_argument("response")
    vm.add_argument("--trust", required=True, action="append", help="IACA PEM file or folder (repeatable)")
    vm.add_argument("--transcript", required=True)
    vm.add_argument("--reader-key", help="reader ephemeral private key, for deviceMac")
    vm.add_argument("--now", help="verify as of this ISO 8601 time")
    vm.add_argument("--status-token", action="append", help="cached status list token (JWT text or CWT)")
    vm.set_defaults(func=cmd_verify_mdoc)

    vs = verify.add_parser("sd-jwt", help="verify an SD-JWT VC presentation; prints JSON")
    vs.add_argument("presentation")
    who = vs.add_mutually_exclusive_group(required=True)
    who.add_argument("--trust", action="append", help="IACA PEM file or folder (x5c is checked against it)")
    who.add_argument("--issuer-key", help="issuer public key as JWK (JSON) or PEM")
    vs.add_argument("--nonce", required=True)
    vs.add_argument("--aud", required=True)
    vs.add_argument("--vct", action="append", help="accept only this vct (repeatable)")
    vs.add_argument("--now")
    vs.add_argument("--status-token", action="append", help="cached status list token (JWT text or CWT)")
    vs.set_defaults(func=cmd_verify_sd_jwt)

    status = sub.add_parser("status", help="status lists").add_subparsers(dest="scmd", required=True)
    enc = status.add_parser("encode", help="values -> {bits, lst}")
    enc.add_argument("--bits", type=int, choices=[1, 2, 4, 8], required=True)
    enc.add_argument("--values", required=True, action="append", help="0,1,2,... one value per index")
    enc.set_defaults(func=cmd_status_encode)
    dec = status.add_parser("decode", help="lst -> the non-zero entries")
    dec.add_argument("--bits", type=int, choices=[1, 2, 4, 8], required=True)
    dec.add_argument("lst", help="base64url zlib status list")
    dec.set_defaults(func=cmd_status_decode)

    pq = present.add_parser("qr", help="the one-way QR code(s) of a presentation, as PNG")
    pq.add_argument("credential")
    pq.add_argument("--device-key", required=True)
    pq.add_argument("--disclose", action="append", help="ELEMENT[,ELEMENT...] (default: age_over_18,portrait)")
    pq.add_argument("--out", required=True, help="QR.png (QR-1.png, QR-2.png ... when split)")
    pq.add_argument("--terminal", action="store_true", help="also draw the codes on standard error")
    pq.add_argument("--now")
    pq.set_defaults(func=cmd_present_qr)

    check = sub.add_parser("check", help="the till: verify QR codes against a policy; prints the verdict")
    check.add_argument("images", nargs="*", help="PNG/JPEG pictures of the QR code(s)")
    check.add_argument("--policy", required=True, help="age:16 | age:18 | age:21 | age:25 | volunteer | peer")
    check.add_argument("--trust", required=True, action="append", help="PEM files/folders or one trust list")
    check.add_argument("--operator", help="trust list operator public key (PEM), when --trust is a trust list")
    check.add_argument("--payload", action="append", help="QR text instead of an image (repeatable)")
    check.add_argument("--camera", action="store_true", help="scan with a camera (the verifier app)")
    check.add_argument("--video", help="a video file of the QR code(s), read frame by frame (needs didlib[apps])")
    check.add_argument("--state", help="folder for the replay cache and the counts")
    check.add_argument("--window", type=int, default=60, help="freshness window in seconds (default 60)")
    check.add_argument("--status-token", action="append", help="cached status list token (JWT text or CWT)")
    check.add_argument("--now")
    check.set_defaults(func=cmd_check)

    tl = sub.add_parser("trustlist", help="signed trust lists").add_subparsers(dest="tlcmd", required=True)
    tlc = tl.add_parser("create", help="sign a trust list naming the issuers and reader CAs of PKI folders")
    tlc.add_argument("--pki", required=True, action="append")
    tlc.add_argument("--operator-key", required=True)
    tlc.add_argument("--operator-name", default="didlib demo trust list")
    tlc.add_argument("--status-uri", action="append", help="status list URI to publish with the issuers")
    tlc.add_argument("--days", type=int, default=30)
    tlc.add_argument("--out", required=True)
    tlc.add_argument("--now")
    tlc.set_defaults(func=cmd_trustlist_create)

    vp = sub.add_parser("vp", help="OpenID4VP: a website's age check").add_subparsers(dest="vpcmd", required=True)
    vr = vp.add_parser("request", help="write a signed request object and the saved request; prints the link")
    vr.add_argument("--pki", required=True, help="folder with the reader CA (reader-ca.pem/.key)")
    vr.add_argument("--host", required=True, help="the website's DNS name (client_id x509_san_dns:HOST)")
    vr.add_argument("--organisation", default="Example Shop")
    vr.add_argument("--age", type=int, default=18)
    vr.add_argument("--response-uri", help="default https://HOST/response")
    vr.add_argument("--request-uri", help="where the request object is served; default https://HOST/request")
    vr.add_argument("--plain", action="store_true", help="direct_post (dc_api) instead of an encrypted "
                    "direct_post.jwt (dc_api.jwt)")
    vr.add_argument("--dc-api", action="store_true", help="for the W3C Digital Credentials API: --out gets the "
                    "navigator.credentials.get options (signed and unsigned OpenID4VP requests)")
    vr.add_argument("--origin", help="with --dc-api: the page's origin (https://HOST[:PORT])")
    vr.add_argument("--out", required=True, help="the request object (JWT)")
    vr.add_argument("--state", required=True, help="the saved request, with its private key (mode 600)")
    vr.set_defaults(func=cmd_vp_request)
    va = vp.add_parser("answer", help="check a request object and write the wallet's response form (JSON)")
    va.add_argument("request")
    va.add_argument("--reader-trust", action="append", required=True, help="reader CA certificate(s)")
    va.add_argument("--origin", help="the request is a Digital Credentials API one (navigator.credentials.get "
                    "options) from the page at this origin; --out gets the DigitalCredential's data")
    va.add_argument("--sd-jwt", action="append", help="an SD-JWT VC (text)")
    va.add_argument("--holder-key", help="the SD-JWT VC's holder key")
    va.add_argument("--mdoc", action="append", help="an mdoc (Credential CBOR)")
    va.add_argument("--device-key", help="the mdoc's device key")
    va.add_argument("--out", required=True)
    va.add_argument("--now")
    va.set_defaults(func=cmd_vp_answer)
    vc = vp.add_parser("check", help="verify a response form (or a DC API DigitalCredential or its data) against "
                       "the saved request; prints JSON")
    vc.add_argument("form")
    vc.add_argument("--state", required=True)
    vc.add_argument("--trust", action="append", required=True, help="issuer IACA certificate(s)")
    vc.add_argument("--status-token", action="append", default=[], help="cached Status List Token(s)")
    vc.add_argument("--now")
    vc.set_defaults(func=cmd_vp_check)

    transcript = sub.add_parser("transcript", help="session transcripts").add_subparsers(dest="tcmd", required=True)
    tn = transcript.add_parser("new", help="write a QR-engagement SessionTranscript with fresh keys")
    tn.add_argument("--out", required=True)
    tn.add_argument("--reader-key-out", help="also write the reader's ephemeral private key (for deviceMac)")
    tn.set_defaults(func=cmd_transcript_new)
    return parser


def _error(code: str, message: str) -> None:
    print(json.dumps({"error": {"code": code, "message": message}}), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # inside the try, so a reader that has gone is noticed here (--help included)
    except BrokenPipeError:
        # The reader went away (``didlib ... | head``): stop quietly, as other command-line tools do. Python
        # would otherwise print a traceback, and again when it flushes stdout at exit: point stdout at devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except _Usage as exc:
        _error("usage", str(exc))
        return EXIT_USAGE
    except (UsageError, BadKey) as exc:
        _error(exc.code, exc.message)
        return EXIT_USAGE
    except DidlibError as exc:
        _error(exc.code, exc.message)
        return EXIT_INVALID


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
