"""The issuer service under load and at its limits (issues 14 and 15): races between real concurrent clients
against the service as a real uvicorn process, on SQLite and (with DIDLIB_TEST_POSTGRES) on PostgreSQL, and
the error codes of OpenID4VCI 1.0 sections 6.3 and 8.3.1.2."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from test_issuer_service import ADMIN, BACKENDS, DRIVER, IDENTITY, fresh_postgres

from didlib import TrustStore
from didlib.keys import generate_key
from didlib.oid4vci import make_proof
from didlib.status import StatusListToken
from issuer_service import process
from issuer_service.config import admin_listener
from issuer_service.register import SAMPLE_DBS_NUMBER
from wallet_app.model.issuance import IssuerClient as Wallet

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


class Service:
    """A running issuer process: its base URL, data folder and log file."""

    def __init__(self, data: Path, *, backend: str = "sqlite", args: tuple[str, ...] = ("--demo",),
                 port: int | None = None, **env: str):
        self.data, self.log = data, data / "service.log"
        data.mkdir(parents=True, exist_ok=True)
        if backend == "postgresql":
            env.setdefault("DATABASE_URL", fresh_postgres())
        defaults = {"DIDLIB_ADMIN_TOKEN": ADMIN, "DIDLIB_SEED_DRIVERS": "20", "DIDLIB_RATE_PER_MINUTE": "100000"}
        self.proc, self.base = process.start(data, port, log=self.log, args=args, **(defaults | env))

    def stop(self) -> None:
        process.stop(self.proc)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wallet(self) -> Wallet:
        return Wallet(self.base, httpx.Client(base_url=self.base, timeout=60))

    def trust(self) -> TrustStore:
        return TrustStore([x509.load_pem_x509_certificate(httpx.get(f"{self.base}/trust/{a}/iaca.pem").content)
                           for a in ("dvla", "dbs", "training")])


@pytest.fixture(scope="module", params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = Service(tmp_path_factory.mktemp("issuer"), backend=request.param)
    yield running
    running.stop()


def concurrently(service: Service, count: int, work, workers: int = 50) -> list:
    """``work(client, i)`` for i in range(count) from ``workers`` threads at once, over as many connections
    (one client, so that the test's own setup cost per request stays out of the way)."""
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with httpx.Client(base_url=service.base, timeout=60, limits=limits) as client, \
            concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda i: work(client, i), range(count)))


def age_credentials(service: Service, count: int) -> list:
    out: list = []
    while len(out) < count:
        wallet = service.wallet()
        out += wallet.obtain(wallet.identify(*IDENTITY), "uk.dvla.age.mdoc", count=min(10, count - len(out)))
    return out


# ------------------------------------------------------------------------------ 14.1 concurrent revocations
def test_concurrent_revocations_are_all_in_the_served_list(service: Service) -> None:
    issued = age_credentials(service, 50)
    references = [c.mdoc().mso.status["status_list"] for c in issued]
    by_index = {r["idx"]: r["uri"] for r in references}
    listed = httpx.get(f"{service.base}/admin/drivers/{DRIVER}/credentials", headers=ADMIN_HEADERS).json()
    ids = [c["id"] for c in listed if c["statusIndex"] in by_index and c["config"] == "uk.dvla.age.mdoc"]
    assert len(ids) == 50

    def revoke(client: httpx.Client, i: int) -> int:
        return client.post(f"/admin/credentials/{ids[i]}/revoke", headers=ADMIN_HEADERS).status_code

    assert concurrently(service, 50, revoke) == [200] * 50
    trust = service.trust()
    lists = {u: StatusListToken.verify(httpx.get(u).text, trust=trust).status_list for u in set(by_index.values())}
    revoked = sum(lists[uri].get(idx) == 1 for idx, uri in by_index.items())
    assert revoked == 50, f"{revoked} of 50 acknowledged revocations are in the served status list"


