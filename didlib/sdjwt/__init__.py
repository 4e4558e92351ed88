"""SD-JWT (RFC 9901) and SD-JWT VC: issue, present with key binding, verify."""

from didlib.sdjwt.core import SD, Disclosure
from didlib.sdjwt.vc import SdJwtResult, issue_sd_jwt_vc, present_sd_jwt, verify_sd_jwt_vc

__all__ = ["SD", "Disclosure", "SdJwtResult", "issue_sd_jwt_vc", "present_sd_jwt", "verify_sd_jwt_vc"]
