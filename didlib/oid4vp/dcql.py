"""DCQL, the Digital Credentials Query Language of OpenID4VP 1.0 section 6: building, checking and
interpreting queries."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from didlib.errors import DecodeError, DidlibError
from didlib.jose import b64url_decode, b64url_encode
from didlib.mdoc.registry import (
    DOCTYPE_AGE,
    DOCTYPE_DBS,
    DOCTYPE_MDL,
    DOCTYPE_TRAINING,
    NS_AGE,
    NS_DBS,
    NS_ISO,
    NS_TRAINING,
    PROFILES,
    VOLUNTEER_RETAINED,
)
from didlib.sdjwt.profiles import DOCTYPE_FOR_VCT, VCT

__all__ = [
    "SD_JWT",
    "MDOC",
    "MAX_QUERIES",
    "MAX_CLAIMS",
    "MAX_PATH",
    "VOLUNTEER_ASKS",
    "Held",
    "age_query",
    "volunteer_entitlement",
    "volunteer_query",
    "check_dcql",
    "doctype_ns",
    "authority_key_ids",
    "claim_values",
    "claim_satisfied",
    "selected_claims",
    "credential_matches",
    "choose_queries",
    "answers_sets",
    "select",
]

SD_JWT = "dc+sd-jwt"
MDOC = "mso_mdoc"
MAX_QUERIES = 32  # credential queries in one request
MAX_CLAIMS = 64  # claims queries in one credential query
MAX_PATH = 16  # components of one claims path pointer
_ID = re.compile(r"[A-Za-z0-9_-]+")

# (credential query, claims path) -> whether the wallet may and can disclose that claim
Disclosable = Callable[[Mapping[str, Any], Sequence[Any]], bool]


def age_query(threshold: int = 18) -> dict[str, Any]:
    """DCQL for "over NN", from a proof of age or a driving licence, as SD-JWT VC or mdoc; nothing else."""
    element = f"age_over_{threshold:02d}"
    return {
        "credentials": [
            {
                "id": "age_sd_jwt",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": [VCT[DOCTYPE_AGE], VCT[DOCTYPE_MDL]]},
                "claims": [{"path": [element]}],
            },
            {
                "id": "age_mdoc",
                "format": "mso_mdoc",
                "meta": {"doctype_value": DOCTYPE_AGE},
                "claims": [{"path": [NS_AGE, element], "intent_to_retain": False}],
            },
            {
                "id": "licence_mdoc",
                "format": "mso_mdoc",
                "meta": {"doctype_value": DOCTYPE_MDL},
                "claims": [{"path": [NS_ISO, element], "intent_to_retain": False}],
            },
        ],
        "credential_sets": [{"options": [["age_sd_jwt"], ["age_mdoc"], ["licence_mdoc"]], "required": True}],
    }


# What a youth organisation's website asks of a volunteer: query id -> (docType, namespace, elements).
VOLUNTEER_ASKS: dict[str, tuple[str, str, list[str]]] = {
    "licence": (DOCTYPE_MDL, NS_ISO, ["given_name", "family_name", "birth_date", "portrait"]),
    "dbs": (DOCTYPE_DBS, NS_DBS, ["certificate_level", "workforce", "outcome", "certificate_number", "issue_date"]),
    "training": (DOCTYPE_TRAINING, NS_TRAINING, ["level", "renewal_date"]),
}


def volunteer_entitlement() -> dict[str, dict[str, list[str]]]:
    """The reader-certificate entitlement a youth organisation's website needs for :func:`volunteer_query`."""
    return {doctype: {ns: list(elements)} for doctype, ns, elements in VOLUNTEER_ASKS.values()}


def volunteer_query(purpose: str, retention: str) -> dict[str, Any]:
    """DCQL for a volunteer's application: the driving licence (name, birth date, portrait) and the DBS check,
    required, and the safeguarding training, optional; as mdocs, each element with ``intent_to_retain`` true
    when the organisation's register keeps it (``VOLUNTEER_RETAINED``; OpenID4VP 1.0 B.3.1, ISO 18013-5
    8.3.2.1.2.1).

    ``purpose`` and ``retention`` go in each credential set's ``purpose`` (defined by OpenID4VP drafts 22-25
    for the wallet to show, dropped from 1.0; a 1.0 wallet ignores it as an unknown member, section 6).
    """
    said = f"{purpose} Kept: {retention}"
    return {
        "credentials": [
            {
                "id": query_id,
                "format": MDOC,
                "meta": {"doctype_value": doctype},
                "claims": [{"path": [ns, element], "intent_to_retain": element in VOLUNTEER_RETAINED[doctype][ns]}
                           for element in elements],
            }
            for query_id, (doctype, ns, elements) in VOLUNTEER_ASKS.items()
        ],
        "credential_sets": [
            {"options": [["licence", "dbs"]], "required": True, "purpose": said},
            {"options": [["training"]], "required": False, "purpose": said},
        ],
    }


