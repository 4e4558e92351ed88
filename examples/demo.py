"""End-to-end demo on the embedded defaults: a development PKI in files, one driving licence.

The DVLA issues a licence to a fictional driver's phone; at a shop the phone discloses only
``age_over_18`` and ``portrait``; the till verifies it. Then a tampered copy is rejected.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from didlib import TrustStore
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_MDL, Credential, issue_mdoc, present_elements, verify_response
from didlib.mdoc.registry import NS_ISO
from didlib.pkidir import PkiDir
from didlib.presentation import make_oneway
from didlib.qr import codes_for, decode_image, qr_png
from didlib.samples import SAMPLE_DRIVER, mdl_data, proof_of_age_data
from didlib.session import HolderSession, ReaderSession
from didlib.session.transcript import fresh_qr_transcript
from didlib.verifier import AgePolicy, TrustData, VerifierEngine


def show(title: str, result) -> None:
    verdict = "VALID" if result.valid else "REJECTED"
    print(f"\n== {title}: {verdict}")
    for doc in result.documents:
        print(f"   document   {doc.doctype} from {doc.issuer} ({doc.device_auth or 'no'} device authentication)")
        for check, passed in doc.checks.items():
            print(f"   {'ok  ' if passed else 'FAIL'}       {check}")
        for ns, elements in (doc.elements if doc.valid else {}).items():
            for name, value in elements.items():
                shown = f"<{len(value)}-byte JPEG>" if isinstance(value, bytes) else value
                print(f"   disclosed  {ns}/{name} = {shown}")
    for problem in result.errors:
        print(f"   error      {problem.code}: {problem.message}")


def session_demo(pki: PkiDir, licence: Credential, phone_key, trust: TrustStore) -> bool:
    """The same check over an ISO 18013-5 session: QR engagement, reader authentication, encryption."""
    print("\n== ISO 18013-5 session at the counter")
    reader_cas = TrustStore.from_pem_files([pki.folder / "reader-ca.pem"])
    phone = HolderSession([(licence, phone_key)], reader_trust=reader_cas)
    uri = phone.qr_uri()
    print(f"   phone shows QR  {uri[:40]}... ({len(uri)} characters)")
    till = ReaderSession(uri, {DOCTYPE_MDL: {NS_ISO: {"age_over_18": False, "portrait": False, "family_name": False}}},
                         trust=trust, reader_key=pki.key("reader"), reader_chain=[pki.certificate("reader")])
    pending = phone.receive(till.start())
    asked = pending.documents[0]
    names = ", ".join(e for els in asked.elements.values() for e in els)
    print(f"   phone: {pending.reader.name} (verified) asks for {names}")
    print(f"   phone: not entitled to {asked.beyond_entitlement}; shares only {asked.allowed()}")
    result = till.receive(phone.respond())
    show("Till verifies the session response", result)
    return result.valid and "family_name" not in result.documents[0].elements.get(NS_ISO, {})


def qr_demo(pki: PkiDir, phone_key, folder: Path) -> bool:
    """The shop counter with no network: a proof of age as QR codes, read back from the PNG files."""
    print("\n== Proof of age as a one-way QR code at a till with no network")
    signer_key, signer_cert = pki.signer()
    proof = Credential.from_issuer_signed(issue_mdoc(DOCTYPE_AGE, proof_of_age_data(), signer_key=signer_key,
                                                     signer_chain=[signer_cert], device_key=phone_key.public_key()))
    codes = codes_for(make_oneway(proof, phone_key))
    files = []
    for number, code in enumerate(codes, 1):
        files.append(folder / f"qr-{number}.png")
        files[-1].write_bytes(qr_png(code, "M" if len(codes) > 1 else "L"))
    print(f"   phone shows {len(codes)} QR code(s): {', '.join(f.name for f in files)}")
    till = VerifierEngine(AgePolicy(18), TrustData(TrustStore([pki.certificate("iaca")], [signer_cert])))
    first = [till.scan(text) for file in files for text in decode_image(file)][-1]
    print(f"   till: {first.headline} ({first.decision}); {'; '.join(first.reasons)}")
    again = [till.scan(text) for file in files for text in decode_image(file)][-1]
    print(f"   till, same codes again: {again.headline} ({again.decision}); {'; '.join(again.reasons)}")
    print(f"   till keeps counts only: {till.stats()}")
    return first.decision == "accept" and again.decision == "reject"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="didlib-demo-") as tmp:
        pki = PkiDir.create(Path(tmp) / "pki")
        print(f"Demo PKI written to {pki.folder} (IACA, document signer, reader CA, reader)")

        phone_key = generate_key()
        signer_key, signer_cert = pki.signer()
        issued = issue_mdoc(
            DOCTYPE_MDL,
            mdl_data(SAMPLE_DRIVER),
            signer_key=signer_key,
            signer_chain=[signer_cert],
            device_key=phone_key.public_key(),
        )
        licence = Credential.from_bytes(Credential.from_issuer_signed(issued).to_bytes())  # as the wallet stores it
        held = sum(len(v) for v in licence.elements().values())
        print(
            f"Issued {licence.doctype} to {SAMPLE_DRIVER.given_name} {SAMPLE_DRIVER.family_name}: "
            f"{held} elements, valid until {licence.mso.valid_until:%Y-%m-%d}"
        )

        # The shop's reader and the phone agree on a session (QR engagement); the response is bound to it.
        transcript = fresh_qr_transcript()[0]
        response = present_elements(licence, phone_key, ["age_over_18", "portrait"], transcript)
        print(f"Phone presents age_over_18 and portrait only: DeviceResponse of {len(response)} bytes")

        trust = TrustStore.from_pem_files([pki.folder / "iaca.pem"])
        good = verify_response(response, trust=trust, session_transcript=transcript)
        show("Shop verifies the presentation", good)

        portrait = good.documents[0].elements["org.iso.18013.5.1"]["portrait"]
        at = response.index(portrait) + len(portrait) // 2
        tampered_bytes = response[:at] + bytes([response[at] ^ 0xFF]) + response[at + 1 :]
        tampered = verify_response(tampered_bytes, trust=trust, session_transcript=transcript)
        show("Shop verifies a tampered copy (one byte of the portrait swapped)", tampered)

        replayed = verify_response(
            response,
            trust=trust,
            session_transcript=fresh_qr_transcript()[0],
        )
        show("Shop verifies the same response replayed in another session", replayed)
        session_ok = session_demo(pki, licence, phone_key, trust)
        qr_ok = qr_demo(pki, phone_key, Path(tmp))
        ok = good.valid and not tampered.valid and not replayed.valid and session_ok and qr_ok
        print("\nDemo", "passed" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
