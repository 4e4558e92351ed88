"""The wallet's model layer, headless: the encrypted store, and the whole life of a wallet against the
issuer service (a real process): add credentials, prove age, answer a verifier, peer check, revocation."""

from __future__ import annotations

import base64
import json
import shutil

import httpx
import pytest

from conftest import new_wallet, till_in_thread
from didlib.errors import ReaderNotAuthorised, UnsupportedError, UsageError
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL
from didlib.mdoc.registry import NS_DBS, NS_ISO
from didlib.pki import create_reader_certificate
from didlib.pkidir import PkiDir
from didlib.samples import SAMPLE_DRIVER, driver_number
from didlib.session import entitlement_extension
from didlib.verifier import AgePolicy, VerifierEngine, VolunteerPolicy
from issuer_service import process
from issuer_service.register import SAMPLE_DBS_NUMBER
from wallet_app.model.issuance import IssuerClient
from wallet_app.model.store import (
    MAX_FAILURES,
    AndroidKeystoreWrapKeys,
    CorruptStore,
    LockedOut,
    Moment,
    SoftwareWrapKeys,
    WalletStore,
    WrongPin,
    lockout_delay,
)
from wallet_app.model.wallet import WalletModel

IDENTITY = (driver_number(SAMPLE_DRIVER), SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)
FAST = 2**10  # scrypt cost for tests; the wallet uses 2**15
T = 1_780_000_000.0  # a wall-clock time (2026)
TEN_YEARS = 10 * 365 * 86_400


# ---------------------------------------------------------------------------------------------- store
def test_store_round_trip_and_pin_change(tmp_path):
    store = WalletStore.create(tmp_path / "w.json", "123456", scrypt_n=FAST)
    store.records["x"] = {"secret": "value"}
    store.save()
    assert "value" not in (tmp_path / "w.json").read_text(), "encrypted at rest"
    assert WalletStore.open(tmp_path / "w.json", "123456").records == {"x": {"secret": "value"}}
    store.change_pin("123456", "654321")
    with pytest.raises(WrongPin):
        WalletStore.open(tmp_path / "w.json", "123456")
    assert WalletStore.open(tmp_path / "w.json", "654321").records["x"]["secret"] == "value"
    with pytest.raises(Exception) as info:
        WalletStore.create(tmp_path / "v.json", "1234")
    assert getattr(info.value, "code", None) == "weak_pin"


def at(wall: float, uptime: float, boot: str | None = "boot-1"):
    """A clock for the store: wall time, and time since the boot ``boot``."""
    return lambda: Moment(wall, boot, uptime)


def fail(path, times: int, clock) -> None:
    for _ in range(times):
        with pytest.raises(WrongPin):
            WalletStore.open(path, "000000", clock=clock)


def test_wrong_pins_lock_out_with_growing_delay(tmp_path):
    WalletStore.create(tmp_path / "w.json", "123456", scrypt_n=FAST)
    fail(tmp_path / "w.json", 3, at(T, 100))
    with pytest.raises(LockedOut) as info:
        WalletStore.open(tmp_path / "w.json", "123456", clock=at(T, 100))
    assert 29 < info.value.seconds <= 30
    assert WalletStore.open(tmp_path / "w.json", "123456", clock=at(T + 31, 131)).records == {}
    assert [lockout_delay(n) for n in (0, 2, 3, 4, 5, 20, MAX_FAILURES)] == [0, 0, 30, 60, 120, 3600, 3600]


def test_lockout_is_bounded_when_the_clock_was_ahead(tmp_path):
    """Issue 14 item 9: wrong PINs with the clock ten years ahead, then the clock corrected: 10 years."""
    WalletStore.create(tmp_path / "w.json", "123456", scrypt_n=FAST)
    for boot in ("boot-1", None):  # with time since boot, and on the wall clock alone where there is none
        fail(tmp_path / "w.json", 3, at(T + TEN_YEARS, 100, boot))
        with pytest.raises(LockedOut) as info:
            WalletStore.open(tmp_path / "w.json", "123456", clock=at(T, 101, boot))
        assert info.value.seconds <= 30
        assert WalletStore.open(tmp_path / "w.json", "123456", clock=at(T + 31, 131, boot)).records == {}


