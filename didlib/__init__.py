"""didlib: digital driving licence, proof of age and DBS check credentials (ISO 18013-5 mdoc).

The public face is small: :class:`TrustStore` here, the mdoc functions in :mod:`didlib.mdoc`, the
errors in :mod:`didlib.errors`. Everything else is reachable but internal.
"""

from didlib.errors import DidlibError
from didlib.trust import TrustStore

__version__ = "0.1.0"

__all__ = ["TrustStore", "DidlibError", "__version__"]
