"""DCQL, the Digital Credentials Query Language of OpenID4VP 1.0 section 6: building, checking and
interpreting queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from didlib.errors import DecodeError
from didlib.mdoc.registry import DOCTYPE_AGE, DOCTYPE_MDL, NS_AGE, NS_ISO, PROFILES
from didlib.sdjwt.profiles import DOCTYPE_FOR_VCT, VCT


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



def check_dcql(dcql: Any) -> None:
    """The subset of DCQL this wallet answers: credential queries by id with format, meta and claim paths,
    optionally grouped into credential sets of options naming those ids."""
    if not isinstance(dcql, dict) or not isinstance(dcql.get("credentials"), list) or not dcql["credentials"]:
        raise DecodeError("dcql_query needs a non-empty credentials array", code="bad_dcql")
    ids = set()
    for query in dcql["credentials"]:
        if not isinstance(query, dict) or not isinstance(query.get("id"), str) or query["id"] in ids:
            raise DecodeError("each DCQL credential query needs a unique id", code="bad_dcql")
        ids.add(query["id"])
        meta = query.get("meta")
        if query.get("format") == "dc+sd-jwt":
            ok = isinstance(meta, dict) and isinstance(meta.get("vct_values"), list)
        elif query.get("format") == "mso_mdoc":
            ok = isinstance(meta, dict) and isinstance(meta.get("doctype_value"), str)
        else:
            ok = False
        paths = [c.get("path") if isinstance(c, dict) else None for c in query.get("claims") or [None]]
        if not ok or not all(isinstance(p, list) and p and all(isinstance(x, str) for x in p) for p in paths):
            raise DecodeError(f"DCQL query {query['id']!r} is not a supported shape", code="bad_dcql")
    for credential_set in dcql.get("credential_sets", []):
        options = credential_set.get("options") if isinstance(credential_set, dict) else None
        if not isinstance(options, list) or not all(isinstance(o, list) and set(o) <= ids for o in options):
            raise DecodeError("DCQL credential_sets must name the credential queries", code="bad_dcql")


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

