"""The verifier's trust data on disk: the signed trust list and the status lists, with when they came.

Refreshed when the device is online (through a ``fetch`` function the app supplies, so the library does no
networking of its own) and used offline for as long as the data is not expired; every verdict says how
old it is. A download that fails or does not verify never replaces good data already cached, and a refresh
never raises for it: the report names each failure with a stable code and says how old the kept data is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from didlib.errors import DecodeError, DidlibError, NetworkError, UsageError
from didlib.files import locked, write_private
from didlib.keys import PublicKey
from didlib.status import StatusChecker, StatusListToken
from didlib.trust import TrustStore
from didlib.trustlist import TrustList
from didlib.verification import Problem
from didlib.verifier.engine import TrustData

__all__ = ["TrustCache", "RefreshReport"]

TRUST_LIST_FILE = "trust-list.jwt"
META_FILE = "meta.json"
MAX_TOKEN_FILE = 16 << 20

Fetch = Callable[[str], bytes]  # url -> body; raise anything on failure (the app's HTTP library's errors)


@dataclass
class RefreshReport:
    """What a trust data refresh did: each download updated or kept (the cache stays on failure), and why."""

    trust_list: str  # "updated" | "kept" (with the reason in errors)
    status_lists: dict[str, str] = field(default_factory=dict)  # uri -> "updated" | "kept"
    errors: list[Problem] = field(default_factory=list)  # code "unreachable" for a failed download
    fetched_at: dt.datetime | None = None  # when the trust list now in the cache was downloaded (None: no cache)

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        """How old the trust list in use is after this refresh (None when nothing is cached)."""
        return None if self.fetched_at is None else now - self.fetched_at

    def summary(self, now: dt.datetime) -> str:
        """One line for a screen: "updated", or what failed and how old the data kept is."""
        if not self.errors:
            return "Trust data updated"
        age = self.age(now)
        kept = "no trust data cached" if age is None else f"keeping trust data from {_duration(age)} ago"
        # A person reads this line: an unreachable server is "no connection", not the socket error (the
        # error itself stays in ``errors`` for logs).
        first = self.errors[0]
        return f"Could not update ({'no connection' if first.code == 'unreachable' else first.message}): {kept}"


def _duration(age: dt.timedelta) -> str:
    minutes = max(int(age.total_seconds()) // 60, 0)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // 1440} days"


def _download(fetch: Fetch, url: str) -> bytes:
    """``fetch(url)``, with any failure of it as a :class:`NetworkError`: the app's fetch raises its own HTTP
    library's errors (a refused connection, a 500), which the library cannot name and must not let escape."""
    try:
        return fetch(url)
    except DidlibError:
        raise
    except Exception as exc:  # the fetch is the app's code; every way it fails means "not downloaded"
        raise NetworkError(f"{url} could not be downloaded ({type(exc).__name__}: {exc})") from exc


