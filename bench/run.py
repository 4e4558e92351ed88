"""Benchmarks. Prints one JSON object; every time is also given as a ratio to the raw cryptographic cost
measured in the same run, because absolute times on shared machines are noisy.

    make bench            # or: python bench/run.py --rounds 300 [--no-service]
    (the issuer service is measured on SQLite, and on PostgreSQL when DIDLIB_TEST_POSTGRES names one)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from PIL import Image

from didlib import TrustStore
from didlib.cbor import decode
from didlib.cose import Sign1, _sig_structure
from didlib.jose import b64url_decode
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, Credential, issue_mdoc, present_elements, verify_response
from didlib.mdoc.registry import ONLINE_AGE_ENTITLEMENT
from didlib.mdoc.structures import IssuerSigned, device_authentication_bytes
from didlib.oid4vp import PresentationRequest, age_query, build_response, parse_request
from didlib.pki import chain_cache
from didlib.pkidir import PkiDir
from didlib.presentation import make_oneway, parse_payload
from didlib.qr import codes_for, decode_rgba, qr_image, qr_version
from didlib.samples import flat_claims, proof_of_age_data
from didlib.sdjwt import present_sd_jwt, verify_sd_jwt_vc
from didlib.sdjwt.core import split_sd_jwt
from didlib.sdjwt.profiles import VCT, issue_credential_sd_jwt
from didlib.session import HolderSession, ReaderSession
from didlib.session.transcript import fresh_qr_transcript
from didlib.status import StatusChecker, StatusList, StatusListToken
from didlib.verifier import AgePolicy, TrustData, VerifierEngine


def paired_medians(full: Callable[[], object], raw: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median times of ``full`` and ``raw``, measured alternately so both see the same machine load."""
    full(), raw()  # warm up
    full_times, raw_times = [], []
    for _ in range(rounds):
        for func, times in ((full, full_times), (raw, raw_times)):
            start = time.perf_counter()
            func()
            times.append(time.perf_counter() - start)
    return statistics.median(full_times), statistics.median(raw_times)


def _raw_ecdsa(sign1: Sign1, key: ec.EllipticCurvePublicKey, payload: bytes) -> Callable[[], None]:
    """The bare ECDSA verification of a COSE_Sign1: only the cryptography call, message prebuilt."""
    message = _sig_structure(sign1.protected_raw, payload)
    half = len(sign1.signature) // 2
    der = encode_dss_signature(
        int.from_bytes(sign1.signature[:half], "big"), int.from_bytes(sign1.signature[half:], "big")
    )
    return lambda: key.verify(der, message, ec.ECDSA(hashes.SHA256()))


def _raw_jws(token: str, key: ec.EllipticCurvePublicKey) -> Callable[[], None]:
    """The bare ECDSA verification of a compact JWS (ES256)."""
    head, body, signature = token.split(".")
    raw = b64url_decode(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    message = f"{head}.{body}".encode()
    return lambda: key.verify(der, message, ec.ECDSA(hashes.SHA256()))


def _raw_certificate(cert: x509.Certificate, issuer: x509.Certificate) -> Callable[[], None]:
    """The bare ECDSA verification of a certificate's signature by its issuer."""
    key = issuer.public_key()
    return lambda: key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))


def _in_order(steps: list[Callable[[], None]]) -> Callable[[], None]:
    def run() -> None:
        for step in steps:
            step()

    return run


