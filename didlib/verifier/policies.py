"""What a check decides, in the words staff and volunteers read: verdicts and the three policies.

A policy says which documents and elements to ask for, and turns a verified presentation into accept,
reject or refer-to-a-person, with reasons in plain words and only the data its screen needs.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

from didlib.keys import same_public_key
from didlib.mdoc.registry import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL, NS_AGE, NS_DBS, NS_ISO, VOLUNTEER_RETAINED
from didlib.mdoc.verifier import DocumentResult, VerificationResult
from didlib.verification import Problem

__all__ = ["Verdict", "AgePolicy", "VolunteerPolicy", "PeerPolicy", "Policy", "plain_reason", "policy_from_text"]

ACCEPT, REJECT, REFER = "accept", "reject", "refer"

# Stable codes -> what a cashier or volunteer coordinator reads.
PLAIN: dict[str, str] = {
    "replayed": "this code was already used",
    "too_old": "this code is too old: ask for a fresh one",
    "from_the_future": "this code's time is wrong: check the phone's clock",
    "untrusted_issuer": "issuer not trusted",
    "unknown_document_signer": "issuer not trusted (not on the trust list)",
    "certificate_expired": "the issuer's certificate has expired",
    "mso_expired": "the credential has expired",
    "mso_not_yet_valid": "the credential is not valid yet",
    "status_invalid": "this {document} has been revoked by its issuer",
    "status_suspended": "this {document} has been suspended by its issuer",
    "digest_mismatch": "the code has been altered",
    "bad_signature": "the code has been altered",
    "duplicate_element": "the code has been altered",
    "unknown_digest": "the code has been altered",
    "doctype_mismatch": "the code has been altered",
    "device_auth_failed": "the code was not made by the phone the credential belongs to",
    "malformed": "this is not a readable credential code",
    "not_didlib_qr": "this is not a credential code",
    "decryption_failed": "the answer is not for this check",
    "challenge_expired": "the request expired: start the check again",
    "session_terminated": "the customer ended the check on their phone",
    "connection_lost": "the connection to the phone was lost: try again",
    "timeout": "the phone did not answer in time: try again",
    "no_adapter": "the phone offers only Bluetooth and this till has no Bluetooth adapter",
    "unreachable": "the phone could not be reached on the local network",
    "session_status": "the phone refused the check",
}


# What each document is called on a till's screen (a revoked proof of age is not a revoked licence).
DOCUMENT_NAMES = {DOCTYPE_AGE: "proof of age", DOCTYPE_MDL: "driving licence", DOCTYPE_DBS: "DBS check"}


def plain_reason(problem: Problem, document: str = "credential") -> str:
    return PLAIN.get(problem.code, problem.message).replace("{document}", document)


@dataclass
class Verdict:
    """A decision for a person at a till: accept, reject or refer, a headline, plain-language reasons,
    the stable codes behind them, and only what the policy's screen shows."""

    decision: str
    headline: str
    reasons: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    display: dict[str, Any] = field(default_factory=dict)  # only what this policy's screen shows
    portrait_prominent: bool = False
    issuer: str | None = None
    valid_until: dt.datetime | None = None
    data_age: dict[str, int | None] = field(default_factory=dict)  # seconds, of the trust list and status data
    stale: bool = False
    # for an organisation's register (VolunteerPolicy with ``register``): the retained elements and each
    # credential's status reference; never shown, gone with the verdict
    kept: dict[str, Any] = field(default_factory=dict, repr=False)
    action: str = ""  # what staff do now, on a red or amber screen ("Do not sell. Ask for another proof of age.")

    def as_json(self) -> dict[str, Any]:
        """The verdict as ``didlib check`` prints it (binary display values as base64)."""
        display = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in self.display.items()}
        return {
            "verdict": self.decision,
            "headline": self.headline,
            "reasons": self.reasons,
            "codes": self.codes,
            "display": display,
            "portraitProminent": self.portrait_prominent,
            "issuer": self.issuer,
            "validUntil": self.valid_until.strftime("%Y-%m-%dT%H:%M:%SZ") if self.valid_until else None,
            "dataAgeSeconds": self.data_age,
            "stale": self.stale,
            "action": self.action,
        }


