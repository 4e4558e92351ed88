"""Issue 21, end to end: a volunteer gets a licence, a DBS check and training from the real issuer service,
applies through the volunteer portal (a real process) with the wallet model, appears in the register; the
DBS issuer revokes the check and ``volunteer-register recheck`` (a real process) flags the volunteer. A DBS
check bound to another key than the licence is refused; an erased volunteer is gone from the files."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from privacy import needles, personal_traces

from conftest import new_wallet
from didlib import TrustStore
from didlib.errors import UsageError
from didlib.keys import generate_key
from didlib.mdoc.registry import NS_ISO
from didlib.oid4vp import build_response, parse_request, request_uri_parts
from didlib.samples import SAMPLE_DRIVER, driver_number
from issuer_service import process
from issuer_service.register import SAMPLE_DBS_NUMBER, SAMPLE_TRAINING_REFERENCE
from wallet_app.model.issuance import IssuerClient

ROOT = Path(__file__).resolve().parent.parent
ADMIN = {"Authorization": "Bearer admin"}
IDENTITY = (driver_number(SAMPLE_DRIVER), SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)
STAFF = ("lead", "staff-secret")


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    data = tmp_path_factory.mktemp("issuer")
    proc, base = process.start(data, DIDLIB_ADMIN_TOKEN="admin", DIDLIB_SEED_DRIVERS="10",
                               DIDLIB_RATE_PER_MINUTE="1000", DIDLIB_STATUS_LIST_SIZE="16")
    yield base, data
    process.stop(proc)


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("register")


def start_portal(issuer, state: Path):
    """The portal as a process on a free port, its register in ``state``: the process and its URL."""
    base, data = issuer
    port = process.free_port()
    url = f"http://localhost:{port}"
    proc = process.launch([sys.executable, str(ROOT / "examples/volunteer_portal/portal.py"), "--issuer", base,
                           "--reader-pki", str(data / "pki" / "dvla"), "--port", str(port), "--state", str(state),
                           "--staff-token", STAFF[1]], url)
    return proc, url


@pytest.fixture(scope="module")
def portal(issuer, state):
    proc, url = start_portal(issuer, state)
    yield url
    process.stop(proc)


@pytest.fixture(scope="module")
def volunteer(issuer, tmp_path_factory):
    """A wallet with the sample driver's licence, a DBS check and safeguarding training bound to it. Nine DBS
    checks are issued first, so the DBS issuer's first list (16 entries, a new one opens at half) is full and
    the volunteer's check is on a later list."""
    client = IssuerClient(issuer[0])
    (other,) = client.obtain(client.identify(*IDENTITY), "uk.dvla.mdl.mdoc")
    for _ in range(9):
        client.obtain(client.bind("dbs", SAMPLE_DBS_NUMBER, other.mdoc(), other.key).json(), "uk.dbs.check.mdoc",
                      keys=[other.key])
    wallet, _ = new_wallet(tmp_path_factory.mktemp("wallet"), issuer[0])
    for kind, reference in (("dbs", SAMPLE_DBS_NUMBER), ("training", SAMPLE_TRAINING_REFERENCE)):
        offer = wallet.request_bound(issuer[0], kind, reference)
        wallet.add_from_offer(offer["credential_offer_uri"], offer.get("tx_code"))
    return wallet


BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("DIDLIB_TEST_POSTGRES") else [])


@pytest.fixture(params=BACKENDS)
def register(request, tmp_path):
    """An empty register on SQLite (always) and PostgreSQL (when DIDLIB_TEST_POSTGRES is set)."""
    from volunteer_register import Register
    from volunteer_register.register import metadata

    if request.param == "sqlite":
        made = Register.in_folder(tmp_path / "register")
    else:
        made = Register(os.environ["DIDLIB_TEST_POSTGRES"])
        metadata.drop_all(made.engine)
        metadata.create_all(made.engine)
    yield made
    made.close()


def cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("volunteer-register")), "--state", str(state),
                           "--actor", "test", *args], capture_output=True, text=True, timeout=120)


