"""What both sides of OpenID4VP 1.0 agree on: the wire constants, the formats this verifier checks and
the key thumbprint the mdoc handover binds to."""

from __future__ import annotations

import datetime as dt

from jwcrypto import jwk

from didlib.jose import b64url_decode

SCHEME = "openid4vp://"
REQUEST_TYP = "oauth-authz-req+jwt"
CLIENT_PREFIX = "x509_san_dns:"
MAX_REQUEST = 64 * 1024
REQUEST_LIFETIME = dt.timedelta(minutes=10)  # a transaction, and the exp of its request object
MAX_REQUEST_AGE = dt.timedelta(hours=1)  # a wallet refuses a request object issued longer ago (with or without exp)
CLOCK_SKEW = dt.timedelta(seconds=30)  # allowed between the verifier's and the wallet's clocks
ENC = "A128GCM"
RESPONSE_MODES = ("direct_post", "direct_post.jwt")
CONTENT_ENCRYPTION = ("A128GCM", "A256GCM")
# What this verifier checks (OpenID4VP 1.0 client metadata): JOSE names for SD-JWT, COSE numbers for mdoc.
_JWS_ALGS = ["ES256", "ES384", "ES512", "EdDSA"]
VP_FORMATS = {
    "dc+sd-jwt": {"sd-jwt_alg_values": _JWS_ALGS, "kb-jwt_alg_values": _JWS_ALGS},
    "mso_mdoc": {"issuerauth_alg_values": [-7, -35, -36, -8], "deviceauth_alg_values": [-7, -35, -36, -8]},
}



def jwk_thumbprint(key: jwk.JWK) -> bytes:
    """The RFC 7638 SHA-256 thumbprint as bytes: what the OpenID4VP handover binds the mdoc answer to."""
    return b64url_decode(key.thumbprint())

