"""A one-page shop that asks a wallet "over 18?" with OpenID4VP and learns that boolean, nothing else.

The checkout makes a :class:`didlib.oid4vp.PresentationRequest`, shows it as a QR (cross-device) and as an
``openid4vp://`` link (same device), hands the signed request object to the wallet at ``/request/{id}``,
takes the encrypted answer at ``/response/{id}`` and shows the verdict the page polls for. Issuer trust
and status lists come from the issuer's signed trust list; the shop's own reader certificate (naming its
host) comes from a reader CA folder. All protocol work is didlib's.

    python examples/age_gated_shop/shop.py --issuer http://127.0.0.1:8000 --reader-pki issuer-data/pki/dvla
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from didlib.errors import DidlibError
from didlib.keys import load_public_key
from didlib.mdoc.registry import ONLINE_AGE_ENTITLEMENT
from didlib.oid4vp import PresentationRequest, age_query
from didlib.pkidir import PkiDir
from didlib.qr import qr_png
from didlib.verifier import TrustCache, TrustData
from issuer_service.app import BodyLimit

MAX_PENDING = 1000
LIFETIME = dt.timedelta(minutes=10)
REFRESH = dt.timedelta(minutes=5)


@dataclass
class Checkout:
    request: PresentationRequest
    outcome: str = "waiting"  # waiting | verified | refused
    detail: str = ""
    over_18: bool | None = None


@dataclass
class Shop:
    """The shop's state: its reader identity, what it trusts, and the checkouts in progress."""

    base_url: str
    host: str
    reader: tuple = field(repr=False)  # (private key, certificate chain)
    trust: TrustCache
    trust_list_url: str
    checkouts: dict[str, Checkout] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    refreshed: dt.datetime | None = None
    data: TrustData | None = None  # verified once per refresh, not once per answer

    def refresh_trust(self) -> None:
        """Every few minutes: download the trust list and status lists, and verify them for the answers to use."""
        now = dt.datetime.now(dt.UTC)
        if self.refreshed is None or now - self.refreshed > REFRESH:
            self.trust.refresh(self.trust_list_url, lambda url: httpx.get(url, timeout=10).raise_for_status().content)
            self.refreshed = now
            try:
                self.data = self.trust.load(now)
            except DidlibError:  # e.g. the trust list expired and the issuer cannot be reached
                self.data = None

    def new_checkout(self) -> str:
        now = dt.datetime.now(dt.UTC)
        with self.lock:
            for key in [k for k, c in self.checkouts.items() if now - c.request.created > LIFETIME]:
                del self.checkouts[key]
            if len(self.checkouts) >= MAX_PENDING:
                raise HTTPException(503, "too many checkouts in progress")
            checkout_id = secrets.token_urlsafe(16)
            request = PresentationRequest.create(self.host, f"{self.base_url}/response/{checkout_id}", age_query(18),
                                                 now=now)
            self.checkouts[checkout_id] = Checkout(request)
        return checkout_id

    def checkout(self, checkout_id: str) -> Checkout:
        with self.lock:
            found = self.checkouts.get(checkout_id)
        if found is None:
            raise HTTPException(404, "no such checkout")
        return found


