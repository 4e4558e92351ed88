"""The verifier engine: policies (age, volunteer, peer), offline trust data, replay protection, verdicts."""

from didlib.verifier.cache import RefreshReport, TrustCache
from didlib.verifier.engine import TrustData, VerifierEngine
from didlib.verifier.policies import AgePolicy, PeerPolicy, Policy, Verdict, VolunteerPolicy, policy_from_text
from didlib.verifier.replay import ReplayCache

__all__ = [
    "AgePolicy",
    "PeerPolicy",
    "Policy",
    "RefreshReport",
    "ReplayCache",
    "TrustCache",
    "TrustData",
    "Verdict",
    "VerifierEngine",
    "VolunteerPolicy",
    "policy_from_text",
]