def check_dcql(dcql: Any) -> None:
    """Check a DCQL query's shape (OpenID4VP 1.0 6.1-6.4, B.2.3, B.3.5); raises ``bad_dcql``.

    Unknown members are ignored, as 6 requires. Known members are checked for their type and references
    (ids, claim ids in ``claim_sets``, query ids in ``credential_sets``). A format or trusted-authorities
    type this wallet does not hold is not an error: such a query simply matches no credential.
    """
    if not isinstance(dcql, dict) or not isinstance(dcql.get("credentials"), list) or not dcql["credentials"]:
        raise DecodeError("dcql_query needs a non-empty credentials array", code="bad_dcql")
    if len(dcql["credentials"]) > MAX_QUERIES:
        raise DecodeError(f"dcql_query asks for more than {MAX_QUERIES} credentials", code="bad_dcql")
    ids: set[str] = set()
    for query in dcql["credentials"]:
        if not isinstance(query, dict) or not _is_id(query.get("id")) or query["id"] in ids:
            raise DecodeError("each DCQL credential query needs a unique id of [A-Za-z0-9_-]", code="bad_dcql")
        ids.add(query["id"])
        _check_credential_query(query)
    sets = dcql.get("credential_sets")
    if sets is None:
        return
    if not isinstance(sets, list) or not sets:
        raise DecodeError("DCQL credential_sets must be a non-empty array", code="bad_dcql")
    for credential_set in sets:
        options = credential_set.get("options") if isinstance(credential_set, dict) else None
        if not isinstance(options, list) or not options or not all(
            isinstance(o, list) and o and all(isinstance(i, str) for i in o) and set(o) <= ids for o in options
        ):
            raise DecodeError("DCQL credential_sets options must name the credential queries", code="bad_dcql")
        if not isinstance(credential_set.get("required", True), bool):
            raise DecodeError("DCQL credential_sets required must be a boolean", code="bad_dcql")


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _check_credential_query(query: Mapping[str, Any]) -> None:
    where = f"DCQL query {query['id']!r}"
    meta = query.get("meta")
    fmt = query.get("format")
    if not isinstance(fmt, str) or not isinstance(meta, dict):
        raise DecodeError(f"{where} needs a format and a meta object", code="bad_dcql")
    if fmt == SD_JWT and not (
        isinstance(meta.get("vct_values"), list)
        and meta["vct_values"]
        and all(isinstance(v, str) for v in meta["vct_values"])
    ):
        raise DecodeError(f"{where}: dc+sd-jwt needs meta.vct_values, a non-empty array of strings", code="bad_dcql")
    if fmt == MDOC and not isinstance(meta.get("doctype_value"), str):
        raise DecodeError(f"{where}: mso_mdoc needs meta.doctype_value", code="bad_dcql")
    for name in ("multiple", "require_cryptographic_holder_binding"):
        if not isinstance(query.get(name, False), bool):
            raise DecodeError(f"{where}: {name} must be a boolean", code="bad_dcql")
    authorities = query.get("trusted_authorities")
    if authorities is not None and not (
        isinstance(authorities, list)
        and authorities
        and all(
            isinstance(a, dict)
            and isinstance(a.get("type"), str)
            and isinstance(a.get("values"), list)
            and a["values"]
            and all(isinstance(v, str) for v in a["values"])
            for a in authorities
        )
    ):
        raise DecodeError(f"{where}: trusted_authorities must be objects with a type and values", code="bad_dcql")
    claims = query.get("claims")
    claim_sets = query.get("claim_sets")
    if claims is None:
        if claim_sets is not None:
            raise DecodeError(f"{where}: claim_sets without claims", code="bad_dcql")
        return
    if not isinstance(claims, list) or not claims or len(claims) > MAX_CLAIMS:
        raise DecodeError(f"{where}: claims must be a non-empty array of at most {MAX_CLAIMS}", code="bad_dcql")
    claim_ids: set[str] = set()
    for claim in claims:
        if not isinstance(claim, dict) or not _is_path(claim.get("path"), fmt):
            raise DecodeError(f"{where}: each claim needs a claims path pointer", code="bad_dcql")
        if "id" in claim or claim_sets is not None:
            if not _is_id(claim.get("id")) or claim["id"] in claim_ids:
                raise DecodeError(f"{where}: claim ids must be unique [A-Za-z0-9_-] strings", code="bad_dcql")
            claim_ids.add(claim["id"])
        values = claim.get("values")
        if values is not None and not (
            isinstance(values, list) and values and all(isinstance(v, (str, int)) for v in values)
        ):
            raise DecodeError(f"{where}: values must be strings, integers or booleans", code="bad_dcql")
    if claim_sets is not None and not (
        isinstance(claim_sets, list)
        and claim_sets
        and all(isinstance(o, list) and o and all(i in claim_ids for i in o) for o in claim_sets)
    ):
        raise DecodeError(f"{where}: claim_sets must list options of claim ids", code="bad_dcql")


