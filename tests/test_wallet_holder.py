"""The wallet model as a phone wallet (issue 19, model side), against a real issuer service process: plain card
details, consent that says what it means, proofs of age spent with care and topped up, no crash on the
network, safe PIN handling, peer checks both ways, and the engagement's address. No Kivy."""

from __future__ import annotations

import datetime as dt
import json
import threading

import httpx
import pytest

from conftest import new_wallet, till_in_thread
from didlib.errors import DidlibError, NetworkError, UsageError
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_MDL
from didlib.mdoc.registry import NS_AGE, NS_ISO, ONLINE_AGE_ENTITLEMENT
from didlib.pki import create_reader_certificate
from didlib.pkidir import PkiDir
from didlib.samples import SAMPLE_DRIVER, driver_number
from didlib.session import entitlement_extension
from didlib.verifier import AgePolicy, VerifierEngine, VolunteerPolicy
from issuer_service import process
from wallet_app.model.issuance import OFFLINE, IssuerClient
from wallet_app.model.store import WalletStore, WrongPin
from wallet_app.model.wallet import WalletModel

PIN = "246810"
IDENTITY = (driver_number(SAMPLE_DRIVER), SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)


@pytest.fixture(scope="module")
def issuer_data(tmp_path_factory):
    return tmp_path_factory.mktemp("issuer")


@pytest.fixture(scope="module")
def issuer(issuer_data):
    proc, base = process.start(issuer_data, DIDLIB_ADMIN_TOKEN="admin", DIDLIB_RATE_PER_MINUTE="1000")
    yield base
    process.stop(proc)


@pytest.fixture(scope="module")
def wallet(issuer, tmp_path_factory):
    model, _ = new_wallet(tmp_path_factory.mktemp("wallet"), issuer)
    return model


