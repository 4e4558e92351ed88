"""Offline presentation end to end: wallet -> QR image -> decoder -> verifier engine, and every attack."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image

from conftest import NOW, issue
from didlib import TrustStore
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL
from didlib.mdoc.registry import NS_AGE, NS_DBS, NS_ISO
from didlib.pki import create_reader_certificate
from didlib.presentation import answer_challenge, make_oneway, read_challenge
from didlib.qr import Assembler, codes_for, decode_image, decode_rgba, qr_png, qr_version, unframe
from didlib.samples import Person, dbs_data, proof_of_age_data
from didlib.session import entitlement_extension
from didlib.status import StatusChecker, StatusList, StatusListToken
from didlib.verifier import AgePolicy, PeerPolicy, TrustData, VerifierEngine, VolunteerPolicy


def scan_images(engine, texts):
    """Draw each code, read it back from the picture, feed the engine (as a camera would)."""
    verdict = None
    for text in texts:
        (decoded,) = decode_image(Image.open(io.BytesIO(qr_png(text))))
        assert decoded == text
        verdict = engine.scan(decoded)
    return verdict


@pytest.fixture
def clock():
    now = [NOW]
    return now


@pytest.fixture
def engine_for(pki, clock):
    def make(policy=None, trust=None, **kw):
        signer = pki.certificate("ds")
        data = trust or TrustData(TrustStore([pki.certificate("iaca")], [signer]))
        return VerifierEngine(policy or AgePolicy(18), data, reader_key=pki.key("reader"),
                              reader_chain=[pki.certificate("reader")], clock=lambda: clock[0], **kw)
    return make


def test_proof_of_age_fits_the_size_target(age_credential, device_key):
    text = make_oneway(age_credential, device_key, now=NOW)
    codes = codes_for(text)
    versions = [qr_version(c, "L" if len(codes) == 1 else "M") for c in codes]
    assert (len(codes) == 1 and versions[0] <= 30) or (len(codes) <= 2 and max(versions) <= 25), versions


def test_one_way_end_to_end(age_credential, device_key, engine_for, portrait):
    engine = engine_for()
    verdict = scan_images(engine, codes_for(make_oneway(age_credential, device_key, now=NOW)))
    assert verdict.decision == "accept" and verdict.headline == "OVER 18"
    assert verdict.display == {"over_18": True, "portrait": portrait}, "only what an age check needs"
    assert verdict.portrait_prominent and verdict.issuer == "DVLA IACA"
    assert engine.stats() == {"checks": 1, "accept": 1}


def test_parts_in_any_order_and_repeated(age_credential, device_key, engine_for):
    engine = engine_for()
    codes = codes_for(make_oneway(age_credential, device_key, now=NOW))
    assert len(codes) == 2
    assert engine.scan(codes[1]) is None and engine.scan(codes[1]) is None
    assert engine.progress() and engine.scan(codes[0]).decision == "accept"


def test_replayed_code_is_refused(age_credential, device_key, engine_for):
    engine = engine_for()
    text = make_oneway(age_credential, device_key, now=NOW)
    assert engine.scan(text).decision == "accept"
    again = engine.scan(text)
    assert again.decision == "reject" and again.reasons == ["this code was already used"]


def test_replay_cache_survives_restarts(age_credential, device_key, engine_for, tmp_path):
    from didlib.verifier import ReplayCache

    text = make_oneway(age_credential, device_key, now=NOW)
    assert engine_for(replay=ReplayCache(tmp_path / "replay.sqlite")).scan(text).decision == "accept"
    assert engine_for(replay=ReplayCache(tmp_path / "replay.sqlite")).scan(text).codes == ["replayed"]


def test_screenshot_expires(age_credential, device_key, engine_for, clock):
    engine = engine_for()
    text = make_oneway(age_credential, device_key, now=NOW)
    clock[0] = NOW + dt.timedelta(seconds=61)
    assert engine.scan(text).codes == ["too_old"]
    clock[0] = NOW - dt.timedelta(minutes=5)
    assert engine.scan(text).codes == ["from_the_future"]


def test_tampered_code(age_credential, device_key, engine_for):
    from didlib.cbor import decode, encode
    from didlib.presentation.qrflows import ONE_WAY
    from didlib.qr import frame

    _, created, nonce, response = unframe(make_oneway(age_credential, device_key, now=NOW))
    doc = decode(response)
    items = doc["documents"][0]["issuerSigned"]["nameSpaces"][NS_AGE]
    portrait_item = next(i for i in items if b"portrait" in i.content)
    forged = {**portrait_item.decode(), "elementValue": b"\xff\xd8x"}
    items[items.index(portrait_item)] = type(portrait_item).wrap(forged)
    verdict = engine_for().scan(frame([ONE_WAY, created, nonce, encode(doc)]))
    assert verdict.decision == "reject" and verdict.reasons == ["the code has been altered"]


def test_other_holder_signs_the_code(age_credential, engine_for):
    verdict = engine_for().scan(make_oneway(age_credential, generate_key(), now=NOW))
    assert verdict.codes == ["device_auth_failed"]


def test_under_age_and_wrong_threshold(pki, device_key, portrait, engine_for):
    minor = proof_of_age_data(Person("X", "Y", dt.date(2009, 1, 1), 1, "", "", ""), NOW.date(), portrait)
    cred = issue(pki, DOCTYPE_AGE, minor, device_key.public_key())
    verdict = engine_for().scan(make_oneway(cred, device_key, ["age_over_18", "portrait"], now=NOW))
    assert verdict.decision == "reject" and verdict.headline == "UNDER 18"
    over16 = engine_for(AgePolicy(16)).scan(make_oneway(cred, device_key, ["age_over_16", "portrait"], now=NOW))
    assert over16.decision == "accept"
    asked_wrong = engine_for(AgePolicy(25)).scan(make_oneway(cred, device_key, ["age_over_18", "portrait"], now=NOW))
    assert asked_wrong.decision == "refer"


def test_untrusted_issuer_and_unknown_signer(age_credential, device_key, engine_for, tmp_path):
    from didlib.pkidir import PkiDir

    other = PkiDir.create(tmp_path, now=NOW - dt.timedelta(days=1))
    engine = engine_for(trust=TrustData(TrustStore([other.certificate("iaca")], [other.certificate("ds")])))
    verdict = engine.scan(make_oneway(age_credential, device_key, now=NOW))
    assert verdict.reasons == ["issuer not trusted (not on the trust list)"]
    # a full (non-compact) code carries its signer, which chains to no trusted root
    verdict = engine.scan(make_oneway(age_credential, device_key, now=NOW, compact=False))
    assert verdict.reasons == ["issuer not trusted"]


def test_revoked(pki, device_key, portrait, engine_for):
    uri = "https://dvla.example.invalid/status/9"
    cred = issue(pki, DOCTYPE_AGE, proof_of_age_data(today=NOW.date(), portrait=portrait), device_key.public_key(),
                 status={"status_list": {"idx": 4, "uri": uri}})
    lst = StatusList(16)
    lst.set(4, 1)
    token = StatusListToken.create_cwt(uri, lst, pki.key("ds"), now=NOW, chain=[pki.certificate("ds")])
    store = TrustStore([pki.certificate("iaca")], [pki.certificate("ds")])
    engine = engine_for(trust=TrustData(store, StatusChecker({uri: token}, trust=store)))
    verdict = engine.scan(make_oneway(cred, device_key, now=NOW))
    assert verdict.decision == "reject" and verdict.reasons == ["this proof of age has been revoked by its issuer"]
    assert verdict.action == "Do not sell. Ask for another proof of age.", "a red screen says what to do"
    assert verdict.as_json()["action"] == verdict.action


def test_stale_trust_data_is_said(age_credential, device_key, engine_for, pki):
    store = TrustStore([pki.certificate("iaca")], [pki.certificate("ds")])
    engine = engine_for(trust=TrustData(store, fetched_at=NOW - dt.timedelta(days=10)))
    verdict = engine.scan(make_oneway(age_credential, device_key, now=NOW))
    assert verdict.decision == "accept" and verdict.stale
    assert verdict.data_age["trustList"] == 10 * 86400
    assert "the trust list is out of date: update when online" in verdict.reasons


def test_garbage_codes(engine_for):
    engine = engine_for()
    for text in ("hello", "DL1:!!!", "DLM:1/2:AB:x", "DL1:" + "A" * 30_000):
        verdict = engine.scan(text)
        assert verdict.decision == "reject" and verdict.reasons


# -------------------------------------------------------------------------------------------- challenge
def test_challenge_end_to_end(licence, age_credential, device_key, engine_for, pki):
    engine = engine_for()
    request = engine.start_challenge()
    (scanned,) = decode_image(Image.open(io.BytesIO(qr_png(request))))
    holdings = [(licence, device_key), (age_credential, device_key)]
    pending = read_challenge(scanned, holdings, TrustStore([pki.certificate("reader-ca")]), now=NOW)
    assert pending.reader.name == "Example Shop"
    assert pending.documents[0].doctype == DOCTYPE_AGE and pending.documents[0].beyond_entitlement == {}
    answer = answer_challenge(pending, holdings)
    verdict = scan_images(engine, codes_for(answer))
    assert verdict.decision == "accept", verdict.reasons
    again = engine.scan(answer)
    assert again.decision == "reject" and again.codes == ["replayed"]


def test_answer_for_another_verifier_is_useless(licence, device_key, engine_for, pki):
    reader_cas = TrustStore([pki.certificate("reader-ca")])
    first, second = engine_for(), engine_for()
    pending = read_challenge(first.start_challenge(), [(licence, device_key)], reader_cas, now=NOW)
    second.start_challenge()
    verdict = second.scan(answer_challenge(pending, [(licence, device_key)]))
    assert verdict.decision == "reject" and verdict.codes == ["decryption_failed"]


def test_request_beyond_entitlement_is_withheld(licence, device_key, engine_for, pki):
    engine = engine_for(PeerPolicy())  # asks for name and portrait: the shop reader may ask for neither name
    pending = read_challenge(engine.start_challenge(), [(licence, device_key)],
                             TrustStore([pki.certificate("reader-ca")]), now=NOW)
    assert pending.documents[0].beyond_entitlement == {NS_ISO: ["given_name", "family_name"]}
    verdict = engine.scan(answer_challenge(pending, [(licence, device_key)]))
    assert verdict.decision == "refer" and "given_name" not in str(verdict.display)


def test_request_from_unknown_reader_is_refused(licence, device_key, engine_for, tmp_path):
    from didlib.errors import ReaderNotAuthorised
    from didlib.pkidir import PkiDir

    strangers = PkiDir.create(tmp_path, now=NOW - dt.timedelta(days=1))
    with pytest.raises(ReaderNotAuthorised) as info:
        read_challenge(engine_for().start_challenge(), [(licence, device_key)],
                       TrustStore([strangers.certificate("reader-ca")]), now=NOW)
    assert info.value.code == "untrusted_issuer"


# -------------------------------------------------------------------------------------------- volunteer
@pytest.fixture
def youth_club(pki):
    key = generate_key()
    cert = create_reader_certificate(
        pki.certificate("reader-ca"), pki.key("reader-ca"), key.public_key(), common_name="Scouts Hall",
        not_before=NOW - dt.timedelta(days=1),
        extra_extensions=[entitlement_extension({DOCTYPE_MDL: {NS_ISO: "*"}, DOCTYPE_DBS: {NS_DBS: "*"}})])
    return key, cert


def volunteer_check(pki, youth_club, holdings, clock_now=NOW):
    store = TrustStore([pki.certificate("iaca")], [pki.certificate("ds")])
    engine = VerifierEngine(VolunteerPolicy(), TrustData(store), reader_key=youth_club[0], reader_chain=[youth_club[1]],
                            clock=lambda: clock_now)
    pending = read_challenge(engine.start_challenge(), holdings, TrustStore([pki.certificate("reader-ca")]), now=NOW)
    return engine.scan(answer_challenge(pending, holdings))


def test_volunteer_same_holder(pki, licence, device_key, youth_club):
    dbs = issue(pki, DOCTYPE_DBS, dbs_data(today=NOW.date()), device_key.public_key())
    verdict = volunteer_check(pki, youth_club, [(licence, device_key), (dbs, device_key)])
    assert verdict.decision == "accept", verdict.reasons
    assert verdict.headline == "VOLUNTEER CLEARED" and verdict.display["same_holder_proven"] is True
    assert verdict.display["dbs_level"] == "enhanced_barred_lists"


def test_volunteer_mixed_up_holders(pki, licence, device_key, youth_club):
    someone_else = generate_key()
    dbs = issue(pki, DOCTYPE_DBS, dbs_data(today=NOW.date()), someone_else.public_key())
    verdict = volunteer_check(pki, youth_club, [(licence, device_key), (dbs, someone_else)])
    assert verdict.decision == "reject" and verdict.codes == ["not_same_holder"]


def test_volunteer_barred_and_disclosed(pki, licence, device_key, youth_club):
    barred = dbs_data(today=NOW.date())
    barred["uk.gov.dbs.check.1"]["barred_list_children"] = "barred"
    dbs = issue(pki, DOCTYPE_DBS, barred, device_key.public_key())
    assert volunteer_check(pki, youth_club, [(licence, device_key), (dbs, device_key)]).headline == "BARRED"
    disclosed = dbs_data(today=NOW.date())
    disclosed["uk.gov.dbs.check.1"]["outcome"] = "information_disclosed"
    dbs = issue(pki, DOCTYPE_DBS, disclosed, device_key.public_key())
    assert volunteer_check(pki, youth_club, [(licence, device_key), (dbs, device_key)]).decision == "refer"


def test_peer_check(pki, licence, device_key, youth_club):
    store = TrustStore([pki.certificate("iaca")], [pki.certificate("ds")])
    engine = VerifierEngine(PeerPolicy(), TrustData(store), reader_key=youth_club[0], reader_chain=[youth_club[1]],
                            clock=lambda: NOW)
    pending = read_challenge(engine.start_challenge(), [(licence, device_key)],
                             TrustStore([pki.certificate("reader-ca")]), now=NOW)
    verdict = engine.scan(answer_challenge(pending, [(licence, device_key)]))
    assert verdict.decision == "accept" and verdict.display["name"] == "SARAH JANE MORGAN"


def test_decode_rgba_camera_frame(age_credential, device_key):
    """A QR code in a 1280x720 camera-like frame, read from raw RGBA as a Kivy texture gives it."""
    text = codes_for(make_oneway(age_credential, device_key, now=NOW))[0]
    frame = Image.new("RGBA", (1280, 720), (90, 110, 100, 255))
    code = Image.open(io.BytesIO(qr_png(text, "M", box_size=3))).convert("RGBA")
    frame.paste(code, (400, 60))
    assert decode_rgba(frame.tobytes(), 1280, 720) == [text]
    mirrored = frame.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert decode_rgba(mirrored.tobytes(), 1280, 720) == [text]
    assert Assembler().add(text) is None


# ------------------------------------------------------------------------------------ trust data on disk
def test_trust_cache_refresh_and_offline_use(pki, tmp_path, age_credential, device_key):
    from didlib.trustlist import ISSUER, READER_CA, TrustList, TrustListEntry
    from didlib.verifier import TrustCache

    operator = generate_key()
    uri = "https://dvla.example.invalid/status/1"
    entries = [TrustListEntry("DVLA", ISSUER, [pki.certificate("iaca")], [pki.certificate("ds")], [uri]),
               TrustListEntry("Shops", READER_CA, [pki.certificate("reader-ca")])]
    token = TrustList("demo", NOW, NOW + dt.timedelta(days=30), entries).sign(operator)
    status = StatusListToken.create_jwt(uri, StatusList(8), pki.key("ds"), now=NOW, chain=[pki.certificate("ds")])
    server = {"https://trust.example/list": token.encode(), uri: status.encode()}

    def fetch(url):
        if url not in server:
            raise OSError(f"offline: {url}")
        return server[url]

    cache = TrustCache(tmp_path / "trust", operator.public_key())
    report = cache.refresh("https://trust.example/list", fetch, now=NOW)
    assert report.trust_list == "updated" and report.status_lists == {uri: "updated"} and not report.errors
    later = NOW + dt.timedelta(hours=3)
    data = TrustCache(tmp_path / "trust", operator.public_key()).load(later)  # a restart, offline
    assert data.age(later) == dt.timedelta(hours=3)
    assert data.status.check(uri, 0, later).state == "valid"
    assert data.status.check(uri, 0, later).stale, "older than the list's one-hour ttl"
    assert len(cache.reader_store(later)) == 1
    engine = VerifierEngine(AgePolicy(18), data, clock=lambda: NOW)
    assert engine.scan(make_oneway(age_credential, device_key, now=NOW)).decision == "accept"

    # offline again, and a forged list in transit: the good cached data stays
    server["https://trust.example/list"] = TrustList("evil", NOW, NOW + dt.timedelta(days=30), []).sign(
        generate_key()).encode()
    del server[uri]
    report = cache.refresh("https://trust.example/list", fetch, now=later)
    assert report.trust_list == "kept" and report.status_lists == {uri: "kept"} and len(report.errors) == 2
    assert len(cache.load(later).issuers) == 1


def test_trust_cache_without_data(tmp_path):
    from didlib.errors import UsageError
    from didlib.verifier import TrustCache

    with pytest.raises(UsageError):
        TrustCache(tmp_path, generate_key().public_key()).load(NOW)