def create_app(shop: Shop) -> FastAPI:
    app = FastAPI(title="Age-gated shop (OpenID4VP demo)", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        return _page("Checkout", """
            <p>1 &times; Craft cider, 4-pack &mdash; &pound;7.50</p>
            <p>Age-restricted: we need to know you are over 18. Your wallet tells us that, and nothing else.</p>
            <form method="post" action="/checkout"><button id="verify">Verify my age with my wallet</button></form>""")

    @app.post("/checkout")
    def start() -> RedirectResponse:
        shop.refresh_trust()
        checkout_id = shop.new_checkout()
        return RedirectResponse(f"/checkout/{checkout_id}", status_code=303)

    @app.get("/checkout/{checkout_id}", response_class=HTMLResponse)
    def waiting(checkout_id: str) -> str:
        checkout = shop.checkout(checkout_id)
        link = checkout.request.uri(f"{shop.base_url}/request/{checkout_id}")
        qr = base64.b64encode(qr_png(link, ecc="M", box_size=5)).decode()
        return _page("Verify your age", f"""
            <p>Scan with your wallet, or <a id="link" href="{html.escape(link)}">open your wallet on this phone</a>.</p>
            <img id="qr" alt="age check QR code" src="data:image/png;base64,{qr}">
            <p id="outcome" data-link="{html.escape(link)}">Waiting for your wallet&hellip;</p>
            <script>
              async function poll() {{
                const r = await fetch("/checkout/{checkout_id}/outcome");
                const o = await r.json();
                if (o.outcome === "waiting") {{ setTimeout(poll, 500); return; }}
                document.getElementById("qr").hidden = true;
                const p = document.getElementById("outcome");
                p.textContent = o.outcome === "verified" ? (o.age_over_18 ? "Age verified: over 18" :
                    "Not over 18: we cannot sell this to you") : "Age not verified: " + o.detail;
                p.className = o.outcome;
              }}
              poll();
            </script>""")

    @app.get("/checkout/{checkout_id}/outcome")
    def outcome(checkout_id: str) -> dict[str, object]:
        checkout = shop.checkout(checkout_id)
        return {"outcome": checkout.outcome, "age_over_18": checkout.over_18, "detail": checkout.detail}

    @app.get("/request/{checkout_id}")
    def request_object(checkout_id: str) -> Response:
        token = shop.checkout(checkout_id).request.request_object(*shop.reader)
        return Response(token, media_type="application/oauth-authz-req+jwt")

    @app.post("/response/{checkout_id}")
    async def response(checkout_id: str, request: Request) -> JSONResponse:
        checkout = shop.checkout(checkout_id)
        form = await request.form(max_files=0, max_fields=4)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        data = shop.data
        if data is None:
            return JSONResponse({"error": "temporarily_unavailable", "error_description": "no trust data"}, 503)
        with shop.lock:
            result = checkout.request.check(fields, trust=data.issuers, status_checker=data.status)
            if result.valid:
                checkout.outcome, checkout.over_18 = "verified", result.claims.get("age_over_18") is True
            elif checkout.outcome == "waiting" and result.errors[0].code not in {"replayed", "wrong_state"}:
                checkout.outcome, checkout.detail = "refused", result.errors[0].message
        if not result.valid and "error" not in fields:  # a wallet's error response is processed: 200 (8.2)
            return JSONResponse({"error": "invalid_request", "error_description": result.errors[0].message}, 400)
        return JSONResponse({})

    return app


def _page(title: str, body: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;max-width:32em;margin:2em auto}} .verified{{color:#0a0;font-weight:bold}}
.refused{{color:#a00;font-weight:bold}}</style></head><body><h1>{title}</h1>{body}</body></html>"""


def build_shop(issuer: str, reader_pki: Path, base_url: str, host: str, cache: Path) -> Shop:
    """Get a reader certificate for ``host`` from the reader CA and the issuer's trust list."""
    operator = load_public_key(httpx.get(f"{issuer}/trust/operator.pem", timeout=10).raise_for_status().content)
    reader = PkiDir(reader_pki).website_reader(host, organisation="Example Cider Shop",
                                               entitlement=ONLINE_AGE_ENTITLEMENT)
    shop = Shop(base_url, host, reader, TrustCache(cache, operator), f"{issuer}/trust/list")
    shop.refresh_trust()
    return shop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", required=True, help="the issuer service (for its trust list)")
    parser.add_argument("--reader-pki", type=Path, required=True, help="folder with reader-ca.pem/.key")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--host", default="localhost", help="the shop's DNS name (x509_san_dns client id)")
    args = parser.parse_args(argv)
    base_url = f"http://{args.host}:{args.port}"
    with tempfile.TemporaryDirectory(prefix="shop-trust-") as cache:
        shop = build_shop(args.issuer, args.reader_pki, base_url, args.host, Path(cache))
        print(f"shop ready at {base_url}/", flush=True)
        uvicorn.run(create_app(shop), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
