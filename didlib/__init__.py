"""didlib: digital driving licence, proof of age and DBS check credentials (ISO 18013-5 mdoc, SD-JWT VC).

The public face is small: :class:`TrustStore` here, the errors in :mod:`didlib.errors`, and one module
per way of presenting: :mod:`didlib.mdoc` (documents), :mod:`didlib.session` (ISO 18013-5 sessions),
:mod:`didlib.presentation` (offline QR), :mod:`didlib.sdjwt` and :mod:`didlib.status` (SD-JWT VC and
revocation), :mod:`didlib.oid4vp` (websites), :mod:`didlib.verifier` (verdicts for apps).
"""

from didlib.errors import DidlibError
from didlib.trust import TrustStore

__version__ = "0.1.0"
"""didlib's version: the one place it is written (the package metadata and the issuer service read it)."""

__all__ = ["TrustStore", "DidlibError", "__version__"]
