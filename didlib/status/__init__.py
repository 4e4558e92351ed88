"""Revocation and suspension with IETF Token Status Lists."""

from didlib.status.statuslist import IndexAllocator, Status, StatusList
from didlib.status.tokens import StatusChecker, StatusListToken, StatusResult

__all__ = ["IndexAllocator", "Status", "StatusChecker", "StatusList", "StatusListToken", "StatusResult"]
