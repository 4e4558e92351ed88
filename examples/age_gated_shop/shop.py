"""A one-page shop that asks a wallet "over 18?" with OpenID4VP and learns that boolean, nothing else.

The checkout makes a :class:`didlib.oid4vp.PresentationRequest`, shows it as a QR (cross-device) and as an
``openid4vp://`` link (same device), hands the signed request object to the wallet at ``/request/{id}``,
takes the encrypted answer at ``/response/{id}`` and shows the verdict the page polls for. Where the browser
has the W3C Digital Credentials API, the page also offers "Verify with your wallet" (didlib's page script asks
the browser, bound to the shop's origin; web_common.dc_api_routes). Issuer trust
and status lists come from the issuer's signed trust list; the shop's own reader certificate (naming its
host) comes from a reader CA folder. All protocol work is didlib's.

Checkouts live in SQLite in the state folder, so they survive a restart and several shop processes can
share them; starting one is rate-limited per client, a checkout and its verdict belong to the browser that
started it (a cookie), and an answer that does not verify never ends a waiting checkout. Every page sends
a Content-Security-Policy (no framing): examples/web_common.py, shared with the volunteer portal. Limits
and reasons: specs/online.md, "The demo shop".

    python examples/age_gated_shop/shop.py --issuer http://127.0.0.1:8000 --reader-pki issuer-data/pki/dvla
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from didlib.keys import load_public_key
from didlib.mdoc.registry import ONLINE_AGE_ENTITLEMENT
from didlib.oid4vp import VpResult, age_query
from didlib.pkidir import PkiDir
from didlib.verifier import TrustCache
from issuer_service.app import BodyLimit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/web_common.py, shared with the portal
from web_common import (
    REFRESH,
    Checkouts,
    Site,
    dc_api_routes,
    openid4vp_routes,
    page,
    security_headers,
    waiting_page,
)

COOKIE = "shop_browser"


def over_18(result: VpResult) -> dict[str, Any]:
    """All the shop keeps of an answer."""
    return {"age_over_18": result.claims.get("age_over_18") is True}


def create_app(shop: Site) -> FastAPI:
    app = FastAPI(title="Age-gated shop (OpenID4VP demo)", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit)
    security_headers(app)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> str:
        return page(request, "Checkout", """
            <p>1 &times; Craft cider, 4-pack &mdash; &pound;7.50</p>
            <p>Age-restricted: we need to know you are over 18. Your wallet tells us that, and nothing else.</p>
            <form method="post" action="/checkout"><button id="verify">Verify my age with my wallet</button></form>""")

    @app.post("/checkout")
    def start(request: Request) -> RedirectResponse:
        return shop.begin(request, COOKIE, age_query(18), "/checkout")

    @app.get("/checkout/{checkout_id}", response_class=HTMLResponse)
    def waiting(checkout_id: str, request: Request) -> str:
        return waiting_page(request, shop, checkout_id, COOKIE, title="Verify your age", intro="",
                            alt="age check QR code", poll=f"/checkout/{checkout_id}/outcome",
                            expired="This checkout has expired: start again",
                            done='p.textContent = o.age_over_18 ? "Age verified: over 18" : '
                                 '"Not over 18: we cannot sell this to you";', dc_api=f"/checkout/{checkout_id}")

    @app.get("/checkout/{checkout_id}/outcome")
    def outcome(checkout_id: str, request: Request) -> dict[str, object]:
        checkout = shop.checkouts.get(checkout_id, request.cookies.get(COOKIE, ""))
        return {"outcome": checkout.outcome, "age_over_18": checkout.verdict.get("age_over_18"),
                "detail": checkout.detail}

    openid4vp_routes(app, shop)
    dc_api_routes(app, shop, COOKIE, "/checkout")
    return app


def build_shop(issuer: str, reader_pki: Path, base_url: str, host: str, state: Path,
               refresh: int = REFRESH) -> Site:
    """Get a reader certificate for ``host`` from the reader CA and the issuer's trust list."""
    operator = load_public_key(httpx.get(f"{issuer}/trust/operator.pem", timeout=10).raise_for_status().content)
    reader = PkiDir(reader_pki).website_reader(host, organisation="Example Cider Shop",
                                               entitlement=ONLINE_AGE_ENTITLEMENT)
    shop = Site(base_url, host, reader, TrustCache(state / "trust", operator), f"{issuer}/trust/list",
                Checkouts(state / "checkouts.sqlite", over_18), refresh_every=dt.timedelta(seconds=refresh))
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