def _is_path(path: Any, fmt: str) -> bool:
    """A claims path pointer (7): strings, nulls and non-negative integers; for mdoc, two strings (7.2)."""
    if not isinstance(path, list) or not path or len(path) > MAX_PATH:
        return False
    if fmt == MDOC:
        return len(path) == 2 and all(isinstance(p, str) for p in path)
    return all(
        p is None or isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool) and p >= 0) for p in path
    )


def doctype_ns(query: Mapping[str, Any], path: Sequence[str]) -> tuple[str, str, str] | None:
    """(docType, namespace, element) a DCQL claim path means, for entitlement checks and mdoc requests."""
    if query.get("format") == "mso_mdoc":
        return (query["meta"]["doctype_value"], path[0], path[-1]) if len(path) == 2 else None
    for vct in query.get("meta", {}).get("vct_values", []):
        doctype = DOCTYPE_FOR_VCT.get(vct)
        if doctype:
            for ns, elements in PROFILES[doctype].namespaces.items():
                if path[-1] in elements:
                    return doctype, ns, path[-1]
    return None



# ------------------------------------------------------------------------------------ evaluating a query
@dataclass(frozen=True)
class Held:
    """A credential as DCQL sees it: format, type (``vct`` or docType), claims and the AKIs of its issuer chain.

    ``claims`` is the JSON object of an SD-JWT VC (all disclosures applied) or ``{namespace: {element:
    value}}`` of an mdoc.
    """

    format: str
    type: str
    claims: Mapping[str, Any]
    authority_key_ids: frozenset[bytes]


def authority_key_ids(chain: Iterable[x509.Certificate]) -> frozenset[bytes]:
    """The AuthorityKeyIdentifier key identifiers of a certificate chain, what ``aki`` queries match (6.1.1)."""
    found = set()
    for cert in chain:
        try:
            aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        except x509.ExtensionNotFound:
            continue
        if aki:
            found.add(aki)
    return frozenset(found)


def claim_values(held: Held, path: Sequence[Any]) -> list[Any]:
    """Process a claims path pointer (7.1 for JSON, 7.2 for mdoc): the selected values, [] on an error."""
    if held.format == MDOC:
        namespace = held.claims.get(path[0]) if len(path) == 2 else None
        return [namespace[path[1]]] if isinstance(namespace, Mapping) and path[1] in namespace else []
    selected: list[Any] = [held.claims]
    for component in path:
        following: list[Any] = []
        for node in selected:
            if isinstance(component, str):
                if not isinstance(node, Mapping):
                    return []
                if component in node:
                    following.append(node[component])
            elif not isinstance(node, list):
                return []
            elif component is None:
                following.extend(node)
            elif component < len(node):
                following.append(node[component])
        selected = following
    return selected


