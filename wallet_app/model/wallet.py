"""The wallet's model: credentials, keys and presentations, behind the PIN. No Kivy import.

What the screens call. Decisions and formats are didlib's; this keeps the holder's things together:
which credential, which device key, which single-use credential of a batch is still unused.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from didlib.errors import DidlibError, NetworkError, UsageError
from didlib.keys import PrivateKey, generate_key, load_private_key, load_public_key, private_key_pem
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL, DOCTYPE_TRAINING, Credential
from didlib.mdoc.registry import NS_AGE, NS_DBS, NS_ISO, NS_TRAINING, PROFILES
from didlib.oid4vci import CredentialOffer
from didlib.oid4vp import (
    MAX_REQUEST,
    ParsedRequest,
    build_response,
    error_response,
    parse_dc_api_request,
    parse_request,
    request_uri_parts,
)
from didlib.oid4vp.dc_api import choose_request
from didlib.pki import common_name_of
from didlib.presentation import PendingChallenge, answer_challenge, make_oneway, read_challenge
from didlib.qr import codes_for
from didlib.session import (
    HolderSession,
    PendingRequest,
    ReaderIdentity,
    RetrievalMethod,
    TcpListener,
    TcpTransport,
)
from didlib.session.ble import BleChannel
from didlib.session.ble.connect import BleAdapter, BleHolder, holder_transport
from didlib.trust import TrustStore
from didlib.verifier import PeerPolicy, RefreshReport, TrustCache, TrustData, Verdict, VerifierEngine
from wallet_app.model.issuance import IssuerClient
from wallet_app.model.store import CorruptStore, WalletStore

__all__ = ["WalletModel", "Card", "KeyProvider", "SoftwareKeys", "ProximityShare"]

BATCH = 5  # single-use proofs of age per request: verifiers cannot link two visits
_NAMESPACE = {DOCTYPE_MDL: NS_ISO, DOCTYPE_AGE: NS_AGE, DOCTYPE_DBS: NS_DBS, DOCTYPE_TRAINING: NS_TRAINING}


class KeyProvider(Protocol):
    """Where device keys live. Software keys in the encrypted store now; Android Keystore / iOS Keychain later."""

    def new_key(self) -> str: ...

    def private_key(self, key_id: str) -> PrivateKey: ...


class SoftwareKeys:
    def __init__(self, store: WalletStore) -> None:
        self._store = store

    def new_key(self) -> str:
        key_id = secrets.token_hex(8)
        self._store.records.setdefault("keys", {})[key_id] = private_key_pem(generate_key()).decode()
        return key_id

    def private_key(self, key_id: str) -> PrivateKey:
        return load_private_key(self._store.records["keys"][key_id].encode())


@dataclass
class Card:
    """One credential as the cards screen shows it (a batch of proofs of age is one card)."""

    id: str
    doctype: str
    title: str
    name: str
    portrait: bytes | None
    issuer: str
    valid_until: dt.datetime
    status: str
    unused: int = 1
    details: dict[str, Any] = field(default_factory=dict)
    online: int = 0  # unused SD-JWT VC copies, what websites are answered with


class ProximityShare:
    """One proximity presentation: show :attr:`uri`, wait for the reader's request (blocking: call it off
    the UI thread), then :meth:`respond` with the holder's consent or :meth:`decline`.

    With a Bluetooth ``adapter`` the engagement also offers ISO 18013-5 BLE (the phone as peripheral
    server) and the reader picks; :attr:`bluetooth` says which, for the screen."""

    def __init__(self, holdings: list[tuple[Credential, PrivateKey]], reader_trust: TrustStore, host: str,
                 require_entitlement: bool = False, adapter: BleAdapter | None = None,
                 no_adapter: str = "no Bluetooth adapter") -> None:
        self._listener = TcpListener(host)
        self._ble = BleHolder(adapter) if adapter is not None else None
        methods = [RetrievalMethod.local_network(self._listener.host, self._listener.port)]
        self.session = HolderSession(holdings, reader_trust=reader_trust, require_entitlement=require_entitlement,
                                     retrieval_methods=[self._ble.method, *methods] if self._ble else methods)
        self.uri = self.session.qr_uri()
        self.bluetooth = "Bluetooth and local network" if self._ble else f"local network only ({no_adapter})"
        self._transport: TcpTransport | BleChannel | None = None

    def wait_for_request(self, timeout: float = 120) -> PendingRequest:
        self._transport = holder_transport(self.session.engagement, ble=self._ble, listener=self._listener,
                                           timeout=timeout)
        try:
            return self.session.receive(self._transport.receive(timeout))
        except DidlibError as exc:
            self._transport.send(self.session.error_message(exc))
            raise

    def respond(self, consent: Mapping[str, Mapping[str, Iterable[str]]]) -> None:
        assert self._transport is not None
        self._transport.send(self.session.respond({d: {ns: list(e) for ns, e in spaces.items()}
                                                   for d, spaces in consent.items()}))
        with contextlib.suppress(DidlibError):  # the reader's goodbye
            self.session.receive_followup(self._transport.receive(10))
        self.close()

    def decline(self) -> None:
        if self._transport is not None:
            self._transport.send(self.session.decline())
        self.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._ble is not None:
            self._ble.close()
        self._listener.close()


@dataclass
class WalletModel:
    folder: Path
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    http: Callable[[str], httpx.Client] = field(default=lambda base: httpx.Client(base_url=base, timeout=30))
    store: WalletStore | None = None
    keys: KeyProvider | None = None
    listeners: list[Callable[[WalletModel], None]] = field(default_factory=list)
    corrupt: bool = False  # the last unlock found the wallet file damaged
    # strict: refuse verifiers whose certificate does not state what they may ask for (by default the holder
    # is warned and decides)
    require_entitlement: bool = False
    _showing: dict[str, Any] | None = field(default=None, repr=False)  # the proof of age on screen now

    @property
    def path(self) -> Path:
        return self.folder / "wallet.json"

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener(self)

    # ------------------------------------------------------------------------------------ the PIN
    def has_wallet(self) -> bool:
        return self.path.exists()

    def setup(self, pin: str) -> None:
        self.store = WalletStore.create(self.path, pin)
        self.keys = SoftwareKeys(self.store)
        self._changed()

    def unlock(self, pin: str) -> None:
        try:
            self.store = WalletStore.open(self.path, pin)
        except CorruptStore:
            self.corrupt = True  # the lock screen offers the backup
            raise
        self.keys = SoftwareKeys(self.store)
        self._changed()

    def can_restore(self) -> bool:
        """The wallet file did not open as damaged or altered, and a backup is there to restore."""
        return self.corrupt and self.path.with_suffix(".bak").exists()

    def restore_backup(self, pin: str, backup: Path | None = None) -> None:
        """Make the backup (``wallet.bak`` by default) the wallet, once it opens with ``pin``, and unlock."""
        self.store = WalletStore.restore(backup or self.path.with_suffix(".bak"), self.path, pin)
        self.keys, self.corrupt = SoftwareKeys(self.store), False
        self._changed()

    def lock(self) -> None:
        self.store, self.keys, self._showing = None, None, None
        self._changed()

    def unlocked_store(self) -> WalletStore:
        """The open store: asked of a locked wallet, a usage error rather than an AttributeError."""
        if self.store is None:
            raise UsageError("the wallet is locked", code="locked")
        return self.store

    def _keys(self) -> KeyProvider:
        if self.keys is None:
            raise UsageError("the wallet is locked", code="locked")
        return self.keys

    def _records(self) -> dict[str, Any]:
        return self.unlocked_store().records

    # -------------------------------------------------------------------------------- credentials
    def _entries(self) -> list[dict[str, Any]]:
        return self._records().setdefault("credentials", [])

    def _credential(self, entry: dict[str, Any]) -> Credential:
        data = entry["data"]
        return Credential.from_bytes(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))

    def _add(self, issuer_url: str, config_id: str, credential: str, key_id: str, batch: str | None) -> None:
        entry = {"id": secrets.token_hex(6), "issuer_url": issuer_url, "config_id": config_id, "data": credential,
                 "key_id": key_id, "used": False, "batch": batch}
        if config_id.endswith(".mdoc"):
            entry["doctype"] = self._credential(entry).doctype
        self._entries().append(entry)

    def _pin_trust(self, issuer_url: str) -> RefreshReport:
        """Trust on first use of an issuer: pin its trust list operator key and cache its trust list."""
        trust = self._records().setdefault("trust", {})
        with self.http(issuer_url) as client:
            if issuer_url not in trust:
                try:
                    trust[issuer_url] = client.get("/trust/operator.pem").raise_for_status().text
                except httpx.HTTPError as exc:
                    raise NetworkError(f"the issuer could not be reached: {exc}") from exc
            cache = TrustCache(self.folder / "trust", load_public_key(trust[issuer_url].encode()))
            return cache.refresh(f"{issuer_url}/trust/list", lambda url: client.get(url).raise_for_status().content)

    def add_from_offer(self, offer_uri: str, tx_code: str | None,
                       progress: Callable[[str], None] = lambda _: None) -> list[str]:
        """Redeem a credential offer: each offered credential, as mdoc and as SD-JWT VC when both are offered
        (a batch of single-use ones for proofs of age)."""
        offer = CredentialOffer.from_uri(offer_uri)
        issuer = offer.credential_issuer
        with self.http(issuer) as http:
            client = IssuerClient(issuer, http)
            progress("Getting an access token")
            token = client.token(offer_uri, tx_code)
            if token.status_code != 200:
                raise DidlibError(token.json().get("error_description", "the issuer refused the code"),
                                  code=token.json().get("error", "invalid_grant"))
            access = token.json()["access_token"]
            added = []
            for config_id in offer.credential_configuration_ids:
                if not config_id.endswith((".mdoc", ".sd-jwt")):
                    continue
                count = BATCH if ".age." in config_id else 1
                progress(f"Requesting {config_id}")
                bound = self._bound_key(config_id)
                key_ids = [bound] if bound else [self._keys().new_key() for _ in range(count)]
                response = client.request(access, config_id, [self._keys().private_key(k) for k in key_ids])
                if response.status_code != 200:
                    raise DidlibError(response.json().get("error_description", "issuance failed"),
                                      code=response.json().get("error", "issuance_failed"))
                batch = secrets.token_hex(4) if count > 1 else None
                for key_id, item in zip(key_ids, response.json()["credentials"], strict=True):
                    self._add(issuer, config_id, item["credential"], key_id, batch)
                added.append(config_id)
        progress("Checking the issuer's trust list")
        self._pin_trust(issuer)
        self.unlocked_store().save()
        self._changed()
        return added

    def _bound_key(self, config_id: str) -> str | None:
        """DBS and training credentials are bound to the driving licence's device key."""
        if not (config_id.startswith("uk.dbs.") or config_id.startswith("uk.training.")):
            return None
        licence = self._licence_entry()
        return licence["key_id"] if licence else None

    def _licence_entry(self) -> dict[str, Any] | None:
        return next((e for e in self._entries() if e.get("doctype") == DOCTYPE_MDL), None)

    def request_bound(self, issuer_url: str, kind: str, reference: str) -> dict[str, Any]:
        """Ask the DBS or training issuer for an offer by presenting the driving licence to it."""
        licence = self._licence_entry()
        if licence is None:
            raise UsageError("add your driving licence first: the DBS check is bound to it", code="no_licence")
        with self.http(issuer_url) as http:
            response = IssuerClient(issuer_url, http).bind(kind, reference, self._credential(licence),
                                                           self._keys().private_key(licence["key_id"]))
        if response.status_code != 200:
            raise DidlibError(response.json().get("error_description", "refused"),
                              code=response.json().get("error", "refused"))
        return response.json()

    def cards(self) -> list[Card]:
        """One card per credential (per batch of proofs of age); its SD-JWT VC copies are counted on it."""
        cards: dict[str, Card] = {}
        by_kind: dict[str, Card] = {}  # "uk.dvla.age" -> the card its ".mdoc" and ".sd-jwt" copies share
        for entry in self._entries():
            if "doctype" not in entry:
                continue
            group = entry["batch"] or entry["id"]
            if group in cards:
                cards[group].unused += 0 if entry["used"] else 1
                continue
            credential = self._credential(entry)
            elements = credential.elements().get(_NAMESPACE[credential.doctype], {})
            name = f"{elements.get('given_name', '')} {elements.get('family_name', '')}".strip()
            signer = credential.issuer_signed.issuer_auth.x5chain()[0]
            cards[group] = Card(entry["id"], credential.doctype, PROFILES[credential.doctype].title, name,
                                elements.get("portrait"), common_name_of(signer).replace(" Document Signer", ""),
                                credential.mso.valid_until, entry.get("status", "not checked"),
                                0 if entry["used"] else 1, elements)
            by_kind[entry["config_id"].rsplit(".", 1)[0]] = cards[group]
        for entry in self._entries():
            card = by_kind.get(entry["config_id"].rsplit(".", 1)[0])
            if card is not None and "doctype" not in entry and not entry["used"]:
                card.online += 1
        return list(cards.values())

    # ------------------------------------------------------------------------------- presenting
    def _unused_proof(self, threshold: int) -> tuple[dict[str, Any], list[str]]:
        element = f"age_over_{threshold:02d}"
        proofs = [e for e in self._entries() if e.get("doctype") == DOCTYPE_AGE]
        fresh = self._fresh(proofs)
        if fresh is not None:
            return fresh, [element, "portrait"]
        if proofs:  # never shown twice, and not silently replaced by the (linkable) licence either
            raise UsageError("all your proofs of age have been used: get new ones when you are online",
                             code="no_unused_proof")
        licence = self._licence_entry()
        if licence is None:
            raise UsageError("add a proof of age or a driving licence first", code="nothing_to_show")
        return licence, [element, "portrait"]

    def prove_age(self, threshold: int = 18, *, again: bool = False) -> list[str]:
        """The QR code text(s) of a one-way proof of age, from an unused single-use credential when there is one.

        One showing (one cashier) spends one proof. ``again`` renews the code of the showing in progress (a
        fresh time and nonce, or another age threshold) from the same credential, so a code left on screen
        does not spend the batch; a new showing takes a new proof (specs/presentation.md, section 7).
        """
        if again and self._showing is not None:
            entry = self._showing
            disclose = [f"age_over_{threshold:02d}", "portrait"]
        else:
            entry, disclose = self._unused_proof(threshold)
            if entry.get("doctype") == DOCTYPE_AGE:
                entry["used"] = True
                self.unlocked_store().save()
            self._showing = entry
        return codes_for(make_oneway(self._credential(entry), self._keys().private_key(entry["key_id"]), disclose,
                                     now=self.clock()))

    def end_showing(self) -> None:
        """The proof of age left the screen: the next showing takes a new one."""
        self._showing = None

    def share_identity(self) -> list[str]:
        """Name and portrait from the licence as a one-way code, for someone doing a peer check."""
        licence = self._licence_entry()
        if licence is None:
            raise UsageError("add your driving licence first", code="no_licence")
        return codes_for(make_oneway(self._credential(licence), self._keys().private_key(licence["key_id"]),
                                     ["given_name", "family_name", "portrait"], now=self.clock()))

    def _holdings(self) -> list[tuple[Credential, PrivateKey]]:
        seen: set[str] = set()
        out = []
        for entry in self._entries():
            doctype = entry.get("doctype")
            if doctype and doctype not in seen and not entry["used"]:
                seen.add(doctype)
                out.append((self._credential(entry), self._keys().private_key(entry["key_id"])))
        return out

    def _trust_data(self) -> tuple[TrustStore, TrustData]:
        trust = self._records().get("trust", {})
        if not trust:
            raise UsageError("no trust list yet: add a credential while online first", code="no_trust")
        cache = TrustCache(self.folder / "trust", load_public_key(next(iter(trust.values())).encode()))
        return cache.reader_store(self.clock()), cache.load(self.clock())

    def read_request(self, text: str) -> PendingChallenge:
        """A verifier's request QR: who asks (verified) and for what (and what it may not have)."""
        readers, _ = self._trust_data()
        return read_challenge(text, self._holdings(), readers, now=self.clock(),
                              require_entitlement=self.require_entitlement)

    @staticmethod
    def consent_warnings(reader: ReaderIdentity | None) -> list[str]:
        """What the consent screen shows in warning colours about who asks: the certificate's warnings and,
        for a verifier whose certificate states no entitlement, that its permissions are not stated."""
        return reader.consent_warnings() if reader is not None else []

    def answer(self, pending: PendingChallenge, consent: Mapping[str, Mapping[str, Iterable[str]]]) -> list[str]:
        """The response QR text(s), with only what the holder ticked (and never beyond the entitlement)."""
        return codes_for(answer_challenge(pending, self._holdings(), consent))

    def open_online_request(self, link: str) -> ParsedRequest:
        """A website's ``openid4vp://`` link or QR: fetch its signed request and check who is asking."""
        client_id, request_uri = request_uri_parts(link)
        readers, _ = self._trust_data()
        try:
            with self.http(request_uri) as http, http.stream(
                    "GET", request_uri, headers={"Accept": "application/oauth-authz-req+jwt"}) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_REQUEST:  # stop reading: a request object is small
                        break
        except httpx.HTTPError as exc:
            raise DidlibError(f"the website could not be reached: {exc}", code="unreachable") from exc
        if response.status_code != 200 or len(body) > MAX_REQUEST:
            raise DidlibError("the website did not hand out its request", code="no_request")
        return parse_request(body.decode("ascii", "replace").strip(), readers, client_id=client_id, now=self.clock(),
                             require_entitlement=self.require_entitlement)

    def answer_online(self, request: ParsedRequest) -> None:
        """Post the answer (after the holder agreed), spending a single-use proof of age when one answers."""
        self._answer_online(request, lambda form: self._post_online(request, form))

    def open_dc_api_request(self, request: str | Mapping[str, Any], origin: str) -> ParsedRequest:
        """A website's request as the platform's credential selector hands it over (Android Credential Manager:
        the request JSON and the calling app's ``origin``, which the browser asserts): who asks (verified, for a
        signed request), the origin the consent screen shows (``asker``), and for what. A signed request made for
        another origin is refused (``origin_mismatch``: hand back ``dc_api_error()``)."""
        readers, _ = self._trust_data()
        protocol, data = choose_request(request)
        return parse_dc_api_request(protocol, data, origin, readers, now=self.clock(),
                                    require_entitlement=self.require_entitlement)

    def answer_dc_api(self, request: ParsedRequest) -> dict[str, Any]:
        """The ``data`` the platform returns to the page (after the holder agreed), bound to the request's origin;
        spends a single-use proof of age as :meth:`answer_online` does. When nothing may answer it raises, and
        the platform gets ``error_response(request)`` (only ``access_denied``)."""
        sent: list[dict[str, Any]] = []
        self._answer_online(request, sent.append)
        return sent[0]

    def _answer_online(self, request: ParsedRequest, send: Callable[[dict[str, Any]], None]) -> None:
        entries = [  # per format, an unused proof of age first, then the licence, the DBS check, the training
            entry
            for suffix in (".sd-jwt", ".mdoc")
            for kind in (".age.", ".mdl.", ".dbs.", ".training.")
            if (entry := self._fresh([e for e in self._entries()
                                      if kind in e["config_id"] and e["config_id"].endswith(suffix)])) is not None
        ]
        key = self._keys().private_key
        sd_jwts = [(e["data"], key(e["key_id"])) for e in entries if e["config_id"].endswith(".sd-jwt")]
        mdocs = [(self._credential(e), key(e["key_id"])) for e in entries if e["config_id"].endswith(".mdoc")]
        origin = list(zip([c for c, _ in sd_jwts] + [c for c, _ in mdocs], entries, strict=True))
        try:
            answer = build_response(request, sd_jwts, mdocs, now=self.clock())
        except DidlibError as exc:  # nothing the holder may share answers it: the website hears access_denied
            with contextlib.suppress(DidlibError):  # best effort: the holder learns why either way
                send(error_response(request, "access_denied", exc.message))
            raise
        send(answer.form)
        for credential, entry in origin:
            if entry["batch"] and any(credential is used for used in answer.used):
                entry["used"] = True
        self.unlocked_store().save()

    def _post_online(self, request: ParsedRequest, form: Mapping[str, str]) -> None:
        uri = request.claims["response_uri"]
        try:
            with self.http(uri) as http:
                response = http.post(uri, data=dict(form))
        except httpx.HTTPError as exc:
            raise DidlibError(f"the website could not be reached: {exc}", code="unreachable") from exc
        if response.status_code != 200:
            raise DidlibError("the website refused the answer", code="refused")

    @staticmethod
    def _fresh(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The first unused credential of a kind, or None: a single-use credential once shown is never shown
        again (a verifier could link the two showings). Credentials outside a batch are never marked used."""
        return next((e for e in entries if not e["used"]), None)

    def start_proximity(self, host: str = "127.0.0.1", adapter: BleAdapter | None = None,
                        no_adapter: str = "no Bluetooth adapter") -> ProximityShare:
        """Share over an ISO 18013-5 session: an ``mdoc:`` engagement QR naming a local-network port and,
        with a Bluetooth ``adapter`` (:func:`didlib.session.ble.connect.find_adapter`), BLE too."""
        readers, _ = self._trust_data()
        return ProximityShare(self._holdings(), readers, host, self.require_entitlement, adapter, no_adapter)

    def peer_check(self, texts: Iterable[str]) -> Verdict | None:
        """Check someone else's identity code (car sharing, room rental)."""
        _, data = self._trust_data()
        engine = VerifierEngine(PeerPolicy(), data, clock=self.clock)
        verdict = None
        for text in texts:
            verdict = engine.scan(text) or verdict
        return verdict

    def refresh_status(self) -> str:
        """Update the cached status lists and show each credential's status on its card. Offline, or with the
        issuer failing, the cached lists are used: the answer says so and how old they are."""
        trust = self._records().get("trust", {})
        failed = [report for report in map(self._pin_trust, list(trust)) if report.errors]
        _, data = self._trust_data()
        for entry in self._entries():
            if "doctype" in entry and data.status is not None:
                status = self._credential(entry).mso.status
                if status:
                    entry["status"] = data.status.check_reference(status, self.clock()).state
        self.unlocked_store().save()
        self._changed()
        return failed[0].summary(self.clock()) if failed else "Status updated"