# ------------------------------------------------------------------------ 14.2 transaction code attempts
def test_concurrent_wrong_transaction_codes_are_evaluated_at_most_five_times(service: Service) -> None:
    offer = service.wallet().identify(*IDENTITY)
    wrong = "000000" if offer["tx_code"] != "000000" else "111111"

    def guess(client: httpx.Client, _: int) -> dict:
        return Wallet(service.base, client).token(offer["credential_offer_uri"], wrong).json()

    answers = concurrently(service, 200, guess)
    assert all(a["error"] == "invalid_grant" for a in answers)
    evaluated = [a for a in answers if a["error_description"] == "the transaction code is wrong"]
    assert 1 <= len(evaluated) <= 5, f"{len(evaluated)} of 200 concurrent guesses were evaluated"
    right = service.wallet().token(offer["credential_offer_uri"], offer["tx_code"])
    assert right.status_code == 400 and right.json()["error"] == "invalid_grant", "five wrong codes spend the offer"


# ------------------------------------------------------------------------ 15.1 one c_nonce for a batch
def test_batch_proofs_may_share_one_nonce_spent_per_request(service: Service) -> None:
    wallet = service.wallet()
    offer = wallet.identify(*IDENTITY)
    token = wallet.token(offer["credential_offer_uri"], offer["tx_code"]).json()["access_token"]
    nonce, keys = wallet.nonce(), [generate_key() for _ in range(3)]
    body = {"credential_configuration_id": "uk.dvla.age.mdoc",
            "proofs": {"jwt": [make_proof(k, service.base, nonce) for k in keys]}}
    auth = {"Authorization": f"Bearer {token}"}
    served = wallet.http.post("/credential", headers=auth, json=body)
    assert served.status_code == 200, served.text
    assert len(served.json()["credentials"]) == 3
    again = {"credential_configuration_id": "uk.dvla.age.sd-jwt",
             "proofs": {"jwt": [make_proof(generate_key(), service.base, nonce)]}}
    replay = wallet.http.post("/credential", headers=auth, json=again)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_nonce", "a nonce serves one request"