def rejected(problems: list[Problem], headline: str = "NOT VERIFIED", document: str = "credential") -> Verdict:
    reasons = list(dict.fromkeys(plain_reason(p, document) for p in problems))
    return Verdict(REJECT, headline, reasons, [p.code for p in problems])


def refused(result: VerificationResult) -> Verdict:
    """A presentation that failed verification, its revoked or suspended documents named."""
    named = [DOCUMENT_NAMES.get(d.doctype or "", "credential") for d in result.documents
             if d.status is not None and d.status.state in ("invalid", "suspended")]
    return rejected(result.errors, document=" and ".join(dict.fromkeys(named)) or "credential")


def _status_note(doc: DocumentResult, verdict: Verdict) -> None:
    status = doc.status
    if status is None:
        return
    if status.state == "unknown":
        verdict.reasons.append("revocation could not be checked (no current status list)")
        verdict.codes.append("status_unknown")
    elif status.stale:
        verdict.reasons.append("revocation data is out of date")
        verdict.codes.append("status_stale")
        verdict.stale = True
    if status.age is not None:
        verdict.data_age["status"] = int(status.age.total_seconds())


class Policy:
    """What a check decides from a verified presentation: the age check, the volunteer check, the peer
    check. The engine verifies; a policy judges."""

    name = "policy"
    # What staff do on a red (reject) or amber (refer) screen, in the words of the job.
    actions: ClassVar[dict[str, str]] = {}

    def action(self, decision: str) -> str:
        """What staff do on this decision's screen, in the words of the job (empty for accept)."""
        return self.actions.get(decision, "")

    def request(self) -> dict[str, dict[str, dict[str, bool]]]:
        """What the challenge flow asks for: docType -> namespace -> element -> intent to retain."""
        raise NotImplementedError

    def decide(self, result: VerificationResult) -> Verdict:
        """The verdict on a verification result: accept, reject or refer, with reasons for people and codes."""
        raise NotImplementedError


def _document(result: VerificationResult, *doctypes: str) -> DocumentResult | None:
    return next((d for d in result.documents if d.doctype in doctypes and d.valid), None)


@dataclass
class AgePolicy(Policy):
    """Over NN. With ``challenge25`` (the UK retail practice) the portrait is shown large for a face check."""

    threshold: int = 18
    challenge25: bool = True
    actions: ClassVar[dict[str, str]] = {
        REJECT: "Do not sell. Ask for another proof of age.",
        REFER: "Do not sell yet. Check a photo ID, or ask for another proof of age.",
    }

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"age:{self.threshold}"

    def request(self) -> dict[str, dict[str, dict[str, bool]]]:
        element = f"age_over_{self.threshold:02d}"
        return {DOCTYPE_AGE: {NS_AGE: {element: False, "portrait": False}}}

    def decide(self, result: VerificationResult) -> Verdict:
        if not result.valid:
            return refused(result)
        doc = _document(result, DOCTYPE_AGE, DOCTYPE_MDL)
        if doc is None:
            return Verdict(REFER, "CHECK ID", ["the code holds no proof of age or driving licence"], ["wrong_document"])
        elements = doc.elements.get(NS_AGE if doc.doctype == DOCTYPE_AGE else NS_ISO, {})
        over = elements.get(f"age_over_{self.threshold:02d}")
        portrait = elements.get("portrait")
        if over is False:
            verdict = Verdict(
                REJECT, f"UNDER {self.threshold}", [f"the holder is under {self.threshold}"], ["under_age"]
            )
        elif over is True:
            verdict = Verdict(ACCEPT, f"OVER {self.threshold}", [], [])
        else:
            verdict = Verdict(
                REFER,
                "CHECK ID",
                [f"the code does not say whether the holder is over {self.threshold}"],
                ["age_not_shown"],
            )
        if portrait is None and verdict.decision == ACCEPT:
            verdict = Verdict(REFER, "CHECK ID", ["no portrait to compare with the customer"], ["no_portrait"])
        verdict.display = {f"over_{self.threshold}": over, **({"portrait": portrait} if portrait else {})}
        verdict.portrait_prominent = self.challenge25 and self.threshold <= 25
        if verdict.portrait_prominent and verdict.decision == ACCEPT:
            verdict.reasons.append("Challenge 25: compare the face with the portrait")
        verdict.issuer, verdict.valid_until = doc.issuer, doc.valid_until
        _status_note(doc, verdict)
        return verdict


