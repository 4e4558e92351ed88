"""What a wallet's consent screen says, in plain words, for every kind of request a wallet answers.

ISO 18013-5 requests (a verifier's challenge QR, a proximity session: 8.3.2.1.2.1, ``intentToRetain``) and
OpenID4VP DCQL requests (``intent_to_retain``, 1.0 section 6.3 and B.3.1) become one :class:`ConsentView`:
who asks, checked by which reader CA; which of the holder's credentials answers; one line per element with
its plain label (:mod:`didlib.mdoc.labels`), whether the verifier keeps it, and whether it may have it at all
(an element beyond the reader certificate's entitlement is shown as refused and never sent); and back from
the ticked items to the consent mapping the answer functions take.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from didlib.mdoc.labels import label, phrase
from didlib.mdoc.registry import PROFILES
from didlib.oid4vp.dcql import doctype_ns
from didlib.oid4vp.wallet import ParsedRequest
from didlib.pki import common_name_in
from didlib.session.holder import RequestedDocument
from didlib.session.reader_auth import ReaderIdentity

__all__ = ["ConsentItem", "ConsentView", "asker", "mdoc_consent", "online_consent", "title_of"]

UNVERIFIED = "A reader that did not prove who it is"


@dataclass(frozen=True)
class ConsentItem:
    """One requested element: what it is called, whether the verifier keeps it, whether it may have it."""

    doctype: str
    namespace: str
    element: str
    label: str  # "Over 18", "Photo"
    phrase: str  # "that you are over 18", "your photo"
    kept: bool  # intentToRetain / intent_to_retain: the verifier says it will keep it
    allowed: bool  # False: beyond the reader's entitlement, shown as refused and never sent


@dataclass
class ConsentView:
    """Everything the consent screen shows for one request.

    ``choosable``: the holder may untick items (ISO 18013-5 requests); an OpenID4VP request is answered as the
    query allows or declined as a whole. ``missing``: titles of credentials asked for that the wallet does not
    hold. ``credential`` is empty when nothing the wallet holds answers."""

    asker: str
    credential: str
    items: list[ConsentItem]
    warnings: list[str] = field(default_factory=list)
    choosable: bool = True
    missing: list[str] = field(default_factory=list)
    purposes: list[str] = field(default_factory=list)

    @property
    def wants(self) -> list[str]:
        """What they ask for and may have, in plain words, once each ("your name" for both names)."""
        return list(dict.fromkeys(i.phrase for i in self.items if i.allowed))

    @property
    def keeps(self) -> list[str]:
        """What they say they will keep, of what they may have."""
        return list(dict.fromkeys(i.phrase for i in self.items if i.allowed and i.kept))

    @property
    def refused(self) -> list[str]:
        """What they ask for beyond their entitlement: never sent, whatever the holder ticks."""
        return list(dict.fromkeys(i.phrase for i in self.items if not i.allowed))

    def sentence(self) -> str:
        """ "Example Shop (checked by DVLA Reader CA) wants to know: that you are over 18; your photo"."""
        return f"{self.asker} wants to know: {'; '.join(self.wants) or 'nothing it may ask for'}"

    def keeps_line(self) -> str:
        """ "They will keep: your name" ("" when they keep nothing)."""
        return f"They will keep: {', '.join(self.keeps)}" if self.keeps else ""

    def consent(self, ticked: Iterable[ConsentItem] | None = None) -> dict[str, dict[str, list[str]]]:
        """The consent mapping (docType -> namespace -> elements) the wallet's answer functions take, from the
        items the holder left ticked (all by default); refused items are left out whatever was ticked."""
        chosen = self.items if ticked is None else list(ticked)
        mapping: dict[str, dict[str, list[str]]] = {}
        for item in self.items:
            if item.allowed and item in chosen:
                mapping.setdefault(item.doctype, {}).setdefault(item.namespace, []).append(item.element)
        return mapping


def title_of(doctype: str) -> str:
    """The credential's name on its card ("Proof of age"), or its docType when the registry does not know it."""
    profile = PROFILES.get(doctype)
    return profile.title if profile else doctype


def asker(reader: ReaderIdentity | None, origin: str | None = None, fallback: str = UNVERIFIED) -> str:
    """Who asks, as proven: "Example Shop (checked by DVLA Reader CA)", with the website's origin when the
    platform asserted one ("Example Shop at https://shop.example (checked by ...)"); without a reader
    certificate only what is known: the origin, else ``fallback``."""
    if reader is None:
        return origin or fallback
    where = f" at {origin}" if origin else ""
    return f"{reader.name}{where} (checked by {common_name_in(reader.certificate.issuer)})"


def mdoc_consent(reader: ReaderIdentity | None, documents: Sequence[RequestedDocument]) -> ConsentView:
    """The consent view of an ISO 18013-5 request (a challenge QR or a proximity session): one item per
    requested element of the documents the wallet holds; ``kept`` is the request's intentToRetain."""
    items = [
        ConsentItem(doc.doctype, ns, element, label(element), phrase(element), bool(keep),
                    element not in doc.beyond_entitlement.get(ns, []))
        for doc in documents if doc.held
        for ns, elements in doc.elements.items()
        for element, keep in elements.items()
    ]
    return ConsentView(
        asker(reader), " and ".join(dict.fromkeys(title_of(d.doctype) for d in documents if d.held)), items,
        reader.consent_warnings() if reader is not None else [], True,
        [title_of(d.doctype) for d in documents if not d.held],
    )


def online_consent(request: ParsedRequest, answering: Sequence[str]) -> ConsentView:
    """The consent view of an OpenID4VP request, given the docTypes of the credentials that will answer it
    (the wallet's choice among the query's options; empty when none does). Items are the claims asked of
    those credentials (of every credential queried when none answers), once each."""
    items: dict[tuple[str, str, str], ConsentItem] = {}
    beyond = set(request.beyond_entitlement)
    for query in request.claims["dcql_query"]["credentials"]:
        for claim in query.get("claims", []):
            path = claim.get("path", [])
            place = doctype_ns(query, path)
            if place is None:
                name = str(next((p for p in reversed(path) if isinstance(p, str)), path[-1] if path else "?"))
                place = ("", "", name)
            if answering and place[0] not in answering:
                continue
            items.setdefault(place, ConsentItem(
                *place, label(place[2]), phrase(place[2]), claim.get("intent_to_retain") is True,
                ".".join(str(p) for p in path) not in beyond))
    warnings = request.reader.consent_warnings() if request.reader is not None else []
    return ConsentView(asker(request.reader, request.origin, request.client_id),
                       " and ".join(dict.fromkeys(title_of(d) for d in answering)), list(items.values()),
                       warnings, False, [], request.purposes())
