"""The three mock authorities (DVLA, DBS, a training body): their PKIs, signing keys and credentials.

Each has an IACA and a document signer in the data folder (``pki/<name>/``, made on first start). The
document signer key is read from its file, or used inside a PKCS#11 token (SoftHSM in tests) when the
service is configured so; the certificate stays a file either way.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from didlib.keys import PrivateKey
from didlib.mdoc.registry import (
    DOCTYPE_AGE,
    DOCTYPE_DBS,
    DOCTYPE_MDL,
    DOCTYPE_TRAINING,
    MAX_QR_PORTRAIT,
    NS_AGE,
    NS_DBS,
    NS_DVLA,
    NS_ISO,
    NS_TRAINING,
)
from didlib.oid4vci import FORMAT_MDOC, FORMAT_SD_JWT
from didlib.pkidir import PkiDir
from didlib.samples import portrait_jpeg
from didlib.sdjwt.profiles import VCT
from issuer_service.config import Settings

__all__ = ["Authority", "CredentialConfig", "CONFIGS", "load_authorities", "credential_data"]

NAMES = {"dvla": "DVLA", "dbs": "DBS", "training": "Safeguarding Training"}


@dataclass(frozen=True)
class CredentialConfig:
    id: str
    authority: str
    doctype: str
    format: str
    subject: str  # driver | dbs | training

    def metadata(self) -> dict[str, Any]:
        display = [
            {
                "name": {
                    DOCTYPE_MDL: "Driving licence",
                    DOCTYPE_AGE: "Proof of age",
                    DOCTYPE_DBS: "DBS check",
                    DOCTYPE_TRAINING: "Safeguarding training",
                }[self.doctype],
                "locale": "en-GB",
            }
        ]
        common = {
            "format": self.format,
            "proof_types_supported": {
                "jwt": {"proof_signing_alg_values_supported": ["ES256", "ES384", "ES512", "EdDSA"]}
            },
            "credential_metadata": {"display": display},
        }
        if self.format == FORMAT_MDOC:
            return common | {
                "doctype": self.doctype,
                "cryptographic_binding_methods_supported": ["cose_key"],
                "credential_signing_alg_values_supported": [-7],
            }
        return common | {
            "vct": VCT[self.doctype],
            "cryptographic_binding_methods_supported": ["jwk"],
            "credential_signing_alg_values_supported": ["ES256"],
        }


def _configs() -> dict[str, CredentialConfig]:
    out = {}
    for name, authority, doctype, subject in (
        ("uk.dvla.mdl", "dvla", DOCTYPE_MDL, "driver"),
        ("uk.dvla.age", "dvla", DOCTYPE_AGE, "driver"),
        ("uk.dbs.check", "dbs", DOCTYPE_DBS, "dbs"),
        ("uk.training.safeguarding", "training", DOCTYPE_TRAINING, "training"),
    ):
        for fmt, suffix in ((FORMAT_MDOC, "mdoc"), (FORMAT_SD_JWT, "sd-jwt")):
            config = CredentialConfig(f"{name}.{suffix}", authority, doctype, fmt, subject)
            out[config.id] = config
    return out


CONFIGS = _configs()


@dataclass
class Authority:
    name: str
    pki: PkiDir
    signer_key: PrivateKey
    signer_cert: x509.Certificate
    public_url: str

    @property
    def iaca(self) -> x509.Certificate:
        return self.pki.certificate("iaca")

    def status_uri(self, number: int) -> str:
        """The URI of the authority's status list ``number`` (1, 2, ...: a new one opens as one fills)."""
        return f"{self.public_url}/status/{self.name}/{number}"


def load_authorities(settings: Settings) -> dict[str, Authority]:
    """Open (or on first start create) each authority's PKI, and its signing key (file or PKCS#11 token)."""
    out = {}
    for name, title in NAMES.items():
        folder = settings.data_dir / "pki" / name
        pki = PkiDir(folder) if (folder / "ds.pem").exists() else PkiDir.create(folder, issuer=title)
        key: PrivateKey
        if settings.keys == "pkcs11":
            from issuer_service.pkcs11_keys import provision

            key, cert = provision(settings, f"ds-{name}", pki)
        else:
            key, cert = pki.signer()
        out[name] = Authority(name, pki, key, cert, settings.public_url)
    return out


@functools.lru_cache(maxsize=512)
def _portrait(seed: int, small: bool) -> bytes:
    return portrait_jpeg(seed, max_bytes=MAX_QR_PORTRAIT if small else None)


def credential_data(config: CredentialConfig, record: Any, today: dt.date) -> dict[str, dict[str, Any]]:
    """Issuer input (namespace -> element -> value) for a register row of the configuration's subject (a
    :class:`Driver`, :class:`DbsCertificate` or :class:`TrainingRecord`, or a database row of their columns);
    didlib checks and converts it."""
    authority = {"issuing_country": "GB"}
    person = authority | {name: getattr(record, name, None) for name in ("family_name", "given_name", "birth_date")}
    if config.doctype == DOCTYPE_MDL:
        expiry = record.issue_date.replace(year=record.issue_date.year + 10)
        return {
            NS_ISO: person
            | {
                "issue_date": record.issue_date,
                "expiry_date": max(expiry, today + dt.timedelta(days=1)),
                "issuing_authority": "DVLA",
                "document_number": record.driver_number,
                "portrait": _portrait(record.portrait_seed, False),
                "driving_privileges": [
                    {"vehicle_category_code": c, "issue_date": record.issue_date} for c in record.categories
                ],
                "un_distinguishing_sign": "UK",
                "sex": record.sex,
                "resident_address": record.address,
                "resident_city": record.city,
                "resident_postal_code": record.postcode,
            },
            NS_DVLA: {"licence_type": record.licence_type, "penalty_points": record.penalty_points},
        }
    if config.doctype == DOCTYPE_AGE:
        return {
            NS_AGE: authority
            | {
                "birth_date": record.birth_date,
                "portrait": _portrait(record.portrait_seed, True),
                "issue_date": today,
                "expiry_date": today + dt.timedelta(days=90),
                "issuing_authority": "DVLA",
            }
        }
    if config.doctype == DOCTYPE_DBS:
        return {
            NS_DBS: person
            | {
                "certificate_number": record.certificate_number,
                "certificate_level": record.level,
                "workforce": record.workforce,
                "issue_date": record.issue_date,
                "outcome": record.outcome,
                "barred_list_children": record.barred_children,
                "barred_list_adults": record.barred_adults,
                "update_service_subscribed": record.update_service,
                "update_service_checked": today,
                "issuing_authority": "Disclosure and Barring Service",
            }
        }
    if config.doctype == DOCTYPE_TRAINING:
        return {
            NS_TRAINING: person
            | {
                "course": record.course,
                "level": record.level,
                "completion_date": record.completion_date,
                "renewal_date": record.renewal_date,
                "issuing_authority": "Example Safeguarding Training Ltd",
            }
        }
    raise ValueError(f"{config.id} is not a credential type these issuers make")
