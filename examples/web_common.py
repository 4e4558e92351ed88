"""What the example websites (the age-gated shop, the volunteer portal) share: OpenID4VP transactions kept in
SQLite, the trust data they verify answers with, the two OpenID4VP endpoints, the page a transaction waits on
and the security headers.

A transaction (a checkout, an application) belongs to the browser that started it (a cookie), starting one
is rate-limited per client, and an answer that does not verify never ends a waiting one. Limits and reasons:
specs/online.md, "The demo shop".
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import html
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from didlib.errors import DidlibError
from didlib.oid4vp import PresentationRequest, VpResult
from didlib.oid4vp.dc_api import browser_script, navigator_options, read_answer
from didlib.qr import qr_png
from didlib.verifier import TrustCache, TrustData

MAX_PENDING = 1000  # waiting transactions, all clients together
RATE_PER_MINUTE = 10  # transactions one client may start in a minute
LIFETIME = dt.timedelta(minutes=10)
REFRESH = 300  # seconds between trust data refreshes
BUSY_TIMEOUT = 30.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS transactions (id TEXT PRIMARY KEY, browser TEXT NOT NULL, created REAL NOT NULL, "
    "request TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, verdict TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS starts (client TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS starts_client ON starts (client, at)",
    # a transaction's Digital Credentials API request (made when the page asks for it; a new one replaces it)
    "CREATE TABLE IF NOT EXISTS dc_requests (id TEXT PRIMARY KEY, request TEXT NOT NULL)",
)


@dataclass
class Checkout:
    """One transaction: a checkout in the shop, an application in the volunteer portal."""

    request: PresentationRequest
    browser: str  # SHA-256 of the cookie of the browser that started it
    outcome: str = "waiting"  # waiting | verified
    detail: str = ""  # why the last answer was not accepted (the transaction still waits)
    verdict: dict[str, Any] = field(default_factory=dict)  # what the site keeps of a verified answer


def digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


class Checkouts:
    """Transactions in SQLite (WAL; every read-modify-write one ``BEGIN IMMEDIATE`` transaction), shared by
    every process of a site on the file and kept across restarts. The file holds the requests' private keys:
    mode 600. ``summary`` says what of a verified answer the site keeps for the page to show."""

    def __init__(self, path: Path, summary: Callable[[VpResult], dict[str, Any]]) -> None:
        self.path = path
        self.summary = summary
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite gives its -wal and -shm files this mode
        with contextlib.closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent, and not allowed inside a transaction
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def start(self, client: str, browser: str, make: Callable[[str], PresentationRequest],
              now: dt.datetime) -> str:
        """A new transaction for ``browser``, unless ``client`` started too many this minute (429) or too many
        are waiting (503)."""
        with self._transaction() as db:
            moment = now.timestamp()
            db.execute("DELETE FROM transactions WHERE created < ?", (moment - LIFETIME.total_seconds(),))
            db.execute("DELETE FROM dc_requests WHERE id NOT IN (SELECT id FROM transactions)")
            db.execute("DELETE FROM starts WHERE at < ?", (moment - 60,))
            (recent,) = db.execute("SELECT COUNT(*) FROM starts WHERE client = ?", (client,)).fetchone()
            if recent >= RATE_PER_MINUTE:
                raise HTTPException(429, "too many started: try again in a minute", headers={"Retry-After": "60"})
            (waiting,) = db.execute("SELECT COUNT(*) FROM transactions WHERE outcome = 'waiting'").fetchone()
            if waiting >= MAX_PENDING:
                raise HTTPException(503, "too many in progress")
            checkout_id = secrets.token_urlsafe(16)
            db.execute("INSERT INTO starts (client, at) VALUES (?, ?)", (client, moment))
            db.execute("INSERT INTO transactions VALUES (?, ?, ?, ?, 'waiting', '', '{}')",
                       (checkout_id, browser, moment, make(checkout_id).to_json()))
        return checkout_id

    @staticmethod
    def _load(db: sqlite3.Connection, checkout_id: str) -> Checkout:
        row = db.execute("SELECT request, browser, outcome, detail, verdict FROM transactions WHERE id = ? "
                         "AND created >= ?", (checkout_id, dt.datetime.now(dt.UTC).timestamp()
                                              - LIFETIME.total_seconds())).fetchone()
        if row is None:
            raise HTTPException(404, "not found (or it has expired)")
        request, browser, outcome, detail, verdict = row
        return Checkout(PresentationRequest.from_json(request), browser, outcome, detail, json.loads(verdict))

    def get(self, checkout_id: str, browser: str | None = None) -> Checkout:
        """The transaction; with ``browser``, only if that browser started it (else 404, as if there were none)."""
        with self._transaction() as db:
            found = self._load(db, checkout_id)
        if browser is not None and not secrets.compare_digest(found.browser, digest(browser)):
            raise HTTPException(404, "not found (or it has expired)")
        return found

    def dc_api_request(self, checkout_id: str, browser: str,
                       make: Callable[[PresentationRequest], PresentationRequest]) -> PresentationRequest:
        """A new Digital Credentials API request (``make`` gets the transaction's own request) for the waiting
        transaction of ``browser``, replacing any earlier one."""
        with self._transaction() as db:
            checkout = self._load(db, checkout_id)
            if not secrets.compare_digest(checkout.browser, digest(browser)):
                raise HTTPException(404, "not found (or it has expired)")
            if checkout.outcome != "waiting":
                raise HTTPException(409, "already verified")
            request = make(checkout.request)
            db.execute("INSERT OR REPLACE INTO dc_requests VALUES (?, ?)", (checkout_id, request.to_json()))
        return request

    def answer(self, checkout_id: str, check: Callable[[PresentationRequest], VpResult],
               dc_api: bool = False) -> VpResult:
        """Check a wallet's answer (to the transaction's request, or with ``dc_api`` to its Digital Credentials
        API request) and record it, in one transaction: of two processes given one answer, one accepts it. A
        valid answer ends the transaction; any other leaves it waiting, with the reason."""
        with self._transaction() as db:
            checkout = self._load(db, checkout_id)
            request = checkout.request
            if dc_api:
                row = db.execute("SELECT request FROM dc_requests WHERE id = ?", (checkout_id,)).fetchone()
                if row is None:
                    raise HTTPException(404, "no browser request for this transaction")
                request = PresentationRequest.from_json(row[0])
            result = check(request)
            if result.valid:
                db.execute("UPDATE dc_requests SET request = ? WHERE id = ?", (request.to_json(), checkout_id))
                db.execute("UPDATE transactions SET request = ?, outcome = 'verified', detail = '', verdict = ? "
                           "WHERE id = ?", (checkout.request.to_json() if dc_api else request.to_json(),
                                            json.dumps(self.summary(result)), checkout_id))
            elif checkout.outcome == "waiting":
                db.execute("UPDATE transactions SET detail = ? WHERE id = ?", (result.errors[0].message, checkout_id))
        return result


@dataclass
class Site:
    """A website that asks wallets with OpenID4VP: its reader identity, what it trusts, its transactions."""

    base_url: str
    host: str
    reader: tuple[Any, list[Any]] = field(repr=False)  # (private key, certificate chain)
    trust: TrustCache
    trust_list_url: str
    checkouts: Checkouts
    refreshed: dt.datetime | None = None
    data: TrustData | None = None  # verified once per refresh, not once per answer
    refresh_every: dt.timedelta = dt.timedelta(seconds=REFRESH)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh_trust(self) -> None:
        """Every few minutes: download the trust list and status lists, and verify them for the answers to use.
        A failed download keeps the cached data (didlib's refresh never raises for it) until it expires."""
        now = dt.datetime.now(dt.UTC)
        with self.lock:
            if self.refreshed is not None and now - self.refreshed < self.refresh_every:
                return
            self.trust.refresh(self.trust_list_url, lambda url: httpx.get(url, timeout=10).raise_for_status().content)
            self.refreshed = now
            try:
                self.data = self.trust.load(now)
            except DidlibError:  # e.g. the trust list expired and the issuer cannot be reached
                self.data = None

    @property
    def origin(self) -> str:
        """The site's web origin, as browsers name it: what its Digital Credentials API answers are bound to."""
        return self.base_url.rstrip("/")

    def begin(self, request: Request, cookie: str, query: Mapping[str, Any], pages: str) -> RedirectResponse:
        """Start a transaction asking ``query`` (answered at ``/response/{id}``) for the browser that asks, give
        that browser its random cookie the first time, and send it to the page at ``pages/{id}``."""
        self.refresh_trust()
        browser = request.cookies.get(cookie) or secrets.token_urlsafe(32)
        client = request.client.host if request.client else "unknown"
        checkout_id = self.checkouts.start(client, digest(browser), lambda checkout_id: PresentationRequest.create(
            self.host, f"{self.base_url}/response/{checkout_id}", query), dt.datetime.now(dt.UTC))
        response = RedirectResponse(f"{pages}/{checkout_id}", status_code=303)
        response.set_cookie(cookie, browser, max_age=86_400, httponly=True, samesite="lax",
                            secure=self.base_url.startswith("https:"))
        return response

    def verify(self, saved: PresentationRequest, fields: Mapping[str, str], data: TrustData) -> VpResult:
        """The check of an answer; a site with more to prove than the presentations' validity extends it."""
        return saved.check(fields, trust=data.issuers, status_checker=data.status)


def openid4vp_routes(app: FastAPI, site: Site) -> None:
    """``GET /request/{id}`` hands the wallet the signed request object; ``POST /response/{id}`` takes its
    answer (OpenID4VP 1.0 5.10, 8.2)."""

    @app.get("/request/{checkout_id}")
    def request_object(checkout_id: str) -> Response:
        token = site.checkouts.get(checkout_id).request.request_object(*site.reader)
        return Response(token, media_type="application/oauth-authz-req+jwt")

    @app.post("/response/{checkout_id}")
    async def response(checkout_id: str, request: Request) -> JSONResponse:
        form = await request.form(max_files=0, max_fields=4)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        data = site.data
        if data is None:
            return JSONResponse({"error": "temporarily_unavailable", "error_description": "no trust data"}, 503)
        result = await run_in_threadpool(site.checkouts.answer, checkout_id,
                                         lambda saved: site.verify(saved, fields, data))
        if not result.valid and "error" not in fields:  # a wallet's error response is processed: 200 (8.2)
            return JSONResponse({"error": "invalid_request", "error_description": result.errors[0].message}, 400)
        return JSONResponse({})


def dc_api_routes(app: FastAPI, site: Site, cookie: str, pages: str) -> None:
    """The W3C Digital Credentials API beside the QR code (OpenID4VP 1.0 Appendix A): ``GET /dc-api.js`` (didlib's
    page script), ``POST {pages}/{id}/dc-api`` (the ``navigator.credentials.get`` options: the transaction's
    query, signed with the site's reader certificate and unsigned, bound to the site's own origin) and
    ``POST {pages}/{id}/dc-api/response`` (the browser's ``{protocol, data}``, checked like a wallet's POST).
    Both are for the browser that started the transaction (its cookie); :func:`waiting_page` shows the button."""

    @app.get("/dc-api.js")
    def dc_api_script() -> Response:
        return Response(browser_script(), media_type="text/javascript")

    @app.post(pages + "/{checkout_id}/dc-api")
    def dc_api_request(checkout_id: str, request: Request) -> dict[str, Any]:
        made = site.checkouts.dc_api_request(checkout_id, request.cookies.get(cookie, ""), lambda saved: (
            PresentationRequest.create_dc_api(site.origin, saved.dcql_query, host=site.host)))
        return navigator_options(made, site.reader)

    @app.post(pages + "/{checkout_id}/dc-api/response")
    async def dc_api_response(checkout_id: str, request: Request) -> JSONResponse:
        site.checkouts.get(checkout_id, request.cookies.get(cookie, ""))  # the browser that started it, or 404
        try:
            fields = read_answer(await request.body())
        except DidlibError as exc:
            return JSONResponse({"error": "invalid_request", "error_description": exc.message}, 400)
        data = site.data
        if data is None:
            return JSONResponse({"error": "temporarily_unavailable", "error_description": "no trust data"}, 503)
        result = await run_in_threadpool(site.checkouts.answer, checkout_id,
                                         lambda saved: site.verify(saved, fields, data), True)
        if not result.valid and "error" not in fields:
            return JSONResponse({"error": "invalid_request", "error_description": result.errors[0].message}, 400)
        return JSONResponse({"outcome": "verified" if result.valid else "waiting"})


def csp(nonce: str) -> str:
    """Only this page's own script and style (by nonce), images inline, polls to itself, and no framing
    (clickjacking the "verify" button): CSP Level 3 ``frame-ancestors``, with X-Frame-Options for old browsers."""
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def security_headers(app: FastAPI) -> None:
    """A CSP nonce for every page (``request.state.nonce``) and the headers that go with it."""

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.nonce = secrets.token_urlsafe(16)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = csp(request.state.nonce)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response


def page(request: Request, title: str, body: str, style: str = "") -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="{request.state.nonce}">body{{font-family:sans-serif;max-width:32em;margin:2em auto}}
.verified{{color:#0a0;font-weight:bold}} .refused{{color:#a00;font-weight:bold}}{style}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def waiting_page(request: Request, site: Site, checkout_id: str, cookie: str, *, title: str, intro: str, alt: str,
                 poll: str, expired: str, done: str, dc_api: str | None = None) -> str:
    """The page a transaction waits on, for the browser that started it (else 404): the ``openid4vp://`` link
    (same device) and its QR (cross-device), and a script that polls ``poll`` until the wallet's answer is in,
    then runs ``done`` (JavaScript with the outcome as ``o``). ``intro`` is trusted HTML. With ``dc_api`` (the
    transaction's path under :func:`dc_api_routes`) a "Verify with your wallet" button, shown by didlib's page
    script where the browser has the Digital Credentials API."""
    checkout = site.checkouts.get(checkout_id, request.cookies.get(cookie, ""))
    link = checkout.request.uri(f"{site.base_url}/request/{checkout_id}")
    qr = base64.b64encode(qr_png(link, ecc="M", box_size=5)).decode()
    button = "" if dc_api is None else f"""
            <p><button id="dc-api" hidden data-dc-api-request="{dc_api}/dc-api"
                data-dc-api-response="{dc_api}/dc-api/response" data-dc-api-status="outcome"
                >Verify with your wallet</button></p>"""
    script = "" if dc_api is None else f'<script nonce="{request.state.nonce}" src="/dc-api.js"></script>'
    return page(request, title, f"""{button}
            <p>Scan with your wallet, or <a id="link" href="{html.escape(link)}">open your wallet on this phone</a>.
            {intro}</p>
            <img id="qr" alt="{html.escape(alt)}" src="data:image/png;base64,{qr}">
            <p id="outcome" data-link="{html.escape(link)}">Waiting for your wallet&hellip;</p>
            {script}
            <script nonce="{request.state.nonce}">
              async function poll() {{
                const p = document.getElementById("outcome");
                const r = await fetch("{poll}");
                if (!r.ok) {{
                  p.textContent = "{expired}";
                  p.className = "refused";
                  return;
                }}
                const o = await r.json();
                if (o.outcome === "waiting") {{
                  if (o.detail) p.textContent = "An answer was not accepted (" + o.detail + "): waiting";
                  setTimeout(poll, 500);
                  return;
                }}
                document.getElementById("qr").hidden = true;
                for (const b of document.querySelectorAll("[data-dc-api-request]")) b.hidden = true;
                {done}
                p.className = "verified";
              }}
              poll();
            </script>""")
