"""Issue 21, end to end: a volunteer gets a licence, a DBS check and training from the real issuer service,
applies through the volunteer portal (a real process) with the wallet model, appears in the register; the
DBS issuer revokes the check and ``volunteer-register recheck`` (a real process) flags the volunteer. A DBS
check bound to another key than the licence is refused; an erased volunteer is gone from the files."""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import new_wallet
from didlib import TrustStore
from didlib.keys import generate_key
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
                               DIDLIB_RATE_PER_MINUTE="1000")
    yield base, data
    process.stop(proc)


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("register")


@pytest.fixture(scope="module")
def portal(issuer, state):
    base, data = issuer
    port = process.free_port()
    url = f"http://localhost:{port}"
    proc = process.launch([sys.executable, str(ROOT / "examples/volunteer_portal/portal.py"), "--issuer", base,
                           "--reader-pki", str(data / "pki" / "dvla"), "--port", str(port), "--state", str(state),
                           "--staff-token", STAFF[1]], url)
    yield url
    process.stop(proc)


@pytest.fixture(scope="module")
def volunteer(issuer, tmp_path_factory):
    """A wallet with the sample driver's licence, a DBS check and safeguarding training bound to it."""
    wallet, _ = new_wallet(tmp_path_factory.mktemp("wallet"), issuer[0])
    for kind, reference in (("dbs", SAMPLE_DBS_NUMBER), ("training", SAMPLE_TRAINING_REFERENCE)):
        offer = wallet.request_bound(issuer[0], kind, reference)
        wallet.add_from_offer(offer["credential_offer_uri"], offer.get("tx_code"))
    return wallet


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
    assert "portrait" not in listed.stdout and IDENTITY[0] not in listed.stdout, "no photo, no licence number"
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

    staff_page = httpx.get(f"{portal}/register", auth=STAFF)
    assert staff_page.status_code == 200 and "DBS check revoked by its issuer" in staff_page.text
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
    secrets_kept = (SAMPLE_DRIVER.family_name.encode(), SAMPLE_DBS_NUMBER.encode())
    assert any(s in p.read_bytes() for p in state.rglob("*") if p.is_file() for s in secrets_kept)
    erased = cli(state, "erase", volunteer_id)
    assert erased.returncode == 0, erased.stderr
    for path in (p for p in state.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for secret in secrets_kept:
            assert secret not in data, f"{secret!r} still in {path.name}"
    assert cli(state, "show", volunteer_id).returncode == 2
    assert "erase" in cli(state, "audit").stdout


def test_left_volunteers_purged_after_retention(tmp_path):
    from volunteer_register import Register, Volunteer

    register = Register.in_folder(tmp_path)
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
    register.close()
    assert not any(b"Leaves" in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