def _raw_device_response(
    response: bytes, transcript: bytes, signer_cert: x509.Certificate, iaca: x509.Certificate
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The raw cryptography of verifying a one-document DeviceResponse: the three ECDSA verifications of a full
    check (document signer certificate, issuerAuth, deviceSignature, on the same keys and messages), and the
    two left once the chain check is cached. The device key is read from the MSO."""
    doc = decode(response)["documents"][0]
    issuer_auth = Sign1.from_cbor(doc["issuerSigned"]["issuerAuth"])
    device_sig = Sign1.from_cbor(doc["deviceSigned"]["deviceAuth"]["deviceSignature"])
    device_key = IssuerSigned.parse(doc["issuerSigned"]).mso().device_key
    device_payload = device_authentication_bytes(transcript, doc["docType"], doc["deviceSigned"]["nameSpaces"])
    signatures = [
        _raw_ecdsa(issuer_auth, signer_cert.public_key(), issuer_auth.payload),  # type: ignore[arg-type]
        _raw_ecdsa(device_sig, device_key, device_payload),  # type: ignore[arg-type]
    ]
    return _in_order([_raw_certificate(signer_cert, iaca), *signatures]), _in_order(signatures)


def _result(name: str, what: str, raw_what: str, full: float, raw: float, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "what": what,
        **extra,
        "median_seconds": round(full, 7),
        "raw_crypto": raw_what,
        "raw_median_seconds": round(raw, 7),
        "ratio": round(full / raw, 3),
    }


def _pki() -> tuple[PkiDir, TrustStore]:
    tmp = tempfile.mkdtemp(prefix="didlib-bench-")
    pki = PkiDir.create(Path(tmp))
    return pki, TrustStore.from_pem_files([pki.folder / "iaca.pem"])


def _proof_of_age(signer_key: Any, signer_cert: x509.Certificate) -> tuple[Any, Credential]:
    """A device key and a proof of age issued to it (the sample person, a 900-byte portrait)."""
    device = generate_key()
    issued = issue_mdoc(DOCTYPE_AGE, proof_of_age_data(), signer_key=signer_key, signer_chain=[signer_cert],
                        device_key=device.public_key())
    return device, Credential.from_issuer_signed(issued)


def bench_mdoc_verification(rounds: int) -> list[dict[str, object]]:
    pki, trust = _pki()
    iaca = pki.certificate("iaca")
    signer_key, signer_cert = pki.signer()
    device, credential = _proof_of_age(signer_key, signer_cert)
    transcript = fresh_qr_transcript()[0]
    response = present_elements(credential, device, ["age_over_18", "portrait"], transcript)
    now = dt.datetime.now(dt.UTC)
    assert verify_response(response, trust=trust, session_transcript=transcript, now=now).valid

    raw, steady = _raw_device_response(response, transcript, signer_cert, iaca)

    def ours() -> None:
        verify_response(response, trust=trust, session_transcript=transcript, now=now)

    full, raw_cost = paired_medians(ours, raw, rounds)
    again, steady_cost = paired_medians(ours, steady, rounds)
    return [
        _result(
            "mdoc_verify_proof_of_age",
            "verify_response on a proof-of-age DeviceResponse (age_over_18 + portrait, deviceSignature): "
            "chain (cached after the first), issuer signature, MSO, digests, device signature",
            "3 ECDSA P-256 verifications (DS certificate, issuerAuth, deviceSignature)",
            full,
            raw_cost,
            response_bytes=len(response),
            target_ratio=1.3,
            ratio_to_2_signatures=round(again / steady_cost, 3),
        ),
    ]


def alternating_block_medians(
    first: Callable[[], object], second: Callable[[], object], rounds: int, block: int = 5
) -> tuple[float, float]:
    """Median times of two functions, each measured in its own steady state: blocks of ``block`` calls, the
    first call of each block left out, the blocks alternating so that both see the same machine load.

    For two functions of very different weights: right after a few milliseconds of another library's Python,
    the next call of anything runs on cold caches (a raw ECDSA verification then takes a third longer), so
    call-by-call alternation charges one side for the other's footprint."""
    first(), second()  # warm up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(max(rounds // block, 1)):
        for func, kept in ((first, times[0]), (second, times[1])):
            for index in range(block + 1):
                start = time.perf_counter()
                func()
                if index:
                    kept.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _pymdoccbor_response(pki: PkiDir, trust: TrustStore) -> tuple[bytes, bytes, dict[str, object]] | None:
    """A DeviceResponse whose IssuerSigned pyMDOC-CBOR issued (``MdocCborIssuer.new``: its MSO, its CBOR
    encoding of the items, its COSE signature through pycose), with the document signer of ``pki`` and a
    device key held here; or None when pyMDOC-CBOR is not installed.

    pyMDOC-CBOR has no holder side: its DeviceResponse carries ``issuerSigned`` only (no ``deviceSigned``,
    no DeviceAuthentication, no SessionTranscript anywhere in the package). So the device signature over a
    fresh QR transcript is added by didlib's holder (:func:`present_elements`), which keeps every byte
    pyMDOC-CBOR wrote for the disclosed items and for issuerAuth. Returns the response, the transcript and
    what the response is made of."""
    try:
        from pymdoccbor.mdoc.issuer import MdocCborIssuer
    except ImportError:
        return None
    from didlib.keys import cose_key_from_public

    signer_key, signer_cert = pki.signer()
    device = generate_key()
    ours = Credential.from_issuer_signed(
        issue_mdoc(DOCTYPE_AGE, proof_of_age_data(), signer_key=signer_key, signer_chain=[signer_cert],
                   device_key=device.public_key())
    )
    # the same elements and values as the project's proof of age; full-dates as pyMDOC-CBOR takes them (text,
    # tagged 1004 by its own table of element names)
    data = {
        ns: {item.identifier: item.value.value if isinstance(item.value, cbor2.CBORTag) else item.value
             for item in items}
        for ns, items in ours.issuer_signed.namespaces.items()
    }
    today = dt.datetime.now(dt.UTC).date()
    issuer = MdocCborIssuer(
        private_key={"KTY": "EC2", "CURVE": "P_256", "ALG": "ES256", "KID": b"ds",
                     "D": signer_key.private_numbers().private_value.to_bytes(32, "big")},
        alg="ES256",
    )
    issuer.new(data=data, doctype=DOCTYPE_AGE, devicekeyinfo=cose_key_from_public(device.public_key()),
               x509_chain=[signer_cert],
               validity={"issuance_date": today.isoformat(),
                         "expiry_date": (today + dt.timedelta(days=90)).isoformat()})
    issued = decode(issuer.dump())["documents"][0]
    credential = Credential.from_issuer_signed(IssuerSigned.parse(issued["issuerSigned"]))
    transcript = fresh_qr_transcript()[0]
    response = present_elements(credential, device, ["age_over_18", "portrait"], transcript)
    result = verify_response(response, trust=trust, session_transcript=transcript, now=dt.datetime.now(dt.UTC))
    assert result.valid and result.documents[0].device_auth == "signature", result.errors
    return response, transcript, {"issuer": "pyMDOC-CBOR MdocCborIssuer.new", "device_signature": "didlib holder"}


def _pymdoccbor_comparison(rounds: int) -> list[dict[str, object]]:
    """The DeviceResponse of :func:`_pymdoccbor_response`, verified by didlib (chain to the IACA, issuer
    signature, MSO, digests, device signature) and by pyMDOC-CBOR itself (``MdocCbor.loads`` + ``verify``:
    chain, issuer signature and digests; it does not check device authentication). Each is measured in its
    own steady state, in alternating blocks (see :func:`alternating_block_medians`), and didlib also against
    the three raw verifications, alternately as everywhere else."""
    pki, trust = _pki()
    made = _pymdoccbor_response(pki, trust)
    if made is None:
        return [{"name": "mdoc_verify_pymdoccbor", "skipped": "pymdoccbor is not installed (pip install '.[bench]')"}]
    from pymdoccbor.mdoc.verifier import MdocCbor

    response, transcript, made_of = made
    iaca = pki.certificate("iaca")
    now = dt.datetime.now(dt.UTC)
    raw, _ = _raw_device_response(response, transcript, pki.signer()[1], iaca)

    def ours() -> None:
        assert verify_response(response, trust=trust, session_transcript=transcript, now=now).valid

    def theirs() -> None:
        mdoc = MdocCbor()
        mdoc.loads(response)
        assert mdoc.verify(trusted_root_certs=[iaca])

    other, mine = alternating_block_medians(theirs, ours, max(rounds // 3, 30))
    full, raw_cost = paired_medians(ours, raw, rounds)
    return [
        _result(
            "mdoc_verify_pymdoccbor",
            "a proof-of-age DeviceResponse whose IssuerSigned pyMDOC-CBOR issued (device signature by didlib's "
            "holder: pyMDOC-CBOR has none), verified by didlib's verify_response, and by pyMDOC-CBOR's "
            "MdocCbor.loads + verify(trusted_root_certs=[IACA]) (chain, issuer signature, digests; no device "
            "authentication); each library in its own steady state, in alternating blocks",
            "3 ECDSA P-256 verifications (DS certificate, issuerAuth, deviceSignature)",
            full,
            raw_cost,
            response_bytes=len(response),
            made_of=made_of,
            pymdoccbor_median_seconds=round(other, 7),
            didlib_block_median_seconds=round(mine, 7),
            didlib_times_faster=round(other / mine, 2),
            target="didlib at least 8x faster than pyMDOC-CBOR, at most 1.5x the three raw verifications",
        )
    ]


def bench_sd_jwt_verification(rounds: int) -> list[dict[str, object]]:
    pki, trust = _pki()
    iaca = pki.certificate("iaca")
    signer_key, signer_cert = pki.signer()
    holder = generate_key()
    now = dt.datetime.now(dt.UTC)
    credential = issue_credential_sd_jwt(
        VCT[DOCTYPE_AGE],
        flat_claims(proof_of_age_data()),
        signer_key=signer_key,
        signer_chain=[signer_cert],
        holder_key=holder.public_key(),
        now=now,
    )
    presentation = present_sd_jwt(credential, holder, ["age_over_18", "portrait"], nonce="n", aud="a", now=now)
    jwt_part, _, kb = split_sd_jwt(presentation)
    issuer_sig = _raw_jws(jwt_part, signer_cert.public_key())
    kb_sig = _raw_jws(kb, holder.public_key())
    results = []
    for label, options, steps, raw_what in (
        (
            "x5c",
            {"trust": trust},
            [_raw_certificate(signer_cert, iaca), issuer_sig, kb_sig],
            "3 ECDSA P-256 verifications (x5c certificate, issuer JWT, KB-JWT)",
        ),
        (
            "issuer_key",
            {"issuer_key": signer_cert.public_key()},
            [issuer_sig, kb_sig],
            "2 ECDSA P-256 verifications (issuer JWT, KB-JWT)",
        ),
    ):
        assert verify_sd_jwt_vc(presentation, nonce="n", aud="a", now=now, **options).valid
        full, raw = paired_medians(
            lambda options=options: verify_sd_jwt_vc(presentation, nonce="n", aud="a", now=now, **options),
            _in_order(steps),
            rounds,
        )
        extra = {}
        if label == "x5c":  # the certificate check comes from the chain cache after the first call
            again, steady = paired_medians(
                lambda: verify_sd_jwt_vc(presentation, nonce="n", aud="a", now=now, trust=trust),
                _in_order(steps[1:]),
                rounds,
            )
            extra["ratio_to_2_signatures"] = round(again / steady, 3)
        results.append(
            _result(
                f"sd_jwt_verify_proof_of_age_{label}",
                f"verify_sd_jwt_vc on a proof-of-age presentation (age_over_18 + portrait, KB-JWT), "
                f"issuer trusted by {label}",
                raw_what,
                full,
                raw,
                presentation_bytes=len(presentation),
                target_ratio=1.4,
                **extra,
            )
        )
    return results


def bench_status_lookup(rounds: int) -> list[dict[str, object]]:
    pki, trust = _pki()
    signer_key, signer_cert = pki.signer()
    size, uri = 1_000_000, "https://dvla.example.invalid/status/1"
    status_list = StatusList(size, 2)
    for index in random.Random(1).sample(range(size), 10_000):
        status_list.set(index, 1)
    token = StatusListToken.create_jwt(uri, status_list, signer_key, chain=[signer_cert])
    one_signature = _raw_jws(token, signer_cert.public_key())
    indexes = iter(random.Random(2).choices(range(size), k=rounds + 2))
    checker = StatusChecker({uri: token}, trust=trust)
    lookup, raw = paired_medians(lambda: checker.check(uri, next(indexes)), one_signature, rounds)
    cold, raw_cold = paired_medians(
        lambda: StatusChecker({uri: token}, trust=trust).check(uri, 17), one_signature, max(rounds // 10, 5)
    )
    return [
        _result(
            "status_lookup_cached_1M",
            "StatusChecker.check on a verified 1,000,000-entry 2-bit list",
            "1 ECDSA P-256 verification (for scale)",
            lookup,
            raw,
            token_bytes=len(token),
        ),
        _result(
            "status_first_check_1M",
            "first check: verify the token, inflate 250 KB, look up",
            "1 ECDSA P-256 verification (the token signature)",
            cold,
            raw_cold,
            token_bytes=len(token),
        ),
    ]


def bench_qr_scan_to_verdict(rounds: int) -> list[dict[str, object]]:
    """The shop counter: find and read the QR codes in 1280x720 camera frames, then verify and decide."""
    pki, _ = _pki()
    iaca = pki.certificate("iaca")
    signer_key, signer_cert = pki.signer()
    device, credential = _proof_of_age(signer_key, signer_cert)
    text = make_oneway(credential, device)
    codes = codes_for(text)
    ecc = "L" if len(codes) == 1 else "M"
    frames = []
    for code in codes:
        frame = Image.new("RGBA", (1280, 720), (96, 108, 100, 255))
        frame.paste(qr_image(code, ecc, box_size=4).convert("RGBA"), (380, 40))
        frames.append(frame.tobytes())
    store = TrustStore([iaca], [signer_cert])

    def scan_to_verdict() -> None:
        engine = VerifierEngine(AgePolicy(18), TrustData(store))
        verdict = None
        for frame in frames:
            (found,) = decode_rgba(frame, 1280, 720)
            verdict = engine.scan(found)
        assert verdict is not None and verdict.decision == "accept"

    payload = parse_payload(text)
    raw, _ = _raw_device_response(payload.response, payload.transcript, signer_cert, iaca)
    full, raw_cost = paired_medians(scan_to_verdict, raw, max(rounds // 5, 20))
    return [
        _result(
            "qr_scan_to_verdict_proof_of_age",
            f"decode {len(codes)} QR code(s) from 1280x720 RGBA frames, assemble, verify, apply the age:18 policy",
            "3 ECDSA P-256 verifications",
            full,
            raw_cost,
            payload_characters=len(text),
            response_bytes=len(payload.response),
            codes=len(codes),
            qr_versions=[qr_version(c, ecc) for c in codes],
            qr_level=ecc,
            target="one code <= v30-L, or <= 2 codes <= v25-M",
        )
    ]


def bench_video_frames_per_second() -> dict[str, object]:
    """The till's camera: 1280x720 video frames read, converted to grey and searched for QR codes, on one
    core (OpenCV limited to one thread; zxing-cpp reads on the calling thread), through didlib.scanner."""
    import cv2

    from didlib.qr import decode_luminance
    from didlib.scanner import VideoSource, write_code_video

    pki, _ = _pki()
    signer_key, signer_cert = pki.signer()
    device, credential = _proof_of_age(signer_key, signer_cert)
    codes = codes_for(make_oneway(credential, device))
    video = write_code_video(codes, Path(tempfile.mkdtemp(prefix="didlib-bench-")) / "till.avi",
                             frames_per_code=30, rounds=2)
    cv2.setNumThreads(1)
    best, read = 0.0, 0
    for _ in range(3):  # the best of three runs: other work on a shared machine only ever slows a run down
        source = VideoSource(video)
        start, frames, read = time.perf_counter(), 0, 0
        for frame in source.frames():
            frames += 1
            read += bool(decode_luminance(frame.luminance, frame.width, frame.height))
        best = max(best, frames / (time.perf_counter() - start))
    assert read == frames, "every frame's code is read, blur and noise notwithstanding"
    return {
        "name": "video_frames_per_second",
        "what": f"1280x720 MJPG video of a phone showing {len(codes)} code(s) with blur and noise: VideoSource "
        "reads and greys each frame, decode_luminance reads its code; one core",
        "frames_per_second": round(best, 1),
        "frames": frames,
        "frames_with_a_code_read": read,
        "goal": ">= 20 frames per second",
    }


def _raw_two_party(first: Any, second: Any, ca: x509.Certificate, leaf: x509.Certificate) -> Callable[[], None]:
    """The raw cost shared by the session and OpenID4VP round trips: 2 key generations and 2 ECDH, a
    signature by each party, one certificate verification and 4 signature verifications."""
    a, b = generate_key(), generate_key()
    message = b"x" * 600
    signature = first.sign(message, ec.ECDSA(hashes.SHA256()))

    def raw() -> None:
        generate_key(), generate_key()
        a.exchange(ec.ECDH(), b.public_key()), b.exchange(ec.ECDH(), a.public_key())
        first.sign(message, ec.ECDSA(hashes.SHA256()))
        second.sign(message, ec.ECDSA(hashes.SHA256()))
        ca.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
        for _ in range(4):
            first.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))

    return raw


class _Parties(NamedTuple):
    """Both sides of an ISO 18013-5 proof-of-age session."""

    pki: PkiDir
    trust: TrustStore
    device: Any
    credential: Credential
    reader_cas: TrustStore
    reader_key: Any
    reader_cert: x509.Certificate
    request: dict[str, dict[str, dict[str, bool]]]

    @classmethod
    def create(cls) -> _Parties:
        pki, trust = _pki()
        device, credential = _proof_of_age(*pki.signer())
        return cls(pki, trust, device, credential, TrustStore.from_pem_files([pki.folder / "reader-ca.pem"]),
                   pki.key("reader"), pki.certificate("reader"),
                   {DOCTYPE_AGE: {"uk.gov.dvla.age.1": {"age_over_18": False, "portrait": False}}})

    def raw(self) -> Callable[[], None]:
        return _raw_two_party(self.reader_key, self.device, self.pki.certificate("reader-ca"), self.reader_cert)


def bench_session_round_trip(rounds: int) -> dict[str, object]:
    """ISO 18013-5 proximity session in memory: engagement, reader-authenticated request, consent, response."""
    _, trust, device, credential, reader_cas, reader_key, reader_cert, request = parties = _Parties.create()

    def round_trip() -> None:
        holder = HolderSession([(credential, device)], reader_trust=reader_cas)
        reader = ReaderSession(holder.qr_uri(), request, trust=trust, reader_key=reader_key, reader_chain=[reader_cert])
        holder.receive(reader.start())
        assert reader.receive(holder.respond()).valid

    # The raw cryptography of one round trip: the reader signs and the wallet checks readerAuth (chain +
    # signature), the wallet signs, the reader checks its 3 signatures.
    raw = parties.raw()

    full, raw_cost = paired_medians(round_trip, raw, max(rounds // 5, 20))
    return _result(
        "iso_session_round_trip",
        "HolderSession + ReaderSession in memory: engagement URI, "
        "encrypted reader-authenticated request, encrypted response, full verification",
        "2 key generations, 2 ECDH, 2 ECDSA signatures, 5 ECDSA verifications",
        full,
        raw_cost,
    )


def bench_ble_session(rounds: int) -> list[dict[str, object]]:
    """A proof-of-age session over ISO 18013-5 BLE on Bumble's virtual controllers (no radio), at two MTUs:
    the time from scanning the engagement to the verified answer, and the bytes the link carried."""
    return [_ble_session_at(mtu, max(rounds // 30, 5)) for mtu in (185, 512)]


def _ble_session_at(mtu: int, rounds: int) -> dict[str, object]:
    import threading

    from didlib.session import run_reader, serve_holder
    from didlib.session.ble.bumble_stack import VirtualLink
    from didlib.session.ble.connect import BleHolder, reader_transport

    _, trust, device, credential, reader_cas, reader_key, reader_cert, request = parties = _Parties.create()
    virtual = VirtualLink()
    carried = [0]
    send = virtual.link.send_acl_data

    def counting(sender: Any, destination: Any, transport: Any, data: bytes) -> None:
        carried[0] += len(data)  # L2CAP + ATT, both directions, discovery and subscriptions included
        send(sender, destination, transport, data)

    virtual.link.send_acl_data = counting  # type: ignore[method-assign]
    phone, till = virtual.adapter("phone"), virtual.adapter("till")
    phone.max_mtu = till.max_mtu = mtu
    last: dict[str, int] = {}

    def session() -> None:
        ble = BleHolder(phone)
        holder = HolderSession([(credential, device)], reader_trust=reader_cas, retrieval_methods=[ble.method])
        channels = []

        def serve() -> None:
            channel = ble.open(holder.engagement, 20)
            channels.append(channel)
            serve_holder(holder, channel, lambda pending: {d.doctype: d.allowed() for d in pending.documents}, 20)
            channel.close()
            ble.close()

        phone_side = threading.Thread(target=serve)
        phone_side.start()
        before = carried[0]
        reader = ReaderSession(holder.qr_uri(), request, trust=trust, reader_key=reader_key, reader_chain=[reader_cert])
        link = reader_transport(reader.engagement, till, timeout=20)
        assert run_reader(reader, link.transport, 20).valid
        link.close()
        phone_side.join(20)
        sent = [link.transport, *channels]
        last.update(
            bytes_on_link=carried[0] - before,
            message_chunks=sum(c.chunks_sent for c in sent),  # type: ignore[attr-defined]
            message_chunk_bytes=sum(c.bytes_sent for c in sent),  # type: ignore[attr-defined]
        )

    full, raw_cost = paired_medians(session, parties.raw(), rounds)
    virtual.close()
    return _result(
        f"ble_session_mtu_{mtu}",
        f"proof-of-age session over BLE (Bumble virtual link, mdoc peripheral server mode, ATT_MTU {mtu}): scan, "
        "connect, MTU exchange, discovery, subscriptions, reader-authenticated request, response, verification, "
        "end signal",
        "2 key generations, 2 ECDH, 2 ECDSA signatures, 5 ECDSA verifications",
        full,
        raw_cost,
        mtu=mtu,
        **last,
    )


def bench_openid4vp_round_trip(rounds: int) -> dict[str, object]:
    """A website's age check over OpenID4VP, without HTTP: request, wallet check, encrypted mdoc answer, verdict."""
    pki, trust = _pki()
    signer_key, signer_cert = pki.signer()
    device, credential = _proof_of_age(signer_key, signer_cert)
    reader_cas = TrustStore.from_pem_files([pki.folder / "reader-ca.pem"])
    site_key, site_chain = pki.website_reader("shop.example", organisation="Shop", entitlement=ONLINE_AGE_ENTITLEMENT)
    query = age_query(18)

    def round_trip() -> None:
        request = PresentationRequest.create("shop.example", "https://shop.example/r", query)
        asked = parse_request(request.request_object(site_key, site_chain), reader_cas)
        assert request.check(build_response(asked, [], [(credential, device)]).form, trust=trust).valid

    # The raw cryptography: the request's encryption key and the JWE's ephemeral key, their ECDH; the website
    # and the device sign; the reader chain and request, the signer chain, issuer and device signatures.
    raw = _raw_two_party(site_key, device, pki.certificate("reader-ca"), site_chain[0])

    full, raw_cost = paired_medians(round_trip, raw, max(rounds // 5, 20))
    return _result(
        "openid4vp_round_trip",
        "PresentationRequest + signed request object, wallet parse_request, build_response (mdoc, "
        "direct_post.jwt), PresentationRequest.check",
        "2 key generations, 2 ECDH, 2 ECDSA signatures, 5 ECDSA verifications",
        full,
        raw_cost,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--no-service", action="store_true", help="skip the issuer service benchmarks")
    args = parser.parse_args(argv)
    results = [
        *bench_mdoc_verification(args.rounds),
        *_pymdoccbor_comparison(args.rounds),
        *bench_sd_jwt_verification(args.rounds),
        *bench_status_lookup(args.rounds),
        *bench_qr_scan_to_verdict(args.rounds),
        bench_video_frames_per_second(),
        bench_session_round_trip(args.rounds),
        bench_openid4vp_round_trip(args.rounds),
        *bench_ble_session(args.rounds),
    ]
    if not args.no_service:
        from issuer import bench_issuer

        results += bench_issuer()
    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
                "rounds": args.rounds,
                "certificate_chain_cache": chain_cache.stats(),
                "results": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
