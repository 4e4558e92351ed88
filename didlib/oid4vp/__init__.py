"""OpenID for Verifiable Presentations 1.0 with DCQL: a website asks, a wallet answers. No HTTP here.

Verifier side: :class:`PresentationRequest` makes a signed request object (``oauth-authz-req+jwt``, client
identifier ``x509_san_dns:<host>`` backed by a reader certificate from the PKI) and checks the answer:
``direct_post`` (form ``vp_token`` + ``state``) or ``direct_post.jwt`` (the same, encrypted to the
request's ephemeral key with ECDH-ES and AES-GCM through jwcrypto). Wallet side: :func:`parse_request`
verifies the request object against the reader CAs the wallet trusts and checks the certificate names the
client, and :func:`build_response` presents SD-JWT VCs (key binding to ``nonce`` and ``client_id``) or mdocs
(device-signed over the OpenID4VP handover SessionTranscript of ISO 18013-7 / OpenID4VP B.2.6.1).

Over the W3C Digital Credentials API (Appendix A): :meth:`PresentationRequest.create_dc_api` and
:meth:`PresentationRequest.dc_api_requests` on the verifier's side, :func:`parse_dc_api_request` on the
wallet's, the answer bound to the page's origin (B.2.6.2, A.4); the browser glue in :mod:`didlib.oid4vp.dc_api`.
ISO/IEC 18013-7 Annex C (``org-iso-mdoc``: a DeviceRequest, the DeviceResponse sealed with HPKE) is offered and
answered through the same calls; its wire format is :mod:`didlib.oid4vp.dc_api_mdoc`.

Split by role: :mod:`didlib.oid4vp.dcql` (the query language), :mod:`didlib.oid4vp.verifier`,
:mod:`didlib.oid4vp.wallet`, and the wire constants both share in :mod:`didlib.oid4vp.common`.
"""

from didlib.oid4vp.common import (
    DC_API_PROTOCOLS,
    MAX_REQUEST,
    PROTOCOL_MDOC,
    PROTOCOL_SIGNED,
    PROTOCOL_UNSIGNED,
    SCHEME,
    VP_FORMATS,
    jwk_thumbprint,
)
from didlib.oid4vp.dcql import age_query, check_dcql, volunteer_entitlement, volunteer_query
from didlib.oid4vp.verifier import Binding, PresentationRequest, VpResult
from didlib.oid4vp.wallet import (
    ParsedRequest,
    VpAnswer,
    build_response,
    dc_api_error,
    error_response,
    parse_dc_api_request,
    parse_request,
    request_uri_parts,
)

__all__ = [
    "SCHEME",
    "age_query",
    "volunteer_query",
    "volunteer_entitlement",
    "Binding",
    "PresentationRequest",
    "ParsedRequest",
    "parse_request",
    "check_dcql",
    "build_response",
    "error_response",
    "VpResult",
    "VpAnswer",
    "request_uri_parts",
    "jwk_thumbprint",
    "MAX_REQUEST",
    "VP_FORMATS",
    "DC_API_PROTOCOLS",
    "PROTOCOL_SIGNED",
    "PROTOCOL_UNSIGNED",
    "PROTOCOL_MDOC",
    "parse_dc_api_request",
    "dc_api_error",
]