def apply(portal: str) -> tuple[httpx.Client, str, str]:
    """A volunteer's browser starts an application: the browser, the page and the wallet link it shows."""
    browser = httpx.Client()
    started = browser.post(f"{portal}/apply")
    assert started.status_code == 303
    page = portal + started.headers["location"]
    link = html.unescape(re.search(r'id="link" href="([^"]+)"', browser.get(page).text).group(1))
    return browser, page, link


# ------------------------------------------- the browser's Digital Credentials API (before the DBS revocation)
@pytest.fixture(scope="module")
def dc_portal(issuer, tmp_path_factory):
    """A portal of its own for the browser path (its own register and its own starts-a-minute allowance)."""
    proc, url = start_portal(issuer, tmp_path_factory.mktemp("dc-register"))
    yield url
    process.stop(proc)


def test_portal_dc_api_endpoints(dc_portal, volunteer):
    """The page offers the browser path; its endpoints serve only the browser that started the application,
    refuse bad answers with a reason, and take the wallet's answer (bound to the portal's origin) like a POST
    from a scanned QR: the volunteer is on the register."""
    browser, page, _ = apply(dc_portal)
    application = page.rsplit("/", 1)[1]
    assert f'data-dc-api-request="/apply/{application}/dc-api"' in browser.get(page).text
    assert browser.get(dc_portal + "/dc-api.js").status_code == 200
    assert httpx.post(page + "/dc-api").status_code == 404, "only the browser that started the application"
    options = browser.post(page + "/dc-api").json()
    assert [r["protocol"] for r in options["digital"]["requests"]] == [
        "openid4vp-v1-signed", "openid4vp-v1-unsigned", "org-iso-mdoc"]
    for body in (b"{", b'{"protocol": "org-iso-mdoc", "data": {}}'):
        assert browser.post(page + "/dc-api/response", content=body).status_code == 400
    bogus = {"protocol": "openid4vp-v1-unsigned", "data": {"response": "a.b.c.d.e"}}
    assert httpx.post(page + "/dc-api/response", json=bogus).status_code == 404
    assert browser.post(page + "/dc-api/response", json=bogus).status_code == 400

    elsewhere = volunteer.open_dc_api_request({"requests": options["digital"]["requests"][1:2]}, "https://evil.example")
    relayed = browser.post(page + "/dc-api/response", json={"protocol": "openid4vp-v1-unsigned",
                                                             "data": volunteer.answer_dc_api(elsewhere)})
    assert relayed.status_code == 400, "an answer made for another origin (a phishing page) is refused"
    assert browser.get(page + "/outcome").json()["outcome"] == "waiting"

    request = volunteer.open_dc_api_request(options["digital"], dc_portal)
    assert request.reader.organisation == "Example Youth Clubs" and "certificate_number" in request.retained_claims()
    answered = browser.post(page + "/dc-api/response", json={"protocol": "openid4vp-v1-signed",
                                                             "data": volunteer.answer_dc_api(request)})
    assert answered.status_code == 200 and answered.json() == {"outcome": "verified"}, answered.text
    assert browser.get(page + "/outcome").json() == {"outcome": "verified", "registered": True, "detail": ""}
    staff_page = httpx.get(f"{dc_portal}/register", auth=STAFF)
    assert SAMPLE_DBS_NUMBER in staff_page.text and SAMPLE_DRIVER.family_name in staff_page.text


def test_portal_takes_an_org_iso_mdoc_answer(dc_portal, volunteer):
    """Safari's only protocol (ISO 18013-7 Annex C): the same one-person check and the register."""
    browser, page, _ = apply(dc_portal)
    options = browser.post(page + "/dc-api").json()
    iso = {"requests": [r for r in options["digital"]["requests"] if r["protocol"] == "org-iso-mdoc"]}
    request = volunteer.open_dc_api_request(iso, dc_portal)
    answered = browser.post(page + "/dc-api/response", json={"protocol": "org-iso-mdoc",
                                                             "data": volunteer.answer_dc_api(request)})
    assert answered.status_code == 200 and answered.json() == {"outcome": "verified"}, answered.text
    assert browser.get(page + "/outcome").json() == {"outcome": "verified", "registered": True, "detail": ""}


