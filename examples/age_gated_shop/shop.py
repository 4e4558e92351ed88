"""A one-page shop that asks a wallet "over 18?" with OpenID4VP and learns that boolean, nothing else.

The checkout makes a :class:`didlib.oid4vp.PresentationRequest`, shows it as a QR (cross-device) and as an
``openid4vp://`` link (same device), hands the signed request object to the wallet at ``/request/{id}``,
takes the encrypted answer at ``/response/{id}`` and shows the verdict the page polls for. Issuer trust
and status lists come from the issuer's signed trust list; the shop's own reader certificate (naming its
host) comes from a reader CA folder. All protocol work is didlib's.

Checkouts live in SQLite in the state folder, so they survive a restart and several shop processes can
share them; starting one is rate-limited per client, a checkout and its verdict belong to the browser that
started it (a cookie), and an answer that does not verify never ends a waiting checkout. Every page sends
a Content-Security-Policy (no framing). Limits and reasons: specs/online.md, "The demo shop".

    python examples/age_gated_shop/shop.py --issuer http://127.0.0.1:8000 --reader-pki issuer-data/pki/dvla
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import html
import os
import secrets
import sqlite3
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from didlib.errors import DidlibError
from didlib.keys import load_public_key
from didlib.mdoc.registry import ONLINE_AGE_ENTITLEMENT
from didlib.oid4vp import PresentationRequest, VpResult, age_query
from didlib.pkidir import PkiDir
from didlib.qr import qr_png
from didlib.verifier import TrustCache, TrustData
from issuer_service.app import BodyLimit

MAX_PENDING = 1000  # waiting checkouts, all clients together
RATE_PER_MINUTE = 10  # checkouts one client may start in a minute
LIFETIME = dt.timedelta(minutes=10)
REFRESH = 300  # seconds between trust data refreshes
COOKIE = "shop_browser"
BUSY_TIMEOUT = 30.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS checkouts (id TEXT PRIMARY KEY, browser TEXT NOT NULL, created REAL NOT NULL, "
    "request TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, over_18 INTEGER)",
    "CREATE TABLE IF NOT EXISTS starts (client TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS starts_client ON starts (client, at)",
)


@dataclass
class Checkout:
    request: PresentationRequest
    browser: str  # SHA-256 of the cookie of the browser that started it
    outcome: str = "waiting"  # waiting | verified
    detail: str = ""  # why the last answer was not accepted (the checkout still waits)
    over_18: bool | None = None


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


class Checkouts:
    """Checkouts in SQLite (WAL; every read-modify-write one ``BEGIN IMMEDIATE`` transaction), shared by every
    shop process on the file and kept across restarts. The file holds the requests' private keys: mode 600."""

    def __init__(self, path: Path) -> None:
        self.path = path
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
        """A new checkout for ``browser``, unless ``client`` started too many this minute (429) or too many
        are waiting (503)."""
        with self._transaction() as db:
            moment = now.timestamp()
            db.execute("DELETE FROM checkouts WHERE created < ?", (moment - LIFETIME.total_seconds(),))
            db.execute("DELETE FROM starts WHERE at < ?", (moment - 60,))
            (recent,) = db.execute("SELECT COUNT(*) FROM starts WHERE client = ?", (client,)).fetchone()
            if recent >= RATE_PER_MINUTE:
                raise HTTPException(429, "too many checkouts started: try again in a minute",
                                    headers={"Retry-After": "60"})
            (waiting,) = db.execute("SELECT COUNT(*) FROM checkouts WHERE outcome = 'waiting'").fetchone()
            if waiting >= MAX_PENDING:
                raise HTTPException(503, "too many checkouts in progress")
            checkout_id = secrets.token_urlsafe(16)
            db.execute("INSERT INTO starts (client, at) VALUES (?, ?)", (client, moment))
            db.execute("INSERT INTO checkouts VALUES (?, ?, ?, ?, 'waiting', '', NULL)",
                       (checkout_id, browser, moment, make(checkout_id).to_json()))
        return checkout_id

    @staticmethod
    def _load(db: sqlite3.Connection, checkout_id: str) -> Checkout:
        row = db.execute("SELECT request, browser, outcome, detail, over_18 FROM checkouts WHERE id = ? "
                         "AND created >= ?", (checkout_id, dt.datetime.now(dt.UTC).timestamp()
                                              - LIFETIME.total_seconds())).fetchone()
        if row is None:
            raise HTTPException(404, "no such checkout (or it has expired)")
        request, browser, outcome, detail, over_18 = row
        return Checkout(PresentationRequest.from_json(request), browser, outcome, detail,
                        None if over_18 is None else bool(over_18))

    def get(self, checkout_id: str, browser: str | None = None) -> Checkout:
        """The checkout; with ``browser``, only if that browser started it (else 404, as if there were none)."""
        with self._transaction() as db:
            found = self._load(db, checkout_id)
        if browser is not None and not secrets.compare_digest(found.browser, _digest(browser)):
            raise HTTPException(404, "no such checkout (or it has expired)")
        return found

    def answer(self, checkout_id: str, check: Callable[[PresentationRequest], VpResult]) -> VpResult:
        """Check a wallet's answer and record it, in one transaction: of two processes given one answer, one
        accepts it. A valid answer ends the checkout; any other leaves it waiting, with the reason."""
        with self._transaction() as db:
            checkout = self._load(db, checkout_id)
            result = check(checkout.request)
            if result.valid:
                db.execute("UPDATE checkouts SET request = ?, outcome = 'verified', detail = '', over_18 = ? "
                           "WHERE id = ?", (checkout.request.to_json(),
                                            result.claims.get("age_over_18") is True, checkout_id))
            elif checkout.outcome == "waiting":
                db.execute("UPDATE checkouts SET detail = ? WHERE id = ?", (result.errors[0].message, checkout_id))
        return result


