"""HTTP for the issuer service (FastAPI): routes, request models with limits, and JSON errors only.

Thin on purpose: each route validates its input, calls :class:`IssuerService`, and shapes the answer.
Errors are the OpenID4VCI/OAuth JSON objects; nothing internal ever reaches a client, and logs carry
paths and status codes, never personal data.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import didlib
from didlib.errors import DidlibError
from didlib.files import write_private
from didlib.keys import generate_key, load_private_key, private_key_pem
from didlib.oid4vci import OID4VCIError, credential_request_json
from didlib.status import Status
from issuer_service.config import Settings
from issuer_service.models import Busy
from issuer_service.service import IssuerService, RateLimited

__all__ = ["create_app"]

log = logging.getLogger("issuer_service")
MAX_BODY = 64 * 1024
ADMIN_FAILURES_PER_MINUTE = 10
MAX_ID = 2**31 - 1  # path numbers beyond what the database's INTEGER holds are refused (400), not a 500


class BodyLimit:
    """Refuse request bodies over ``MAX_BODY`` bytes, counting what actually arrives (not just the header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or {}).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            await _too_large(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    body = b'{"error":"invalid_request","error_description":"request body too large"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Identify(BaseModel):
    driver_number: str = Field(min_length=16, max_length=16, pattern=r"^[A-Za-z0-9]{16}$")
    birth_date: dt.date
    postcode: str = Field(min_length=5, max_length=10)


class Binding(BaseModel):
    reference: str = Field(min_length=6, max_length=16, pattern=r"^[A-Za-z0-9]+$")
    device_response: str = Field(min_length=16, max_length=48 * 1024)
    nonce: str = Field(min_length=16, max_length=64)


def _operator_key(settings: Settings) -> Any:
    path = settings.data_dir / "operator.key"
    if not path.exists():
        write_private(path, private_key_pem(generate_key()))
    return load_private_key(path)


def prepare(settings: Settings) -> None:
    """Make, once, everything the service keeps (keys, secrets, tables, status lists, the register), so that
    the worker processes started next only read them and never race to create them."""
    service = IssuerService(settings)
    try:
        service.seed()
        _operator_key(settings)
    finally:
        service.close()


class NoTracebacks:
    """The last resort for an unexpected error: a JSON 500 and one log line with the error's type and the
    route's template. (An ``Exception`` handler would not do: Starlette re-raises after it, and the server
    then logs a traceback whose values may hold nonces, codes or personal data.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            route = getattr(scope.get("route"), "path", "unmatched route")
            log.error("unexpected %s on %s", type(exc).__name__, route)
            if scope["type"] != "http" or started:
                return
            body = b'{"error":"server_error","error_description":"internal error"}'
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


class ErrorBody(BaseModel):
    """Every refusal: an OAuth 2.0 / OpenID4VCI error code and a description."""

    error: str
    error_description: str


def _openapi_with_400(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document as the service behaves: invalid input is a 400 with :class:`ErrorBody`
    (FastAPI would document its default 422, which this service never sends)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        error = {"description": "invalid request (error, error_description)",
                 "content": {"application/json": {"schema": ErrorBody.model_json_schema()}}}
        for operation in (op for path in schema.get("paths", {}).values() for op in path.values()):
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["400"] = error
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


class MissingToken(OID4VCIError):
    """No access token at all (RFC 6750 section 3.1: the challenge then carries no error code)."""


async def credential_body(request: Request) -> Any:
    """The credential request's JSON (:func:`didlib.oid4vci.credential_request_json`: size and depth limits)."""
    return credential_request_json(await request.body(), max_size=MAX_BODY)


async def service(request: Request) -> IssuerService:
    return request.app.state.service


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The admin bearer token, on the admin listener when there is one (``--admin-port``: the public port
    then has no admin API). Failed tries are counted per client and, past the limit, refused before the
    token is even compared."""
    svc: IssuerService = request.app.state.service
    port = svc.settings.admin_port
    if port and (request.scope.get("server") or (None, None))[1] != port:
        raise OID4VCIError("not_found", "not found", 404)
    svc.check_rate(client(request), "admin-failure", limit=ADMIN_FAILURES_PER_MINUTE, record=False)
    expected = f"Bearer {svc.settings.admin_token}"
    if authorization is None or not secrets.compare_digest(authorization.encode(), expected.encode()):
        svc.check_rate(client(request), "admin-failure", limit=ADMIN_FAILURES_PER_MINUTE)
        raise OID4VCIError("invalid_token", "admin bearer token required", 401)
    return "admin"


# Module level, so FastAPI can resolve them from the (postponed) annotations.
Svc = Annotated[IssuerService, Depends(service)]
Admin = Annotated[str, Depends(admin)]
DriverNumber = Annotated[str, Path(min_length=16, max_length=16, pattern=r"^[A-Za-z0-9]{16}$")]
CredentialBody = Annotated[Any, Depends(credential_body)]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = IssuerService(settings)
        service.seed()
        app.state.service = service
        app.state.operator = _operator_key(settings)
        log.info("issuer service ready at %s (data in %s)", settings.public_url, settings.data_dir)
        yield
        service.close()  # clean shutdown: connections returned, SQLite WAL checkpointed
        log.info("issuer service stopped")

    app = FastAPI(
        title="didlib mock issuers (DVLA, DBS, safeguarding training)", version=didlib.__version__, lifespan=lifespan
    )
    app.add_middleware(BodyLimit)
    app.add_middleware(NoTracebacks)
    app.openapi = lambda: _openapi_with_400(app)  # type: ignore[method-assign]

    @app.exception_handler(OID4VCIError)
    async def oid4vci_error(_: Request, exc: OID4VCIError) -> JSONResponse:
        headers = {"Cache-Control": "no-store"}
        if exc.status in (401, 403):  # RFC 6750 section 3: the challenge names the error, unless no token came
            headers["WWW-Authenticate"] = "Bearer" if isinstance(exc, MissingToken) else f'Bearer error="{exc.code}"'
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(DidlibError)
    async def didlib_error(_: Request, exc: DidlibError) -> JSONResponse:
        return JSONResponse(
            OID4VCIError("invalid_request", exc.message).body(), status_code=400, headers={"Cache-Control": "no-store"}
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own refusals (no such route, wrong method) in the same shape as every other error."""
        code = "not_found" if exc.status_code == 404 else "invalid_request"
        headers = {"Cache-Control": "no-store"} | dict(exc.headers or {})
        return JSONResponse(OID4VCIError(code, str(exc.detail)).body(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()) or "body"
        return JSONResponse(
            OID4VCIError("invalid_request", f"invalid or missing: {fields}").body(),
            status_code=400,
            headers={"Cache-Control": "no-store"},
        )

    @app.exception_handler(RateLimited)
    async def rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        return JSONResponse(
            {"error": "slow_down", "error_description": "too many requests; wait a minute"},
            status_code=429,
            headers={"Retry-After": "60"},
        )

    @app.exception_handler(Busy)
    @app.exception_handler(OperationalError)
    @app.exception_handler(SQLTimeoutError)
    async def busy(request: Request, exc: Exception) -> JSONResponse:
        """A lock or connection not had within DIDLIB_DB_TIMEOUT, or the database away: try again later."""
        log.warning("database busy (%s) on %s", type(exc).__name__, _route(request))
        return JSONResponse(
            {"error": "temporarily_unavailable", "error_description": "the service is busy; try again shortly"},
            status_code=503,
            headers={"Retry-After": "1", "Cache-Control": "no-store"},
        )

    # Endpoints that neither wait nor compute are ``async def`` (no thread needed, so they answer even when
    # every pool thread waits on the database); everything that touches the database or signs is a plain
    # ``def`` and runs in the thread pool, never on the event loop.
    # Routes are matched in the order they are added: the busiest (status lists, then issuance) first.
    @app.get("/status/{issuer}/{number}", openapi_extra={"parameters": [
        {"name": "Accept", "in": "header", "required": False, "schema": {"type": "string"},
         "description": "application/statuslist+cwt for the CWT form; the JWT otherwise"},
        {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
         "description": "an ETag this client holds: 304 when the list is unchanged"}]})
    async def status_list(issuer: str, number: Annotated[int, Path(ge=1, le=MAX_ID)], request: Request) -> Response:
        """The list's token, with an ETag and max-age = its ttl, so a CDN or a till's cache answers most polls;
        304 when the client already holds this version (RFC 9110 13.1.2, 15.4.5). Answered from memory on the
        event loop while the version is freshly confirmed; the database read and any signing run in the
        thread pool. The two headers are read from the request, not declared as parameters: this is the
        busiest route, and FastAPI's per-parameter validation would cost more than the answer."""
        svc: IssuerService = request.app.state.service
        accept, if_none_match = request.headers.get("accept"), request.headers.get("if-none-match")
        cwt = accept is not None and "statuslist+cwt" in accept
        signed = svc.recent_status_token(issuer, number, cwt)
        if signed is None:
            signed = await run_in_threadpool(svc.status_token, issuer, number, cwt)
        headers = {"ETag": signed.etag, "Cache-Control": f"public, max-age={signed.max_age}", "Vary": "Accept"}
        if if_none_match is not None and _etag_matches(if_none_match, signed.etag):
            return Response(status_code=304, headers=headers)
        media = "application/statuslist+cwt" if cwt else "application/statuslist+jwt"
        return Response(signed.body, media_type=media, headers=headers)

    @app.post("/credential")
    def credential(
        svc: Svc, body: CredentialBody, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        """A plain ``def``: FastAPI runs it in its thread pool, so database waits and signing never hold the
        event loop (``/health`` and the metadata keep answering)."""
        if not authorization or not authorization.startswith("Bearer "):
            raise MissingToken("invalid_token", "a bearer access token is required", 401)
        result = svc.credential(authorization[len("Bearer ") :], body)
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    @app.post("/nonce")
    def nonce(request: Request, svc: Svc) -> JSONResponse:
        svc.check_rate(client(request), "nonce", limit=svc.settings.rate_per_minute * 10)
        return JSONResponse({"c_nonce": svc.c_nonce()}, headers={"Cache-Control": "no-store"})

    @app.post("/token")
    def token(
        request: Request,
        svc: Svc,
        grant_type: Annotated[str, Form(max_length=128)],
        pre_authorized_code: Annotated[str, Form(alias="pre-authorized_code", max_length=128)],
        tx_code: Annotated[str | None, Form(max_length=16)] = None,
    ) -> JSONResponse:
        svc.check_rate(client(request), "token")
        return JSONResponse(svc.token(grant_type, pre_authorized_code, tx_code), headers={"Cache-Control": "no-store"})

    @app.post("/dvla/identify")
    def identify(body: Identify, request: Request, svc: Svc, qr: bool = False) -> JSONResponse:
        """A citizen proves who they are (driver number, birth date, postcode) and gets a credential offer
        (with ``?qr=true`` also as a QR code PNG, for a phone across the room). Not to be stored by any cache: it
        carries the pre-authorized code (and, in demo mode, the transaction code). A response object, not a
        dict, so FastAPI does not validate it again in a second trip through the thread pool."""
        svc.check_rate(client(request), "identify")
        offer = svc.identify_driver(body.driver_number, body.birth_date, body.postcode).as_json(qr)
        return JSONResponse(offer, headers={"Cache-Control": "no-store"})

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the process answers (the database is checked where it is used, with a 503 on timeout)."""
        return {"status": "ok"}

    @app.get("/.well-known/openid-credential-issuer")
    async def issuer_metadata(svc: Svc) -> dict[str, Any]:
        return svc.metadata()

    @app.get("/.well-known/oauth-authorization-server")
    async def as_metadata(svc: Svc) -> dict[str, Any]:
        return svc.as_metadata()

    @app.post("/binding-nonce")
    def binding_nonce(request: Request, svc: Svc) -> dict[str, str]:
        svc.check_rate(client(request), "binding")
        return {"nonce": svc.binding_nonce()}

    @app.post("/{issuer}/bind")
    def bind(issuer: str, body: Binding, request: Request, svc: Svc, qr: bool = False) -> dict[str, Any]:
        """DBS and training: present the driving licence (over a binding nonce) to get an offer bound to it;
        ``age``: to get new single-use proofs of age (a wallet's top-up)."""
        svc.check_rate(client(request), "binding")
        return svc.bind_offer(issuer, body.reference, body.device_response, body.nonce).as_json(qr)

    @app.get("/trust/list")
    def trust_list(request: Request, svc: Svc) -> Response:
        return Response(svc.trust_list(request.app.state.operator).encode(), media_type="application/trustlist+jwt")

    @app.get("/trust/operator.pem")
    async def trust_operator(request: Request) -> Response:
        from didlib.keys import public_key_pem

        return Response(public_key_pem(request.app.state.operator.public_key()), media_type="application/x-pem-file")

    @app.get("/trust/{issuer}/iaca.pem")
    async def iaca(issuer: str, svc: Svc) -> Response:
        from cryptography.hazmat.primitives.serialization import Encoding

        authority = svc.authorities.get(issuer)
        if authority is None:
            raise OID4VCIError("not_found", "no such issuer", 404)
        return Response(authority.iaca.public_bytes(Encoding.PEM), media_type="application/x-pem-file")

    @app.get("/admin/drivers/{driver_number}/credentials")
    def admin_credentials(driver_number: DriverNumber, svc: Svc, actor: Admin) -> list[dict[str, Any]]:
        return svc.credentials_of(driver_number)

    @app.post("/admin/credentials/{credential_id}/{action}")
    def admin_credential(
        credential_id: Annotated[int, Path(ge=1, le=MAX_ID)], action: str, svc: Svc, actor: Admin
    ) -> dict[str, Any]:
        return svc.set_state(credential_id, _state(action), actor)

    @app.post("/admin/drivers/{driver_number}/{action}")
    def admin_driver(driver_number: DriverNumber, action: str, svc: Svc, actor: Admin) -> list[dict[str, Any]]:
        return svc.set_driver_state(driver_number, _state(action), actor)

    @app.get("/admin/audit")
    def admin_audit(svc: Svc, actor: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        return svc.audit_log(limit)

    return app


def _route(request: Request) -> str:
    """The route's template (``/admin/drivers/{driver_number}/...``): a log line never holds a driver number."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched route"))


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): ``*``, or any listed tag whose opaque part
    equals ours, a ``W/`` prefix set aside on both."""
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or any(tag.removeprefix("W/") == etag.removeprefix("W/") for tag in tags)


def _state(action: str) -> Status:
    states = {"revoke": Status.INVALID, "suspend": Status.SUSPENDED, "reinstate": Status.VALID}
    if action not in states:
        raise OID4VCIError("invalid_request", "action must be revoke, suspend or reinstate")
    return states[action]
