"""The three didlib credentials as SD-JWT VCs, generated from the mdoc registry so the formats never drift.

Each mdoc element becomes a top-level claim of the same name (element names are unique within a profile);
every claim is selectively disclosable, and so is every entry of an array claim. Values become JSON:
``full-date`` and ``tdate`` as ISO 8601 text, the portrait as a ``data:image/jpeg;base64,`` URL, other
binary data as base64url. ``iss``, ``iat``, ``exp``, ``vct``, ``cnf`` and ``status`` are always visible.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

import cbor2
from cryptography import x509

from didlib.errors import IssuanceError
from didlib.jose import b64url_encode
from didlib.keys import PrivateKey, PublicKey
from didlib.mdoc.issuer import prepare_issuance
from didlib.mdoc.registry import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL, DOCTYPE_TRAINING, PROFILES, Profile
from didlib.sdjwt.core import SD
from didlib.sdjwt.vc import issue_sd_jwt_vc

__all__ = ["VCT", "DOCTYPE_FOR_VCT", "ISSUERS", "issue_credential_sd_jwt", "claims_to_namespaces"]

VCT = {
    DOCTYPE_MDL: "urn:uk:gov:dvla:vct:driving-licence:1",
    DOCTYPE_AGE: "urn:uk:gov:dvla:vct:proof-of-age:1",
    DOCTYPE_DBS: "urn:uk:gov:dbs:vct:dbs-check:1",
    DOCTYPE_TRAINING: "urn:uk:org:safeguarding:vct:training:1",
}
"""The SD-JWT VC type (``vct``) of each credential, by mdoc docType (specs/sd-jwt-vc.md)."""
DOCTYPE_FOR_VCT = {vct: doctype for doctype, vct in VCT.items()}
"""The mdoc docType of each ``vct``: the same registry entry behind both formats."""
ISSUERS = {  # the mock issuers' identifiers (example.invalid: nothing real answers there)
    DOCTYPE_MDL: "https://dvla.example.invalid",
    DOCTYPE_AGE: "https://dvla.example.invalid",
    DOCTYPE_DBS: "https://dbs.example.invalid",
    DOCTYPE_TRAINING: "https://training.example.invalid",
}
"""The mock issuers' identifiers (``iss``) by docType (example.invalid: nothing real answers there)."""
_IMAGE_CLAIMS = {"portrait", "signature_usual_mark"}


def profile_for_vct(vct: str) -> Profile:
    try:
        return PROFILES[DOCTYPE_FOR_VCT[vct]]
    except KeyError:
        raise IssuanceError(f"unknown vct {vct!r}; known: {', '.join(VCT.values())}", code="unknown_vct") from None


def claims_to_namespaces(profile: Profile, claims: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Place flat claims in their mdoc namespaces (the registry's input shape)."""
    if not isinstance(claims, Mapping):
        raise IssuanceError("credential claims must be a JSON object")
    homes = {name: ns for ns, elements in profile.namespaces.items() for name in elements}
    if profile.age_namespace is not None:  # derivation inputs (birth_date) travel with the age statements
        homes.update(dict.fromkeys(profile.input_only, profile.age_namespace))
    data: dict[str, dict[str, Any]] = {}
    for name, value in claims.items():
        if name not in homes:
            raise IssuanceError(f"{name} is not a claim of {profile.title}", code="unknown_element")
        data.setdefault(homes[name], {})[name] = value
    return data


def _json_value(name: str, value: Any) -> Any:
    if isinstance(value, cbor2.CBORTag):  # full-date (1004) and tdate (0) are text inside their tags
        return value.value
    if isinstance(value, bytes):
        if name in _IMAGE_CLAIMS:
            kind = "jpeg" if value.startswith(b"\xff\xd8") else "jp2"
            return f"data:image/{kind};base64," + base64.b64encode(value).decode()
        return b64url_encode(value)
    if isinstance(value, dict):
        return {k: _json_value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(name, v) for v in value]
    return value


def _disclosable(name: str, value: Any) -> SD:
    converted = _json_value(name, value)
    if isinstance(converted, list):
        converted = [SD(item) for item in converted]
    return SD(converted)


def issue_credential_sd_jwt(
    vct: str,
    claims: Mapping[str, Any],
    *,
    signer_key: PrivateKey,
    signer_chain: list[x509.Certificate],
    holder_key: PublicKey,
    issuer: str | None = None,
    now: dt.datetime | None = None,
    valid_for: dt.timedelta | None = None,
    status: Mapping[str, Any] | None = None,
    decoys: int = 4,
) -> str:
    """Issue one of the didlib credentials as an SD-JWT VC, with the same checks and age rules as mdoc."""
    profile = profile_for_vct(vct)
    data = claims_to_namespaces(profile, claims)
    now, elements, valid_until = prepare_issuance(profile, data, now, valid_for, signer_key, signer_chain)
    sd_claims = {name: _disclosable(name, value) for values in elements.values() for name, value in values.items()}
    return issue_sd_jwt_vc(
        vct,
        sd_claims,
        issuer=issuer or ISSUERS[profile.doctype],
        signer_key=signer_key,
        signer_chain=signer_chain,
        holder_key=holder_key,
        now=now,
        valid_for=valid_until - now,
        status=dict(status) if status else None,
        decoys=decoys,
    )
