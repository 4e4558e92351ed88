"""The browser's half of the W3C Digital Credentials API, for websites and wallets alike: OpenID4VP (1.0
Appendix A; the protocol itself is in :mod:`didlib.oid4vp.verifier` and :mod:`didlib.oid4vp.wallet`) and
ISO/IEC 18013-7 Annex C ``org-iso-mdoc`` (:mod:`didlib.oid4vp.dc_api_mdoc`).

A page calls ``navigator.credentials.get({digital: {requests: [...]}})`` (:func:`navigator_options` makes the
argument); the browser and the operating system pick a wallet, hand it one request with the page's origin
(:func:`choose_request` on the wallet's side) and return its ``DigitalCredential`` (``protocol`` and ``data``)
to the page, which posts it to its server (:func:`read_answer`). :func:`browser_script` is the page's script,
the same for every site: it offers the DC API where the browser has it and leaves the QR code and link
otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from cryptography import x509

from didlib.errors import DecodeError, UnsupportedError
from didlib.jose import parse_json
from didlib.keys import PrivateKey
from didlib.oid4vp.common import MAX_REQUEST, WALLET_PROTOCOLS
from didlib.oid4vp.verifier import PresentationRequest

__all__ = ["navigator_options", "choose_request", "read_answer", "browser_script"]


def navigator_options(
    request: PresentationRequest, signer: tuple[PrivateKey, Sequence[x509.Certificate]] | None = None
) -> dict[str, Any]:
    """The argument of ``navigator.credentials.get`` (W3C Digital Credentials API): the request in each
    protocol it can be sent in, signed first (:meth:`PresentationRequest.dc_api_requests`)."""
    return {"digital": {"requests": request.dc_api_requests(signer)}, "mediation": "required"}


def choose_request(request: str | bytes | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(protocol, data) of the first request a wallet here can answer, from what the platform hands it: the
    ``digital`` member (``{"requests": [...]}``, as Android Credential Manager's ``requestJson``), the whole
    ``navigator.credentials.get`` argument, or one ``{"protocol", "data"}`` entry. ``openid4vp-v1-signed``, then
    ``org-iso-mdoc``, then ``openid4vp-v1-unsigned``, whatever the page's order: a signed request says who asks."""
    parsed = parse_json(request, max_size=MAX_REQUEST) if isinstance(request, (str, bytes)) else request
    if not isinstance(parsed, Mapping):
        raise DecodeError("the request must be an object")
    if isinstance(parsed.get("digital"), Mapping):  # the whole navigator.credentials.get argument
        parsed = parsed["digital"]
    entries = parsed.get("requests", [parsed]) if "protocol" not in parsed else [parsed]
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries) or len(entries) > 16:
        raise DecodeError("requests must be a short list of objects")
    for protocol in WALLET_PROTOCOLS:
        for entry in entries:
            if entry.get("protocol") == protocol:
                data = entry.get("data")
                if not isinstance(data, dict):
                    raise DecodeError("the request's data must be an object")
                return protocol, data
    offered = ", ".join(sorted({str(e.get("protocol"))[:40] for e in entries}))
    raise UnsupportedError(f"none of the offered protocols is supported: {offered or 'none'}",
                           code="unsupported_protocol")


def read_answer(body: bytes) -> dict[str, Any]:
    """The ``data`` of the ``DigitalCredential`` a page posts as ``{"protocol": ..., "data": {...}}`` (JSON, at
    most :data:`MAX_REQUEST` bytes), for :meth:`PresentationRequest.check`. Answers to every protocol offered are
    checked alike: all are bound to the origin and the request."""
    answer = parse_json(body, max_size=MAX_REQUEST)
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
        raise DecodeError("the answer must be {protocol, data} with data an object")
    if answer.get("protocol") not in WALLET_PROTOCOLS:
        raise DecodeError(f"the answer is in a protocol this site does not offer: {str(answer.get('protocol'))[:40]!r}")
    data: dict[str, Any] = answer["data"]
    return data


def browser_script() -> str:
    """The page's script (``dc_api.js``): serve it from the site's own origin (CSP ``script-src 'self'``)."""
    return resources.files("didlib.oid4vp").joinpath("dc_api.js").read_text("utf-8")
