"""Where the till's trust data comes from, offline first: the cached signed trust list (or certificate files
the operator loaded), never the network at start. Updating is a separate step that the app runs off the UI
thread; a failed update keeps the cache and says so in words. No Kivy import.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx

from didlib.errors import DidlibError, UsageError
from didlib.keys import load_public_key
from didlib.trust import TrustStore
from didlib.verifier import TrustCache, TrustData
from verifier_app.config import AppConfig
from verifier_app.model import plain_age

__all__ = ["TrustSource", "OPERATOR_FILE", "ANCHORS_FOLDER", "http_fetch"]

OPERATOR_FILE = "operator.pem"  # the trust list operator's key, pinned on first use
ANCHORS_FOLDER = "anchors"  # certificate files the operator loaded by hand
MAX_DOWNLOAD = 4 << 20

Fetch = Callable[[str], bytes]


def http_fetch(url: str) -> bytes:
    """A GET with a short timeout and a size limit; raises httpx errors on failure."""
    with httpx.stream("GET", url, timeout=10) as response:
        response.raise_for_status()
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_DOWNLOAD:
                raise UsageError(f"{url} sent more than {MAX_DOWNLOAD} bytes")
        return body


def _why(exc: BaseException) -> str:
    # Transport errors are the common case at a till: say "no connection", not the library's words.
    if isinstance(exc, httpx.HTTPError | OSError):
        return "no connection to the issuer"
    return exc.message if isinstance(exc, DidlibError) else str(exc)


class TrustSource:
    """The till's trust data: :meth:`load` reads only what is on disk; :meth:`refresh` and :meth:`connect`
    go online and may block (run them off the UI thread)."""

    def __init__(self, config: AppConfig, fetch: Fetch = http_fetch,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.config, self.fetch, self.clock = config, fetch, clock

    @property
    def folder(self) -> Path:
        return self.config.folder

    def _cache(self) -> TrustCache | None:
        pinned = self.folder / OPERATOR_FILE
        return TrustCache(self.folder, load_public_key(pinned)) if pinned.exists() else None

    def _files(self) -> list[str]:
        anchors = self.folder / ANCHORS_FOLDER
        return [*self.config.trust_files, *([str(anchors)] if anchors.is_dir() and any(anchors.iterdir()) else [])]

    def load(self) -> TrustData:
        """The trust data on disk (raises a :class:`~didlib.errors.DidlibError` when there is none)."""
        cache = self._cache()
        if cache is not None and (self.folder / "trust-list.jwt").exists():
            return cache.load(self.clock())
        files = self._files()
        if files:
            store = TrustStore.from_pem_files(files)
            if len(store):
                return TrustData(store)
        raise UsageError("this till has no trust list yet: connect once, or load a trust list file")

    def available(self) -> bool:
        try:
            self.load()
        except DidlibError:
            return False
        return True

    # ----------------------------------------------------------------------------------- online
    def refresh(self) -> str:
        """Download the trust list and status lists; on any failure keep the cache. Returns what to show."""
        cache, issuer = self._cache(), self.config.issuer
        if cache is None or not issuer:
            return "No issuer to update from: connect once in the setup screen"
        report = cache.refresh(f"{issuer}/trust/list", self.fetch, self.clock())  # never raises for the network
        if report.trust_list != "updated":
            unreachable = any(p.code == "unreachable" for p in report.errors)
            why = report.errors[0].message if report.errors and not unreachable else "no connection to the issuer"
            return self._kept(why)
        kept = [uri for uri, state in report.status_lists.items() if state != "updated"]
        return "Trust list updated" + (f" (revocation lists kept from before: {len(kept)})" if kept else "")

    def _kept(self, why: str) -> str:
        try:
            data = self.load()
        except DidlibError:
            return f"Could not update the trust list ({why}); this till still has none"
        age = data.age(self.clock())
        when = f" from {plain_age(age)}" if age is not None else ""
        return f"Could not update the trust list ({why}): still using the one{when}"

    def connect(self, issuer: str) -> str:
        """First use: pin the issuer's trust list operator key, then download the trust list."""
        issuer = issuer.strip().rstrip("/")
        if not issuer.startswith(("http://", "https://")):
            return "Give the issuer's address, starting with https://"
        pinned = self.folder / OPERATOR_FILE
        if not pinned.exists():
            try:
                key = self.fetch(f"{issuer}/trust/operator.pem")
                load_public_key(key)
            except (DidlibError, httpx.HTTPError, OSError) as exc:
                return f"Could not connect ({_why(exc)})"
            self.folder.mkdir(parents=True, exist_ok=True)
            pinned.write_bytes(key)  # trust on first use; later lists must be signed by the same key
        self.config.issuer = issuer
        self.config.save()
        return self.refresh()

    def load_file(self, path: str | Path) -> str:
        """A trust list file (signed by the pinned operator) or PEM certificates, from a memory card or USB."""
        path = Path(path)
        try:
            data = path.read_bytes()[: MAX_DOWNLOAD + 1]
            if len(data) > MAX_DOWNLOAD:
                return f"{path.name} is too large to be a trust list"
            if data[:3] == b"eyJ":
                cache = self._cache()
                if cache is None:
                    return "A signed trust list needs the issuer's key: connect once first, or load certificates"
                cache.store_trust_list(data.decode("ascii").strip(), self.clock())
                return "Trust list loaded from the file"
            store = TrustStore.from_pem_files([path])
            if not len(store):
                return f"No issuer certificates in {path.name}"
        except (DidlibError, OSError, UnicodeDecodeError) as exc:
            return f"Could not use {path.name}: {exc.message if isinstance(exc, DidlibError) else exc}"
        anchors = self.folder / ANCHORS_FOLDER
        anchors.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, anchors / (path.stem + ".pem"))
        return f"Issuer certificates loaded from {path.name}"