DBS_LEVELS = ("basic", "standard", "enhanced", "enhanced_barred_lists")


@dataclass
class VolunteerPolicy(Policy):
    """Identity from the driving licence plus a DBS check of at least ``minimum_level`` for ``workforce``,
    both held by the same phone (the DBS credential is bound to the licence's device key)."""

    minimum_level: str = "enhanced_barred_lists"
    workforce: str = "child"
    # "add": the organisation keeps the volunteer in its register (the elements it keeps are asked with
    # intent_to_retain, which the wallet shows); "lookup": it compares with its register and keeps nothing new
    register: str = ""
    name = "volunteer"
    actions: ClassVar[dict[str, str]] = {
        REJECT: "Do not let them start. Tell your safeguarding lead.",
        REFER: "Do not let them start yet. Your safeguarding lead must review the DBS certificate.",
    }

    def request(self) -> dict[str, dict[str, dict[str, bool]]]:
        identity = {e: False for e in ("family_name", "given_name", "birth_date", "portrait")}
        dbs = {
            e: False
            for e in (
                "family_name",
                "given_name",
                "birth_date",
                "certificate_level",
                "workforce",
                "outcome",
                "barred_list_children",
                "barred_list_adults",
                "update_service_subscribed",
                "update_service_checked",
                "certificate_number",
            )
        }
        request = {DOCTYPE_MDL: {NS_ISO: identity}, DOCTYPE_DBS: {NS_DBS: dbs}}
        if self.register == "add":
            for doctype, namespaces in request.items():
                for ns, elements in namespaces.items():
                    elements.update(dict.fromkeys(set(elements) & set(VOLUNTEER_RETAINED[doctype][ns]), True))
        return request

    def decide(self, result: VerificationResult) -> Verdict:
        licence, dbs = _document(result, DOCTYPE_MDL), _document(result, DOCTYPE_DBS)
        if licence is None or dbs is None:
            if result.errors:
                return refused(result)
            missing = "driving licence" if licence is None else "DBS check"
            return Verdict(REFER, "NOT COMPLETE", [f"the code holds no valid {missing}"], ["document_missing"])
        if not result.valid:
            return refused(result)
        who, check = licence.elements.get(NS_ISO, {}), dbs.elements.get(NS_DBS, {})
        same_key = (
            licence.device_key is not None
            and dbs.device_key is not None
            and same_public_key(licence.device_key, dbs.device_key)
        )
        same_person = all(
            str(who.get(k, "")).casefold() == str(check.get(k, "")).casefold() and k in who
            for k in ("family_name", "given_name", "birth_date")
        )
        display = {
            "name": f"{who.get('given_name', '')} {who.get('family_name', '')}".strip(),
            "portrait": who.get("portrait"),
            "dbs_level": check.get("certificate_level"),
            "workforce": check.get("workforce"),
            "barred_list_children": check.get("barred_list_children"),
            "barred_list_adults": check.get("barred_list_adults"),
            "update_service_checked": str(check.get("update_service_checked") or ""),
            "same_holder_proven": same_key,
        }
        verdict = self._decision(check, same_key, same_person)
        verdict.display = {k: v for k, v in display.items() if v not in (None, "")} | {"same_holder_proven": same_key}
        verdict.portrait_prominent = True
        verdict.issuer, verdict.valid_until = dbs.issuer, dbs.valid_until
        for doc in (licence, dbs):
            _status_note(doc, verdict)
        if self.register and same_key and same_person:
            verdict.kept = {
                **{e: who.get(e) for e in VOLUNTEER_RETAINED[DOCTYPE_MDL][NS_ISO]},
                **{e: check.get(e) for e in VOLUNTEER_RETAINED[DOCTYPE_DBS][NS_DBS]},
                "credentials": {kind: {"status": doc.mso.status if doc.mso is not None else None,
                                       "valid_until": doc.valid_until} for kind, doc in (("licence", licence),
                                                                                         ("dbs", dbs))},
            }
        return verdict

    def _decision(self, check: dict[str, Any], same_key: bool, same_person: bool) -> Verdict:
        if not same_key:
            return Verdict(
                REJECT,
                "NOT VERIFIED",
                ["the DBS check is not proven to belong to the licence holder"],
                ["not_same_holder"],
            )
        if not same_person:
            return Verdict(
                REJECT,
                "NOT VERIFIED",
                ["names or birth dates differ between licence and DBS check"],
                ["identity_mismatch"],
            )
        barred = [k for k in ("barred_list_children", "barred_list_adults") if check.get(k) == "barred"]
        if barred:
            return Verdict(REJECT, "BARRED", ["the person is on a barred list"], ["barred"])
        level = check.get("certificate_level")
        if level not in DBS_LEVELS or DBS_LEVELS.index(level) < DBS_LEVELS.index(self.minimum_level):
            return Verdict(
                REFER, "CHECK LEVEL", [f"DBS level {level} is below {self.minimum_level}"], ["level_too_low"]
            )
        if check.get("workforce") not in (self.workforce, "child_and_adult"):
            return Verdict(
                REFER,
                "CHECK WORKFORCE",
                [f"the DBS check is for the {check.get('workforce')} workforce"],
                ["wrong_workforce"],
            )
        if check.get("outcome") != "clear":
            return Verdict(
                REFER,
                "SEE CERTIFICATE",
                ["the certificate discloses information: a person must review it"],
                ["information_disclosed"],
            )
        return Verdict(ACCEPT, "VOLUNTEER CLEARED", ["same person as the licence: proven"], [])


