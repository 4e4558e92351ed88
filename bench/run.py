"""Benchmarks. Prints one JSON object; every time is also given as a ratio to the raw cryptographic cost
measured in the same run, because absolute times on shared machines are noisy.

    make bench            # or: python bench/run.py --rounds 300
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from didlib import TrustStore
from didlib.cbor import decode
from didlib.cose import Sign1, _sig_structure
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, Credential, issue_mdoc, present_elements, verify_response
from didlib.mdoc.structures import device_authentication_bytes
from didlib.pkidir import PkiDir
from didlib.samples import portrait_jpeg, proof_of_age_data
from didlib.session.transcript import fresh_qr_transcript


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
    der = encode_dss_signature(int.from_bytes(sign1.signature[:half], "big"),
                               int.from_bytes(sign1.signature[half:], "big"))
    return lambda: key.verify(der, message, ec.ECDSA(hashes.SHA256()))


def bench_mdoc_verification(rounds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        pki = PkiDir.create(Path(tmp))
        trust = TrustStore.from_pem_files([pki.folder / "iaca.pem"])
        iaca = pki.certificate("iaca")
        signer_key, signer_cert = pki.signer()
    device = generate_key()
    issued = issue_mdoc(DOCTYPE_AGE, proof_of_age_data(portrait=portrait_jpeg(3)), signer_key=signer_key,
                        signer_chain=[signer_cert], device_key=device.public_key())
    credential = Credential.from_issuer_signed(issued)
    transcript = fresh_qr_transcript()[0]
    response = present_elements(credential, device, ["age_over_18", "portrait"], transcript)
    now = dt.datetime.now(dt.UTC)
    assert verify_response(response, trust=trust, session_transcript=transcript, now=now).valid

    # The three ECDSA verifications a full verification performs, on the same keys and messages.
    doc = decode(response)["documents"][0]
    issuer_auth = Sign1.from_cbor(doc["issuerSigned"]["issuerAuth"])
    device_sig = Sign1.from_cbor(doc["deviceSigned"]["deviceAuth"]["deviceSignature"])
    device_payload = device_authentication_bytes(transcript, DOCTYPE_AGE, doc["deviceSigned"]["nameSpaces"])
    iaca_key = iaca.public_key()
    raw_steps = [
        lambda: iaca_key.verify(signer_cert.signature, signer_cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256())),
        _raw_ecdsa(issuer_auth, signer_cert.public_key(), issuer_auth.payload),
        _raw_ecdsa(device_sig, device.public_key(), device_payload),
    ]

    def raw() -> None:
        for step in raw_steps:
            step()

    full, raw_cost = paired_medians(
        lambda: verify_response(response, trust=trust, session_transcript=transcript, now=now), raw, rounds)
    return {
        "name": "mdoc_verify_proof_of_age",
        "what": "verify_response on a proof-of-age DeviceResponse (age_over_18 + portrait, deviceSignature): "
                "chain, issuer signature, MSO, digests, device signature",
        "response_bytes": len(response),
        "median_seconds": round(full, 7),
        "raw_crypto": "3 ECDSA P-256 verifications (DS certificate, issuerAuth, deviceSignature)",
        "raw_median_seconds": round(raw_cost, 7),
        "ratio": round(full / raw_cost, 3),
        "target_ratio": 2.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)
    results = [bench_mdoc_verification(args.rounds)]
    print(json.dumps({"python": platform.python_version(), "machine": platform.machine(), "rounds": args.rounds,
                      "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