def test_volunteer_applies_in_the_browser(dc_portal, volunteer, tmp_path):
    """Headless Chromium (tests/devtools.py) on the portal: "Apply with my wallet", then "Verify with your
    wallet"; the browser's credential selector (played by the test) hands the request and the page's origin
    to the wallet model, whose answer the page posts; the page thanks the volunteer."""
    from test_age_gated_shop import SCREENSHOTS, SELECTOR, browser_page, selector_request

    events: list[dict] = []
    page = browser_page(tmp_path, events, SELECTOR)
    try:
        page.call("Page.navigate", url=dc_portal + "/")
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('apply')")
        page.evaluate("document.getElementById('apply').click()")
        page.wait_for("location.pathname.startsWith('/apply/') && document.readyState === 'complete' "
                      "&& !!document.getElementById('qr')")
        assert page.wait_for("!document.getElementById('dc-api').hidden && "
                             "document.getElementById('dc-api').textContent") == "Verify with your wallet"
        page.evaluate("document.getElementById('dc-api').click()", userGesture=True)
        asked = selector_request(page, events)
        assert asked["origin"] == dc_portal, "the browser asserts the page's origin"
        request = volunteer.open_dc_api_request(asked["digital"], asked["origin"])
        assert request.reader.organisation == "Example Youth Clubs"
        answer = {"protocol": "openid4vp-v1-signed", "data": volunteer.answer_dc_api(request)}
        page.evaluate(f"window.__walletAnswers({json.dumps(answer)})")
        outcome = page.wait_for("(() => { const p = document.getElementById('outcome'); "
                                "return /register|not accepted/i.test(p.textContent) && "
                                "[p.textContent, p.className]; })()")
        assert outcome == ["Thank you: your checks are verified and you are on our register", "verified"], outcome
        SCREENSHOTS.mkdir(exist_ok=True)
        shot = page.call("Page.captureScreenshot", format="png")["data"]
        (SCREENSHOTS / "portal-dc-api.png").write_bytes(base64.b64decode(shot))
    finally:
        page.close()