@dataclass
class PeerPolicy(Policy):
    """Car sharing, room rental: what the other person chose to show of their licence (name, photo, over 18:
    ``WalletModel.share_identity``), or what this verifier's challenge asked for (name and photo).

    A photo ties what is shown to the face in front of you: without one the verdict is "check a photo ID",
    still with what was verified and its issuer. Something asked for and withheld is the same."""

    name = "peer"
    actions: ClassVar[dict[str, str]] = {
        REJECT: "Do not hand over. Ask for another proof of identity.",
        REFER: "Do not hand over yet. Check a photo ID.",
    }

    def request(self) -> dict[str, dict[str, dict[str, bool]]]:
        return {DOCTYPE_MDL: {NS_ISO: {"given_name": False, "family_name": False, "portrait": False}}}

    def decide(self, result: VerificationResult) -> Verdict:
        if not result.valid:
            return refused(result)
        doc = _document(result, DOCTYPE_MDL)
        if doc is None:
            return Verdict(REFER, "CHECK ID", ["the code holds no driving licence"], ["wrong_document"])
        who = doc.elements.get(NS_ISO, {})
        name = f"{who.get('given_name', '')} {who.get('family_name', '')}".strip()
        shown: dict[str, Any] = {"name": name} if name else {}
        if isinstance(who.get("age_over_18"), bool):
            shown["over_18"] = who["age_over_18"]
        if "portrait" in who:
            shown["portrait"] = who["portrait"]
        withheld = {"given_name", "family_name", "portrait"} & set(doc.not_returned.get(NS_ISO, []))
        if not shown or withheld:
            return Verdict(REFER, "CHECK ID", ["the code does not show what was asked for"], ["incomplete"],
                           shown, False, doc.issuer, doc.valid_until)
        if "portrait" not in shown:
            verdict = Verdict(REFER, "CHECK ID", ["the code shows no photo: check a photo ID"], ["no_portrait"],
                              shown, False, doc.issuer, doc.valid_until)
        elif shown.get("over_18") is False:
            verdict = Verdict(REFER, "NOT OVER 18", ["the licence says they are not over 18"], ["under_age"],
                              shown, True, doc.issuer, doc.valid_until)
        else:
            headline = "IDENTITY VERIFIED" if name else "OVER 18" if "over_18" in shown else "PHOTO VERIFIED"
            verdict = Verdict(ACCEPT, headline, [], [], shown, True, doc.issuer, doc.valid_until)
        _status_note(doc, verdict)
        return verdict


def policy_from_text(text: str) -> Policy:
    """``age:18``, ``age:25`` (Challenge 25 always on), ``volunteer``, ``peer``."""
    kind, _, arg = text.partition(":")
    if kind == "age" and arg in ("16", "18", "21", "25"):
        return AgePolicy(int(arg))
    if kind == "volunteer" and not arg:
        return VolunteerPolicy()
    if kind == "peer" and not arg:
        return PeerPolicy()
    from didlib.errors import UsageError

    raise UsageError(f"unknown policy {text!r}: use age:16, age:18, age:21, age:25, volunteer or peer")