@dataclass
class Shop:
    """The shop's state: its reader identity, what it trusts, and the checkouts in progress."""

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

    def new_checkout(self, client: str, browser: str) -> str:
        return self.checkouts.start(client, _digest(browser), lambda checkout_id: PresentationRequest.create(
            self.host, f"{self.base_url}/response/{checkout_id}", age_query(18)), dt.datetime.now(dt.UTC))


def _csp(nonce: str) -> str:
    """Only this page's own script and style (by nonce), images inline, polls to itself, and no framing
    (clickjacking the "verify" button): CSP Level 3 ``frame-ancestors``, with X-Frame-Options for old browsers."""
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def create_app(shop: Shop) -> FastAPI:
    app = FastAPI(title="Age-gated shop (OpenID4VP demo)", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.nonce = secrets.token_urlsafe(16)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = _csp(request.state.nonce)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> str:
        return _page(request, "Checkout", """
            <p>1 &times; Craft cider, 4-pack &mdash; &pound;7.50</p>
            <p>Age-restricted: we need to know you are over 18. Your wallet tells us that, and nothing else.</p>
            <form method="post" action="/checkout"><button id="verify">Verify my age with my wallet</button></form>""")

    @app.post("/checkout")
    def start(request: Request) -> RedirectResponse:
        shop.refresh_trust()
        browser = request.cookies.get(COOKIE) or secrets.token_urlsafe(32)
        checkout_id = shop.new_checkout(request.client.host if request.client else "unknown", browser)
        response = RedirectResponse(f"/checkout/{checkout_id}", status_code=303)
        response.set_cookie(COOKIE, browser, max_age=86_400, httponly=True, samesite="lax",
                            secure=shop.base_url.startswith("https:"))
        return response

    @app.get("/checkout/{checkout_id}", response_class=HTMLResponse)
    def waiting(checkout_id: str, request: Request) -> str:
        checkout = shop.checkouts.get(checkout_id, request.cookies.get(COOKIE, ""))
        link = checkout.request.uri(f"{shop.base_url}/request/{checkout_id}")
        qr = base64.b64encode(qr_png(link, ecc="M", box_size=5)).decode()
        return _page(request, "Verify your age", f"""
            <p>Scan with your wallet, or <a id="link" href="{html.escape(link)}">open your wallet on this phone</a>.</p>
            <img id="qr" alt="age check QR code" src="data:image/png;base64,{qr}">
            <p id="outcome" data-link="{html.escape(link)}">Waiting for your wallet&hellip;</p>
            <script nonce="{request.state.nonce}">
              async function poll() {{
                const p = document.getElementById("outcome");
                const r = await fetch("/checkout/{checkout_id}/outcome");
                if (!r.ok) {{
                  p.textContent = "This checkout has expired: start again";
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
                p.textContent = o.age_over_18 ? "Age verified: over 18" : "Not over 18: we cannot sell this to you";
                p.className = "verified";
              }}
              poll();
            </script>""")

    @app.get("/checkout/{checkout_id}/outcome")
    def outcome(checkout_id: str, request: Request) -> dict[str, object]:
        checkout = shop.checkouts.get(checkout_id, request.cookies.get(COOKIE, ""))
        return {"outcome": checkout.outcome, "age_over_18": checkout.over_18, "detail": checkout.detail}

    @app.get("/request/{checkout_id}")
    def request_object(checkout_id: str) -> Response:
        token = shop.checkouts.get(checkout_id).request.request_object(*shop.reader)
        return Response(token, media_type="application/oauth-authz-req+jwt")

    @app.post("/response/{checkout_id}")
    async def response(checkout_id: str, request: Request) -> JSONResponse:
        form = await request.form(max_files=0, max_fields=4)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        data = shop.data
        if data is None:
            return JSONResponse({"error": "temporarily_unavailable", "error_description": "no trust data"}, 503)
        result = await run_in_threadpool(shop.checkouts.answer, checkout_id, lambda saved: saved.check(
            fields, trust=data.issuers, status_checker=data.status))
        if not result.valid and "error" not in fields:  # a wallet's error response is processed: 200 (8.2)
            return JSONResponse({"error": "invalid_request", "error_description": result.errors[0].message}, 400)
        return JSONResponse({})

    return app


def _page(request: Request, title: str, body: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="{request.state.nonce}">body{{font-family:sans-serif;max-width:32em;margin:2em auto}}
.verified{{color:#0a0;font-weight:bold}} .refused{{color:#a00;font-weight:bold}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def build_shop(issuer: str, reader_pki: Path, base_url: str, host: str, state: Path,
               refresh: int = REFRESH) -> Shop:
    """Get a reader certificate for ``host`` from the reader CA and the issuer's trust list."""
    operator = load_public_key(httpx.get(f"{issuer}/trust/operator.pem", timeout=10).raise_for_status().content)
    reader = PkiDir(reader_pki).website_reader(host, organisation="Example Cider Shop",
                                               entitlement=ONLINE_AGE_ENTITLEMENT)
    shop = Shop(base_url, host, reader, TrustCache(state / "trust", operator), f"{issuer}/trust/list",
                Checkouts(state / "checkouts.sqlite"), refresh_every=dt.timedelta(seconds=refresh))
    shop.refresh_trust()
    return shop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", required=True, help="the issuer service (for its trust list)")
    parser.add_argument("--reader-pki", type=Path, required=True, help="folder with reader-ca.pem/.key")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--host", default="localhost", help="the shop's DNS name (x509_san_dns client id)")
    parser.add_argument("--refresh", type=int, default=REFRESH, help="seconds between trust data refreshes")
    parser.add_argument("--state", type=Path, help="folder for the checkouts and the trust data cache, shared by "
                        "every shop process on it (default: a temporary one)")
    args = parser.parse_args(argv)
    base_url = f"http://{args.host}:{args.port}"
    with tempfile.TemporaryDirectory(prefix="shop-") as temporary:
        shop = build_shop(args.issuer, args.reader_pki, base_url, args.host, args.state or Path(temporary),
                          args.refresh)
        print(f"shop ready at {base_url}/", flush=True)
        uvicorn.run(create_app(shop), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
