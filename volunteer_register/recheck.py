"""Keeping the register current: every volunteer's credentials against the issuers' status lists, and their
end dates against the calendar.

The status lists come through the organisation's verified trust list (:class:`didlib.verifier.TrustCache`),
and each credential is looked up at the status reference it was issued with (a list that grew to ``/3`` is
followed there, never assumed to be ``/1``). Offline, the cached lists are used and the report says how old
they are; a status that cannot be established is flagged as not confirmed, never as revoked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from didlib.errors import DidlibError
from didlib.status import StatusChecker
from didlib.verification import Problem
from didlib.verifier import RefreshReport, TrustCache
from didlib.verifier.cache import Fetch
from volunteer_register.register import Register, Volunteer

__all__ = ["RecheckReport", "recheck", "flags_for", "WARN_BEFORE"]

WARN_BEFORE = dt.timedelta(days=30)
LABELS = {"licence": "driving licence", "dbs": "DBS check", "training": "safeguarding training"}


@dataclass
class RecheckReport:
    checked: int
    flagged: dict[int, list[str]] = field(default_factory=dict)  # register id -> reasons
    errors: list[Problem] = field(default_factory=list)  # what could not be refreshed
    oldest_list: dt.timedelta | None = None  # the age of the oldest status list used

    def summary(self) -> str:
        age = "no status lists" if self.oldest_list is None else \
            f"status lists up to {int(self.oldest_list.total_seconds() // 60)} min old"
        offline = f"; could not refresh ({self.errors[0].message}), used the cached lists" if self.errors else ""
        return f"{self.checked} volunteers checked, {len(self.flagged)} flagged ({age}{offline})"


def flags_for(volunteer: Volunteer, status: StatusChecker | None,
              now: dt.datetime) -> tuple[list[str], list[dt.timedelta]]:
    """Why a volunteer needs attention (revoked, suspended, expired, expiring within 30 days, status not
    confirmed), and the ages of the status lists that said so."""
    reasons: list[str] = []
    ages: list[dt.timedelta] = []
    for ref in volunteer.credentials:
        label = LABELS.get(ref.kind, ref.kind)
        if ref.status_uri is not None and ref.status_idx is not None:
            result = status.check(ref.status_uri, ref.status_idx, now) if status is not None else None
            if result is None or result.state == "unknown":
                reasons.append(f"{label}: status not confirmed ({result.reason if result else 'no status lists'})")
            elif result.state == "invalid":
                reasons.append(f"{label} revoked by its issuer")
            elif result.state == "suspended":
                reasons.append(f"{label} suspended by its issuer")
            if result is not None and result.age is not None:
                ages.append(result.age)
        if ref.valid_until is not None:
            reasons += _ending(f"{label} credential", ref.valid_until.date(), now.date())
    if volunteer.training_renewal is not None:
        reasons += _ending("safeguarding training", volunteer.training_renewal, now.date())
    return reasons, ages


def _ending(what: str, end: dt.date, today: dt.date) -> list[str]:
    if end < today:
        return [f"{what} expired on {end.isoformat()}"]
    if end <= today + WARN_BEFORE:
        return [f"{what} expires on {end.isoformat()} (within {WARN_BEFORE.days} days)"]
    return []


def recheck(register: Register, cache: TrustCache, trust_list_url: str | None, fetch: Fetch | None, actor: str,
            now: dt.datetime | None = None) -> RecheckReport:
    """Refresh the trust list and status lists (when ``fetch`` is given: online), then flag every volunteer
    whose check needs attention; the flags are stored, so the site shows them first."""
    now = now or dt.datetime.now(dt.UTC)
    everyone = register.volunteers(actor)
    report = RecheckReport(len(everyone))
    if fetch is not None and trust_list_url is not None:
        refreshed = cache.refresh(trust_list_url, fetch, now)
        report.errors += refreshed.errors
        _follow_references(cache, everyone, refreshed, fetch, now, report)
    try:
        status: StatusChecker | None = cache.load(now).status
    except DidlibError as exc:  # no trust list cached, or it expired: nothing can be confirmed
        report.errors.append(Problem.of(exc, "trust list: "))
        status = None
    ages: list[dt.timedelta] = []
    flags = {}
    for volunteer in everyone:
        assert volunteer.id is not None
        reasons, used = flags_for(volunteer, status, now)
        ages += used
        flags[volunteer.id] = reasons
        if reasons:
            report.flagged[volunteer.id] = reasons
    register.set_flags(flags, actor, now)
    report.oldest_list = max(ages) if ages else None
    return report


def _follow_references(cache: TrustCache, everyone: list[Volunteer], refreshed: RefreshReport, fetch: Fetch,
                       now: dt.datetime, report: RecheckReport) -> None:
    """Download the lists the volunteers' credentials point at that the trust list did not name; each is kept
    only if an issuer of the trust list signed it for that very URI (:meth:`TrustCache.store_status_token`)."""
    wanted = {ref.status_uri for v in everyone for ref in v.credentials if ref.status_uri is not None}
    for uri in sorted(wanted - set(refreshed.status_lists)):
        if not uri.startswith(("https://", "http://")):
            continue
        try:
            cache.download_status_list(uri, fetch, now)
        except DidlibError as exc:
            report.errors.append(Problem.of(exc, f"{uri}: "))
