"""The verifier app's model: what the screens show and what a tap does. No Kivy import (tested headless).

A small state machine the UI observes: ``setup`` (no trust data yet) or ``home`` (pick a check) ->
``scanning`` (codes read by the camera or from an image file; for challenge checks the request QR is shown)
-> ``result`` (full screen, with a countdown, clears itself after a few seconds) -> ``home``. A scanned
``mdoc:`` engagement (a wallet's ISO 18013-5 QR) goes from ``scanning`` to ``connecting`` while the session
runs on a worker thread, then to the same ``result``. All decisions are the verifier engine's; nothing
personal is kept after the result clears, only counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from didlib.errors import DidlibError, UsageError
from didlib.pki import common_name_of
from didlib.qr import decode_image
from didlib.session.ble.connect import BleAdapter
from didlib.trust import TrustStore
from didlib.verification import Problem
from didlib.verifier import AgePolicy, PeerPolicy, Policy, TrustData, Verdict, VerifierEngine, VolunteerPolicy
from didlib.verifier.policies import rejected
from didlib.verifier.replay import ReplayCache

if TYPE_CHECKING:  # the register needs SQLAlchemy (didlib[service]); a till without a register does not
    from volunteer_register import Register, Volunteer

__all__ = ["CHECKS", "Check", "Settings", "VerifierModel", "plain_age"]

log = logging.getLogger("verifier_app")

ENGAGEMENT = "mdoc:"  # ISO 18013-5 8.2.2.3: the device engagement QR code's URI scheme
CONNECTING = "Connecting to the wallet…"
SESSION_FAILED = "the check could not be completed: try again"
REGISTER_STEPS = ("", "add", "lookup")


NO_READER_KEY = ("This till has no reader key, so it cannot ask a phone for {what}. "
                 "Ask your organisation for a reader key and certificate, then load them in Settings "
                 "(or start the app with --reader-key and --reader-cert).")


def plain_age(age: dt.timedelta) -> str:
    """'2 days ago', '3 hours ago', 'a few minutes ago': how old, in words staff read at a glance."""
    if age.days >= 1:
        return f"{age.days} day{'s' if age.days != 1 else ''} ago"
    hours = age.seconds // 3600
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    return "a few minutes ago"


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    challenge: bool  # shows a request QR (challenge flow) rather than waiting for a one-way code

    def policy(self, settings: Settings) -> Policy:
        if self.key.startswith("age"):
            return AgePolicy(int(self.key.split(":")[1]), challenge25=True)
        if self.key == "volunteer":
            return VolunteerPolicy(minimum_level=settings.dbs_minimum_level, register=settings.volunteer_register)
        return PeerPolicy()


CHECKS = [
    Check("age:18", "Age 18", False),
    Check("age:25", 'Age 25 "Challenge 25"', False),
    Check("volunteer", "Volunteer DBS check", True),
    Check("peer", "Peer check", True),
]


@dataclass
class Settings:
    freshness_seconds: int = 60
    clear_after_seconds: int = 10
    dbs_minimum_level: str = "enhanced_barred_lists"
    distrusted: set[str] = field(default_factory=set)  # issuer names switched off by the operator
    # the volunteer check and the organisation's register (REGISTER_STEPS): "" (not used), "add" (keep the
    # volunteer: the wallet shows what is kept) or "lookup" (compare with the register, keep nothing new)
    volunteer_register: str = ""


@dataclass
class VerifierModel:
    """The app's state. ``trust`` loads the current trust data (from the cache on disk, in the real app)."""

    trust: Callable[[], TrustData]
    reader_key: Any = None
    reader_chain: list[Any] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    replay: ReplayCache = field(default_factory=ReplayCache)
    state: str = "home"
    check: Check | None = None
    verdict: Verdict | None = None
    request_qr: str | None = None
    message: str = ""
    blocked: str = ""  # why the chosen check cannot run on this till, and what to do
    counts: dict[str, int] = field(default_factory=dict)
    _engine: VerifierEngine | None = None
    _shown_at: dt.datetime | None = None
    listeners: list[Callable[[VerifierModel], None]] = field(default_factory=list)
    # ISO 18013-5 sessions: the Bluetooth adapter found at start (None: ``no_adapter`` says why, on the
    # connecting screen), how long the holder may take to decide, how the last phone was reached ("local
    # network", "Bluetooth ...", shown with the verdict)
    adapter: BleAdapter | None = None
    no_adapter: str = ""
    session_timeout: float = 60.0
    link_note: str = ""
    register_note: str = ""  # what the organisation's register said about the volunteer on screen
    _register_step: str = ""  # "working", "done" (no second tap), "" (the button is offered)
    # sessions and the register run off the UI thread: ``background`` starts the work, ``post`` brings its
    # end back (the app posts to the UI thread with Kivy's clock; headless, both run as given)
    background: Callable[[Callable[[], None]], None] = field(
        default=lambda work: threading.Thread(target=work, daemon=True, name="verifier-work").start())
    post: Callable[[Callable[[], None]], None] = field(default=lambda then: then())

    # ------------------------------------------------------------------------------- observation
    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener(self)

    def has_trust(self) -> bool:
        try:
            self.trust()
        except DidlibError:
            return False
        return True

    def trust_status(self) -> tuple[str, bool]:
        """A line for the home screen about the trust data's age in plain words, and whether it is stale."""
        try:
            data = self.trust()
        except DidlibError as exc:
            return exc.message, True
        age = data.age(self.clock())
        if age is None:
            return "Trusted issuers loaded from files on this till", False
        if age > data.max_age:
            return f"Trust list from {plain_age(age)}: out of date, update when online", True
        return f"Trust list from {plain_age(age)}", False

    def seconds_left(self) -> int:
        """Seconds until the verdict clears itself (shown as a countdown)."""
        if self.state != "result" or self._shown_at is None:
            return 0
        shown = (self.clock() - self._shown_at).total_seconds()
        return max(0, int(self.settings.clear_after_seconds - shown + 0.999))

    def trusted_issuers(self) -> list[tuple[str, bool]]:
        """(issuer name, on) for the settings screen."""
        try:
            anchors = self.trust().issuers.anchors
        except DidlibError:
            return []
        return [(common_name_of(a), common_name_of(a) not in self.settings.distrusted) for a in anchors]

    # ----------------------------------------------------------------------------------- actions
    def choose(self, key: str) -> None:
        """Home -> scanning for the chosen check (a fresh challenge QR for challenge checks)."""
        self.check = next(c for c in CHECKS if c.key == key)
        try:
            data = self._effective_trust()
        except DidlibError as exc:
            self.state, self.message = "setup", exc.message
            self._changed()
            return
        self.state, self.verdict, self.message, self.blocked = "scanning", None, "", ""
        self._engine = VerifierEngine(self.check.policy(self.settings), data, replay=self.replay,
                                      window=dt.timedelta(seconds=self.settings.freshness_seconds),
                                      reader_key=self.reader_key, reader_chain=list(self.reader_chain),
                                      clock=self.clock)
        self.request_qr = None
        if self.check.challenge:
            if self.reader_key is None or not self.reader_chain:
                what = "a DBS check" if self.check.key == "volunteer" else "a driving licence"
                self.blocked, self._engine = NO_READER_KEY.format(what=what), None
            else:
                self.request_qr = self._engine.start_challenge()
        self._changed()

    def _effective_trust(self) -> TrustData:
        data = self.trust()
        if not self.settings.distrusted:
            return data
        kept = [a for a in data.issuers.anchors if common_name_of(a) not in self.settings.distrusted]
        issuers = TrustStore(kept, data.issuers.document_signers)
        return TrustData(issuers, data.status, data.fetched_at, data.max_age)

    def codes(self, texts: list[str]) -> None:
        """QR texts the camera's scanner read (didlib.scanner): feed them to the engine."""
        for text in texts:
            self._scanned(text)

    def image(self, path: str | Path) -> None:
        """The fallback: a picture of the code(s) from a file."""
        try:
            texts = decode_image(path)
        except DidlibError as exc:
            self.message = exc.message
            self._changed()
            return
        if not texts:
            self.message = "No QR code found in that picture"
            self._changed()
        for text in texts:
            self._scanned(text)

    def _scanned(self, text: str) -> None:
        if self._engine is None or self.state != "scanning":
            return
        if text[: len(ENGAGEMENT)].lower() == ENGAGEMENT:
            self._connect(self._engine, text)
            return
        verdict = self._engine.scan(text)
        if verdict is None:
            parts = self._engine.progress()
            seen = max(parts.values(), default=(0, 0))
            self.message = f"Part {seen[0]} of {seen[1]} read: show the next code"
            self._changed()
            return
        self._show(verdict)

    def _connect(self, engine: VerifierEngine, uri: str) -> None:
        """An ``mdoc:`` engagement: the ISO 18013-5 session as the reader, on a worker thread (it waits for
        the holder to decide); its verdict is shown like a scanned code's. A check cancelled meanwhile (a new
        engine, or none) drops it."""
        self.state, self.message, self.link_note = "connecting", CONNECTING, ""
        self._changed()

        def work() -> None:
            try:
                verdict, note = engine.read_engagement(uri, self.adapter, no_adapter=self.no_adapter,
                                                       timeout=self.session_timeout)
            except Exception:  # a Bluetooth stack's own errors: the till still shows a verdict
                log.exception("ISO 18013-5 session failed")
                verdict, note = rejected([Problem("session_failed", SESSION_FAILED)]), ""
                verdict.action = engine.policy.action(verdict.decision)
            self.post(lambda: self._connected(engine, verdict, note))

        self.background(work)

    def _connected(self, engine: VerifierEngine, verdict: Verdict, note: str) -> None:
        if self._engine is engine and self.state == "connecting":
            self.link_note = note
            self._show(verdict)

    def _show(self, verdict: Verdict) -> None:
        self.verdict, self.state, self._shown_at, self.message = verdict, "result", self.clock(), ""
        self.counts["checks"] = self.counts.get("checks", 0) + 1
        self.counts[verdict.decision] = self.counts.get(verdict.decision, 0) + 1
        self._changed()

    def add_to_register(self, register: Register, actor: str = "verifier") -> int:
        """Keep the volunteer just cleared in the organisation's register (their wallet showed that it would);
        their register id. Only after a volunteer check with ``volunteer_register = "add"`` that cleared them:
        a barred volunteer, or one referred to a person, is not recorded as checked."""
        kept = self.verdict.kept if self.verdict is not None and self.settings.volunteer_register == "add" else {}
        if not kept:
            raise UsageError("no volunteer check to keep: choose \"add\" for the register in the settings",
                             code="nothing_to_keep")
        if self.verdict is None or self.verdict.decision != "accept":
            raise UsageError("only a cleared volunteer is added to the register", code="not_cleared")
        from volunteer_register import record_from_verdict

        return register.add(record_from_verdict(kept), actor)

    def find_in_register(self, register: Register, actor: str = "verifier") -> Volunteer | None:
        """The register's record of the volunteer just checked (by DBS certificate number), or None."""
        number = self.verdict.kept.get("certificate_number") if self.verdict is not None else None
        if not isinstance(number, str):
            raise UsageError("no volunteer check to look up", code="nothing_to_look_up")
        return register.find(number, actor)

    def register_offer(self) -> str:
        """The result screen's register button for the volunteer on screen, or "" (none)."""
        verdict = self.verdict
        if self.state != "result" or verdict is None or not verdict.kept or self._register_step:
            return ""
        if self.settings.volunteer_register == "add" and verdict.decision == "accept":
            return "Add to the register"
        if self.settings.volunteer_register == "lookup":
            return "Look up in the register"
        return ""

    def use_register(self, open_register: Callable[[], Register], actor: str = "verifier") -> None:
        """The register button: add the cleared volunteer, or look them up, off the UI thread (a register may
        be a PostgreSQL server away). What the register said becomes :attr:`register_note`, and the result's
        countdown starts again so it can be read; a register that cannot be reached says so, and the button
        comes back to try again."""
        verdict = self.verdict
        if not self.register_offer() or verdict is None:
            return
        adding = self.settings.volunteer_register == "add"
        self.register_note = "Adding to the register…" if adding else "Looking in the register…"
        self._register_step = "working"
        self._changed()

        def work() -> None:
            try:
                register = open_register()
                note = self._register_note(register, actor, adding)
                retry = False
            except DidlibError as exc:
                note, retry = exc.message, False
            except Exception:  # SQLAlchemy's or the network's own errors
                log.exception("volunteer register")
                note = "The register could not be reached: " + ("nothing was added. " if adding else "") + "Try again."
                retry = True
            self.post(lambda: self._registered(verdict, note, retry))

        self.background(work)

    def _register_note(self, register: Register, actor: str, adding: bool) -> str:
        if adding:
            return f"Added to the register (volunteer {self.add_to_register(register, actor)})"
        found = self.find_in_register(register, actor)
        if found is None:
            return "Not on the register"
        how = "in person" if found.checked_how == "in_person" else found.checked_how
        when = f", checked {how} on {found.checked_at:%d %b %Y}" if found.checked_at else ""
        note = (f"On the register (volunteer {found.id}): {found.name}, DBS {found.dbs_level.replace('_', ' ')}, "
                f"{found.workforce} workforce{when}")
        return note + (f"\nNeeds attention: {'; '.join(found.flags)}" if found.flags else "")

    def _registered(self, verdict: Verdict, note: str, retry: bool) -> None:
        if self.verdict is not verdict:
            return  # the result cleared meanwhile
        self.register_note, self._register_step = note, "" if retry else "done"
        self._shown_at = self.clock()
        self._changed()

    def tick(self) -> None:
        """Called every second: the result clears itself, so nothing personal stays on screen (not while the
        register is being asked: its answer restarts the countdown)."""
        if self.state == "result" and self._shown_at is not None and self._register_step != "working" and \
                self.clock() - self._shown_at >= dt.timedelta(seconds=self.settings.clear_after_seconds):
            self.done()

    def done(self) -> None:
        self.state, self.verdict, self.request_qr, self._shown_at = "home", None, None, None
        self.message, self.blocked, self.link_note, self.register_note = "", "", "", ""
        self._register_step = ""
        self._engine = None
        self._changed()
