"""A youth organisation's volunteer portal: volunteers apply with their wallet (OpenID4VP), the organisation
keeps a register of their checks and sees first whom to look at again.

The application asks, in one DCQL query (:func:`didlib.oid4vp.volunteer_query`), for the driving licence
(name, birth date, portrait), the DBS check and, optionally, the safeguarding training, each element marked
with whether the organisation keeps it; the wallet shows that and the stated purpose on its consent screen.
An answer is accepted only when every credential is bound to the same device key (one person); the
register (:mod:`volunteer_register`) then keeps what was marked for keeping, and the status-list references.
The QR (cross-device), ``openid4vp://`` link (same device) and browser (W3C Digital Credentials API, bound to
the portal's origin) paths and the transactions, rate limits, browser cookie and security headers are the
shop's (examples/web_common.py).

Staff see the register (flagged volunteers first, with the reason) at ``/register`` and download it as CSV at
``/register.csv``, with HTTP Basic authentication (any user name, the staff token as password). The portal
rechecks the register against the issuers' status lists on a schedule and erases the records of
volunteers who left longer ago than the retention period; ``volunteer-register`` does the same on demand.

    python examples/volunteer_portal/portal.py --issuer http://127.0.0.1:8000 --reader-pki issuer-data/pki/dvla \\
        --state volunteer-register --staff-token s3cret
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import os
import secrets
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import httpx
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from didlib.errors import UsageError
from didlib.keys import load_public_key
from didlib.oid4vp import PresentationRequest, VpResult, volunteer_entitlement, volunteer_query
from didlib.pkidir import PkiDir
from didlib.verification import Problem
from didlib.verifier import TrustCache, TrustData
from issuer_service.app import BodyLimit
from volunteer_register.cli import RETENTION_DAYS, Setup
from volunteer_register.recheck import RecheckReport, recheck
from volunteer_register.register import Register, record_from_result

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/web_common.py, shared with the shop
from web_common import REFRESH, Checkouts, Site, dc_api_routes, openid4vp_routes, page, security_headers, waiting_page

COOKIE = "portal_browser"
RECHECK = 3600  # seconds between scheduled rechecks
BASIC = HTTPBasic(realm="volunteer register", auto_error=True)
PURPOSE = "To check that you may volunteer with children, and to keep a record of that check (safeguarding)."


def registered(_result: VpResult) -> dict[str, Any]:
    """What the application transaction keeps: that it went in the register (the record is the register's)."""
    return {"registered": True}


class Portal(Site):
    """The portal: a site whose verified answers go in the volunteer register."""

    register: Register
    retention: dt.timedelta
    last_recheck: RecheckReport | None = None

    def query(self) -> dict[str, Any]:
        kept = f"your name, birth date and DBS details for as long as you volunteer and " \
               f"{self.retention.days} days after; never your photo"
        return volunteer_query(PURPOSE, kept)

    def verify(self, saved: PresentationRequest, fields: Mapping[str, str], data: TrustData) -> VpResult:
        """The presentations verify, and they belong to one person (one device key): then the register keeps
        the volunteer. Otherwise the application waits, with the reason."""
        result = super().verify(saved, fields, data)
        if not result.valid:
            return result
        try:
            record = record_from_result(result)
        except UsageError as exc:
            return VpResult(False, errors=[Problem.of(exc)])
        self.register.add(record, actor=f"portal:{self.host}")
        return result

    def scheduled(self, every: float, stop: threading.Event) -> None:
        """Recheck and purge now and then, until ``stop``."""
        while True:
            self.recheck()
            self.register.purge(self.retention, actor="portal:schedule")
            if stop.wait(every):
                return

    def recheck(self) -> RecheckReport:
        self.last_recheck = recheck(self.register, self.trust, self.trust_list_url,
                                    lambda url: httpx.get(url, timeout=10).raise_for_status().content,
                                    actor="portal:schedule")
        return self.last_recheck


def staff(request: Request, credentials: Annotated[HTTPBasicCredentials, Depends(BASIC)]) -> str:
    """Staff only (the register holds personal data): who, for the audit log."""
    token: str = request.app.state.staff_token
    if not token or not secrets.compare_digest(credentials.password.encode(), token.encode()):
        raise HTTPException(401, "staff only", headers={"WWW-Authenticate": 'Basic realm="volunteer register"'})
    return f"staff:{credentials.username[:32]}"


Staff = Annotated[str, Depends(staff)]


def create_app(portal: Portal, staff_token: str) -> FastAPI:
    app = FastAPI(title="Volunteer portal (OpenID4VP demo)", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit)
    security_headers(app)
    app.state.staff_token = staff_token

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> str:
        return page(request, "Volunteer with us", f"""
            <p>We run youth clubs and need volunteers. Apply with your phone's wallet: your driving licence, your
            DBS check and, if you have it, your safeguarding training.</p>
            <p>{html.escape(PURPOSE)} We keep your name, birth date and DBS details; never your photo.</p>
            <form method="post" action="/apply"><button id="apply">Apply with my wallet</button></form>""")

    @app.post("/apply")
    def start(request: Request) -> RedirectResponse:
        return portal.begin(request, COOKIE, portal.query(), "/apply")

    @app.get("/apply/{application}", response_class=HTMLResponse)
    def waiting(application: str, request: Request) -> str:
        return waiting_page(request, portal, application, COOKIE, title="Apply with your wallet",
                            intro="Your wallet shows what we ask, what we keep and why.", alt="application QR code",
                            poll=f"/apply/{application}/outcome", expired="This application has expired: start again",
                            done='p.textContent = "Thank you: your checks are verified and you are on our register";',
                            dc_api=f"/apply/{application}")

    @app.get("/apply/{application}/outcome")
    def outcome(application: str, request: Request) -> dict[str, object]:
        found = portal.checkouts.get(application, request.cookies.get(COOKIE, ""))
        return {"outcome": found.outcome, "registered": found.verdict.get("registered", False),
                "detail": found.detail}

    @app.get("/register", response_class=HTMLResponse)
    def register_page(request: Request, actor: Staff) -> str:
        rows = "".join(
            f"<tr class=\"{'refused' if v.flags else ''}\"><td>{v.id}</td><td>{html.escape(v.name)}</td>"
            f"<td>{html.escape(v.dbs_level)} / {html.escape(v.workforce)}</td>"
            f"<td>{html.escape(v.certificate_number)}</td><td>{v.training_renewal or ''}</td>"
            f"<td>{html.escape('; '.join(v.flags)) or 'current'}</td></tr>"
            for v in portal.register.volunteers(actor))
        summary = portal.last_recheck.summary() if portal.last_recheck else "not rechecked since the portal started"
        return page(request, "Volunteer register", f"""
            <p id="recheck">{html.escape(summary)}</p>
            <table><tr><th>id</th><th>name</th><th>DBS</th><th>certificate</th><th>training until</th>
            <th>attention</th></tr>{rows}</table><p><a href="/register.csv">Export (CSV)</a></p>""",
                    "table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:.2em .4em}")

    @app.get("/register.csv")
    def export(actor: Staff) -> Response:
        return Response(portal.register.export_csv(actor), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="volunteers.csv"'})

    openid4vp_routes(app, portal)
    dc_api_routes(app, portal, COOKIE, "/apply")
    return app


def build_portal(issuer: str, reader_pki: Path, base_url: str, host: str, state: Path, *,
                 database: str | None = None, retention_days: int = RETENTION_DAYS, refresh: int = REFRESH,
                 organisation: str = "Example Youth Clubs") -> Portal:
    """Set the register up against the issuer's trust list and get a reader certificate for ``host``."""
    setup = Setup(state, database)
    setup.init(issuer)
    operator = load_public_key((state / "operator.pem").read_bytes())
    reader = PkiDir(reader_pki).website_reader(host, organisation=organisation, entitlement=volunteer_entitlement())
    portal = Portal(base_url, host, reader, TrustCache(state / "trust", operator), f"{issuer}/trust/list",
                    Checkouts(state / "applications.sqlite", registered), refresh_every=dt.timedelta(seconds=refresh))
    portal.register = setup.register()
    portal.retention = dt.timedelta(days=retention_days)
    portal.refresh_trust()
    return portal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", required=True, help="the issuer service (for its trust list)")
    parser.add_argument("--reader-pki", type=Path, required=True, help="folder with reader-ca.pem/.key")
    parser.add_argument("--state", type=Path, required=True, help="the register's folder (volunteer-register --state)")
    parser.add_argument("--database", default=os.environ.get("VOLUNTEER_REGISTER_DATABASE"),
                        help="a PostgreSQL URL for the register (default: SQLite in the state folder)")
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--host", default="localhost", help="the portal's DNS name (x509_san_dns client id)")
    parser.add_argument("--refresh", type=int, default=REFRESH, help="seconds between trust data refreshes")
    parser.add_argument("--recheck", type=int, default=RECHECK, help="seconds between rechecks of the register")
    parser.add_argument("--retention-days", type=int, default=RETENTION_DAYS,
                        help="days a volunteer's record is kept after they leave")
    parser.add_argument("--staff-token", default=os.environ.get("PORTAL_STAFF_TOKEN", ""),
                        help="password for /register (default: $PORTAL_STAFF_TOKEN; none: the register page is off)")
    args = parser.parse_args(argv)
    base_url = f"http://{args.host}:{args.port}"
    portal = build_portal(args.issuer, args.reader_pki, base_url, args.host, args.state, database=args.database,
                          retention_days=args.retention_days, refresh=args.refresh)
    stop = threading.Event()
    threading.Thread(target=portal.scheduled, args=(args.recheck, stop), daemon=True).start()
    print(f"volunteer portal ready at {base_url}/", flush=True)
    try:
        uvicorn.run(create_app(portal, args.staff_token), host="127.0.0.1", port=args.port, log_level="warning")
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