class TrustCache:
    """A verifier's trust data on disk: the trust list and the status lists it names, refreshed when online,
    used offline with their age shown. The trust list is checked against the pinned operator key."""

    def __init__(self, folder: str | Path, operator_key: PublicKey) -> None:
        self.folder = Path(folder)
        self._operator_key = operator_key

    # ------------------------------------------------------------------------------------- metadata
    def _meta(self) -> dict[str, Any]:
        try:
            meta = json.loads((self.folder / META_FILE).read_text())
        except (OSError, ValueError):
            return {"status": {}}
        return meta if isinstance(meta, dict) and isinstance(meta.get("status"), dict) else {"status": {}}

    def _save_meta(self, meta: dict[str, Any]) -> None:
        write_private(self.folder / META_FILE, json.dumps(meta, indent=1).encode())

    @staticmethod
    def _status_file(uri: str) -> str:
        return "status-" + hashlib.sha256(uri.encode()).hexdigest()[:24] + ".token"

    # ----------------------------------------------------------------------------------------- store
    def store_trust_list(self, token: str, fetched_at: dt.datetime) -> TrustList:
        """Verify, then keep, a downloaded trust list."""
        trust_list = TrustList.verify(token, self._operator_key, fetched_at)
        write_private(self.folder / TRUST_LIST_FILE, token.encode("ascii"))
        meta = self._meta()
        meta["trust_list_fetched"] = fetched_at.isoformat()
        self._save_meta(meta)
        return trust_list

    def store_status_token(self, uri: str, token: str | bytes, fetched_at: dt.datetime) -> None:
        """Verify, then keep, a downloaded Status List Token for ``uri``."""
        trust_list = self._trust_list(fetched_at)
        checked = StatusListToken.verify(token, trust=trust_list.issuer_store(), now=fetched_at)
        if checked.uri != uri:
            raise UsageError(f"the status list downloaded from {uri} says it is {checked.uri}")
        name = self._status_file(uri)
        write_private(self.folder / name, token.encode("ascii") if isinstance(token, str) else token)
        meta = self._meta()
        meta["status"][uri] = {"file": name, "fetched": fetched_at.isoformat(), "jwt": isinstance(token, str)}
        self._save_meta(meta)

    # ------------------------------------------------------------------------------------------ load
    def _trust_list(self, now: dt.datetime) -> TrustList:
        path = self.folder / TRUST_LIST_FILE
        try:
            token = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"no trust list cached in {self.folder}: update while online") from exc
        return TrustList.verify(token.strip(), self._operator_key, now)

    def load(self, now: dt.datetime | None = None, max_age: dt.timedelta = dt.timedelta(days=7)) -> TrustData:
        """The cached trust data, checked again now (an expired trust list is refused)."""
        now = now or dt.datetime.now(dt.UTC)
        trust_list = self._trust_list(now)
        store = trust_list.issuer_store()
        meta = self._meta()
        tokens: dict[str, str | bytes] = {}
        fetched: dict[str, dt.datetime] = {}
        for uri, entry in meta["status"].items():
            try:
                data = (self.folder / entry["file"]).read_bytes()
                tokens[uri] = data.decode("ascii") if entry.get("jwt") else data
                fetched[uri] = dt.datetime.fromisoformat(entry["fetched"])
            except (OSError, KeyError, ValueError, TypeError):
                continue  # a lost status file just means "unknown" for its credentials
        return TrustData(store, StatusChecker(tokens, trust=store, fetched_at=fetched),
                         fetched_at=self._fetched_at(), max_age=max_age)

    def reader_store(self, now: dt.datetime | None = None) -> TrustStore:
        """The reader CAs of the cached trust list (what a wallet checks readers against)."""
        return self._trust_list(now or dt.datetime.now(dt.UTC)).reader_store()

    # --------------------------------------------------------------------------------------- refresh
    def refresh(self, trust_list_url: str, fetch: Fetch, now: dt.datetime | None = None) -> RefreshReport:
        """Download the trust list and every status list it names; keep what was cached on any failure.
        Processes sharing the folder (several shop workers) refresh one at a time (a file lock)."""
        with locked(self.folder / META_FILE):
            return self._refresh(trust_list_url, fetch, now or dt.datetime.now(dt.UTC))

    def _refresh(self, trust_list_url: str, fetch: Fetch, now: dt.datetime) -> RefreshReport:
        report = RefreshReport("kept")
        try:
            body = _download(fetch, trust_list_url)
            try:
                self.store_trust_list(body.decode("ascii").strip(), now)
            except UnicodeDecodeError as exc:
                raise DecodeError("the trust list is not ASCII text") from exc
            report.trust_list = "updated"
        except DidlibError as exc:
            report.errors.append(Problem.of(exc, "trust list: "))
        report.fetched_at = self._fetched_at()
        try:
            uris = self._trust_list(now).status_list_uris()
        except DidlibError as exc:
            report.errors.append(Problem.of(exc, "trust list: "))
            return report
        for uri in uris:
            try:
                self.download_status_list(uri, fetch, now)
                report.status_lists[uri] = "updated"
            except DidlibError as exc:
                report.status_lists[uri] = "kept"
                report.errors.append(Problem.of(exc, f"{uri}: "))
        return report

    def download_status_list(self, uri: str, fetch: Fetch, now: dt.datetime | None = None) -> None:
        """Download, verify and keep the Status List Token at ``uri``: one the trust list names, or one a
        credential's status reference points at (kept only if a trusted issuer signed it for that URI)."""
        body = _download(fetch, uri)
        try:
            token: str | bytes = body.decode("ascii").strip() if body[:3] == b"eyJ" else body
        except UnicodeDecodeError as exc:
            raise DecodeError("the status list is not ASCII text") from exc
        self.store_status_token(uri, token, now or dt.datetime.now(dt.UTC))

    def _fetched_at(self) -> dt.datetime | None:
        fetched = self._meta().get("trust_list_fetched")
        try:
            return dt.datetime.fromisoformat(fetched) if isinstance(fetched, str) else None
        except ValueError:
            return None
