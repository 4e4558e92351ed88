"""End-to-end demo on the embedded defaults (SQLite, keys in files): the whole story, in one run.

1. The mock issuer service starts (DVLA, DBS and a training body, a fictional register).
2. A fictional driver gets a driving licence and a proof of age over OpenID4VCI, then a DBS check bound
   to the same phone by presenting the licence.
3. A shop's till downloads the signed trust list and status lists, then goes offline.
4. At the counter: age_over_18 and the portrait only, as a DeviceResponse, over an ISO 18013-5 session,
   and as QR codes; a tampered copy and a replay are refused.
5. A youth club checks a volunteer: licence + DBS check, same holder proven.
6. A website asks "over 18?" over OpenID4VP and learns that boolean only.
7. The DVLA revokes the proof of age; once the till updates, it is refused.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx

from didlib.keys import generate_key, load_public_key
from didlib.mdoc import DOCTYPE_DBS, DOCTYPE_MDL, present_elements, verify_response
from didlib.mdoc.registry import NS_DBS, NS_ISO, ONLINE_AGE_ENTITLEMENT
from didlib.oid4vp import PresentationRequest, age_query, build_response, parse_request
from didlib.pki import create_reader_certificate
from didlib.pkidir import PkiDir
from didlib.presentation import answer_challenge, make_oneway, read_challenge
from didlib.qr import codes_for, decode_image, qr_png
from didlib.samples import SAMPLE_DRIVER, driver_number
from didlib.session import HolderSession, ReaderSession, entitlement_extension
from didlib.session.transcript import fresh_qr_transcript
from didlib.verifier import AgePolicy, TrustCache, VerifierEngine, VolunteerPolicy
from issuer_service import process as issuer_process
from issuer_service.register import SAMPLE_DBS_NUMBER
from wallet_app.model.issuance import IssuerClient

ADMIN = "demo-admin-token"


def step(title: str) -> None:
    print(f"\n== {title}")


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory(prefix="didlib-demo-") as tmp:
        folder = Path(tmp)
        step("1. The mock issuers start (SQLite, keys in files)")
        proc, base = issuer_process.start(folder / "issuer", DIDLIB_ADMIN_TOKEN=ADMIN, DIDLIB_SEED_DRIVERS="200")
        print(f"   {base}  (OpenAPI docs at {base}/docs)")
        try:
            ok = story(base, folder)
        finally:
            issuer_process.stop(proc)
            print("\n   issuer service stopped")
    print("\nDemo", "passed" if ok else "FAILED")
    return 0 if ok else 1


def story(base: str, folder: Path) -> bool:
    wallet = IssuerClient(base)
    step("2. A driver gets credentials over OpenID4VCI")
    number = driver_number(SAMPLE_DRIVER)
    offer = wallet.identify(number, SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)
    print(f"   identity checked: offer {offer['credential_offer_uri'][:60]}...  transaction code {offer['tx_code']}")
    (licence,) = wallet.obtain(offer, "uk.dvla.mdl.mdoc")
    proofs = wallet.obtain(
        wallet.identify(number, SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode),
        "uk.dvla.age.mdoc",
        count=4,
    )
    print(f"   driving licence issued; proof of age issued as a batch of {len(proofs)} single-use credentials")
    bound = wallet.bind("dbs", SAMPLE_DBS_NUMBER, licence.mdoc(), licence.key)
    (dbs,) = wallet.obtain(bound.json(), "uk.dbs.check.mdoc", keys=[licence.key])
    print("   DBS check issued after the phone presented its licence, bound to the same device key")

    step("3. A shop's till updates its trust data, then works offline")
    operator = load_public_key(httpx.get(f"{base}/trust/operator.pem").content)
    cache = TrustCache(folder / "till", operator)
    report = cache.refresh(f"{base}/trust/list", lambda url: httpx.get(url, timeout=10).raise_for_status().content)
    print(f"   trust list {report.trust_list}; status lists {sorted(set(report.status_lists.values()))}")
    trust = cache.load()

    step("4. At the counter: over 18?")
    transcript, _ = fresh_qr_transcript()
    response = present_elements(licence.mdoc(), licence.key, ["age_over_18", "portrait"], transcript)
    result = verify_response(response, trust=trust.issuers, session_transcript=transcript)
    disclosed = sorted(result.documents[0].elements[NS_ISO])
    print(f"   DeviceResponse: {'VALID' if result.valid else 'REJECTED'}, disclosed only {disclosed}")
    portrait = result.documents[0].elements[NS_ISO]["portrait"]
    at = response.index(portrait) + len(portrait) // 2
    tampered = verify_response(
        response[:at] + bytes([response[at] ^ 0xFF]) + response[at + 1 :],
        trust=trust.issuers,
        session_transcript=transcript,
    )
    print(f"   a tampered copy: {'VALID' if tampered.valid else 'REJECTED'} ({tampered.errors[0].code})")

    reader_cas = cache.reader_store()
    phone = HolderSession([(licence.mdoc(), licence.key)], reader_trust=reader_cas)
    shop = PkiDir(folder / "issuer" / "pki" / "dvla")  # the demo reader CA and shop reader live with the DVLA
    till = ReaderSession(
        phone.qr_uri(),
        {DOCTYPE_MDL: {NS_ISO: {"age_over_18": False, "family_name": False}}},
        trust=trust.issuers,
        reader_key=shop.key("reader"),
        reader_chain=[shop.certificate("reader")],
    )
    pending = phone.receive(till.start())
    session_result = till.receive(phone.respond())
    print(
        f"   ISO 18013-5 session: {pending.reader.name} asked for age_over_18 and family_name; not entitled to "
        f"{pending.documents[0].beyond_entitlement[NS_ISO]}; verdict {'VALID' if session_result.valid else 'NO'}, "
        f"received {sorted(session_result.documents[0].elements[NS_ISO])}"
    )

    engine = VerifierEngine(AgePolicy(18), trust)
    proof = proofs[0]
    files = []
    for number_, code in enumerate(codes_for(make_oneway(proof.mdoc(), proof.key)), 1):
        files.append(folder / f"qr-{number_}.png")
        files[-1].write_bytes(qr_png(code, "M"))
    first = [engine.scan(t) for f in files for t in decode_image(f)][-1]
    again = [engine.scan(t) for f in files for t in decode_image(f)][-1]
    print(
        f"   one-way QR ({len(files)} codes, read from PNG): {first.headline}; shown again: "
        f"{again.headline} ({again.reasons[0]})"
    )

    step("5. A youth club checks a volunteer (challenge QR)")
    club_key = generate_key()
    entitled = {
        DOCTYPE_MDL: {NS_ISO: ["family_name", "given_name", "birth_date", "portrait"]},
        DOCTYPE_DBS: {NS_DBS: "*"},
    }
    club_cert = create_reader_certificate(
        shop.certificate("reader-ca"),
        shop.key("reader-ca"),
        club_key.public_key(),
        common_name="Scouts Hall",
        organisation="Example Scouts",
        extra_extensions=[entitlement_extension(entitled)],
    )
    club = VerifierEngine(VolunteerPolicy(), trust, reader_key=club_key, reader_chain=[club_cert])
    holdings = [(licence.mdoc(), licence.key), (dbs.mdoc(), dbs.key)]
    request = read_challenge(club.start_challenge(), holdings, reader_cas)
    print(
        f"   the phone shows: {request.reader.name} ({request.reader.organisation}) asks for "
        f"{sum(len(e) for d in request.documents for e in d.elements.values())} elements of 2 documents"
    )
    verdict = club.scan(answer_challenge(request, holdings))
    print(f"   {verdict.headline}: {'; '.join(verdict.reasons)}; DBS level {verdict.display.get('dbs_level')}")

    step("6. A website asks \"over 18?\" (OpenID4VP, encrypted answer)")
    site_key, site_chain = shop.website_reader("shop.example", organisation="Example Cider Shop",
                                               entitlement=ONLINE_AGE_ENTITLEMENT)
    checkout = PresentationRequest.create("shop.example", "https://shop.example/response/1", age_query(18))
    asked = parse_request(checkout.request_object(site_key, site_chain), reader_cas)
    print(f"   the phone shows: {asked.reader.name} ({asked.client_id}) asks for {asked.requested_claims()}")
    online = checkout.check(build_response(asked, [], [(proofs[3].mdoc(), proofs[3].key)]).form, trust=trust.issuers,
                            status_checker=trust.status)
    print(f"   the website learns: {online.claims} and nothing else")

    step("7. The DVLA revokes a proof of age; the till updates and refuses it")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    listed = httpx.get(f"{base}/admin/drivers/{number}/credentials", headers=admin).json()
    index = proofs[1].mdoc().mso.status["status_list"]["idx"]
    target = next(c for c in listed if c["statusIndex"] == index and c["config"] == "uk.dvla.age.mdoc")
    httpx.post(f"{base}/admin/credentials/{target['id']}/revoke", headers=admin).raise_for_status()
    cache.refresh(f"{base}/trust/list", lambda url: httpx.get(url, timeout=10).raise_for_status().content)
    engine = VerifierEngine(AgePolicy(18), cache.load())
    revoked = [engine.scan(c) for c in codes_for(make_oneway(proofs[1].mdoc(), proofs[1].key))][-1]
    still_good = [engine.scan(c) for c in codes_for(make_oneway(proofs[2].mdoc(), proofs[2].key))][-1]
    print(f"   revoked one: {revoked.headline} ({revoked.reasons[0]}); another of the batch: {still_good.headline}")
    print(f"   the till kept counts only: {engine.stats()}")
    return (
        result.valid
        and not tampered.valid
        and session_result.valid
        and first.decision == "accept"
        and again.decision == "reject"
        and verdict.decision == "accept"
        and online.claims == {"age_over_18": True}
        and revoked.decision == "reject"
        and still_good.decision == "accept"
    )


if __name__ == "__main__":
    sys.exit(main())