def _as_json(value: Any) -> Any:
    """An mdoc value as JSON for value matching (6.3, RFC 8949 6.1): dates as their text, bytes base64url."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return b64url_encode(value)
    return value


def claim_satisfied(held: Held, claim: Mapping[str, Any]) -> bool:
    """The claim exists and, when ``values`` is given, matches one of them in type and value (6.3, 6.4.1)."""
    found = claim_values(held, claim["path"])
    if not found:
        return False
    wanted = claim.get("values")
    if wanted is None:
        return True
    return any(type(_as_json(v)) is type(w) and _as_json(v) == w for v in found for w in wanted)


def selected_claims(
    query: Mapping[str, Any], held: Held, can_disclose: Disclosable = lambda _q, _p: True
) -> list[Mapping[str, Any]] | None:
    """The claims queries to disclose from ``held`` (6.4.1), or None when it cannot answer this query.

    No ``claims``: nothing selectively disclosable. ``claims`` alone: all of them. With ``claim_sets``: the
    first option (the verifier's order of preference) whose claims all exist and match, and only that one.
    ``can_disclose`` lets a wallet treat a claim it may not or cannot disclose as absent.
    """
    claims = query.get("claims")
    if claims is None:
        return []
    usable = [claim_satisfied(held, c) and can_disclose(query, c["path"]) for c in claims]
    if "claim_sets" not in query:
        return list(claims) if all(usable) else None
    by_id = {c["id"]: (c, ok) for c, ok in zip(claims, usable, strict=True)}
    for option in query["claim_sets"]:
        if all(by_id[i][1] for i in option):
            return [by_id[i][0] for i in option]
    return None


def credential_matches(query: Mapping[str, Any], held: Held) -> bool:
    """Format, ``meta`` (``vct_values`` / ``doctype_value``) and ``trusted_authorities`` (type ``aki``; a type
    this implementation cannot evaluate matches nothing) of one credential query (6.1, 6.1.1, B.2.3, B.3.5)."""
    if held.format != query["format"]:
        return False
    meta = query["meta"]
    if held.format == SD_JWT and held.type not in meta["vct_values"]:
        return False
    if held.format == MDOC and held.type != meta["doctype_value"]:
        return False
    authorities = query.get("trusted_authorities")
    if authorities is None:
        return True
    wanted = {_key_id(v) for a in authorities if a["type"] == "aki" for v in a["values"]}
    return bool(wanted & held.authority_key_ids)


def _key_id(value: str) -> bytes | None:
    try:
        return b64url_decode(value)
    except DidlibError:
        return None


def choose_queries(dcql: Mapping[str, Any], answerable: Iterable[str]) -> list[str]:
    """The credential query ids to answer (6.4.2): every query without ``credential_sets``; otherwise the first
    satisfiable option of each set, and nothing at all when a required set cannot be met."""
    answerable = set(answerable)
    sets = dcql.get("credential_sets")
    if sets is None:
        ids = [q["id"] for q in dcql["credentials"]]
        return ids if set(ids) <= answerable else []
    chosen: list[str] = []
    for credential_set in sets:
        option = next((o for o in credential_set["options"] if set(o) <= answerable), None)
        if option is None:
            if credential_set.get("required", True):
                return []
            continue
        chosen += [i for i in option if i not in chosen]
    return chosen


def answers_sets(dcql: Mapping[str, Any], present: Iterable[str]) -> bool:
    """Whether the query ids of an answer are what 6.4.2 lets a wallet return: every query without
    ``credential_sets``; otherwise one option of each required set, any of the optional ones, nothing else
    (per set, the largest option the answer holds in full counts)."""
    present = set(present)
    sets = dcql.get("credential_sets")
    if sets is None:
        return present == {q["id"] for q in dcql["credentials"]}
    covered: set[str] = set()
    for credential_set in sets:
        full = [set(o) for o in credential_set["options"] if set(o) <= present]
        if not full:
            if credential_set.get("required", True):
                return False
            continue
        covered |= max(full, key=len)
    return present == covered


def select(
    dcql: Mapping[str, Any], held: Sequence[Held], can_disclose: Disclosable = lambda _q, _p: True
) -> dict[str, list[tuple[int, list[Mapping[str, Any]]]]]:
    """What a wallet returns (6.4): per credential query id, the indexes into ``held`` and the claims to disclose
    from each (one credential, or every match when ``multiple``). Raises ``no_matching_credential`` when the
    query cannot be satisfied: then nothing at all is returned."""
    matches: dict[str, list[tuple[int, list[Mapping[str, Any]]]]] = {}
    for query in dcql["credentials"]:
        found = []
        for index, credential in enumerate(held):
            claims = selected_claims(query, credential, can_disclose) if credential_matches(query, credential) else None
            if claims is not None:
                found.append((index, claims))
                if not query.get("multiple", False):
                    break
        if found:
            matches[query["id"]] = found
    chosen = choose_queries(dcql, matches)
    if not chosen:
        raise DidlibError("no credential in the wallet answers this request", code="no_matching_credential")
    return {query_id: matches[query_id] for query_id in chosen}