@pytest.fixture(params=["closed_port", "server_500"])
def dead(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def snapshot(model: WalletModel) -> tuple[str, str]:
    """The records in memory and those in the wallet file on disk (under :data:`PIN`)."""
    on_disk = WalletStore.open(model.path, PIN, provider=model.unlocked_store().provider).records
    return json.dumps(model.unlocked_store().records, sort_keys=True), json.dumps(on_disk, sort_keys=True)


def spent(model: WalletModel) -> int:
    return sum(e["used"] for e in model._entries() if e.get("doctype") == DOCTYPE_AGE)


# ------------------------------------------------------------------------------------ 8: plain details
def test_cards_have_plain_lines(wallet):
    cards = {c.doctype: c for c in wallet.cards()}
    licence = dict(cards[DOCTYPE_MDL].lines)
    labels = [label for label, _ in cards[DOCTYPE_MDL].lines]
    assert licence["Name"] == "SARAH JANE MORGAN" and licence["Sex"] in ("Female", "Male")
    assert licence["Driving categories"].startswith("B") and ", " in licence["Driving categories"]
    assert labels.count("Valid until") == 1 and "Expiry date" not in labels and "Photo" not in labels
    assert all(isinstance(v, str) and "_" not in k for k, v in cards[DOCTYPE_MDL].lines)
    day, _, year = licence["Date of birth"].split()
    assert int(day) == SAMPLE_DRIVER.birth_date.day and year == str(SAMPLE_DRIVER.birth_date.year)
    proof = dict(cards[DOCTYPE_AGE].lines)
    assert proof["Over 18"] == "Yes" and [k for k, _ in cards[DOCTYPE_AGE].lines].count("Valid until") == 1


# ------------------------------------------------------------------------------------------ 5: consent
def test_consent_for_a_challenge_says_who_what_and_what_they_keep(wallet, issuer_data):
    """A youth club keeping name and date of birth, not entitled to the photo, asking for a DBS check the
    wallet does not hold."""
    ca = PkiDir(issuer_data / "pki" / "dvla")
    key = generate_key()
    club = create_reader_certificate(ca.certificate("reader-ca"), ca.key("reader-ca"), key.public_key(),
                                     common_name="Scouts Hall", extra_extensions=[entitlement_extension(
                                         {DOCTYPE_MDL: {NS_ISO: ["family_name", "given_name", "birth_date"]}})])
    _, data = wallet._trust_data()
    engine = VerifierEngine(VolunteerPolicy(register="add"), data, reader_key=key, reader_chain=[club])
    view = wallet.consent(wallet.read_request(engine.start_challenge()))
    assert view.asker == "Scouts Hall (checked by DVLA Reader CA)"
    assert view.credential == "Driving licence" and view.missing == ["DBS check"] and view.choosable
    assert {(i.label, i.kept, i.allowed) for i in view.items} == {
        ("Surname", True, True), ("First names", True, True), ("Date of birth", True, True), ("Photo", False, False)}
    assert view.sentence() == "Scouts Hall (checked by DVLA Reader CA) wants to know: your name; your date of birth"
    assert view.keeps_line() == "They will keep: your name, your date of birth"
    assert view.refused == ["your photo"]
    assert view.consent() == {DOCTYPE_MDL: {NS_ISO: ["family_name", "given_name", "birth_date"]}}, "no photo"
    ticked = [i for i in view.items if i.label != "Date of birth"]  # photo ticked too: still never sent
    assert view.consent(ticked) == {DOCTYPE_MDL: {NS_ISO: ["family_name", "given_name"]}}
    assert wallet.answer(wallet.read_request(engine.start_challenge()), view.consent(ticked))


def test_consent_for_a_proximity_request_and_answer(wallet, issuer_data):
    """The ISO 18013-5 session's request (intentToRetain on the age statement), answered from the view's
    mapping; the reader gets what was ticked."""
    from didlib.session import ReaderSession

    share = wallet.start_proximity("127.0.0.1")
    shop = PkiDir(issuer_data / "pki" / "dvla")
    _, data = wallet._trust_data()
    reader = ReaderSession(share.uri, {DOCTYPE_AGE: {NS_AGE: {"age_over_18": True, "portrait": False}}},
                           trust=data.issuers, reader_key=shop.key("reader"), reader_chain=[shop.certificate("reader")])
    thread, outcome = till_in_thread(reader)
    view = wallet.consent(share.wait_for_request(timeout=10))
    assert view.asker == "Example Shop (checked by DVLA Reader CA)" and view.credential == "Proof of age"
    assert [(i.phrase, i.kept, i.allowed) for i in view.items] == [("that you are over 18", True, True),
                                                                   ("your photo", False, True)]
    assert view.keeps_line() == "They will keep: that you are over 18"
    share.respond(view.consent([view.items[0]]))
    thread.join(10)
    assert outcome["result"].documents[0].elements == {NS_AGE: {"age_over_18": True}}


def test_consent_for_a_website(wallet, issuer_data):
    from didlib.oid4vp import PresentationRequest, age_query
    from didlib.oid4vp.dc_api import navigator_options

    reader = PkiDir(issuer_data / "pki" / "dvla").website_reader("shop.example", organisation="Example Shop",
                                                                 entitlement=ONLINE_AGE_ENTITLEMENT)
    request = PresentationRequest.create_dc_api("https://shop.example", age_query(18), host="shop.example")
    asked = wallet.open_dc_api_request(json.dumps(navigator_options(request, reader)["digital"]),
                                       "https://shop.example")
    before = snapshot(wallet)
    view = wallet.consent(asked)
    assert snapshot(wallet) == before, "working out which credential answers spends nothing"
    assert view.asker == "Example Shop at https://shop.example (checked by DVLA Reader CA)"
    assert view.credential == "Proof of age" and not view.choosable
    assert [(i.label, i.kept, i.allowed) for i in view.items] == [("Over 18", False, True)]
    assert view.sentence().endswith("wants to know: that you are over 18") and view.keeps_line() == ""
    unsigned = {"protocol": "openid4vp-v1-unsigned",
                "data": request.dc_api_requests()[0]["data"] | {"client_id": "x509_san_dns:elsewhere"}}
    view = wallet.consent(wallet.open_dc_api_request(unsigned, "https://anywhere.example"))
    assert view.asker == "https://anywhere.example" and view.warnings == [], "no certificate: the origin only"
    # ISO/IEC 18013-7 Annex C (org-iso-mdoc): the same view, and working it out does not use the request up
    (mdoc,) = [e for e in request.dc_api_requests(reader) if e["protocol"] == "org-iso-mdoc"]
    asked = wallet.open_dc_api_request({"requests": [mdoc]}, "https://shop.example")
    view = wallet.consent(asked)
    assert view.asker == "Example Shop at https://shop.example (checked by DVLA Reader CA)"
    assert view.credential == "Proof of age" and [i.label for i in view.items] == ["Over 18"]
    _, data = wallet._trust_data()
    result = request.check(wallet.answer_dc_api(asked), trust=data.issuers, status_checker=data.status)
    assert result.valid and result.claims == {"age_over_18": True}, result.errors


# ------------------------------------------------------------------------------------ 3: proofs of age
def test_a_minute_on_screen_spends_one_proof(issuer, tmp_path):
    """Issue 19: each ten-second refresh spent a proof; a minute spent the batch."""
    model, _ = new_wallet(tmp_path, issuer)
    start = dt.datetime.now(dt.UTC)
    now = [start]
    model.clock = lambda: now[0]
    _, data = model._trust_data()
    codes = []
    for second in range(0, 61, 10):
        now[0] = start + dt.timedelta(seconds=second)
        codes.append(model.prove_age(18, again=second > 0))
        engine = VerifierEngine(AgePolicy(18), data, clock=lambda: now[0])
        assert [engine.scan(t) for t in codes[-1]][-1].decision == "accept"
    assert spent(model) == 1 and model.proofs_left() == 4
    assert len({tuple(c) for c in codes}) == 7, "each refresh is a new code"
    model.end_showing()
    model.prove_age(18)
    assert spent(model) == 2 and model.proofs_left() == 3


def test_top_up_when_two_are_left(issuer, tmp_path):
    model, _ = new_wallet(tmp_path, issuer)
    assert model.proofs_left() == 5 and not model.needs_top_up() and model.top_up() == 0
    for _ in range(2):
        model.prove_age(18)
        model.end_showing()
    model.prove_age(18)  # still on screen while the new batch arrives
    spent_keys = {e["key_id"] for e in model._entries() if e.get("doctype") == DOCTYPE_AGE and e["used"]}
    assert model.proofs_left() == 2 and model.needs_top_up()
    assert model.top_up() == 5
    assert model.proofs_left() == 7 and not model.needs_top_up()
    (card,) = [c for c in model.cards() if c.doctype == DOCTYPE_AGE]
    assert card.unused == 7 and card.online == 10, "one card for every batch"
    proofs = [e for e in model._entries() if e.get("doctype") == DOCTYPE_AGE]
    keys = [e["key_id"] for e in proofs]
    assert len(set(keys)) == len(keys) == 8, "a fresh key per proof: verifiers cannot link them"
    assert [e["used"] for e in proofs].count(True) == 1, "spent proofs forgotten, but not the one on screen"
    held = model.unlocked_store().records["keys"]
    assert len(spent_keys - set(held)) == 2, "and the keys of the two forgotten ones destroyed"
    assert model.prove_age(18, again=True), "the showing on screen goes on"
    model.end_showing()
    _, data = model._trust_data()
    model.prove_age(18)
    engine = VerifierEngine(AgePolicy(18), data)
    assert [engine.scan(t) for t in model.prove_age(18, again=True)][-1].decision == "accept"


def test_top_up_offline_changes_nothing(issuer, tmp_path, dead):
    model, _ = new_wallet(tmp_path, issuer)
    for _ in range(3):
        model.prove_age(18)
        model.end_showing()
    for entry in model._entries():
        entry["issuer_url"] = dead
    model.unlocked_store().save()
    before = snapshot(model)
    with pytest.raises(NetworkError) as info:
        model.top_up()
    assert info.value.code in ("unreachable", "server_error") and "Try again" in info.value.message
    assert snapshot(model) == before and model.proofs_left() == 2


def test_top_up_needs_this_drivers_licence(wallet, issuer):
    with pytest.raises(DidlibError) as info:
        wallet.request_bound(issuer, "age", "MORGA000000SJ9AA")
    assert info.value.code == "access_denied"


# ---------------------------------------------------------------------------------- 2: network errors
def test_adding_from_a_dead_issuer_stores_nothing(tmp_path, dead):
    from didlib.oid4vci import CredentialOffer

    model = WalletModel(tmp_path)
    model.setup(PIN, PIN)
    before = snapshot(model)
    offer = CredentialOffer(dead, ["uk.dvla.mdl.mdoc", "uk.dvla.mdl.sd-jwt"], "code").uri()
    with pytest.raises(NetworkError) as info:
        model.add_from_offer(offer, "123456")
    assert info.value.code in ("unreachable", "server_error")
    if info.value.code == "unreachable":
        assert info.value.message == OFFLINE
    assert snapshot(model) == before


def test_a_connection_lost_half_way_stores_nothing(issuer, tmp_path):
    """The licence is issued, then the connection drops before the next credential: nothing is kept."""

    class Flaky(httpx.HTTPTransport):
        credentials = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/credential":
                Flaky.credentials += 1
                if Flaky.credentials == 2:
                    raise httpx.ConnectError("connection lost", request=request)
            return super().handle_request(request)

    model = WalletModel(tmp_path, http=lambda base: httpx.Client(base_url=base, timeout=30, transport=Flaky()))
    model.setup(PIN, PIN)
    before = snapshot(model)
    offer = IssuerClient(issuer).identify(*IDENTITY)
    with pytest.raises(NetworkError) as info:
        model.add_from_offer(offer["credential_offer_uri"], offer["tx_code"])
    assert info.value.code == "unreachable" and info.value.message == OFFLINE
    assert Flaky.credentials == 2, "the first credential was issued"
    assert snapshot(model) == before and model.cards() == [] and "keys" not in model.unlocked_store().records


def test_binding_and_websites_offline_are_typed(wallet, dead):
    with pytest.raises(NetworkError):
        wallet.request_bound(dead, "dbs", "001234567890")
    port = dead.rsplit(":", 1)[1]
    with pytest.raises(NetworkError):
        wallet.open_online_request(f"openid4vp://?client_id=x509_san_dns:localhost&request_uri="
                                   f"http://localhost:{port}/request")


def test_an_answer_to_a_website_gone_offline_spends_nothing(wallet, issuer_data, dead):
    from didlib.oid4vp import PresentationRequest, age_query, parse_request

    site = PkiDir(issuer_data / "pki" / "dvla").website_reader("localhost", organisation="Example Shop",
                                                               entitlement=ONLINE_AGE_ENTITLEMENT)
    port = dead.rsplit(":", 1)[1]
    token = PresentationRequest.create("localhost", f"http://localhost:{port}/response",
                                       age_query()).request_object(*site)
    readers, _ = wallet._trust_data()
    asked = parse_request(token, readers)
    before = snapshot(wallet)
    with pytest.raises(NetworkError):
        wallet.answer_online(asked)
    assert snapshot(wallet) == before


# ------------------------------------------------------------------------------------------ 7: the PIN
def test_setting_the_pin_twice(tmp_path):
    model = WalletModel(tmp_path)
    with pytest.raises(UsageError) as info:
        model.tries_left()
    assert info.value.code == "no_wallet"
    with pytest.raises(UsageError) as info:
        model.setup("246810", "246801")
    assert info.value.code == "pin_mismatch" and not model.has_wallet()
    for weak in ("12345", "12345a", "\uff11\uff12\uff13\uff14\uff15\uff16", "²²²²²²", "1" * 65, ""):
        with pytest.raises(DidlibError) as info:
            model.setup(weak, weak)
        assert info.value.code == "weak_pin" and not model.has_wallet(), weak
    model.setup("246810", "246810")
    assert model.has_wallet() and model.tries_left() == 3


def test_a_wrong_pin_says_how_many_tries_are_left(tmp_path):
    model = WalletModel(tmp_path)
    model.setup(PIN, PIN)
    model.lock()
    for left in (2, 1):
        with pytest.raises(WrongPin) as info:
            model.unlock("000000")
        assert info.value.message == f"wrong PIN: {left} {'try' if left == 1 else 'tries'} left"
        assert model.tries_left() == left == info.value.tries_left
    with pytest.raises(WrongPin) as info:
        model.unlock("000000")
    assert info.value.message == "wrong PIN: wait 30 seconds before the next try" and model.tries_left() == 0


def test_delete_everything_needs_the_pin(tmp_path):
    model = WalletModel(tmp_path)
    model.setup(PIN, PIN)
    model.unlocked_store().save()
    (tmp_path / "trust").mkdir()
    files = [tmp_path / n for n in ("wallet.json", "wallet.bak", "wallet.key")]
    with pytest.raises(WrongPin):
        model.delete_everything("000000")
    assert all(f.exists() for f in files)
    model.delete_everything(PIN)
    assert not any(f.exists() for f in files) and not (tmp_path / "trust").exists()
    assert not model.has_wallet() and model.store is None
    model.setup(PIN, PIN)
    model.unlocked_store().save()
    model.lock()
    model.path.write_text("{")  # damaged: the PIN is proven on the backup
    with pytest.raises(WrongPin):
        model.delete_everything("000000")
    model.delete_everything(PIN)
    assert not any(f.exists() for f in files)


# ---------------------------------------------------------------------------------------- 6: peer checks
def test_peer_checks_both_ways(wallet, issuer, tmp_path):
    other = WalletModel(tmp_path / "other")
    other.setup("135790", "135790")
    offer = IssuerClient(issuer).identify(*IDENTITY)
    other.add_from_offer(offer["credential_offer_uri"], offer["tx_code"])
    verdict = wallet.peer_check(other.share_identity({"name", "photo"}))
    assert verdict.decision == "accept" and verdict.headline == "IDENTITY VERIFIED"
    assert verdict.display["name"] == "SARAH JANE MORGAN" and verdict.issuer
    verdict = other.peer_check(wallet.share_identity(["over_18", "photo"]))
    assert verdict.decision == "accept" and verdict.headline == "OVER 18"
    assert set(verdict.display) == {"over_18", "portrait"}, "no name: only what the holder picked"
    verdict = other.peer_check(wallet.share_identity(["name"]))
    assert verdict.decision == "refer" and verdict.codes == ["no_portrait"]
    assert verdict.display == {"name": "SARAH JANE MORGAN"} and verdict.issuer
    with pytest.raises(UsageError):
        wallet.share_identity(["address"])
    with pytest.raises(UsageError):
        wallet.share_identity([])


def test_peer_check_refuses_a_tampered_code_and_an_untrusted_issuer(wallet, tmp_path):
    from conftest import issue
    from didlib.presentation import make_oneway
    from didlib.qr import codes_for
    from didlib.samples import mdl_data

    first, *rest = wallet.share_identity(["name", "photo"])
    middle = len(first) // 2
    tampered = first[:middle] + ("A" if first[middle] != "A" else "B") + first[middle + 1:]
    verdict = wallet.peer_check([tampered, *rest])
    assert verdict is not None and verdict.decision == "reject", verdict
    stranger = PkiDir.create(tmp_path / "elsewhere")
    key = generate_key()
    licence = issue(stranger, DOCTYPE_MDL, mdl_data(today=dt.date.today()), key.public_key(),
                    now=dt.datetime.now(dt.UTC))
    verdict = wallet.peer_check(codes_for(make_oneway(licence, key, ["given_name", "family_name", "portrait"])))
    assert verdict.decision == "reject" and verdict.codes == ["unknown_document_signer"]


# ------------------------------------------------------------------------------------ 4: the engagement
def test_the_engagement_names_the_phones_own_address(wallet):
    """By default the engagement names :func:`own_address` (no traffic is sent; the session is closed)."""
    from didlib.session.addresses import own_address
    from didlib.session.engagement import DeviceEngagement

    share = wallet.start_proximity()
    try:
        engagement = DeviceEngagement.from_uri(share.uri)
        (method,) = engagement.retrieval_methods
        assert method.address()[0] == own_address()
    finally:
        share.close()


def test_backup_under_its_own_passphrase(tmp_path):
    """The backup opens with its passphrase, not the PIN; restoring it sets a new PIN (a forgotten one)."""
    model = WalletModel(tmp_path / "w")
    model.setup(PIN, PIN)
    model.unlocked_store().records["n"] = 1
    model.unlocked_store().save()
    backup = tmp_path / "exported.backup"
    for passphrase, confirm, code in (("short", "short", "weak_passphrase"),
                                      ("correct horse", "correct hose", "passphrase_mismatch")):
        with pytest.raises(UsageError) as info:
            model.export_backup(backup, passphrase, confirm)
        assert info.value.code == code and not backup.exists()
    model.export_backup(backup, "correct horse", "correct horse")
    assert backup.stat().st_mode & 0o777 == 0o600 and json.loads(backup.read_text())["backup"] is True
    with pytest.raises(WrongPin):
        WalletStore.open(backup, PIN, provider=model.unlocked_store().provider)
    model.unlocked_store().records["n"] = 2
    model.unlocked_store().save()
    model.lock()
    exported = backup.read_bytes()
    with pytest.raises(WrongPin):
        model.import_backup(backup, "wrong horse", "135790", "135790")
    assert backup.read_bytes() == exported, "the backup is only read"
    with pytest.raises(UsageError):
        model.import_backup(backup, "correct horse", "135790", "135791")
    model.import_backup(backup, "correct horse", "135790", "135790")
    assert model.unlocked_store().records["n"] == 1
    model.lock()
    model.unlock("135790")
    assert model.unlocked_store().records["n"] == 1 and not (tmp_path / "w" / "import.tmp").exists()


def test_answering_a_verifier_spends_the_proof_it_showed(issuer, issuer_data, tmp_path):
    """A challenge answered with a proof of age, or a session with a till, is a showing: that proof is spent and
    the next answer comes from another (a verifier could link two answers from one proof); declining or
    sharing only from the licence spends none."""
    from didlib.session import ReaderSession

    model, _ = new_wallet(tmp_path, issuer)
    shop = PkiDir(issuer_data / "pki" / "dvla")
    _, data = model._trust_data()
    engine = VerifierEngine(AgePolicy(18), data, reader_key=shop.key("reader"),
                            reader_chain=[shop.certificate("reader")])
    for _ in range(2):
        pending = model.read_request(engine.start_challenge())
        verdict = [engine.scan(t) for t in model.answer(pending, model.consent(pending).consent())][-1]
        assert verdict.decision == "accept"
    assert model.proofs_left() == 3 and spent(model) == 2
    model.read_request(engine.start_challenge())  # scanned, then declined: nothing shown
    assert model.proofs_left() == 3

    share = model.start_proximity("127.0.0.1")
    reader = ReaderSession(share.uri, {DOCTYPE_AGE: {NS_AGE: {"age_over_18": False}}}, trust=data.issuers,
                           reader_key=shop.key("reader"), reader_chain=[shop.certificate("reader")])
    thread, outcome = till_in_thread(reader)
    share.respond(model.consent(share.wait_for_request(timeout=10)).consent())
    thread.join(10)
    assert outcome["result"].valid and model.proofs_left() == 2
    used = [e["key_id"] for e in model._entries() if e.get("doctype") == DOCTYPE_AGE and e["used"]]
    assert len(set(used)) == 3, "three showings, three proofs"
    reopened = WalletModel(model.folder)
    reopened.unlock(PIN)
    assert reopened.proofs_left() == 2, "saved"


def test_a_till_and_the_wallet_in_two_processes(issuer, issuer_data, tmp_path):
    """The wallet model in its own process shares over an ISO 18013-5 session on loopback; a till's engine in
    this one reads the engagement, runs the session as the reader and reaches a verdict."""
    import subprocess
    import sys

    from conftest import ROOT

    model, _ = new_wallet(tmp_path, issuer)
    _, data = model._trust_data()
    model.lock()
    shop = PkiDir(issuer_data / "pki" / "dvla")
    engine = VerifierEngine(AgePolicy(18), data, reader_key=shop.key("reader"),
                            reader_chain=[shop.certificate("reader")])
    phone = subprocess.Popen([sys.executable, str(ROOT / "tests" / "wallet_phone.py"), str(tmp_path), PIN],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        uri = phone.stdout.readline().strip()
        assert uri.startswith("mdoc:"), phone.stderr.read()
        verdict, note = engine.read_engagement(uri, timeout=30)
        out, err = phone.communicate(timeout=30)
    finally:
        phone.kill()
    assert verdict.decision == "accept" and verdict.headline == "OVER 18" and note == "local network", verdict
    consent, left = (json.loads(line) for line in out.splitlines())
    assert consent["asker"] == "Example Shop (checked by DVLA Reader CA)" and consent["credential"] == "Proof of age"
    assert left == {"proofs_left": 4}, err


def test_a_failed_top_up_keeps_what_the_holder_did_meanwhile(issuer, tmp_path):
    """The top-up runs in the background; a proof shown while it waits on the issuer stays spent when the
    connection then drops (putting the records back as they were would make it showable again)."""

    class Stalling(httpx.HTTPTransport):
        waiting, release = threading.Event(), threading.Event()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/credential":
                Stalling.waiting.set()
                Stalling.release.wait(20)
                raise httpx.ReadTimeout("the issuer stopped answering", request=request)
            return super().handle_request(request)

    model, _ = new_wallet(tmp_path, issuer)
    for _ in range(3):
        model.prove_age(18)
        model.end_showing()
    model.http = lambda base: httpx.Client(base_url=base, timeout=30, transport=Stalling())
    failure = {}

    def top_up() -> None:
        try:
            model.top_up()
        except NetworkError as exc:
            failure["error"] = exc

    background = threading.Thread(target=top_up)
    background.start()
    assert Stalling.waiting.wait(20)
    model.prove_age(18)  # the next customer, while the top-up waits
    Stalling.release.set()
    background.join(20)
    assert failure["error"].code == "unreachable"
    assert model.proofs_left() == 1
    reopened = WalletModel(model.folder)
    reopened.unlock(PIN)
    assert reopened.proofs_left() == 1 and "keys" in reopened.unlocked_store().records
    assert len(reopened.unlocked_store().records["keys"]) == len({e["key_id"] for e in reopened._entries()})