# ------------------------------------------------------------------------------------ 15.2 error codes
def test_token_error_codes(service: Service) -> None:
    """OpenID4VCI 1.0 section 6.3 and RFC 6749 section 5.2."""
    wallet = service.wallet()
    offer = wallet.identify(*IDENTITY)
    missing = wallet.token(offer["credential_offer_uri"], None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request", "tx_code required, not sent"
    wrong = wallet.token(offer["credential_offer_uri"], "000000" if offer["tx_code"] != "000000" else "111111")
    assert wrong.json()["error"] == "invalid_grant", "a wrong tx_code"
    assert wallet.token(offer["credential_offer_uri"], offer["tx_code"]).status_code == 200, "no attempt was counted"
    used = wallet.token(offer["credential_offer_uri"], offer["tx_code"])
    assert used.json()["error"] == "invalid_grant" and used.headers["cache-control"] == "no-store"
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code"}
    no_code = wallet.http.post("/token", data=form)
    assert no_code.json()["error"] == "invalid_request" and no_code.headers["cache-control"] == "no-store"
    unknown = wallet.http.post("/token", data=form | {"pre-authorized_code": "nope", "tx_code": "123456"})
    assert unknown.json()["error"] == "invalid_grant"
    other = wallet.http.post("/token", data={"grant_type": "authorization_code", "pre-authorized_code": "x"})
    assert other.json()["error"] == "unsupported_grant_type"


def test_credential_error_codes(service: Service) -> None:
    """OpenID4VCI 1.0 section 8.3.1 (RFC 6750 section 3.1 for the access token)."""
    wallet = service.wallet()
    offer = wallet.identify(*IDENTITY)
    token = wallet.token(offer["credential_offer_uri"], offer["tx_code"]).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    key = generate_key()

    def post(body: object, headers: dict[str, str] = auth) -> httpx.Response:
        return wallet.http.post("/credential", headers=headers, json=body)

    def proofs(*jwts: str) -> dict:
        return {"credential_configuration_id": "uk.dvla.mdl.mdoc", "proofs": {"jwt": list(jwts)}}

    cases = {
        "invalid_proof": [
            proofs(make_proof(key, service.base, None)),  # no nonce: invalid_proof, not invalid_nonce
            {"credential_configuration_id": "uk.dvla.mdl.mdoc"},  # no proofs
            {"credential_configuration_id": "uk.dvla.mdl.mdoc", "proofs": {"ldp_vp": [{}]}},  # unsupported type
            {"credential_configuration_id": "uk.dvla.mdl.mdoc", "proofs": {"jwt": []}},
            proofs(make_proof(key, "https://elsewhere.example", wallet.nonce())),
        ],
        "invalid_nonce": [proofs(make_proof(key, service.base, "not-a-nonce-we-gave"))],
        "invalid_credential_request": [
            [1, 2],
            {"proofs": {"jwt": [make_proof(key, service.base, wallet.nonce())]}},  # no configuration
            {"credential_configuration_id": ["uk.dvla.mdl.mdoc"]},  # not a string
            {"credential_configuration_id": "uk.dvla.mdl.mdoc", "credential_identifier": "x"},
        ],
        "unknown_credential_configuration": [{"credential_configuration_id": "uk.nothing.mdoc"}],
        "unknown_credential_identifier": [{"credential_identifier": "CivilEngineeringDegree-2023"}],
        "invalid_encryption_parameters": [
            proofs(make_proof(key, service.base, wallet.nonce())) | {"credential_response_encryption": {"enc": "A"}}
        ],
    }
    for code, bodies in cases.items():
        for body in bodies:
            answer = post(body)
            assert (answer.status_code, answer.json()["error"]) == (400, code), body
            assert answer.headers["cache-control"] == "no-store"
    not_offered = post({"credential_configuration_id": "uk.dbs.check.mdoc"})
    assert not_offered.status_code == 403 and not_offered.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in not_offered.headers["www-authenticate"]
    unknown = post({}, {"Authorization": "Bearer nope"})
    assert unknown.status_code == 401 and 'error="invalid_token"' in unknown.headers["www-authenticate"]
    anonymous = post({}, {})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"


# -------------------------------------------------------------------------------------- 14.6 --workers N
@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_share_one_configuration(tmp_path: Path, backend: str) -> None:
    """``didlib-issuer --workers 2`` on a port of its own: one issuer URL, one admin token (the printed one),
    one set of keys; the OpenID4VCI flow and the admin API work whichever worker answers."""
    running = Service(tmp_path, backend=backend, args=("--demo", "--workers", "2"), DIDLIB_ADMIN_TOKEN="")
    try:
        printed = [line.split()[-1] for line in running.output().splitlines() if "admin token" in line]
        assert len(printed) == 1
        admin = {"Authorization": f"Bearer {printed[0]}"}
        metas = concurrently(running, 20, lambda c, _: c.get("/.well-known/openid-credential-issuer").json())
        assert {m["credential_issuer"] for m in metas} == {running.base}
        issued = age_credentials(running, 6)  # three wallets' flows, proofs for running.base
        references = [c.mdoc().mso.status["status_list"] for c in issued]
        assert {r["uri"] for r in references} == {f"{running.base}/status/dvla/1"}
        listed = httpx.get(f"{running.base}/admin/drivers/{DRIVER}/credentials", headers=admin).json()
        ids = [c["id"] for c in listed if c["statusIndex"] in {r["idx"] for r in references}]
        answers = concurrently(running, len(ids), lambda c, i: c.post(f"/admin/credentials/{ids[i]}/revoke",
                                                                        headers=admin).status_code)
        assert answers == [200] * 6, "every worker takes the printed admin token"
        iacas = concurrently(running, 10, lambda c, _: c.get("/trust/dvla/iaca.pem").content)
        assert len(set(iacas)) == 1, "one set of keys"
        status = StatusListToken.verify(httpx.get(references[0]["uri"]).text, trust=running.trust())
        assert all(status.status_list.get(r["idx"]) == 1 for r in references)
        tag = httpx.get(references[0]["uri"]).headers["etag"]
        path = references[0]["uri"].removeprefix(running.base)
        revalidated = concurrently(running, 20, lambda c, _: c.get(path, headers={"If-None-Match": tag}).status_code)
        assert revalidated == [304] * 20, "every worker answers to the same entity tag"
    finally:
        running.stop()


# ----------------------------------------------------------------------------- 14.4 blocking work, timeouts
class DatabaseLock:
    """Hold the service's database write lock from outside, as a long transaction elsewhere would."""

    def __init__(self, service: Service, backend: str) -> None:
        self.backend, self.service = backend, service

    def __enter__(self) -> DatabaseLock:
        if self.backend == "sqlite":
            import sqlite3

            self.connection = sqlite3.connect(self.service.data / "issuer.db", isolation_level=None)
            self.connection.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            url = os.environ["DIDLIB_TEST_POSTGRES"].replace("postgresql+psycopg", "postgresql")
            self.connection = psycopg.connect(url)
            self.connection.execute("LOCK TABLE nonces IN EXCLUSIVE MODE")  # reads go on, writes wait
        return self

    def __exit__(self, *_: object) -> None:
        self.connection.rollback()
        self.connection.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_locked_database_holds_no_other_request(tmp_path: Path, backend: str) -> None:
    """Credential requests wait on a locked database: /health and the metadata answer meanwhile, and the
    waiting requests end with a JSON 503 after DIDLIB_DB_TIMEOUT, then the service works again."""
    running = Service(tmp_path, backend=backend, DIDLIB_DB_TIMEOUT="3")
    try:
        wallet = running.wallet()
        offer = wallet.identify(*IDENTITY)
        token = wallet.token(offer["credential_offer_uri"], offer["tx_code"]).json()["access_token"]
        nonces = [wallet.nonce() for _ in range(4)]
        requests = [{"credential_configuration_id": "uk.dvla.age.mdoc",
                     "proofs": {"jwt": [make_proof(generate_key(), running.base, n)]}} for n in nonces]
        auth = {"Authorization": f"Bearer {token}"}
        with DatabaseLock(running, backend), concurrent.futures.ThreadPoolExecutor(4) as pool:
            stuck = [pool.submit(httpx.post, f"{running.base}/credential", json=r, headers=auth, timeout=30)
                     for r in requests[:3]]
            time.sleep(0.3)
            for path in ("/health", "/.well-known/openid-credential-issuer", "/.well-known/oauth-authorization-server"):
                assert httpx.get(running.base + path, timeout=2).status_code == 200, path
            assert not any(f.done() for f in stuck), "answered while the credential requests still waited"
            answers = [f.result() for f in stuck]
        assert [a.status_code for a in answers] == [503] * 3
        assert all(a.json()["error"] == "temporarily_unavailable" and a.headers["retry-after"] for a in answers)
        assert httpx.post(f"{running.base}/credential", json=requests[3], headers=auth).status_code == 200
        output = running.output()
        assert "Traceback" not in output and "UPDATE" not in output and "database busy" in output
        assert not any(nonce in output for nonce in nonces), "no SQL parameters in the log"
    finally:
        running.stop()


# -------------------------------------------------------------------------- 14.5 revocation stops issuance
def test_a_revoked_or_suspended_licence_gets_nothing_new(service: Service) -> None:
    wallet = service.wallet()
    offer = wallet.identify(*IDENTITY)
    (licence,) = wallet.obtain(offer, "uk.dvla.mdl.mdoc")
    pending = wallet.identify(*IDENTITY)  # an offer made before the revocation
    pending_token = wallet.token(pending["credential_offer_uri"], pending["tx_code"]).json()["access_token"]
    assert wallet.bind("dbs", SAMPLE_DBS_NUMBER, licence.mdoc(), licence.key).status_code == 200
    driver = f"{service.base}/admin/drivers/{DRIVER}"
    try:
        for action in ("revoke", "suspend"):
            assert httpx.post(f"{driver}/{action}", headers=ADMIN_HEADERS).status_code == 200
            refused = wallet.bind("dbs", SAMPLE_DBS_NUMBER, licence.mdoc(), licence.key)
            assert refused.status_code == 403 and refused.json()["error"] == "access_denied", action
            again = wallet.http.post("/dvla/identify", json=dict(zip(("driver_number", "birth_date", "postcode"),
                                                                     IDENTITY, strict=True)))
            assert again.status_code == 403 and again.json()["error"] == "access_denied", action
            late = wallet.request(pending_token, "uk.dvla.age.mdoc", [generate_key()])
            assert late.json()["error"] == "credential_request_denied", action
        assert httpx.post(f"{driver}/reinstate", headers=ADMIN_HEADERS).status_code == 200
        assert wallet.bind("dbs", SAMPLE_DBS_NUMBER, licence.mdoc(), licence.key).status_code == 200
        listed = httpx.get(f"{driver}/credentials", headers=ADMIN_HEADERS).json()
        index = licence.mdoc().mso.status["status_list"]["idx"]
        mine = next(c["id"] for c in listed if c["statusIndex"] == index)
        httpx.post(f"{service.base}/admin/credentials/{mine}/revoke", headers=ADMIN_HEADERS)
        alone = wallet.bind("dbs", SAMPLE_DBS_NUMBER, licence.mdoc(), licence.key)
        assert alone.status_code == 403, "the licence credential itself revoked, the driver not"
    finally:
        httpx.post(f"{driver}/reinstate", headers=ADMIN_HEADERS)


# ------------------------------------------------------------------ 14.3 what one offer issues; list growth
def test_one_offer_issues_one_licence_and_one_batch(service: Service) -> None:
    wallet = service.wallet()
    offer = wallet.identify(*IDENTITY)
    token = wallet.token(offer["credential_offer_uri"], offer["tx_code"]).json()["access_token"]

    def ask(config: str, count: int) -> httpx.Response:
        return wallet.request(token, config, [generate_key() for _ in range(count)])

    assert ask("uk.dvla.mdl.mdoc", 1).status_code == 200
    assert ask("uk.dvla.mdl.mdoc", 1).json()["error"] == "credential_request_denied", "one licence per offer"
    assert ask("uk.dvla.age.mdoc", 11).json()["error"] == "invalid_credential_request", "batch_size is 10"
    assert ask("uk.dvla.age.mdoc", 6).status_code == 200
    assert ask("uk.dvla.age.mdoc", 5).json()["error"] == "credential_request_denied", "one batch of ten"
    assert ask("uk.dvla.age.mdoc", 4).status_code == 200
    assert ask("uk.dvla.age.mdoc", 1).json()["error"] == "credential_request_denied"
    racing = concurrently(service, 20, lambda c, _: Wallet(service.base, c).request(
        token, "uk.dvla.age.sd-jwt", [generate_key()]).status_code, workers=20)
    assert sorted(racing) == [200] * 10 + [400] * 10, "concurrent requests with one token share one allowance"


def test_status_lists_grow_before_they_fill(tmp_path: Path) -> None:
    """A list takes entries up to half its size, then the next list (a new URI) opens: with lists of 16
    entries, 40 credentials spread over lists 1 to 5 and nobody is refused."""
    running = Service(tmp_path, DIDLIB_STATUS_LIST_SIZE="16")
    try:
        issued = age_credentials(running, 40)
        references = [c.mdoc().mso.status["status_list"] for c in issued]
        uris = sorted({r["uri"] for r in references})
        assert uris == [f"{running.base}/status/dvla/{n}" for n in range(1, 6)]
        assert len({(r["uri"], r["idx"]) for r in references}) == 40, "no entry handed out twice"
        trust = running.trust()
        from didlib.keys import load_public_key
        from didlib.trustlist import TrustList

        operator = load_public_key(httpx.get(f"{running.base}/trust/operator.pem").content)
        listed = TrustList.verify(httpx.get(f"{running.base}/trust/list").text, operator).status_list_uris()
        assert set(uris) <= set(listed)
        last = next(r for r in references if r["uri"].endswith("/5"))
        credentials = httpx.get(f"{running.base}/admin/drivers/{DRIVER}/credentials", headers=ADMIN_HEADERS).json()
        target = next(c["id"] for c in credentials if (c["statusList"], c["statusIndex"]) == (last["uri"], last["idx"]))
        assert httpx.post(f"{running.base}/admin/credentials/{target}/revoke", headers=ADMIN_HEADERS).status_code == 200
        token = StatusListToken.verify(httpx.get(last["uri"]).text, trust=trust)
        assert token.uri == last["uri"] and token.status_list.get(last["idx"]) == 1
        assert httpx.get(f"{running.base}/status/dvla/6").status_code == 404
        assert httpx.get(f"{running.base}/status/dvla/{2**63}").status_code == 400
    finally:
        running.stop()


# ------------------------------------------------------------------------------------ 14.7 smaller faults
def test_malformed_input_is_a_json_400(service: Service) -> None:
    wallet = service.wallet()
    deep = b"[" * 40_000
    for path in ("/credential", "/dvla/identify", "/dbs/bind"):
        answer = wallet.http.post(path, content=deep, headers={"Authorization": "Bearer x",
                                                                "Content-Type": "application/json"})
        assert answer.status_code in (400, 401) and answer.json()["error"], path
    offer = wallet.identify(*IDENTITY)
    token = wallet.token(offer["credential_offer_uri"], offer["tx_code"]).json()["access_token"]
    nested = wallet.http.post("/credential", content=deep, headers={"Authorization": f"Bearer {token}"})
    assert nested.status_code == 400 and nested.json()["error"] == "invalid_credential_request"
    for path in (f"/admin/credentials/{2**63}/revoke", "/admin/credentials/0/revoke", "/admin/drivers/x/revoke",
                 "/admin/audit?limit=100000000000000000000"):
        answer = wallet.http.request("GET" if "audit" in path else "POST", path, headers=ADMIN_HEADERS)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", path
    for method, path, status in (("GET", "/no/such/thing", 404), ("DELETE", "/nonce", 405),
                                 ("GET", "/status/nowhere/1", 404)):
        answer = wallet.http.request(method, path)
        assert answer.status_code == status and set(answer.json()) == {"error", "error_description"}, path
    assert "Traceback" not in service.output() and DRIVER not in service.output()


def test_openapi_documents_400_not_422(service: Service) -> None:
    document = httpx.get(f"{service.base}/openapi.json").json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert all("422" not in op["responses"] for op in operations)
    token = document["paths"]["/token"]["post"]["responses"]["400"]
    assert set(token["content"]["application/json"]["schema"]["properties"]) == {"error", "error_description"}


def test_expired_state_is_purged_and_nonces_are_rate_limited(tmp_path: Path) -> None:
    import datetime as dt

    from sqlalchemy import func, select

    from issuer_service.models import AccessToken, Nonce, Offer, OfferAllowance, make_engine, make_sessions

    running = Service(tmp_path, DIDLIB_RATE_PER_MINUTE="5")  # 50 nonces a minute per client
    try:
        sessions = make_sessions(make_engine(f"sqlite:///{tmp_path / 'issuer.db'}"))
        past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        with sessions() as session:
            session.add(Offer(id="stale", code_hash="h" * 64, tx_code_hash="x", subject_kind="driver", subject_id=1,
                              config_ids=[], expires=past))
            session.flush()
            session.add_all([OfferAllowance(offer_id="stale", config_id="c", remaining=1),
                             AccessToken(token_hash="t" * 64, offer_id="stale", expires=past),
                             Nonce(value="old", purpose="proof", expires=past)])
            session.commit()
        answers = [httpx.post(f"{running.base}/nonce").status_code for _ in range(60)]
        assert answers[:50] == [200] * 50 and set(answers[50:]) == {429}
        with sessions() as session:
            counts = [session.scalar(select(func.count()).select_from(m)) for m in (Offer, AccessToken, Nonce)]
            assert session.get(Offer, "stale") is None and session.get(Nonce, "old") is None
        assert counts == [0, 0, 50], "expired rows deleted, fresh nonces kept"
    finally:
        running.stop()


@pytest.mark.parametrize(("host", "public_url", "given", "expected"), [
    ("127.0.0.1", "http://127.0.0.1:8000", None, None),  # the demo and the tests: purely local, one listener
    ("localhost", "http://localhost:8000", None, None),
    ("::1", "http://[::1]:8000", None, None),
    ("0.0.0.0", "http://0.0.0.0:8000", None, 8001),  # reachable from the network
    ("192.168.1.20", "http://192.168.1.20:8000", None, 8001),
    ("127.0.0.1", "https://issuer.example.org", None, 8001),  # behind a reverse proxy
    ("127.0.0.1", "http://127.0.0.1:8000", 9100, 9100),  # asked for
    ("0.0.0.0", "https://issuer.example.org", 9100, 9100),
])
def test_admin_listener_choice(host: str, public_url: str, given: int | None, expected: int | None) -> None:
    assert admin_listener(host, public_url, 8000, given) == expected


def test_admin_api_off_the_public_listener_by_default(tmp_path: Path) -> None:
    """Announced at a public URL (a reverse proxy in front), the service serves the admin API only on
    127.0.0.1 at the public port + 1, without being asked to."""
    port = next(p for p in iter(process.free_port, None) if _free(p + 1))
    running = Service(tmp_path, args=(), port=port, DIDLIB_PUBLIC_URL="https://issuer.example.org")
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert httpx.get(f"{running.base}/admin/audit", headers=admin).status_code == 404
        assert httpx.get(f"http://127.0.0.1:{port + 1}/admin/audit", headers=admin).status_code == 200
        assert f"admin API on http://127.0.0.1:{port + 1} only" in running.output()
    finally:
        running.stop()


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_production_defaults(tmp_path: Path) -> None:
    """Without --demo: no transaction code in the offer response, no admin token in the output (it is in a
    private file); private files everywhere; an admin port of its own; failed admin logins throttled."""
    admin_port = process.free_port()
    running = Service(tmp_path, args=("--admin-port", str(admin_port)), DIDLIB_ADMIN_TOKEN="")
    try:
        wallet = running.wallet()
        offer = wallet.identify(*IDENTITY)
        assert "tx_code" not in offer and offer["credential_offer_uri"]
        token = (tmp_path / "admin-token").read_text().strip()
        assert token and token not in running.output()
        for name in ("issuer.db", "issuer.db-wal", "issuer.db-shm", "admin-token", "secret.key", "operator.key",
                     "pki/dvla/ds.key", "pki/dvla/iaca.key"):
            assert (tmp_path / name).stat().st_mode & 0o077 == 0, f"{name} is readable by others"
        admin = {"Authorization": f"Bearer {token}"}
        audit = f"http://127.0.0.1:{admin_port}/admin/audit"
        assert httpx.get(f"{running.base}/admin/audit", headers=admin).status_code == 404, "not on the public port"
        assert httpx.get(audit, headers=admin).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{admin_port}/health").status_code == 200
        from sqlalchemy import create_engine, text

        engine = create_engine(f"sqlite:///{tmp_path / 'issuer.db'}")
        with engine.connect() as db:
            stored = db.execute(text("SELECT tx_code_hash FROM offers")).scalars().all()
        engine.dispose()
        assert stored and all("$" in h and len(h) > 64 for h in stored), "salted and keyed, not plain SHA-256"
        wrong = [httpx.get(audit, headers={"Authorization": "Bearer guess"}).status_code for _ in range(12)]
        assert wrong[:10] == [401] * 10 and wrong[10:] == [429, 429]
        assert httpx.get(audit, headers=admin).status_code == 429, "throttled before the token is compared"
    finally:
        running.stop()
