"""Getting credentials from an issuer over OpenID4VCI 1.0 (pre-authorized code flow), over httpx.

The protocol pieces (offers, key proofs, the binding transcript) come from :mod:`didlib.oid4vci`; this is
the HTTP conversation around them, as the wallet holds it. One fresh device key per credential, so a
batch gives single-use credentials that verifiers cannot link.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from didlib.errors import DidlibError, NetworkError
from didlib.keys import PrivateKey, generate_key
from didlib.mdoc import Credential, present_elements
from didlib.oid4vci import PRE_AUTHORIZED_GRANT, CredentialOffer, binding_transcript, make_proof

OFFLINE = "No connection. Try again when you are online."


@contextlib.contextmanager
def online(who: str) -> Iterator[None]:
    """Network failures inside the block as a :class:`NetworkError` with a plain message: no connection or a
    timeout is ``unreachable`` (:data:`OFFLINE`), an error status ``server_error``. ``who``: "The issuer"."""
    try:
        yield
    except httpx.HTTPStatusError as exc:
        raise failing(who) from exc
    except httpx.HTTPError as exc:  # refused, reset, DNS, timeouts, a broken stream
        raise NetworkError(OFFLINE, code="unreachable") from exc


def failing(who: str) -> NetworkError:
    """The server answered with an error status: not the holder's doing, and maybe over soon."""
    return NetworkError(f"{who} is not working right now. Try again later.", code="server_error")


def unreadable(who: str) -> NetworkError:
    """An answer that is not what the protocol says: the server is failing, not the holder."""
    return NetworkError(f"{who} gave an answer the wallet cannot read. Try again later.", code="bad_answer")


def read_json(response: httpx.Response, who: str, refused: str) -> dict[str, Any]:
    """The JSON object of a 200 answer. A server failure (5xx, or a body that is not a JSON object) is a
    :class:`NetworkError`; a refusal is a :class:`DidlibError` with the server's OAuth ``error`` code and
    description (``refused`` when it gives none)."""
    if response.status_code >= 500:
        raise failing(who)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise unreadable(who)
    if response.status_code != 200:
        raise DidlibError(str(body.get("error_description") or f"{who} refused"),
                          code=str(body.get("error") or refused))
    return body


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
        nonce = read_json(self.http.post("/nonce"), "The issuer", "no_nonce").get("c_nonce")
        if not isinstance(nonce, str):
            raise unreadable("The issuer")
        return nonce

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
        """Present the driving licence to the DBS or training issuer (``dbs``, ``training``), or to its own
        issuer for new proofs of age (``age``, with its driver number), over the issuer's binding nonce."""
        nonce = read_json(self.http.post("/binding-nonce"), "The issuer", "no_nonce").get("nonce")
        if not isinstance(nonce, str):
            raise unreadable("The issuer")
        shown = ["family_name", "given_name", "birth_date"] + (["document_number"] if issuer == "age" else [])
        response = present_elements(licence, key, shown, binding_transcript(self.base, nonce))
        return self.http.post(f"/{issuer}/bind", json={
            "reference": reference, "nonce": nonce,
            "device_response": base64.urlsafe_b64encode(response).rstrip(b"=").decode()})
