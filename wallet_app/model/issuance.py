"""Getting credentials from an issuer over OpenID4VCI 1.0 (pre-authorized code flow), over httpx.

The protocol pieces (offers, key proofs, the binding transcript) come from :mod:`didlib.oid4vci`; this is
the HTTP conversation around them, as the wallet holds it. One fresh device key per credential, so a
batch gives single-use credentials that verifiers cannot link.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx

from didlib.keys import PrivateKey, generate_key
from didlib.mdoc import Credential, present_elements
from didlib.oid4vci import PRE_AUTHORIZED_GRANT, CredentialOffer, binding_transcript, make_proof


@dataclass
class Issued:
    config_id: str
    key: PrivateKey
    credential: str  # base64url IssuerSigned (mso_mdoc) or the SD-JWT text

    def mdoc(self) -> Credential:
        return Credential.from_bytes(base64.urlsafe_b64decode(self.credential + "=" * (-len(self.credential) % 4)))


class IssuerClient:
    """One issuer's endpoints, as a wallet calls them."""

    def __init__(self, base_url: str, client: httpx.Client | None = None) -> None:
        self.base = base_url
        self.http = client or httpx.Client(base_url=base_url, timeout=30)

    def identify(self, driver_number: str, birth_date: str, postcode: str) -> dict:
        r = self.http.post("/dvla/identify", json={"driver_number": driver_number, "birth_date": birth_date,
                                                   "postcode": postcode})
        r.raise_for_status()
        return r.json()

    def token(self, offer_uri: str, tx_code: str | None) -> httpx.Response:
        offer = CredentialOffer.from_uri(offer_uri)
        data = {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": offer.pre_authorized_code}
        if tx_code is not None:
            data["tx_code"] = tx_code
        return self.http.post("/token", data=data)

    def nonce(self) -> str:
        return self.http.post("/nonce").json()["c_nonce"]

    def request(self, access_token: str, config_id: str, keys: list[PrivateKey]) -> httpx.Response:
        nonce = self.nonce()  # one c_nonce for all the proofs of one request (OpenID4VCI 1.0 section 7.2)
        proofs = [make_proof(k, self.base, nonce) for k in keys]
        return self.http.post("/credential", headers={"Authorization": f"Bearer {access_token}"},
                              json={"credential_configuration_id": config_id, "proofs": {"jwt": proofs}})

    def obtain(self, offer: dict, config_id: str, count: int = 1, keys: list[PrivateKey] | None = None) -> list[Issued]:
        token = self.token(offer["credential_offer_uri"], offer.get("tx_code"))
        token.raise_for_status()
        keys = keys or [generate_key() for _ in range(count)]
        r = self.request(token.json()["access_token"], config_id, keys)
        r.raise_for_status()
        return [Issued(config_id, k, c["credential"]) for k, c in zip(keys, r.json()["credentials"], strict=True)]

    def bind(self, issuer: str, reference: str, licence: Credential, key: PrivateKey) -> httpx.Response:
        """Present the driving licence to the DBS or training issuer, over its binding nonce."""
        nonce = self.http.post("/binding-nonce").json()["nonce"]
        response = present_elements(licence, key, ["family_name", "given_name", "birth_date"],
                                    binding_transcript(self.base, nonce))
        return self.http.post(f"/{issuer}/bind", json={
            "reference": reference, "nonce": nonce,
            "device_response": base64.urlsafe_b64encode(response).rstrip(b"=").decode()})