def test_lockout_survives_the_clock_set_forward(tmp_path):
    WalletStore.create(tmp_path / "w.json", "123456", scrypt_n=FAST)
    fail(tmp_path / "w.json", 3, at(T, 100))
    fail(tmp_path / "w.json", 1, at(T + 31, 131))  # the fourth: 60 s
    with pytest.raises(LockedOut) as info:  # a day later on the wall clock, a second later in fact
        WalletStore.open(tmp_path / "w.json", "123456", clock=at(T + 86_400, 132))
    assert 58 < info.value.seconds <= 59
    with pytest.raises(LockedOut) as info:  # a restart starts the wait again (never beyond its length)
        WalletStore.open(tmp_path / "w.json", "123456", clock=at(T + 86_400, 5, "boot-2"))
    assert info.value.seconds == 60
    assert WalletStore.open(tmp_path / "w.json", "123456", clock=at(T, 66, "boot-2")).records == {}


def test_the_failure_count_cannot_be_edited_back(tmp_path):
    """Issue 14 item 10: the count was in clear; set back to 0 it lifted the lockout."""
    WalletStore.create(tmp_path / "w.json", "123456", scrypt_n=FAST)
    fail(tmp_path / "w.json", 3, at(T, 100))
    content = json.loads((tmp_path / "w.json").read_text())
    content["tries"]["failures"] = 0
    (tmp_path / "w.json").write_text(json.dumps(content))
    with pytest.raises(CorruptStore, match="altered"):
        WalletStore.open(tmp_path / "w.json", "123456", clock=at(T, 101))


