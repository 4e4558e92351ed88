"""What both sides of OpenID4VP 1.0 agree on: the wire constants, the formats this verifier checks and
the key thumbprint the mdoc handover binds to."""

from __future__ import annotations

import datetime as dt
import urllib.parse

from jwcrypto import jwk

from didlib.errors import DecodeError
from didlib.jose import b64url_decode

__all__ = [
    "SCHEME",
    "REQUEST_TYP",
    "CLIENT_PREFIX",
    "MAX_REQUEST",
    "REQUEST_LIFETIME",
    "MAX_REQUEST_AGE",
    "CLOCK_SKEW",
    "ENC",
    "RESPONSE_MODES",
    "DC_API_MODES",
    "PROTOCOL_UNSIGNED",
    "PROTOCOL_SIGNED",
    "DC_API_PROTOCOLS",
    "PROTOCOL_MDOC",
    "WALLET_PROTOCOLS",
    "ORIGIN_PREFIX",
    "MAX_ORIGIN",
    "CONTENT_ENCRYPTION",
    "VP_FORMATS",
    "jwk_thumbprint",
    "dc_api_audience",
    "check_origin",
]

SCHEME = "openid4vp://"
"""The scheme of a same-device link or cross-device QR code (OpenID4VP 1.0)."""
REQUEST_TYP = "oauth-authz-req+jwt"
CLIENT_PREFIX = "x509_san_dns:"
MAX_REQUEST = 64 * 1024
"""The largest request object, answer or Digital Credentials API message accepted, in bytes."""
REQUEST_LIFETIME = dt.timedelta(minutes=10)  # a transaction, and the exp of its request object
MAX_REQUEST_AGE = dt.timedelta(hours=1)  # a wallet refuses a request object issued longer ago (with or without exp)
CLOCK_SKEW = dt.timedelta(seconds=30)  # allowed between the verifier's and the wallet's clocks
ENC = "A128GCM"
RESPONSE_MODES = ("direct_post", "direct_post.jwt")
# OpenID4VP 1.0 Appendix A: over the W3C Digital Credentials API the answer comes back through the browser.
DC_API_MODES = ("dc_api", "dc_api.jwt")
PROTOCOL_UNSIGNED = "openid4vp-v1-unsigned"  # A.3.1: the parameters as they are, no client_id
"""A.3.1: the request parameters as they are, without ``client_id``; the answer is bound to the origin."""
PROTOCOL_SIGNED = "openid4vp-v1-signed"  # A.3.2.1: a request object (JWS compact) with expected_origins
"""A.3.2.1: a signed request object (JWS compact) with ``expected_origins``."""
DC_API_PROTOCOLS = (PROTOCOL_SIGNED, PROTOCOL_UNSIGNED)
"""The OpenID4VP protocols of the Digital Credentials API (Appendix A), signed first: a signed request says
who asks. ``org-iso-mdoc`` is :data:`PROTOCOL_MDOC`."""
# ISO/IEC 18013-7 Annex C: a DeviceRequest and an HPKE-sealed DeviceResponse (didlib.oid4vp.dc_api_mdoc)
PROTOCOL_MDOC = "org-iso-mdoc"
"""ISO/IEC 18013-7 Annex C over the Digital Credentials API: a DeviceRequest, and the DeviceResponse sealed with
HPKE to the page's key (:mod:`didlib.oid4vp.dc_api_mdoc`)."""
# what a wallet answers when a page offers several: who asks is authenticated first (a signed OpenID4VP request;
# the DeviceRequest's readerAuth, when it has one), then the unsigned OpenID4VP parameters
WALLET_PROTOCOLS = (PROTOCOL_SIGNED, PROTOCOL_MDOC, PROTOCOL_UNSIGNED)
ORIGIN_PREFIX = "origin:"  # A.4: the audience of a DC API answer, for signed requests too
MAX_ORIGIN = 512
CONTENT_ENCRYPTION = ("A128GCM", "A256GCM")
# What this verifier checks (OpenID4VP 1.0 client metadata): JOSE names for SD-JWT, COSE numbers for mdoc.
_JWS_ALGS = ["ES256", "ES384", "ES512", "EdDSA"]
VP_FORMATS = {
    "dc+sd-jwt": {"sd-jwt_alg_values": _JWS_ALGS, "kb-jwt_alg_values": _JWS_ALGS},
    "mso_mdoc": {"issuerauth_alg_values": [-7, -35, -36, -8], "deviceauth_alg_values": [-7, -35, -36, -8]},
}
"""The ``vp_formats_supported`` a request advertises (OpenID4VP 1.0, Appendix B): the
algorithms didlib verifies."""

def jwk_thumbprint(key: jwk.JWK) -> bytes:
    """The RFC 7638 SHA-256 thumbprint as bytes: what the OpenID4VP handover binds the mdoc answer to."""
    return b64url_decode(key.thumbprint())



def dc_api_audience(origin: str) -> str:
    """The ``aud`` of a KB-JWT answering over the DC API (OpenID4VP 1.0 A.4): ``origin:`` and the page's origin,
    never the client identifier (drafts before 1.0 used it for signed requests)."""
    return ORIGIN_PREFIX + origin


def check_origin(origin: object) -> str:
    """A web origin as a browser serialises it (``https://host[:port]``, HTML "ASCII serialization of an
    origin"): no path, query, user or trailing slash; ``http`` only for ``localhost`` demos."""
    if not isinstance(origin, str) or not 0 < len(origin) <= MAX_ORIGIN:
        raise DecodeError("the origin must be a short string", code="bad_origin")
    try:  # urlsplit: "Invalid IPv6 URL" for an unbalanced bracket
        parts = urllib.parse.urlsplit(origin)
        port = parts.port
    except ValueError as exc:
        raise DecodeError(f"not a web origin: {origin!r}", code="bad_origin") from exc
    canonical = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port is not None else "")
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1"))
    if not parts.hostname or origin != canonical or not secure:
        raise DecodeError(f"not a secure web origin: {origin!r}", code="bad_origin")
    return origin
