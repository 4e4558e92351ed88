"""The issuer service, end to end, with a real uvicorn process and an HTTP client playing the wallet."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from didlib import TrustStore
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_DBS, DOCTYPE_MDL, DOCTYPE_TRAINING, present_elements, verify_response
from didlib.mdoc.registry import NS_DBS, NS_ISO, NS_TRAINING
from didlib.oid4vci import make_proof
from didlib.samples import SAMPLE_DRIVER, driver_number
from didlib.sdjwt import present_sd_jwt, verify_sd_jwt_vc
from didlib.session.transcript import fresh_qr_transcript
from didlib.status import StatusChecker, StatusListToken
from issuer_service.process import free_port, start
from issuer_service.register import SAMPLE_DBS_NUMBER, SAMPLE_TRAINING_REFERENCE
from wallet_app.model.issuance import Issued
from wallet_app.model.issuance import IssuerClient as Wallet

ADMIN = "test-admin-token"
DRIVER = driver_number(SAMPLE_DRIVER)
IDENTITY = (DRIVER, SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)


def start_service(data: Path, port: int, **env: str) -> subprocess.Popen:
    return start(data, port, capture=True, DIDLIB_ADMIN_TOKEN=ADMIN, DIDLIB_SEED_DRIVERS="50", **env)[0]


BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("DIDLIB_TEST_POSTGRES") else [])


def fresh_postgres() -> str:
    """The test database, emptied: every run starts from a new register."""
    from issuer_service.models import Base, make_engine

    url = os.environ["DIDLIB_TEST_POSTGRES"]
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module", params=BACKENDS)
def service(request, tmp_path_factory):
    """The service as a real process, on SQLite (always) and PostgreSQL (when DIDLIB_TEST_POSTGRES is set)."""
    port = free_port()
    data = tmp_path_factory.mktemp("issuer")
    env = {"DATABASE_URL": fresh_postgres()} if request.param == "postgresql" else {}
    proc = start_service(data, port, **env)
    yield f"http://127.0.0.1:{port}", data
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after shutting down
    output = proc.stdout.read()
    assert b"issuer service stopped" in output, "the lifespan shutdown ran: a clean stop"
    for personal in (SAMPLE_DRIVER.family_name, DRIVER, SAMPLE_DRIVER.postcode):
        assert personal.encode() not in output, "no personal data in the service's logs"


@pytest.fixture(scope="module")
def wallet(service):
    return Wallet(service[0])


@pytest.fixture(scope="module")
def trust(service):
    anchors = [x509.load_pem_x509_certificate(httpx.get(f"{service[0]}/trust/{a}/iaca.pem").content)
               for a in ("dvla", "dbs", "training")]
    return TrustStore(anchors)


@pytest.fixture(scope="module")
def licence(wallet):
    (issued,) = wallet.obtain(wallet.identify(*IDENTITY), "uk.dvla.mdl.mdoc")
    return issued


def test_metadata(service):
    meta = httpx.get(f"{service[0]}/.well-known/openid-credential-issuer").json()
    configs = meta["credential_configurations_supported"]
    assert {c["format"] for c in configs.values()} == {"mso_mdoc", "dc+sd-jwt"}
    assert configs["uk.dvla.mdl.mdoc"]["doctype"] == DOCTYPE_MDL
    assert configs["uk.dbs.check.sd-jwt"]["vct"] == "urn:uk:gov:dbs:vct:dbs-check:1"
    assert meta["nonce_endpoint"].endswith("/nonce") and meta["batch_credential_issuance"]["batch_size"] == 10
    asm = httpx.get(f"{service[0]}/.well-known/oauth-authorization-server").json()
    assert asm["token_endpoint"].endswith("/token")
    assert "/docs" in httpx.get(f"{service[0]}/docs").text or httpx.get(f"{service[0]}/docs").status_code == 200


def test_driving_licence_mdoc(licence, trust):
    credential = licence.mdoc()
    assert credential.doctype == DOCTYPE_MDL
    assert credential.elements()[NS_ISO]["document_number"] == DRIVER
    transcript, _ = fresh_qr_transcript()
    result = verify_response(present_elements(credential, licence.key, ["age_over_18"], transcript), trust=trust,
                             session_transcript=transcript)
    assert result.valid, result.errors


@pytest.mark.parametrize("config", ["uk.dvla.mdl.sd-jwt", "uk.dvla.age.sd-jwt"])
def test_sd_jwt_credentials(wallet, trust, config):
    (issued,) = wallet.obtain(wallet.identify(*IDENTITY), config)
    presentation = present_sd_jwt(issued.credential, issued.key, ["age_over_18"], nonce="n", aud="a")
    result = verify_sd_jwt_vc(presentation, trust=trust, nonce="n", aud="a")
    assert result.valid and result.claims["age_over_18"] is True


def test_batch_of_single_use_credentials(wallet, trust):
    batch = wallet.obtain(wallet.identify(*IDENTITY), "uk.dvla.age.mdoc", count=5)
    assert len(batch) == 5 and len({b.credential for b in batch}) == 5
    keys = {b.mdoc().mso.device_key.public_numbers().x for b in batch}
    assert len(keys) == 5, "each credential bound to its own device key: unlinkable"


def test_dbs_bound_to_the_licence_key(wallet, licence, trust):
    response = wallet.bind("dbs", SAMPLE_DBS_NUMBER, licence.mdoc(), licence.key)
    assert response.status_code == 200, response.text
    offer = response.json()
    token = wallet.token(offer["credential_offer_uri"], offer["tx_code"]).json()["access_token"]
    other = wallet.request(token, "uk.dbs.check.mdoc", [generate_key()])
    assert other.status_code == 400 and other.json()["error"] == "invalid_proof"
    good = wallet.request(token, "uk.dbs.check.mdoc", [licence.key])
    assert good.status_code == 200, good.text
    dbs = Issued("uk.dbs.check.mdoc", licence.key, good.json()["credentials"][0]["credential"]).mdoc()
    assert dbs.doctype == DOCTYPE_DBS and dbs.elements()[NS_DBS]["certificate_number"] == SAMPLE_DBS_NUMBER
    assert dbs.mso.device_key.public_numbers() == licence.mdoc().mso.device_key.public_numbers()
    sd = wallet.request(token, "uk.dbs.check.sd-jwt", [licence.key])  # the same offer, the other format
    assert sd.status_code == 200, sd.text
    presentation = present_sd_jwt(sd.json()["credentials"][0]["credential"], licence.key, ["certificate_level"],
                                  nonce="n", aud="a")
    result = verify_sd_jwt_vc(presentation, trust=trust, nonce="n", aud="a")
    assert result.valid and result.claims["certificate_level"] == "enhanced_barred_lists"


@pytest.mark.parametrize("fmt", ["mdoc", "sd-jwt"])
def test_training_bound_to_the_licence_key(wallet, licence, trust, fmt):
    response = wallet.bind("training", SAMPLE_TRAINING_REFERENCE, licence.mdoc(), licence.key)
    assert response.status_code == 200, response.text
    (issued,) = wallet.obtain(response.json(), f"uk.training.safeguarding.{fmt}", keys=[licence.key])
    if fmt == "mdoc":
        assert issued.mdoc().doctype == DOCTYPE_TRAINING
        assert issued.mdoc().elements()[NS_TRAINING]["level"] == "intermediate"
    else:
        presentation = present_sd_jwt(issued.credential, licence.key, ["level"], nonce="n", aud="a")
        result = verify_sd_jwt_vc(presentation, trust=trust, nonce="n", aud="a")
        assert result.valid and result.claims["level"] == "intermediate"


def test_binding_refusals(wallet, licence):
    assert wallet.bind("dbs", "999999999999", licence.mdoc(), licence.key).status_code == 403
    thief = wallet.bind("dbs", SAMPLE_DBS_NUMBER, licence.mdoc(), generate_key())  # not the licence's key
    assert thief.status_code == 403 and "device_auth_failed" in thief.json()["error_description"]
    stale = wallet.http.post("/dbs/bind", json={"reference": SAMPLE_DBS_NUMBER, "nonce": "x" * 32,
                                                "device_response": "AAAA" * 8})
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_nonce"


def test_token_errors(wallet):
    offer = wallet.identify(*IDENTITY)
    wrong = wallet.token(offer["credential_offer_uri"], "000000" if offer["tx_code"] != "000000" else "111111")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert wallet.token(offer["credential_offer_uri"], None).json()["error"] == "invalid_request"
    assert wallet.token(offer["credential_offer_uri"], offer["tx_code"]).status_code == 200
    reused = wallet.token(offer["credential_offer_uri"], offer["tx_code"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    bad_grant = wallet.http.post("/token", data={"grant_type": "authorization_code", "pre-authorized_code": "x"})
    assert bad_grant.json()["error"] == "unsupported_grant_type"


def test_pre_authorized_code_is_single_use_under_concurrency(wallet, service):
    offer = wallet.identify(*IDENTITY)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        clients = [Wallet(service[0]) for _ in range(16)]
        results = list(pool.map(lambda w: w.token(offer["credential_offer_uri"], offer["tx_code"]).status_code,
                                clients))
    assert sorted(results) == [200] + [400] * 15


def test_credential_errors(wallet, service):
    offer = wallet.identify(*IDENTITY)
    token = wallet.token(offer["credential_offer_uri"], offer["tx_code"]).json()["access_token"]
    key = generate_key()
    auth = {"Authorization": f"Bearer {token}"}

    def post(body, headers=auth):
        return wallet.http.post("/credential", headers=headers, json=body)

    assert post({"credential_configuration_id": "uk.dbs.check.mdoc",
                 "proofs": {"jwt": [make_proof(key, service[0], wallet.nonce())]}}).json()["error"] == \
        "insufficient_scope", "a configuration the access token does not cover (RFC 6750 section 3.1)"
    unknown_nonce = post({"credential_configuration_id": "uk.dvla.mdl.mdoc",
                          "proofs": {"jwt": [make_proof(key, service[0], "not-a-nonce-we-gave")]}})
    assert unknown_nonce.json()["error"] == "invalid_nonce"
    other_issuer = post({"credential_configuration_id": "uk.dvla.mdl.mdoc",
                         "proofs": {"jwt": [make_proof(key, "https://elsewhere.example", wallet.nonce())]}})
    assert other_issuer.json()["error"] == "invalid_proof"
    forged = make_proof(key, service[0], wallet.nonce())
    forged = forged[:-4] + ("AAAA" if not forged.endswith("AAAA") else "BBBB")
    assert post({"credential_configuration_id": "uk.dvla.mdl.mdoc", "proofs": {"jwt": [forged]}}).json()["error"] == \
        "invalid_proof"
    nonce = wallet.nonce()
    mixed = [make_proof(key, service[0], nonce), make_proof(generate_key(), service[0], "not-a-nonce-we-gave")]
    assert post({"credential_configuration_id": "uk.dvla.age.mdoc", "proofs": {"jwt": mixed}}).json()["error"] == \
        "invalid_nonce", "every proof's nonce must be good"
    spent = wallet.http.post("/credential", headers=auth, json={"credential_configuration_id": "uk.dvla.age.mdoc",
                             "proofs": {"jwt": [make_proof(generate_key(), service[0], nonce)]}})
    assert spent.status_code == 200, "a refused request spends no nonce"
    same_key = [make_proof(key, service[0], wallet.nonce()), make_proof(key, service[0], wallet.nonce())]
    assert post({"credential_configuration_id": "uk.dvla.mdl.mdoc", "proofs": {"jwt": same_key}}).json()["error"] == \
        "invalid_proof"
    assert post({"credential_configuration_id": "uk.dvla.mdl.mdoc"}).json()["error"] == "invalid_proof"
    assert post({}, {"Authorization": "Bearer nope"}).status_code == 401
    assert wallet.http.post("/credential", content=b"x" * 70_000, headers=auth).status_code == 413
    assert wallet.http.post("/credential", content=b"{not json", headers=auth).json()["error"] == \
        "invalid_credential_request"


def test_offer_as_qr_code(wallet):
    import base64
    import io

    from PIL import Image

    from didlib.qr import decode_image

    r = wallet.http.post("/dvla/identify?qr=true", json={"driver_number": IDENTITY[0], "birth_date": IDENTITY[1],
                                                         "postcode": IDENTITY[2]})
    image = Image.open(io.BytesIO(base64.b64decode(r.json()["qr_png_base64"])))
    assert decode_image(image) == [r.json()["credential_offer_uri"]]


def test_identify_errors(wallet, service):
    bad = wallet.http.post("/dvla/identify", json={"driver_number": DRIVER, "birth_date": "1990-07-15",
                                                   "postcode": SAMPLE_DRIVER.postcode})
    assert bad.status_code == 403 and bad.json()["error"] == "access_denied"
    malformed = wallet.http.post("/dvla/identify", json={"driver_number": "x"})
    assert malformed.status_code == 400 and "driver_number" in malformed.json()["error_description"]
    assert wallet.http.post("/dvla/identify", content=b"[1,2", headers={"content-type": "application/json"}
                            ).status_code == 400


def test_revocation_reaches_verifiers(wallet, trust, service):
    (issued,) = wallet.obtain(wallet.identify(*IDENTITY), "uk.dvla.age.mdoc")
    credential = issued.mdoc()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    listed = httpx.get(f"{service[0]}/admin/drivers/{DRIVER}/credentials", headers=admin).json()
    mine = next(c for c in listed if c["statusIndex"] == credential.mso.status["status_list"]["idx"])
    assert httpx.post(f"{service[0]}/admin/credentials/{mine['id']}/revoke").status_code == 401
    assert httpx.post(f"{service[0]}/admin/credentials/{mine['id']}/revoke", headers=admin).json()["state"] == "invalid"
    uri = credential.mso.status["status_list"]["uri"]
    for accept in ("application/statuslist+jwt", "application/statuslist+cwt"):
        token_response = httpx.get(uri, headers={"Accept": accept})
        assert token_response.headers["content-type"].startswith(accept)
        body = token_response.content
        checker = StatusChecker({uri: body.decode() if accept.endswith("jwt") else body}, trust=trust)
        transcript, _ = fresh_qr_transcript()
        response = present_elements(credential, issued.key, ["age_over_18"], transcript)
        result = verify_response(response, trust=trust, session_transcript=transcript, status_checker=checker)
        assert [p.code for p in result.errors] == ["status_invalid"]
        assert result.documents[0].status.state == "invalid" and not result.valid
    audit = httpx.get(f"{service[0]}/admin/audit", headers=admin).json()
    assert any(e["action"] == "invalid" and e["target"] == f"credential:{mine['id']}" for e in audit)
    assert not any(SAMPLE_DRIVER.family_name in str(e) for e in audit), "no personal data in the audit log"
    httpx.post(f"{service[0]}/admin/credentials/{mine['id']}/reinstate", headers=admin)


def test_status_list_etag_and_not_modified(licence, service, trust):
    """Issue 17: a status list token is served from memory per list version with a (weak) ETag, Cache-Control
    max-age equal to the token's ttl and Vary: Accept; If-None-Match with the current tag (or one of several,
    weak or strong, or *) gets 304 with no body; a suspension changes the tag and the old one gets 200."""
    reference = licence.mdoc().mso.status["status_list"]
    uri = reference["uri"]
    tags = {}
    for accept in ("application/statuslist+jwt", "application/statuslist+cwt"):
        first = httpx.get(uri, headers={"Accept": accept})
        token = StatusListToken.verify(first.content.decode() if accept.endswith("jwt") else first.content, trust=trust)
        assert first.status_code == 200 and token.ttl == 3600
        assert first.headers["cache-control"] == f"public, max-age={token.ttl}"
        assert first.headers["vary"] == "Accept"
        etag = tags[accept] = first.headers["etag"]
        assert etag.startswith('W/"') and etag.endswith('"') and len(etag) > 10  # weak: workers sign apart
        again = httpx.get(uri, headers={"Accept": accept})
        assert again.content == first.content and again.headers["etag"] == etag, "the same signed token"
        for header in (etag, f'"nope", {etag.removeprefix("W/")}', "*"):
            cached = httpx.get(uri, headers={"Accept": accept, "If-None-Match": header})
            assert cached.status_code == 304 and cached.content == b""
            assert cached.headers["etag"] == etag and cached.headers["cache-control"] == first.headers["cache-control"]
        for header in ('"other"', etag[:-2] + '"', "W/", f"W/{etag}"):
            assert httpx.get(uri, headers={"Accept": accept, "If-None-Match": header}).status_code == 200
    assert tags["application/statuslist+jwt"] != tags["application/statuslist+cwt"]
    admin = {"Authorization": f"Bearer {ADMIN}"}
    listed = httpx.get(f"{service[0]}/admin/drivers/{DRIVER}/credentials", headers=admin).json()
    mine = next(c for c in listed if (c["statusList"], c["statusIndex"]) == (uri, reference["idx"]))
    assert httpx.post(f"{service[0]}/admin/credentials/{mine['id']}/suspend", headers=admin).status_code == 200
    changed = httpx.get(uri, headers={"If-None-Match": tags["application/statuslist+jwt"]})
    assert changed.status_code == 200 and changed.headers["etag"] != tags["application/statuslist+jwt"]
    assert StatusListToken.verify(changed.text, trust=trust).status_list.get(reference["idx"]) == 2
    httpx.post(f"{service[0]}/admin/credentials/{mine['id']}/reinstate", headers=admin)
    assert httpx.get(f"{service[0]}/status/dvla/999", headers={"If-None-Match": "*"}).status_code == 404


def test_trust_list_and_rate_limit(service):
    from didlib.keys import load_public_key
    from didlib.trustlist import TrustList

    operator = load_public_key(httpx.get(f"{service[0]}/trust/operator.pem").content)
    trust_list = TrustList.verify(httpx.get(f"{service[0]}/trust/list").text, operator)
    assert {e.role for e in trust_list.entries} == {"issuer", "reader_ca"}
    assert len(trust_list.status_list_uris()) == 3
    codes = [httpx.post(f"{service[0]}/binding-nonce").status_code for _ in range(40)]
    assert 429 in codes, "binding nonces are rate-limited"


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_lost_or_duplicated_records_when_killed(tmp_path, backend):
    """Kill the service with SIGKILL while many issuance requests run; restart on the same database."""
    from sqlalchemy import text

    from issuer_service.models import make_engine

    url = fresh_postgres() if backend == "postgresql" else f"sqlite:///{tmp_path / 'issuer.db'}"
    port = free_port()
    proc = start_service(tmp_path, port, DIDLIB_RATE_PER_MINUTE="1000", DATABASE_URL=url)
    base = f"http://127.0.0.1:{port}"

    def one() -> int:
        try:
            w = Wallet(base, httpx.Client(base_url=base, timeout=10))
            return len(w.obtain(w.identify(*IDENTITY), "uk.dvla.age.mdoc", count=3))
        except (httpx.HTTPError, KeyError, ValueError):
            return 0

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(one) for _ in range(24)]
        time.sleep(1.5)
        proc.kill()
        received = sum(f.result() for f in futures)
    proc.wait(timeout=10)
    proc = start_service(tmp_path, port, DATABASE_URL=url)
    try:
        engine = make_engine(url)
        with engine.connect() as db:
            if backend == "sqlite":
                assert db.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            issued = db.execute(text("SELECT COUNT(*) FROM issued_credentials")).scalar()
            audited = db.execute(text("SELECT COUNT(*) FROM audit WHERE action = 'issue'")).scalar()
            distinct = db.execute(text("SELECT COUNT(*) FROM (SELECT DISTINCT status_uri, status_idx "
                                       "FROM issued_credentials) AS entries")).scalar()
        engine.dispose()
        assert issued == audited == distinct, "every issued credential recorded once, with its audit event"
        assert issued >= received, "nothing a wallet received was lost"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_a_batch_is_written_in_one_transaction(tmp_path):
    """Issue 17: a credential request for a batch of five proofs of age commits once (nonces, allowance,
    status list entries, the five records and their audit lines), not once or twice per credential; the
    five get distinct entries and each its own key."""
    import base64

    from sqlalchemy import event

    from didlib.keys import same_public_key
    from didlib.mdoc import Credential
    from didlib.oid4vci import CredentialOffer
    from issuer_service.config import Settings
    from issuer_service.service import IssuerService

    settings = Settings.from_env({"DIDLIB_ISSUER_DATA": str(tmp_path), "DIDLIB_SEED_DRIVERS": "1",
                                  "DIDLIB_ADMIN_TOKEN": ADMIN, "DIDLIB_DEMO": "1"})
    svc = IssuerService(settings)
    try:
        svc.seed()
        offer = svc.identify_driver(DRIVER, SAMPLE_DRIVER.birth_date, SAMPLE_DRIVER.postcode)
        code = CredentialOffer.from_uri(offer.uri).pre_authorized_code
        access = svc.token("urn:ietf:params:oauth:grant-type:pre-authorized_code", code, offer.tx_code)["access_token"]
        nonce = svc.c_nonce()
        keys = [generate_key() for _ in range(5)]
        body = {"credential_configuration_id": "uk.dvla.age.mdoc",
                "proofs": {"jwt": [make_proof(k, settings.public_url, nonce) for k in keys]}}
        commits = []
        event.listen(svc.engine, "commit", lambda _connection: commits.append(1))
        credentials = svc.credential(access, body)["credentials"]
        assert len(commits) == 1
        issued = [Credential.from_bytes(base64.urlsafe_b64decode(c["credential"] + "==")) for c in credentials]
        assert len({(c.mso.status["status_list"]["uri"], c.mso.status["status_list"]["idx"]) for c in issued}) == 5
        assert all(same_public_key(c.mso.device_key, k.public_key()) for c, k in zip(issued, keys, strict=True))
    finally:
        svc.close()
