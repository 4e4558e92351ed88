"""What a code the wallet scanned (or was given by a link, or had pasted) is for. No Kivy import.

One scanner serves every flow: the camera cannot know which screen the holder came from, and a holder who
scans an issuer's offer from "Check someone" should still get the offer. So each text is sorted here:

- ``openid-credential-offer://`` (OpenID4VCI 1.0 section 4.1): an issuer's offer, to redeem;
- ``openid4vp://`` (OpenID4VP 1.0 section 5): a website's request, answered online;
- ``DL1:`` / ``DLM:`` (didlib QR flows, multi-part codes put together first): a verifier's request code
  (consent, then an answer code) or a person's one-way code (a peer check);
- ``mdoc:`` (ISO 18013-5 8.2.2.3): another wallet's engagement, which only a reader opens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from didlib.errors import DecodeError
from didlib.oid4vci import OFFER_SCHEME
from didlib.oid4vp import SCHEME as OPENID4VP
from didlib.presentation.qrflows import OneWay, RequestPayload, parse_payload
from didlib.qr import Assembler
from didlib.session.engagement import URI_PREFIX as ENGAGEMENT

__all__ = ["Code", "CodeReader", "Kind"]

Kind = Literal["offer", "online", "request", "peer"]


@dataclass(frozen=True)
class Code:
    kind: Kind
    text: str


@dataclass
class CodeReader:
    """Sorts scanned texts; collects the parts of multi-part codes until one is whole."""

    _parts: Assembler = field(default_factory=Assembler)

    def read(self, text: str) -> Code | None:
        """The code ``text`` completes (None while parts are missing). A code the wallet has no use for is a
        :class:`DecodeError` whose message says what it is, for the scanner screen."""
        text = text.strip()
        if text.startswith(OFFER_SCHEME):
            return Code("offer", text)
        if text.startswith(OPENID4VP):
            return Code("online", text)
        if text.startswith(ENGAGEMENT):
            raise DecodeError("this is another wallet's code for a reader: scan it with a verifier app",
                              code="not_for_a_wallet")
        try:
            whole = self._parts.add(text)
        except DecodeError:
            raise DecodeError("this is not a code the wallet can read", code="not_for_a_wallet") from None
        if whole is None:
            return None
        payload = parse_payload(whole)
        if isinstance(payload, RequestPayload):
            return Code("request", whole)
        if isinstance(payload, OneWay):
            return Code("peer", whole)
        raise DecodeError("this is a wallet's answer: it is for the verifier's camera", code="not_for_a_wallet")

    def progress(self) -> str:
        """"Part 1 of 3 read" while a multi-part code is being collected, else ""."""
        seen = max(self._parts.progress().values(), default=None)
        return f"Part {seen[0]} of {seen[1]} read: hold the phone there" if seen else ""

    def reset(self) -> None:
        self._parts = Assembler()
