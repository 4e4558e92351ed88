"""ISO/IEC 18013-5 mdoc: issue credentials, present them, verify DeviceResponses."""

from didlib.mdoc.holder import Credential, present, present_elements
from didlib.mdoc.issuer import issue_mdoc, issue_mdocs
from didlib.mdoc.registry import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL, DOCTYPE_TRAINING, PROFILES
from didlib.mdoc.request import DeviceRequest, DocRequest
from didlib.mdoc.verifier import DocumentResult, Problem, VerificationResult, verify_response

__all__ = [
    "Credential",
    "DeviceRequest",
    "DocRequest",
    "DocumentResult",
    "Problem",
    "VerificationResult",
    "issue_mdoc",
    "issue_mdocs",
    "present",
    "present_elements",
    "verify_response",
    "PROFILES",
    "DOCTYPE_MDL",
    "DOCTYPE_AGE",
    "DOCTYPE_DBS",
    "DOCTYPE_TRAINING",
]
