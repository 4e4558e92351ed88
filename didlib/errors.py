"""One exception hierarchy for everything didlib rejects.

Every failure carries a stable ``code`` (a short snake_case string) that tills, apps and tests match
on, and a human message that may change between releases. Verification results reuse the same codes,
so a check that fails inside a result and one that raises read alike.
"""

from __future__ import annotations

__all__ = [
    "DidlibError",
    "DecodeError",
    "LimitExceeded",
    "UnsupportedError",
    "CryptoError",
    "InvalidSignature",
    "InvalidMac",
    "BadKey",
    "CertificateError",
    "UntrustedIssuer",
    "IssuanceError",
    "VerificationError",
    "UsageError",
    "NoCamera",
    "SessionError",
    "ReaderNotAuthorised",
    "NetworkError",
]


class DidlibError(Exception):
    """Base of every error didlib raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The human message: for people, free to change between releases (match on :attr:`code`)."""
        return str(self)

    def as_dict(self) -> dict[str, str]:
        """The error as JSON (``code`` and ``message``), as the command line and the services print it."""
        return {"code": self.code, "message": self.message}


class DecodeError(DidlibError):
    """Input bytes or text could not be parsed (malformed, too large, too deep, wrong shape)."""

    code = "malformed"


class LimitExceeded(DecodeError):
    """Input exceeded a size, nesting or item-count limit before it was parsed."""

    code = "limit_exceeded"


class UnsupportedError(DidlibError):
    """Well-formed input that uses an algorithm, version or feature didlib does not support."""

    code = "unsupported"


class CryptoError(DidlibError):
    """A signature, MAC or key agreement did not check out, or a key is unusable."""

    code = "crypto"


class InvalidSignature(CryptoError):
    """A signature did not verify: the data was altered or signed by another key."""

    code = "bad_signature"


class InvalidMac(CryptoError):
    """A COSE_Mac0 (``deviceMac``) did not verify: altered data, or a MAC over another session."""

    code = "bad_mac"


class BadKey(CryptoError):
    """A key could not be loaded or does not fit its purpose."""

    code = "bad_key"


class CertificateError(DidlibError):
    """A certificate breaks its 18013-5 Annex B profile or does not chain to a trust anchor."""

    code = "certificate_invalid"


class UntrustedIssuer(CertificateError):
    """A certificate does not chain to any trust anchor given: the issuer is not one the verifier believes."""

    code = "untrusted_issuer"


class IssuanceError(DidlibError):
    """Data handed to the issuer does not fit the credential profile."""

    code = "invalid_data"


class VerificationError(DidlibError):
    """A credential or presentation failed a check."""

    code = "verification_failed"


class UsageError(DidlibError):
    """The caller asked for something impossible (bad arguments, missing files)."""

    code = "usage"


class NoCamera(UsageError):
    """The camera or video file named cannot be opened."""

    code = "no_camera"


class SessionError(DidlibError):
    """The proximity session broke: a message that does not decrypt, arrives out of order, or comes late."""

    code = "session_error"


class ReaderNotAuthorised(DidlibError):
    """A reader's request could not be authenticated, or asks beyond its certificate's entitlement."""

    code = "reader_not_authorised"


class NetworkError(DidlibError):
    """A download failed: no connection, a timeout, or an error status. Whatever was cached is kept."""

    code = "unreachable"