def test_the_wallet_file_alone_cannot_be_opened(tmp_path):
    """Guessing PINs needs the key provider: the scrypt key alone does not unwrap, nor does another device."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    WalletStore.create(tmp_path / "w.json", "123456", scrypt_n=FAST)
    content = json.loads((tmp_path / "w.json").read_text())
    salt, wrapped = (base64.b64decode(v) for v in (content["kdf"]["salt"], content["wrapped"]))
    kek = Scrypt(salt=salt, length=32, n=FAST, r=8, p=1).derive(b"123456")  # an offline guess, the right PIN
    with pytest.raises(InvalidTag):
        AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], b"didlib-wallet-key")
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    shutil.copy(tmp_path / "w.json", elsewhere / "w.json")
    with pytest.raises(CorruptStore, match="device key"):
        WalletStore.open(elsewhere / "w.json", "123456")
    other = SoftwareWrapKeys(elsewhere / "w.key")
    other.create()
    with pytest.raises(CorruptStore, match="altered"):
        WalletStore.open(elsewhere / "w.json", "123456", provider=other)
    assert not SoftwareWrapKeys.hardware_backed
    with pytest.raises(UnsupportedError):
        AndroidKeystoreWrapKeys()


def test_every_file_is_private(tmp_path):
    store = WalletStore.create(tmp_path / "w.json", "123456", scrypt_n=FAST)
    store.save()
    store.export(tmp_path / "exported.json", "backup passphrase")  # backups were 0644
    for name in ("w.json", "w.bak", "w.key", "exported.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    restored = WalletStore.restore(tmp_path / "exported.json", tmp_path / "w.json", "backup passphrase",
                                   new_pin="654321")
    assert restored.records == {}


@pytest.mark.parametrize("edit", [
    '"failures": "x"', '"failures": 1e400', '"failures": -1', '"failures": true', '"uptime": 1e400',
    '"wrapped": "AAAA"', '"wrapped": "not base64!"', '"n": 1099511627776', '"n": 3000', '"salt": 7',
    '"tries": []', '"mac": null', '"kdf": "x"', '"data": "AAAA"',
])
def test_corrupt_header_values_are_corrupt_store(tmp_path, edit):
    """Issue 14 item 10: such values raised ValueError / OverflowError (or hung scrypt) instead."""
    WalletStore.create(tmp_path / "w.json", "123456", scrypt_n=FAST)
    text = (tmp_path / "w.json").read_text()
    key = edit.split(":")[0]
    start = text.index(key)
    depth, end = 0, start + len(key) + 1
    while depth or text[end] not in ",}":  # the end of the value: a comma or brace outside brackets
        depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(text[end], 0)
        end += 1
    (tmp_path / "w.json").write_text(text[:start] + edit + text[end:])
    with pytest.raises(CorruptStore):
        WalletStore.open(tmp_path / "w.json", "123456", clock=at(T, 100))


def test_a_corrupt_store_is_restored_from_the_lock_screen(tmp_path):
    model = WalletModel(tmp_path)
    model.setup("246810")
    model.store.records["n"] = 1
    model.store.save()
    model.store.save()
    model.lock()
    (tmp_path / "wallet.json").write_text("{")
    assert not model.can_restore()
    with pytest.raises(CorruptStore):
        model.unlock("246810")
    assert model.can_restore()
    with pytest.raises(WrongPin):
        model.restore_backup("000000")
    model.restore_backup("246810")
    assert model.store.records["n"] == 1 and not model.can_restore()


def test_corrupt_file_is_reported_and_the_backup_kept(tmp_path):
    store = WalletStore.create(tmp_path / "w.json", "123456", scrypt_n=FAST)
    store.records["n"] = 1
    store.save()
    store.records["n"] = 2
    store.save()
    good = (tmp_path / "w.bak").read_text()
    (tmp_path / "w.json").write_text((tmp_path / "w.json").read_text()[:50])  # truncated
    with pytest.raises(CorruptStore) as info:
        WalletStore.open(tmp_path / "w.json", "123456")
    assert "backup" in info.value.message
    assert (tmp_path / "w.bak").read_text() == good
    restored = WalletStore.restore(tmp_path / "w.bak", tmp_path / "w.json", "123456")
    assert restored.records["n"] == 1
    tampered = json.loads(good)
    tampered["data"] = tampered["data"][:-8] + "AAAAAAA="
    (tmp_path / "w.json").write_text(json.dumps(tampered))
    with pytest.raises(CorruptStore):
        WalletStore.open(tmp_path / "w.json", "123456")
    restored.delete_everything()
    assert not (tmp_path / "w.json").exists() and not (tmp_path / "w.bak").exists()


def test_a_wrong_pin_on_a_damaged_file_keeps_the_good_backup(tmp_path):
    """Issue 14 item 8: a wrong PIN rewrote the damaged file and made it the backup, destroying the good one."""
    store = WalletStore.create(tmp_path / "w.json", "123456", scrypt_n=FAST)
    store.records["n"] = 1
    store.save()
    content = json.loads((tmp_path / "w.json").read_text())
    data = content["data"]
    content["data"] = data[:20] + ("B" if data[20] != "B" else "C") + data[21:]  # one changed byte
    (tmp_path / "w.json").write_text(json.dumps(content))
    for _ in range(2):
        with pytest.raises(WrongPin):
            WalletStore.open(tmp_path / "w.json", "000000")
    with pytest.raises(CorruptStore):
        WalletStore.open(tmp_path / "w.json", "123456")
    assert WalletStore.open(tmp_path / "w.bak", "123456").records == {}, "the backup still opens"
    restored = WalletStore.restore(tmp_path / "w.bak", tmp_path / "w.json", "123456")
    restored.records["n"] = 2
    restored.save()
    assert WalletStore.open(tmp_path / "w.json", "123456").records == {"n": 2}


# ------------------------------------------------------------------------------------ with the issuer
@pytest.fixture(scope="module")
def issuer_data(tmp_path_factory):
    return tmp_path_factory.mktemp("issuer")


@pytest.fixture(scope="module")
def issuer(issuer_data):
    proc, base = process.start(issuer_data, DIDLIB_ADMIN_TOKEN="admin", DIDLIB_SEED_DRIVERS="20",
                               DIDLIB_RATE_PER_MINUTE="1000")
    yield base
    process.stop(proc)


@pytest.fixture(scope="module")
def wallet(issuer, tmp_path_factory):
    steps = []
    model, added = new_wallet(tmp_path_factory.mktemp("wallet"), issuer, steps.append)
    assert added == ["uk.dvla.mdl.mdoc", "uk.dvla.mdl.sd-jwt", "uk.dvla.age.mdoc", "uk.dvla.age.sd-jwt"] and steps
    return model


def test_cards(wallet):
    cards = {c.doctype: c for c in wallet.cards()}
    assert set(cards) == {DOCTYPE_MDL, DOCTYPE_AGE}
    assert cards[DOCTYPE_MDL].name == "SARAH JANE MORGAN" and cards[DOCTYPE_MDL].issuer == "DVLA"
    assert cards[DOCTYPE_AGE].unused == 5 and cards[DOCTYPE_AGE].portrait.startswith(b"\xff\xd8")
    assert cards[DOCTYPE_AGE].online == 5 and cards[DOCTYPE_MDL].online == 1, "the SD-JWT VC copies"


def test_prove_age_uses_single_use_credentials(wallet):
    _, data = wallet._trust_data()
    for _ in range(2):
        engine = VerifierEngine(AgePolicy(18), data)
        verdict = [engine.scan(t) for t in wallet.prove_age(18)][-1]
        assert verdict.decision == "accept"
    for card in wallet.cards():
        if card.doctype == DOCTYPE_AGE:
            assert card.unused == 3
    used = [e for e in wallet._entries() if e.get("doctype") == DOCTYPE_AGE and e["used"]]
    seen_keys = {e["key_id"] for e in used}
    assert len(seen_keys) == 2, "each code came from a different credential and key"


def test_wrong_tx_code_is_reported(wallet, issuer):
    offer = IssuerClient(issuer).identify(*IDENTITY)
    with pytest.raises(Exception) as info:
        wallet.add_from_offer(offer["credential_offer_uri"], "000000" if offer["tx_code"] != "000000" else "111111")
    assert getattr(info.value, "code", None) == "invalid_grant"


def test_dbs_then_a_volunteer_check(wallet, issuer, issuer_data):
    offer = wallet.request_bound(issuer, "dbs", SAMPLE_DBS_NUMBER)
    added = wallet.add_from_offer(offer["credential_offer_uri"], offer["tx_code"])
    assert added == ["uk.dbs.check.mdoc", "uk.dbs.check.sd-jwt"]
    assert DOCTYPE_DBS in {c.doctype for c in wallet.cards()}
    # a youth club's reader certificate from the trust list's reader CA, entitled to what it asks
    reader_ca = PkiDir(issuer_data / "pki" / "dvla")
    club_key = generate_key()
    club = create_reader_certificate(reader_ca.certificate("reader-ca"), reader_ca.key("reader-ca"),
                                     club_key.public_key(), common_name="Scouts Hall",
                                     extra_extensions=[entitlement_extension({DOCTYPE_MDL: {NS_ISO: "*"},
                                                                              DOCTYPE_DBS: {NS_DBS: "*"}})])
    _, data = wallet._trust_data()
    engine = VerifierEngine(VolunteerPolicy(), data, reader_key=club_key, reader_chain=[club])
    pending = wallet.read_request(engine.start_challenge())
    assert pending.reader.name == "Scouts Hall"
    consent = {d.doctype: d.allowed() for d in pending.documents}
    verdict = [engine.scan(t) for t in wallet.answer(pending, consent)][-1]
    assert verdict.decision == "accept" and verdict.display["same_holder_proven"] is True
    # declining one element: the club sees it was not shared and refers the check to a person
    consent[DOCTYPE_DBS] = {ns: [e for e in els if e != "outcome"] for ns, els in consent[DOCTYPE_DBS].items()}
    pending = wallet.read_request(engine.start_challenge())
    verdict = [engine.scan(t) for t in wallet.answer(pending, consent)][-1]
    assert verdict.decision == "refer"


def test_reader_without_entitlement_is_shown_with_a_warning(wallet, issuer_data):
    """A verifier whose certificate states no entitlement: the model gives the consent screen its warning and the
    holder decides; the strict setting refuses it (issue 15)."""
    from didlib.session.reader_auth import UNSTATED_WARNING

    reader_ca = PkiDir(issuer_data / "pki" / "dvla")
    key = generate_key()
    bare = create_reader_certificate(reader_ca.certificate("reader-ca"), reader_ca.key("reader-ca"),
                                     key.public_key(), common_name="Corner Shop")
    _, data = wallet._trust_data()
    engine = VerifierEngine(AgePolicy(18), data, reader_key=key, reader_chain=[bare])
    pending = wallet.read_request(engine.start_challenge())
    assert pending.reader.name == "Corner Shop"
    assert wallet.consent_warnings(pending.reader) == [UNSTATED_WARNING]
    consent = {d.doctype: {ns: [e for e in els if e.startswith("age_over")] for ns, els in d.allowed().items()}
               for d in pending.documents}
    verdict = [engine.scan(t) for t in wallet.answer(pending, consent)][-1]
    # the holder shared the age and kept the portrait: the shop sees over 18 and checks the face itself
    assert verdict.display == {"over_18": True} and verdict.codes == ["no_portrait"]
    wallet.require_entitlement = True
    try:
        with pytest.raises(ReaderNotAuthorised) as info:
            wallet.read_request(engine.start_challenge())
        assert info.value.code == "entitlement_missing"
    finally:
        wallet.require_entitlement = False


def test_dc_api_request_answered_for_the_calling_origin(wallet, issuer_data):
    """Item 2 of issue 18: the request and origin as Android Credential Manager hands them over, the consent data
    (origin shown), the answer bound to the origin and a single-use proof spent; a signed request made for
    another origin is refused."""
    from didlib.mdoc.registry import ONLINE_AGE_ENTITLEMENT
    from didlib.oid4vp import PresentationRequest, age_query, dc_api_error, error_response
    from didlib.oid4vp.dc_api import navigator_options

    reader = PkiDir(issuer_data / "pki" / "dvla").website_reader("shop.example", organisation="Example Shop",
                                                                 entitlement=ONLINE_AGE_ENTITLEMENT)
    _, data = wallet._trust_data()
    request = PresentationRequest.create_dc_api("https://shop.example", age_query(18), host="shop.example")
    digital = json.dumps(navigator_options(request, reader)["digital"])
    with pytest.raises(ReaderNotAuthorised) as info:  # a page elsewhere relays the shop's signed request
        wallet.open_dc_api_request(digital, "https://www.shop.example")
    assert info.value.code == "origin_mismatch" and dc_api_error() == {"error": "invalid_request"}
    asked = wallet.open_dc_api_request(digital, "https://shop.example")
    assert asked.asker == "Example Shop (https://shop.example)" and asked.requested_claims() == ["age_over_18"]
    assert asked.beyond_entitlement == [] and wallet.consent_warnings(asked.reader) == []
    before = {c.doctype: c.online for c in wallet.cards()}[DOCTYPE_AGE]
    answer = wallet.answer_dc_api(asked)
    assert set(answer) == {"response"}, "dc_api.jwt: encrypted to the page's request key"
    result = request.check(answer, trust=data.issuers, status_checker=data.status)
    assert result.valid and result.claims == {"age_over_18": True}, result.errors
    assert {c.doctype: c.online for c in wallet.cards()}[DOCTYPE_AGE] == before - 1, "a single-use proof spent"
    assert error_response(asked) == {"error": "access_denied"}
    unsigned = {"protocol": "openid4vp-v1-unsigned",
                "data": request.dc_api_requests()[0]["data"] | {"client_id": "x509_san_dns:elsewhere"}}
    asked = wallet.open_dc_api_request(unsigned, "https://anywhere.example")
    assert asked.reader is None and asked.asker == "https://anywhere.example"


def test_org_iso_mdoc_request_answered_for_the_calling_origin(wallet, issuer_data):
    """ISO/IEC 18013-7 Annex C: an org-iso-mdoc request as the platform hands it over (the only one, as Safari
    sends it): who asks (its readerAuth), the consent data, a sealed DeviceResponse from an unused mdoc proof of
    age; the same request at another origin is refused (its readerAuth signs the shop's origin)."""
    from didlib.mdoc.registry import ONLINE_AGE_ENTITLEMENT
    from didlib.oid4vp import PresentationRequest, age_query

    reader = PkiDir(issuer_data / "pki" / "dvla").website_reader("shop.example", organisation="Example Shop",
                                                                 entitlement=ONLINE_AGE_ENTITLEMENT)
    _, data = wallet._trust_data()
    request = PresentationRequest.create_dc_api("https://shop.example", age_query(18), host="shop.example")
    (mdoc,) = [e for e in request.dc_api_requests(reader) if e["protocol"] == "org-iso-mdoc"]
    with pytest.raises(ReaderNotAuthorised):
        wallet.open_dc_api_request(mdoc, "https://www.shop.example")
    asked = wallet.open_dc_api_request({"requests": [mdoc]}, "https://shop.example")
    assert asked.asker == "Example Shop (https://shop.example)" and asked.requested_claims() == ["age_over_18"]
    unused = sum(1 for e in wallet._entries() if e["config_id"].endswith(".age.mdoc") and not e["used"])
    answer = wallet.answer_dc_api(asked)
    assert set(answer) == {"response"} and "." not in answer["response"], "an HPKE-sealed EncryptedResponse"
    result = request.check(answer, trust=data.issuers, status_checker=data.status)
    assert result.valid and result.claims == {"age_over_18": True} and result.credential_id == "age_mdoc", \
        result.errors
    assert sum(1 for e in wallet._entries() if e["config_id"].endswith(".age.mdoc") and not e["used"]) == unused - 1


def test_peer_check_between_two_wallets(wallet, issuer, tmp_path):
    other = WalletModel(tmp_path / "other")
    other.setup("135790")
    offer = IssuerClient(issuer).identify(*IDENTITY)
    other.add_from_offer(offer["credential_offer_uri"], offer["tx_code"])
    verdict = wallet.peer_check(other.share_identity())
    assert verdict.decision == "accept" and verdict.display["name"] == "SARAH JANE MORGAN"


def test_revocation_shows_on_the_card(wallet, issuer):
    admin = {"Authorization": "Bearer admin"}
    licence = wallet._licence_entry()
    index = wallet._credential(licence).mso.status["status_list"]["idx"]
    listed = httpx.get(f"{issuer}/admin/drivers/{IDENTITY[0]}/credentials", headers=admin).json()
    target = next(c for c in listed if c["statusIndex"] == index and c["config"] == "uk.dvla.mdl.mdoc")
    httpx.post(f"{issuer}/admin/credentials/{target['id']}/suspend", headers=admin).raise_for_status()
    wallet.refresh_status()
    assert {c.doctype: c.status for c in wallet.cards()}[DOCTYPE_MDL] == "suspended"
    httpx.post(f"{issuer}/admin/credentials/{target['id']}/reinstate", headers=admin).raise_for_status()
    wallet.refresh_status()
    assert {c.doctype: c.status for c in wallet.cards()}[DOCTYPE_MDL] == "valid"


def test_locked_wallet_refuses(wallet, tmp_path):
    model = WalletModel(wallet.folder)
    with pytest.raises(Exception) as info:
        model.cards()
    assert getattr(info.value, "code", None) == "locked"
    with pytest.raises(WrongPin):
        model.unlock("000000")
    model.unlock("246810")
    assert len(model.cards()) >= 2


def test_share_over_an_iso_session_on_the_local_network(wallet, issuer_data):
    """The wallet shows an mdoc: engagement naming a TCP port; a shop's reader connects and asks."""
    from didlib.mdoc import DOCTYPE_AGE
    from didlib.mdoc.registry import NS_AGE
    from didlib.session import ReaderSession

    share = wallet.start_proximity("127.0.0.1")
    assert share.uri.startswith("mdoc:")
    shop = PkiDir(issuer_data / "pki" / "dvla")
    _, data = wallet._trust_data()
    reader = ReaderSession(share.uri, {DOCTYPE_AGE: {NS_AGE: {"age_over_18": False, "portrait": False}}},
                           trust=data.issuers, reader_key=shop.key("reader"), reader_chain=[shop.certificate("reader")])
    thread, outcome = till_in_thread(reader)
    pending = share.wait_for_request(timeout=10)
    assert pending.reader.name == "Example Shop"
    share.respond({DOCTYPE_AGE: {NS_AGE: ["age_over_18"]}})  # the holder unticked the portrait
    thread.join(10)
    result = outcome["result"]
    assert result.valid and result.documents[0].elements == {NS_AGE: {"age_over_18": True}}


def _till(wallet, issuer_data) -> VerifierEngine:
    """An age-check till with the issuer's shop reader certificate and the wallet's trust data."""
    shop = PkiDir(issuer_data / "pki" / "dvla")
    _, data = wallet._trust_data()
    return VerifierEngine(AgePolicy(18), data, reader_key=shop.key("reader"), reader_chain=[shop.certificate("reader")])


@pytest.mark.parametrize(("phone_ble", "till_ble", "note"), [
    (True, True, "Bluetooth (the phone is the server)"),
    (True, False, "local network (no Bluetooth adapter)"),
    (False, True, "local network"),
], ids=["both", "till_without_adapter", "phone_without_adapter"])
def test_share_with_a_till_over_bluetooth_or_the_local_network(wallet, issuer_data, phone_ble, till_ble, note):
    """The wallet offers ISO 18013-5 BLE next to the local network when it has an adapter; the till's
    engine takes BLE when both have it, else the network, and both say which."""
    import threading

    from didlib.mdoc.registry import NS_AGE
    from didlib.session.ble.bumble_stack import VirtualLink

    link = VirtualLink()
    phone = link.adapter("phone") if phone_ble else None
    till = link.adapter("till") if till_ble else None
    wallet.top_up()  # each answer spends a proof of age: new ones when two are left
    share = wallet.start_proximity("127.0.0.1", adapter=phone)
    assert share.bluetooth == ("Bluetooth and local network" if phone_ble
                               else "local network only (no Bluetooth adapter)")
    engine, outcome = _till(wallet, issuer_data), {}
    thread = threading.Thread(target=lambda: outcome.update(zip(("verdict", "note"), engine.read_engagement(
        share.uri, till, no_adapter="no Bluetooth adapter", timeout=20), strict=True)))
    thread.start()
    pending = share.wait_for_request(timeout=20)
    assert pending.reader.name == "Example Shop"
    share.respond({DOCTYPE_AGE: {NS_AGE: ["age_over_18", "portrait"]}})
    thread.join(20)
    link.close()
    verdict = outcome["verdict"]
    assert verdict.decision == "accept", verdict.reasons
    assert outcome["note"] == note
    assert engine.stats() == {"checks": 1, "accept": 1}


def test_a_till_whose_customer_declines_gets_a_plain_reason(wallet, issuer_data):
    import threading

    from didlib.session.ble.bumble_stack import VirtualLink

    link = VirtualLink()
    wallet.top_up()  # each answer spends a proof of age: new ones when two are left
    share = wallet.start_proximity("127.0.0.1", adapter=link.adapter("phone"))
    engine, outcome = _till(wallet, issuer_data), {}
    thread = threading.Thread(target=lambda: outcome.update(zip(("verdict", "note"), engine.read_engagement(
        share.uri, link.adapter("till"), timeout=20), strict=True)))
    thread.start()
    share.wait_for_request(timeout=20)
    share.decline()
    thread.join(20)
    link.close()
    verdict = outcome["verdict"]
    assert verdict.decision == "reject" and verdict.codes == ["session_terminated"]
    assert verdict.reasons == ["the customer ended the check on their phone"]


def test_each_showing_gets_a_fresh_proof_and_a_spent_batch_is_said(issuer, tmp_path):
    """specs/presentation.md: one proof of age per showing, never shown twice, no silent licence instead."""
    model, _ = new_wallet(tmp_path, issuer, lambda _: None)

    def spent() -> set[str]:
        return {e["key_id"] for e in model._entries() if e.get("doctype") == DOCTYPE_AGE and e["used"]}

    for showing in range(5):
        first = model.prove_age(18)
        renewed = [model.prove_age(18, again=True), model.prove_age(21, again=True)]  # left on screen a while
        assert len(spent()) == showing + 1, "renewing the code on screen spends nothing"
        assert first not in renewed, "a renewed code is new (time and nonce)"
        model.end_showing()
    assert len(spent()) == 5, "five showings, five different credentials"
    with pytest.raises(UsageError) as refused:
        model.prove_age(18)
    assert refused.value.code == "no_unused_proof"