def test_apply_register_revoke_recheck(issuer, portal, volunteer, state):
    browser, page, link = apply(portal)
    request = volunteer.open_online_request(link)
    assert request.reader.organisation == "Example Youth Clubs"
    assert set(request.retained_claims()) == {"given_name", "family_name", "birth_date", "certificate_level",
                                              "workforce", "certificate_number", "issue_date", "level",
                                              "renewal_date"}
    assert "portrait" in request.requested_claims() and "portrait" not in request.retained_claims()
    assert any("never your photo" in p for p in request.purposes())
    volunteer.answer_online(request)
    assert browser.get(page + "/outcome").json() == {"outcome": "verified", "registered": True, "detail": ""}

    listed = cli(state, "list")
    assert listed.returncode == 0, listed.stderr
    assert SAMPLE_DRIVER.family_name in listed.stdout and SAMPLE_DBS_NUMBER in listed.stdout
    licence = next(e for e in volunteer._entries() if e["config_id"] == "uk.dvla.mdl.mdoc")
    portrait = volunteer._credential(licence).elements()[NS_ISO]["portrait"]
    keys = [volunteer._keys().private_key(e["key_id"]).public_key() for e in volunteer._entries()]
    never = {what: value for what, value in needles(SAMPLE_DRIVER, IDENTITY[0], portrait, keys).items()
             if what.startswith(("portrait", "document number", "device key"))}
    assert personal_traces(state, [never]) == [], "no photo, no licence number, no device key in the register"
    from volunteer_register import Register

    with contextlib.closing(Register.in_folder(state)) as register:
        (record,) = register.volunteers("test")
    dbs_list = next(c.status_uri for c in record.credentials if c.kind == "dbs")
    assert not dbs_list.endswith("/1"), f"the volunteer's DBS check is on a later list: {dbs_list}"
    first = cli(state, "recheck")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 volunteers checked, 0 flagged" in first.stdout

    audit = httpx.get(f"{issuer[0]}/admin/audit", headers=ADMIN, params={"limit": 1000}).json()
    dbs_id = next(e["target"].split(":")[1] for e in audit if e["action"] == "issue"
                  and e["detail"] == "uk.dbs.check.mdoc")
    revoked = httpx.post(f"{issuer[0]}/admin/credentials/{dbs_id}/revoke", headers=ADMIN)
    assert revoked.json()["state"] == "invalid"

    flagged = cli(state, "recheck")
    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    assert "DBS check revoked by its issuer" in flagged.stdout and SAMPLE_DRIVER.family_name in flagged.stdout
    offline = cli(state, "recheck", "--offline")  # no network: the cached lists, with their age
    assert offline.returncode == 1 and "DBS check revoked" in offline.stdout and "min old" in offline.stdout

    together = [subprocess.Popen([str(Path(sys.executable).with_name("volunteer-register")), "--state", str(state),
                                  "--actor", f"cron{n}", "recheck"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for n in range(4)]  # four rechecks at once on one register
    outputs = [proc.communicate(timeout=120) for proc in together]
    assert [proc.returncode for proc in together] == [1] * 4, outputs
    assert all("DBS check revoked" in out for out, _ in outputs)

    staff_page = httpx.get(f"{portal}/register", auth=STAFF)
    assert staff_page.status_code == 200 and "DBS check revoked by its issuer" in staff_page.text
    assert "volunteers checked" in staff_page.text, "the portal's own scheduled recheck ran"
    assert httpx.get(f"{portal}/register").status_code == 401
    assert httpx.get(f"{portal}/register", auth=("lead", "wrong")).status_code == 401
    export = httpx.get(f"{portal}/register.csv", auth=STAFF)
    assert export.status_code == 200 and SAMPLE_DBS_NUMBER in export.text and "revoked" in export.text
    actions = [json_line.split('"action": "')[1].split('"')[0] for json_line in cli(state, "audit").stdout.splitlines()]
    assert {"add", "list", "recheck", "export"} <= set(actions), actions
    assert oct(os.stat(state / "register.sqlite").st_mode & 0o777) == "0o600", "the register is not world-readable"


def test_dbs_bound_to_another_key_is_refused(issuer, portal, state):
    """Two licences of one driver on two keys; the DBS check bound to the second, shown with the first."""
    client = IssuerClient(issuer[0])
    first, second = (client.obtain(client.identify(*IDENTITY), "uk.dvla.mdl.mdoc", keys=[generate_key()])[0]
                     for _ in range(2))
    bound = client.bind("dbs", SAMPLE_DBS_NUMBER, second.mdoc(), second.key)
    assert bound.status_code == 200, bound.text
    (dbs,) = client.obtain(bound.json(), "uk.dbs.check.mdoc", keys=[second.key])
    browser, page, link = apply(portal)
    client_id, request_uri = request_uri_parts(link)
    readers = TrustStore.from_pem_files([issuer[1] / "pki" / "dvla" / "reader-ca.pem"])
    request = parse_request(httpx.get(request_uri).text, readers, client_id=client_id)
    answer = build_response(request, [], [(first.mdoc(), first.key), (dbs.mdoc(), second.key)])
    assert httpx.post(request.claims["response_uri"], data=answer.form).status_code == 400
    outcome = browser.get(page + "/outcome").json()
    assert outcome["outcome"] == "waiting" and outcome["registered"] is False
    assert "not bound to the same device key" in outcome["detail"]


def test_erased_volunteer_is_gone_from_the_files(issuer, portal, volunteer, state):
    """After the application above: erase the volunteer; neither name nor certificate number is left in
    any file of the register's folder (database, WAL, trust cache, applications)."""
    listed = cli(state, "list").stdout
    volunteer_id = re.search(r'"id": (\d+)', listed).group(1)
    kept = {"family name": SAMPLE_DRIVER.family_name.encode(), "certificate number": SAMPLE_DBS_NUMBER.encode()}
    assert personal_traces(state, [kept]), "the register held them before"
    erased = cli(state, "erase", volunteer_id)
    assert erased.returncode == 0, erased.stderr
    assert personal_traces(state, [kept]) == []
    assert cli(state, "show", volunteer_id).returncode == 2
    assert "erase" in cli(state, "audit").stdout


def test_left_volunteers_purged_after_retention(register):
    from volunteer_register import Volunteer

    today = dt.date(2026, 6, 1)
    stay = register.add(Volunteer("Ann", "Stays", dt.date(1990, 1, 1), "enhanced", "child", "111111111111",
                                  dt.date(2026, 1, 1)), "test")
    gone = register.add(Volunteer("Bob", "Leaves", dt.date(1991, 1, 1), "enhanced", "child", "222222222222",
                                  dt.date(2026, 1, 1)), "test")
    recent = register.add(Volunteer("Cat", "Recent", dt.date(1992, 1, 1), "enhanced", "child", "333333333333",
                                    dt.date(2026, 1, 1)), "test")
    register.left(gone, "test", on=today - dt.timedelta(days=400))
    register.left(recent, "test", on=today - dt.timedelta(days=10))
    assert register.purge(dt.timedelta(days=365), "test", today=today) == 1
    assert [v.id for v in register.volunteers("test")] == [recent, stay]
    assert [e["action"] for e in register.audit_log("test")][:2] == ["list", "purge"]
    with pytest.raises(UsageError):
        register.left(gone, "test")


def test_erase_on_the_register(register):
    """Erasure at the register: the row and its credential references go; on SQLite not a byte is left (many
    volunteers, so the erased one shared pages with others); a second erase is a clear error."""
    from volunteer_register import CredentialRef, Volunteer

    ids = [register.add(Volunteer("Given", f"Family{n:04d}", dt.date(1990, 1, 1), "enhanced", "child",
                                  f"{n:012d}", dt.date(2026, 1, 1), credentials=[
                                      CredentialRef("dbs", LIST_2, n, None)]), "test") for n in range(1, 200)]
    target = ids[100]
    register.erase(target, "test")
    left = register.volunteers("test")
    assert len(left) == 198 and target not in {v.id for v in left}
    assert all(c.status_idx != 101 for v in left for c in v.credentials)
    if register.files():
        assert personal_traces(register.files()[0].parent, [{"name": b"Family0101", "number": b"000000000101"}]) == []
    with pytest.raises(UsageError) as info:
        register.erase(target, "test")
    assert info.value.code == "not_found"


# ------------------------------------------------------------------------------- recheck, without a network
LIST_1, LIST_2 = "https://dbs.example.invalid/status/dbs/1", "https://dbs.example.invalid/status/dbs/2"


@pytest.fixture
def issuer_lists(pki):
    """A trust list naming status list /1 only, and lists /1 and /2 (the issuer's list grew) on a fake server:
    index 5 of /2 revoked, index 6 suspended."""
    from conftest import NOW
    from didlib.status import Status, StatusList, StatusListToken
    from didlib.trustlist import ISSUER, TrustList, TrustListEntry

    operator = generate_key()
    entry = TrustListEntry("DBS", ISSUER, [pki.certificate("iaca")], [pki.certificate("ds")], [LIST_1])
    grown = StatusList(16, bits=2)
    grown.set(5, Status.INVALID)
    grown.set(6, Status.SUSPENDED)
    server = {
        "https://trust.example/list": TrustList("demo", NOW, NOW + dt.timedelta(days=30), [entry]).sign(operator),
        LIST_1: StatusListToken.create_jwt(LIST_1, StatusList(16, bits=2), pki.key("ds"), now=NOW,
                                           chain=[pki.certificate("ds")]),
        LIST_2: StatusListToken.create_jwt(LIST_2, grown, pki.key("ds"), now=NOW, chain=[pki.certificate("ds")]),
    }

    def fetch(url: str) -> bytes:
        if url not in server:
            raise OSError(f"offline: {url}")
        return server[url].encode()

    return operator, server, fetch


def someone(number: str, dbs_idx: int, *, training: dt.date | None = None, dbs_until: dt.datetime | None = None):
    from volunteer_register import CredentialRef, Volunteer

    return Volunteer("Ann", f"Volunteer{number[-1]}", dt.date(1990, 1, 1), "enhanced_barred_lists", "child", number,
                     dt.date(2026, 1, 1), "advanced", training, "online",
                     [CredentialRef("licence", LIST_1, 1, None), CredentialRef("dbs", LIST_2, dbs_idx, dbs_until)])


def test_recheck_follows_the_reference_and_flags(issuer_lists, register, tmp_path):
    """Each credential at the list its reference names (/2, which the trust list does not name); revoked,
    suspended, training due within 30 days and a credential past its end are flagged, flagged first."""
    from conftest import NOW
    from didlib.verifier import TrustCache
    from volunteer_register import recheck

    operator, _server, fetch = issuer_lists
    fine = register.add(someone("100000000001", 1, training=NOW.date() + dt.timedelta(days=200)), "test")
    revoked = register.add(someone("100000000002", 5), "test")
    suspended = register.add(someone("100000000003", 6), "test")
    due = register.add(someone("100000000004", 2, training=NOW.date() + dt.timedelta(days=20)), "test")
    ended = register.add(someone("100000000005", 3, dbs_until=NOW - dt.timedelta(days=1)), "test")
    cache = TrustCache(tmp_path / "trust", operator.public_key())
    report = recheck(register, cache, "https://trust.example/list", fetch, "test", now=NOW)
    assert not report.errors, report.errors
    assert set(report.flagged) == {revoked, suspended, due, ended}
    assert report.flagged[revoked] == ["DBS check revoked by its issuer"]
    assert report.flagged[suspended] == ["DBS check suspended by its issuer"]
    assert report.flagged[due] == [f"safeguarding training expires on {(NOW.date() + dt.timedelta(days=20))} "
                                   "(within 30 days)"]
    assert report.flagged[ended] == [f"DBS check credential expired on {(NOW - dt.timedelta(days=1)).date()}"]
    listed = register.volunteers("test")
    assert [v.id for v in listed][-1] == fine and all(v.flags for v in listed[:-1]), "flagged first"

    # offline, hours later: the cached lists still answer, and the report says how old they are
    later = NOW + dt.timedelta(hours=2)
    offline = recheck(register, cache, "https://trust.example/list", lambda url: fetch("nowhere"), "test", now=later)
    assert set(offline.flagged) == {revoked, suspended, due, ended}
    assert "could not refresh" in offline.summary() and "120 min old" in offline.summary()


def test_recheck_never_says_revoked_without_a_verified_list(issuer_lists, register, tmp_path):
    """A forged /2 (signed by a key no trust list names) is not kept: the status is "not confirmed", never
    "revoked"; with no trust data at all, every check is unconfirmed."""
    from conftest import NOW
    from didlib.status import Status, StatusList, StatusListToken
    from didlib.verifier import TrustCache
    from volunteer_register import recheck

    operator, server, fetch = issuer_lists
    forged = StatusList(16, bits=2)
    forged.set(2, Status.INVALID)
    server[LIST_2] = StatusListToken.create_jwt(LIST_2, forged, generate_key(), now=NOW)
    target = register.add(someone("100000000002", 2), "test")
    report = recheck(register, TrustCache(tmp_path / "trust", operator.public_key()),
                     "https://trust.example/list", fetch, "test", now=NOW)
    assert report.flagged[target] == ["DBS check: status not confirmed (no cached status list for this URI)"]
    assert any(LIST_2 in e.message for e in report.errors)
    nothing = recheck(register, TrustCache(tmp_path / "empty", operator.public_key()), None, None, "test", now=NOW)
    assert all("not confirmed" in r for r in nothing.flagged[target]) and nothing.errors


def test_record_refusals():
    """Only a verified answer whose credentials share one proven device key goes in the register."""
    from didlib.oid4vp import Binding, VpResult
    from volunteer_register import record_from_result

    one, other = generate_key(), generate_key()
    claims = {"licence": [{"given_name": "A", "family_name": "B", "birth_date": "1990-01-01"}],
              "dbs": [{"certificate_level": "enhanced", "workforce": "child", "certificate_number": "123456789012",
                       "issue_date": "2026-01-01"}]}

    def result(*keys, valid=True):
        return VpResult(valid, presented=claims, bindings={
            kind: [Binding(key.public_key() if key else None, None, None)]
            for kind, key in zip(claims, keys, strict=True)})

    with pytest.raises(UsageError) as info:
        record_from_result(result(one, other))
    assert info.value.code == "not_same_holder"
    with pytest.raises(UsageError) as info:
        record_from_result(result(one, None))  # a presentation without a proven key
    assert info.value.code == "not_same_holder"
    with pytest.raises(UsageError) as info:
        record_from_result(result(one, one, valid=False))
    assert info.value.code == "not_verified"
    assert record_from_result(result(one, one)).certificate_number == "123456789012"


# ---------------------------------------------------------------------------------------------- in person
def volunteer_check(pki, licence, device_key, mode: str, **dbs_changes):
    """The verifier app's model after a volunteer check (challenge flow) with the register setting ``mode``;
    the wallet is told which elements are kept (intent_to_retain) only with "add"."""
    from conftest import NOW, issue
    from didlib.mdoc import DOCTYPE_DBS, DOCTYPE_MDL
    from didlib.mdoc.registry import NS_DBS
    from didlib.pki import create_reader_certificate
    from didlib.presentation import answer_challenge, read_challenge
    from didlib.samples import dbs_data
    from didlib.session import entitlement_extension
    from didlib.verifier import TrustData
    from verifier_app.model import Settings, VerifierModel

    key = generate_key()
    reader = create_reader_certificate(
        pki.certificate("reader-ca"), pki.key("reader-ca"), key.public_key(), common_name="Scouts Hall",
        not_before=NOW - dt.timedelta(days=1),
        extra_extensions=[entitlement_extension({DOCTYPE_MDL: {NS_ISO: "*"}, DOCTYPE_DBS: {NS_DBS: "*"}})])
    data = dbs_data(today=NOW.date())
    data[NS_DBS].update(dbs_changes)
    dbs = issue(pki, DOCTYPE_DBS, data, device_key.public_key())
    holdings = [(licence, device_key), (dbs, device_key)]
    model = VerifierModel(lambda: TrustData(TrustStore([pki.certificate("iaca")], [pki.certificate("ds")])),
                          key, [reader], Settings(volunteer_register=mode), clock=lambda: NOW,
                          background=lambda work: work())  # the register's worker thread, run in place
    model.choose("volunteer")
    pending = read_challenge(model.request_qr, holdings, TrustStore([pki.certificate("reader-ca")]), now=NOW)
    kept = {e for d in pending.documents for els in d.elements.values() for e, retain in els.items() if retain}
    assert kept == ({"given_name", "family_name", "birth_date", "certificate_level", "workforce",
                     "certificate_number"} if mode == "add" else set()), "the wallet is told what is kept"
    model.codes([answer_challenge(pending, holdings)])
    return model


def test_verifier_app_adds_to_and_finds_in_the_register(pki, licence, device_key, register):
    """The verifier app's volunteer check with the register: the cleared volunteer is added, then found;
    nothing is kept without "add"."""
    with pytest.raises(UsageError):
        volunteer_check(pki, licence, device_key, "").add_to_register(register)
    model = volunteer_check(pki, licence, device_key, "add")
    assert model.verdict.headline == "VOLUNTEER CLEARED"
    volunteer_id = model.add_to_register(register)
    record = register.get(volunteer_id, "test")
    assert record.checked_how == "in_person" and record.certificate_number == "001234567890"
    assert {c.kind for c in record.credentials} == {"licence", "dbs"}
    assert volunteer_check(pki, licence, device_key, "lookup").find_in_register(register).id == volunteer_id
    model.done()
    with pytest.raises(UsageError):
        model.add_to_register(register), "nothing personal stays after the result clears"


@pytest.mark.parametrize(("changes", "headline"), [
    ({"barred_list_children": "barred"}, "BARRED"),
    ({"certificate_level": "basic"}, "CHECK LEVEL"),
], ids=["barred", "below_the_minimum_level"])
def test_only_a_cleared_volunteer_goes_in_the_register(pki, licence, device_key, register, changes, headline):
    model = volunteer_check(pki, licence, device_key, "add", **changes)
    assert model.verdict.headline == headline and model.verdict.decision != "accept"
    assert model.register_offer() == "", "no button for a volunteer who is not cleared"
    with pytest.raises(UsageError) as refused:
        model.add_to_register(register)
    assert refused.value.code == "not_cleared"
    assert register.volunteers("test") == []


def test_the_result_screen_adds_and_looks_up(pki, licence, device_key, register):
    """The result screen's register button: the work runs through the model's worker hook, and what the
    register says comes back as a plain note (the countdown starts again so it can be read)."""
    model = volunteer_check(pki, licence, device_key, "add")
    assert model.register_offer() == "Add to the register"
    model.use_register(lambda: register)
    assert model.register_note.startswith("Added to the register (volunteer ")
    assert model.register_offer() == "", "added once"
    model.done()
    assert model.register_note == ""

    lookup = volunteer_check(pki, licence, device_key, "lookup")
    assert lookup.register_offer() == "Look up in the register"
    lookup.use_register(lambda: register)
    assert lookup.register_note.startswith("On the register (volunteer ")
    assert "SARAH JANE MORGAN, DBS enhanced barred lists, child workforce, checked in person on" in lookup.register_note

    register.erase(register.volunteers("test")[0].id, "test")
    again = volunteer_check(pki, licence, device_key, "lookup")
    again.use_register(lambda: register)
    assert again.register_note == "Not on the register"

    def unreachable():
        raise OSError("connection refused")

    broken = volunteer_check(pki, licence, device_key, "add")
    broken.use_register(unreachable)
    assert broken.register_note == "The register could not be reached: nothing was added. Try again."
    assert broken.register_offer() == "Add to the register", "try again"


def test_cli_usage_errors(tmp_path):
    """Clear errors (exit 2), never a traceback: no register set up, an issuer that cannot be reached, an
    unknown volunteer; a certificate number not on the register is exit 1."""
    not_set_up = cli(tmp_path, "recheck")
    assert not_set_up.returncode == 2 and "[not_set_up]" in not_set_up.stderr, not_set_up.stderr
    closed = cli(tmp_path, "init", "--issuer", f"http://127.0.0.1:{process.free_port()}")
    assert closed.returncode == 2 and "[unreachable]" in closed.stderr, closed.stderr
    assert cli(tmp_path, "erase", "7").stderr.strip().endswith("[not_found]")
    assert cli(tmp_path, "find", "123456789012").returncode == 1
    assert "Traceback" not in not_set_up.stderr + closed.stderr


def test_the_till_remembers_its_register(tmp_path):
    """Settings: the register step ("add" / "lookup") and where the register is (a folder, as
    ``volunteer-register --state``, or a database URL) survive a restart; a damaged value is ignored; the
    register is opened only when asked (a till that does not use one writes no register file)."""
    from verifier_app.config import CONFIG_FILE, AppConfig

    config = AppConfig(tmp_path / "till")
    config.save()
    assert AppConfig.load(tmp_path / "till").settings.volunteer_register == ""
    assert not (tmp_path / "till" / "register").exists()
    config.settings.volunteer_register, config.register = "add", str(tmp_path / "org")
    config.save()
    loaded = AppConfig.load(tmp_path / "till")
    assert (loaded.settings.volunteer_register, loaded.register) == ("add", str(tmp_path / "org"))
    opened = loaded.open_register()
    assert opened.files()[0] == tmp_path / "org" / "register.sqlite" and opened.volunteers("test") == []
    opened.close()
    assert AppConfig(tmp_path / "other").open_register().files()[0] == tmp_path / "other" / "register" / \
        "register.sqlite", "by default, in the till's state folder"
    raw = (tmp_path / "till" / CONFIG_FILE).read_text().replace('"add"', '"delete everything"')
    (tmp_path / "till" / CONFIG_FILE).write_text(raw)
    assert AppConfig.load(tmp_path / "till").settings.volunteer_register == ""


def test_the_result_waits_for_the_register(pki, licence, device_key, register):
    """A slow register (a PostgreSQL server away): the result does not clear while it works, and its answer
    is shown for the whole countdown."""
    from conftest import NOW

    model = volunteer_check(pki, licence, device_key, "add")
    clock, pending = [NOW], []
    model.clock, model.background = (lambda: clock[0]), pending.append
    model.use_register(lambda: register)
    clock[0] = NOW + dt.timedelta(seconds=30)
    model.tick()
    assert model.state == "result" and model.register_note == "Adding to the register…"
    pending.pop()()
    assert model.register_note.startswith("Added to the register") and model.seconds_left() == 10
    clock[0] += dt.timedelta(seconds=10)
    model.tick()
    assert model.state == "home" and model.register_note == ""
