"""The verifier engine tills and the verifier app call: scan text in, verdict out. No UI, no network.

It assembles multi-part codes, enforces the one-way freshness window and the replay cache, runs the
challenge flow, verifies with :func:`didlib.mdoc.verify_response` against the cached trust data, and
hands the result to the policy. It keeps counts of checks and verdicts, and nothing personal.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from didlib.errors import DidlibError, SessionError
from didlib.keys import PrivateKey
from didlib.mdoc.verifier import VerificationResult, verify_response
from didlib.presentation.qrflows import Challenge, ChallengeResponse, OneWay, parse_payload
from didlib.qr import Assembler
from didlib.session.ble.connect import BleAdapter, reader_transport
from didlib.session.exchange import run_reader
from didlib.session.reader import ReaderSession
from didlib.status import StatusChecker
from didlib.trust import TrustStore
from didlib.verification import Problem
from didlib.verifier.policies import Policy, Verdict, rejected
from didlib.verifier.replay import ReplayCache

__all__ = ["VerifierEngine", "TrustData"]

DEFAULT_WINDOW = dt.timedelta(seconds=60)
CLOCK_SKEW = dt.timedelta(seconds=10)


@dataclass
class TrustData:
    """What the verifier trusts, and since when: issuer anchors (+ document signers), status lists."""

    issuers: TrustStore
    status: StatusChecker | None = None
    fetched_at: dt.datetime | None = None  # when the trust list was downloaded (None: configured by hand)
    max_age: dt.timedelta = dt.timedelta(days=7)

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        """How old the trust data is (None when its age is not known)."""
        return None if self.fetched_at is None else now - self.fetched_at


@dataclass
class VerifierEngine:
    """A till's engine: feed it scanned texts, get verdicts. It verifies, applies its policy, refuses
    replays and stale codes, and counts outcomes, keeping nothing personal."""

    policy: Policy
    trust: TrustData
    replay: ReplayCache = field(default_factory=ReplayCache)
    window: dt.timedelta = DEFAULT_WINDOW
    reader_key: PrivateKey | None = None  # for the challenge flow
    reader_chain: list[x509.Certificate] = field(default_factory=list)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    counts: Counter[str] = field(default_factory=Counter)
    _assembler: Assembler = field(default_factory=Assembler)
    _challenge: Challenge | None = None

    # ------------------------------------------------------------------------------------ scanning
    def scan(self, text: str) -> Verdict | None:
        """Feed one scanned QR text; a verdict once a whole presentation is in, else None (more parts)."""
        try:
            whole = self._assembler.add(text)
            if whole is None:
                return None
            payload = parse_payload(whole)
        except DidlibError as exc:
            return self._count(rejected([Problem.of(exc)]))
        if isinstance(payload, OneWay):
            return self._count(self._one_way(payload))
        if isinstance(payload, ChallengeResponse):
            return self._count(self._answer(payload))
        return self._count(rejected([Problem("wrong_code", "this is a verifier's request, not a credential")]))

    def read_engagement(
        self, uri: str, adapter: BleAdapter | None = None, *, no_adapter: str = "", timeout: float = 60.0
    ) -> tuple[Verdict, str]:
        """An ``mdoc:`` engagement scanned from the holder's phone: run an ISO 18013-5 session for this
        policy's request over Bluetooth LE when the phone offers it and ``adapter`` is present (see
        :func:`didlib.session.ble.connect.find_adapter`), else over the local network, and judge the
        answer like any other. Returns the verdict and how the phone was reached (for the screen; with no
        adapter it says so, from ``no_adapter``). Blocking, up to ``timeout`` for the holder to decide."""
        now = self.clock()
        link = None
        try:
            reader = ReaderSession(
                uri,
                self.policy.request(),
                trust=self.trust.issuers,
                reader_key=self.reader_key,
                reader_chain=self.reader_chain or None,
                now=now,
                status_checker=self.trust.status,
            )
            link = reader_transport(reader.engagement, adapter, timeout=timeout, no_adapter=no_adapter)
            result = run_reader(reader, link.transport, timeout)
        except DidlibError as exc:
            return self._count(rejected([Problem.of(exc)])), link.note if link is not None else no_adapter
        finally:
            if link is not None:
                link.close()
        return self._count(self._judge(result, now)), link.note

    def progress(self) -> dict[str, tuple[int, int]]:
        """Parts read so far of each multi-part code being assembled ("Part 1 of 2 read")."""
        return self._assembler.progress()

    def start_challenge(self) -> str:
        """The request QR text to show (challenge flow); the next answer must be for it."""
        if self.reader_key is None or not self.reader_chain:
            raise SessionError("the challenge flow needs a reader key and certificate", code="no_reader_key")
        self._challenge = Challenge.create(
            self.policy.request(), reader_key=self.reader_key, reader_chain=self.reader_chain, now=self.clock()
        )
        return self._challenge.text

    # ------------------------------------------------------------------------------------- checking
    def _one_way(self, payload: OneWay) -> Verdict:
        now = self.clock()
        created = dt.datetime.fromtimestamp(payload.created, dt.UTC) if 0 < payload.created < 2**40 else None
        if created is None or now - created > self.window:
            return rejected([Problem("too_old", "the code is older than the freshness window")])
        if created - now > CLOCK_SKEW:
            return rejected([Problem("from_the_future", "the code is dated in the future")])
        if self.replay.seen(payload.nonce, now.timestamp()):
            return rejected([Problem("replayed", "this code has been presented before")])
        verdict = self._verify(payload.response, payload.transcript, None, now)
        if "device_auth_failed" not in verdict.codes and "malformed" not in verdict.codes and not self.replay.remember(
                payload.nonce, (created + self.window + CLOCK_SKEW).timestamp(), now.timestamp()):
            return rejected([Problem("replayed", "this code has been presented before")])  # by another till, meanwhile
        return verdict

    def _answer(self, payload: ChallengeResponse) -> Verdict:
        now = self.clock()
        challenge = self._challenge
        if challenge is None:
            return rejected([Problem("no_challenge", "no request was shown for this answer")])
        try:
            response = challenge.open(payload, now)
        except DidlibError as exc:
            return rejected([Problem.of(exc)])
        return self._verify(response, challenge.transcript, challenge.reader_private_key, now)

    def _verify(self, response: bytes, transcript: bytes, reader_key: PrivateKey | None, now: dt.datetime) -> Verdict:
        result = verify_response(
            response,
            trust=self.trust.issuers,
            session_transcript=transcript,
            reader_key=reader_key,
            now=now,
            status_checker=self.trust.status,
        )
        return self._judge(result, now)

    def _judge(self, result: VerificationResult, now: dt.datetime) -> Verdict:
        verdict = self.policy.decide(result)
        age = self.trust.age(now)
        verdict.data_age["trustList"] = int(age.total_seconds()) if age is not None else None
        if age is not None and age > self.trust.max_age:
            verdict.stale = True
            verdict.reasons.append("the trust list is out of date: update when online")
        return verdict

    def _count(self, verdict: Verdict) -> Verdict:
        verdict.action = verdict.action or self.policy.action(verdict.decision)
        self.counts["checks"] += 1
        self.counts[verdict.decision] += 1
        return verdict

    def stats(self) -> dict[str, Any]:
        """Counts only: how many checks and how they ended."""
        return dict(self.counts)
