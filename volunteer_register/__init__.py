"""A youth organisation's register of volunteers and their safeguarding checks, kept current from the issuers'
status lists (``volunteer-register``); the volunteer portal (examples/volunteer_portal) and the verifier app
add to it. specs/volunteers.md says what is kept, why and for how long."""

from volunteer_register.recheck import RecheckReport, recheck
from volunteer_register.register import CredentialRef, Register, Volunteer, record_from_result, record_from_verdict

__all__ = [
    "CredentialRef", "RecheckReport", "Register", "Volunteer", "record_from_result", "record_from_verdict", "recheck",
]
