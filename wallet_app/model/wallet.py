"""The wallet's model: credentials, keys and presentations, behind the PIN. No Kivy import.

What the screens call. Decisions and formats are didlib's; this keeps the holder's things together:
which credential, which device key, which single-use credential of a batch is still unused.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import secrets
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from didlib.errors import DidlibError, UsageError
from didlib.files import read_limited, write_private
from didlib.keys import PrivateKey, generate_key, load_private_key, load_public_key, private_key_pem
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL, DOCTYPE_TRAINING, Credential
from didlib.mdoc.labels import detail_lines
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
from didlib.presentation.consent import ConsentView, mdoc_consent, online_consent
from didlib.qr import codes_for
from didlib.session import (
    HolderSession,
    PendingRequest,
    ReaderIdentity,
    RetrievalMethod,
    TcpListener,
    TcpTransport,
)
from didlib.session.addresses import own_address
from didlib.session.ble import BleChannel
from didlib.session.ble.connect import BleAdapter, BleHolder, holder_transport
from didlib.trust import TrustStore
from didlib.verifier import PeerPolicy, RefreshReport, TrustCache, TrustData, Verdict, VerifierEngine
from wallet_app.model.issuance import IssuerClient, failing, online, read_json, unreadable
from wallet_app.model.store import MAX_FILE, CorruptStore, WalletStore, check_pin

__all__ = ["WalletModel", "Card", "KeyProvider", "SoftwareKeys", "ProximityShare", "PEER_CHOICES"]

BATCH = 5  # single-use proofs of age per request: verifiers cannot link two visits
MIN_PASSPHRASE = 8  # characters of a backup passphrase
TOP_UP_AT = 2  # proofs of age left when the wallet fetches a new batch by itself (when online)
# What a holder may show someone doing a peer check, and the licence elements each choice discloses.
PEER_CHOICES: dict[str, list[str]] = {"name": ["given_name", "family_name"], "photo": ["portrait"],
                                      "over_18": ["age_over_18"]}
_NAMESPACE = {DOCTYPE_MDL: NS_ISO, DOCTYPE_AGE: NS_AGE, DOCTYPE_DBS: NS_DBS, DOCTYPE_TRAINING: NS_TRAINING}


class KeyProvider(Protocol):
    """Where device keys live. Software keys in the encrypted store now; Android Keystore / iOS Keychain later."""

    def new_key(self) -> str: ...

    def private_key(self, key_id: str) -> PrivateKey: ...

    def forget(self, key_id: str) -> None:
        """Destroy a key (one made for a credential that never arrived, or a spent one)."""


class SoftwareKeys:
    def __init__(self, store: WalletStore) -> None:
        self._store = store

    def new_key(self) -> str:
        key_id = secrets.token_hex(8)
        with self._store.lock:
            self._store.records.setdefault("keys", {})[key_id] = private_key_pem(generate_key()).decode()
        return key_id

    def private_key(self, key_id: str) -> PrivateKey:
        return load_private_key(self._store.records["keys"][key_id].encode())

    def forget(self, key_id: str) -> None:
        with self._store.lock:
            keys = self._store.records.get("keys", {})
            keys.pop(key_id, None)
            if not keys:
                self._store.records.pop("keys", None)


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
    lines: list[tuple[str, str]] = field(default_factory=list)  # plain (label, value) lines, no images


class ProximityShare:
    """One proximity presentation: show :attr:`uri`, wait for the reader's request (blocking: call it off
    the UI thread), then :meth:`respond` with the holder's consent or :meth:`decline`.

    With a Bluetooth ``adapter`` the engagement also offers ISO 18013-5 BLE (the phone as peripheral
    server) and the reader picks; :attr:`bluetooth` says which, for the screen."""

    def __init__(self, holdings: list[tuple[Credential, PrivateKey]], reader_trust: TrustStore, host: str,
                 require_entitlement: bool = False, adapter: BleAdapter | None = None,
                 no_adapter: str = "no Bluetooth adapter",
                 on_shared: Callable[[Mapping[str, Mapping[str, list[str]]]], None] = lambda _: None) -> None:
        self._listener = TcpListener(host)
        self._ble = BleHolder(adapter) if adapter is not None else None
        methods = [RetrievalMethod.local_network(self._listener.host, self._listener.port)]
        self.session = HolderSession(holdings, reader_trust=reader_trust, require_entitlement=require_entitlement,
                                     retrieval_methods=[self._ble.method, *methods] if self._ble else methods)
        self.uri = self.session.qr_uri()
        self.bluetooth = "Bluetooth and local network" if self._ble else f"local network only ({no_adapter})"
        self._transport: TcpTransport | BleChannel | None = None
        self._on_shared = on_shared  # told what was sent (the wallet spends the single-use proofs that answered)

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
        agreed = {d: {ns: list(e) for ns, e in spaces.items()} for d, spaces in consent.items()}
        self._transport.send(self.session.respond(agreed))
        self._on_shared(agreed)
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
    # the address the engagement names for the local-network transport: None is the phone's own on its network
    # (didlib.session.addresses.own_address); tests that must stay on 127.0.0.1 set it
    proximity_host: str | None = None
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

    def setup(self, pin: str, confirm: str | None = None) -> None:
        """A new wallet under ``pin``, entered twice (``confirm``: the second entry, refused when it differs)."""
        check_pin(pin)
        if confirm is not None and confirm != pin:
            raise UsageError("the two PINs are not the same: enter it again", code="pin_mismatch")
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

    def tries_left(self) -> int:
        """Wrong PINs still allowed before the wallet makes the holder wait (three in all, then growing waits)."""
        if not self.has_wallet():
            raise UsageError("there is no wallet yet: choose a PIN", code="no_wallet")
        return WalletStore.tries_left(self.path)

    def can_restore(self) -> bool:
        """The wallet file did not open as damaged or altered, and a backup is there to restore."""
        return self.corrupt and self.path.with_suffix(".bak").exists()

    def restore_backup(self, pin: str, backup: Path | None = None) -> None:
        """Make the backup (``wallet.bak`` by default) the wallet, once it opens with ``pin``, and unlock."""
        self.store = WalletStore.restore(backup or self.path.with_suffix(".bak"), self.path, pin)
        self.keys, self.corrupt = SoftwareKeys(self.store), False
        self._changed()

    def delete_everything(self, pin: str) -> None:
        """Delete the wallet, its backup, its device key and its cached trust data, once ``pin`` proves it is
        the holder (a wrong PIN counts as any other; with the wallet file damaged, the backup proves it). Nothing
        can be recovered afterwards."""
        try:
            store = WalletStore.open(self.path, pin)
        except CorruptStore:
            if not self.path.with_suffix(".bak").exists():
                raise
            store = WalletStore.open(self.path.with_suffix(".bak"), pin)
            store.path = self.path
        store.delete_everything()
        shutil.rmtree(self.folder / "trust", ignore_errors=True)
        self.store, self.keys, self._showing, self.corrupt = None, None, None, False
        self._changed()

    def export_backup(self, destination: Path, passphrase: str, confirm: str) -> None:
        """Write a backup under a backup passphrase (entered twice, at least :data:`MIN_PASSPHRASE` characters;
        not the PIN): it restores the wallet after the file is lost or damaged, or the PIN forgotten, on this
        device only (its key provider is needed too: specs/wallet.md)."""
        if len(passphrase) < MIN_PASSPHRASE:
            raise UsageError(f"choose a backup passphrase of at least {MIN_PASSPHRASE} characters",
                             code="weak_passphrase")
        if confirm != passphrase:
            raise UsageError("the two passphrases are not the same: enter it again", code="passphrase_mismatch")
        self.unlocked_store().export(destination, passphrase)

    def import_backup(self, source: Path, passphrase: str, pin: str, confirm: str) -> None:
        """Make a backup from :meth:`export_backup` the wallet, opened with its passphrase, under a new PIN
        (entered twice), and unlock it. The source is only read (a copy is opened, beside the wallet)."""
        if confirm != pin:
            raise UsageError("the two PINs are not the same: enter it again", code="pin_mismatch")
        check_pin(pin)
        copy_path = self.folder / "import.tmp"
        try:
            write_private(copy_path, read_limited(source, MAX_FILE, "backup", CorruptStore))
            self.store = WalletStore.restore(copy_path, self.path, passphrase, new_pin=pin)
        finally:
            copy_path.unlink(missing_ok=True)
        self.keys, self.corrupt, self._showing = SoftwareKeys(self.store), False, None
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

    def _entry(self, issuer_url: str, config_id: str, credential: str, key_id: str,
               batch: str | None) -> dict[str, Any]:
        entry = {"id": secrets.token_hex(6), "issuer_url": issuer_url, "config_id": config_id, "data": credential,
                 "key_id": key_id, "used": False, "batch": batch}
        if config_id.endswith(".mdoc"):
            entry["doctype"] = self._credential(entry).doctype
        return entry

    def _pin_trust(self, issuer_url: str) -> RefreshReport:
        """Trust on first use of an issuer: pin its trust list operator key and cache its trust list."""
        trust = self._records().setdefault("trust", {})
        with self.http(issuer_url) as client:
            if issuer_url not in trust:
                with online("The issuer"):
                    trust[issuer_url] = client.get("/trust/operator.pem").raise_for_status().text
            cache = TrustCache(self.folder / "trust", load_public_key(trust[issuer_url].encode()))
            return cache.refresh(f"{issuer_url}/trust/list", lambda url: client.get(url).raise_for_status().content)

    def add_from_offer(self, offer_uri: str, tx_code: str | None,
                       progress: Callable[[str], None] = lambda _: None) -> list[str]:
        """Redeem a credential offer: each offered credential, as mdoc and as SD-JWT VC when both are offered
        (a batch of single-use ones for proofs of age). All or nothing: offline, or with the issuer failing,
        a :class:`NetworkError` ("No connection. Try again when you are online.") and the wallet unchanged."""
        offer = CredentialOffer.from_uri(offer_uri)
        store = self.unlocked_store()
        new_keys: list[str] = []
        entries: list[dict[str, Any]] = []
        try:  # the network part: only new keys are stored meanwhile, and forgotten if it fails
            with online("The issuer"):
                added = self._redeem(offer, offer_uri, tx_code, progress, new_keys, entries)
                progress("Checking the issuer's trust list")
                self._pin_trust(offer.credential_issuer)
        except BaseException:
            with store.lock:
                for key_id in new_keys:
                    self._keys().forget(key_id)
                if new_keys:  # a save meanwhile (a proof shown) may have written them
                    store.save()
            raise
        with store.lock:  # then the credentials, all at once
            self._entries().extend(entries)
            self._forget_spent({e["config_id"] for e in entries if e["batch"]})
            store.save()
        self._changed()
        return added

    def _forget_spent(self, config_ids: set[str]) -> None:
        """Drop the spent single-use credentials of the kinds a new batch has just replaced, and destroy their
        keys: none is ever shown again, and kept they would only grow the store with every top-up. The one on
        screen stays until its showing ends (its code is renewed from it)."""
        entries = self._entries()
        spent = [e for e in entries
                 if e["used"] and e["batch"] and e["config_id"] in config_ids and e is not self._showing]
        if not spent:
            return
        gone = {id(e) for e in spent}
        entries[:] = [e for e in entries if id(e) not in gone]
        held = {e["key_id"] for e in entries}
        for entry in spent:
            if entry["key_id"] not in held:
                self._keys().forget(entry["key_id"])

    def _redeem(self, offer: CredentialOffer, offer_uri: str, tx_code: str | None, progress: Callable[[str], None],
                new_keys: list[str], entries: list[dict[str, Any]]) -> list[str]:
        """Fetch the offered credentials into ``entries``, under keys recorded in ``new_keys`` as they are made."""
        issuer = offer.credential_issuer
        with self.http(issuer) as http:
            client = IssuerClient(issuer, http)
            progress("Getting an access token")
            access = read_json(client.token(offer_uri, tx_code), "The issuer", "invalid_grant")["access_token"]
            added = []
            for config_id in offer.credential_configuration_ids:
                if not config_id.endswith((".mdoc", ".sd-jwt")):
                    continue
                count = BATCH if ".age." in config_id else 1
                progress(f"Requesting {config_id}")
                bound = self._bound_key(config_id)
                key_ids = [bound] if bound else [self._keys().new_key() for _ in range(count)]
                new_keys += [] if bound else key_ids
                response = client.request(access, config_id, [self._keys().private_key(k) for k in key_ids])
                issued = read_json(response, "The issuer", "issuance_failed").get("credentials")
                if not isinstance(issued, list) or len(issued) != len(key_ids) or not all(
                        isinstance(item, dict) and isinstance(item.get("credential"), str) for item in issued):
                    raise unreadable("The issuer")
                batch = secrets.token_hex(4) if count > 1 else None
                for key_id, item in zip(key_ids, issued, strict=True):
                    entries.append(self._entry(issuer, config_id, item["credential"], key_id, batch))
                added.append(config_id)
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
        with online("The issuer"), self.http(issuer_url) as http:
            response = IssuerClient(issuer_url, http).bind(kind, reference, self._credential(licence),
                                                           self._keys().private_key(licence["key_id"]))
            return read_json(response, "The issuer", "refused")

    def cards(self) -> list[Card]:
        """One card per credential (per batch of proofs of age); its SD-JWT VC copies are counted on it."""
        cards: dict[str, Card] = {}
        by_kind: dict[str, Card] = {}  # "uk.dvla.age" -> the card its ".mdoc" and ".sd-jwt" copies share
        for entry in self._entries():
            if "doctype" not in entry:
                continue
            group = entry["config_id"] if entry["batch"] else entry["id"]  # every batch of a kind: one card
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
                                0 if entry["used"] else 1, elements,
                                lines=detail_lines(credential.doctype, credential.elements(),
                                                   credential.mso.valid_until))
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
            with self.unlocked_store().lock:
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

    def _age_proofs(self, suffix: str = ".mdoc") -> list[dict[str, Any]]:
        return [e for e in self._entries() if ".age." in e["config_id"] and e["config_id"].endswith(suffix)]

    def proofs_left(self) -> int:
        """Unused single-use proofs of age: how many more showings of "Prove my age" before new ones are needed."""
        return sum(not e["used"] for e in self._age_proofs())

    def needs_top_up(self) -> bool:
        """Whether the wallet should fetch new proofs of age (:meth:`top_up`): it holds proofs of age, and
        :data:`TOP_UP_AT` or fewer are left for the till (mdoc) or for websites (SD-JWT VC)."""
        proofs = self._age_proofs()
        return bool(proofs) and min(self.proofs_left(),
                                    sum(not e["used"] for e in self._age_proofs(".sd-jwt"))) <= TOP_UP_AT

    def top_up(self, progress: Callable[[str], None] = lambda _: None) -> int:
        """Fetch a new batch of proofs of age when :meth:`needs_top_up` (call it off the UI thread when the
        wallet is online, after a showing for one): the driving licence is presented to its issuer (device
        signed, over the issuer's nonce, as for a DBS check) for an offer of proofs of age, which is redeemed
        with a fresh key per proof. Returns how many new proofs the till can be shown (0: none were needed).
        Offline: :class:`NetworkError`, and nothing changes; without a licence: ``no_licence``."""
        if not self.needs_top_up():
            return 0
        licence = self._licence_entry()
        if licence is None:
            raise UsageError("new proofs of age come with your driving licence: add it first", code="no_licence")
        progress("Asking for new proofs of age")
        offer = self.request_bound(licence["issuer_url"], "age", self._credential(licence).elements()[NS_ISO]
                                   .get("document_number", ""))
        before = self.proofs_left()
        self.add_from_offer(offer["credential_offer_uri"], offer.get("tx_code"), progress)
        return self.proofs_left() - before

    def share_identity(self, choices: Iterable[str] = ("name", "photo")) -> list[str]:
        """A one-way code from the licence for someone doing a peer check (renting a room, sharing a car), with
        what the holder picked of :data:`PEER_CHOICES`: ``name``, ``photo``, ``over_18``."""
        picked = list(dict.fromkeys(choices))
        unknown = [c for c in picked if c not in PEER_CHOICES]
        if unknown or not picked:
            raise UsageError(f"choose what to show from {', '.join(PEER_CHOICES)}", code="bad_choice")
        licence = self._licence_entry()
        if licence is None:
            raise UsageError("add your driving licence first", code="no_licence")
        disclose = [element for choice in picked for element in PEER_CHOICES[choice]]
        return codes_for(make_oneway(self._credential(licence), self._keys().private_key(licence["key_id"]),
                                     disclose, now=self.clock()))

    def _holding_entries(self) -> list[dict[str, Any]]:
        """The mdoc that answers for each docType: the first unused one (of a batch of proofs of age)."""
        seen: set[str] = set()
        out = []
        for entry in self._entries():
            doctype = entry.get("doctype")
            if doctype and doctype not in seen and not entry["used"]:
                seen.add(doctype)
                out.append(entry)
        return out

    def _holdings(self, entries: list[dict[str, Any]] | None = None) -> list[tuple[Credential, PrivateKey]]:
        return [(self._credential(e), self._keys().private_key(e["key_id"]))
                for e in (self._holding_entries() if entries is None else entries)]

    def _spend(self, entries: list[dict[str, Any]], consent: Mapping[str, Mapping[str, list[str]]]) -> None:
        """The single-use credentials (of a batch) that answered a verifier are spent: never shown again."""
        shared = {doctype for doctype, spaces in consent.items() if any(spaces.values())}
        with self.unlocked_store().lock:
            for entry in entries:
                if entry["batch"] and entry["doctype"] in shared:
                    entry["used"] = True
            self.unlocked_store().save()
        self._changed()

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

    def consent(self, pending: PendingChallenge | PendingRequest | ParsedRequest) -> ConsentView:
        """What the consent screen shows for any request the wallet answers (a verifier's challenge QR, an
        ISO 18013-5 session's request, a website's OpenID4VP request): who asks and who vouches for them, which
        credential answers, each element in plain words with whether they keep it and whether they may have it.
        ``view.consent(ticked)`` gives the mapping :meth:`answer` and :meth:`ProximityShare.respond` take."""
        if isinstance(pending, ParsedRequest):
            return online_consent(pending, self._answering(pending))
        return mdoc_consent(pending.reader, pending.documents)

    def _answering(self, request: ParsedRequest) -> list[str]:
        """The docTypes of the credentials that would answer an online request (nothing is sent): the wallet's
        own choice among the query's options, as :meth:`answer_online` will make it."""
        sd_jwts, mdocs, origin = self._online_sources()
        try:
            used = build_response(request, sd_jwts, mdocs, now=self.clock()).used
        except DidlibError:
            return []
        kinds = {e["config_id"].rsplit(".", 1)[0]: e["doctype"] for e in self._entries() if "doctype" in e}
        answering = (kinds.get(entry["config_id"].rsplit(".", 1)[0]) for credential, entry in origin
                     if any(credential is u for u in used))
        return list(dict.fromkeys(d for d in answering if d is not None))

    @staticmethod
    def consent_warnings(reader: ReaderIdentity | None) -> list[str]:
        """What the consent screen shows in warning colours about who asks: the certificate's warnings and,
        for a verifier whose certificate states no entitlement, that its permissions are not stated."""
        return reader.consent_warnings() if reader is not None else []

    def answer(self, pending: PendingChallenge, consent: Mapping[str, Mapping[str, Iterable[str]]]) -> list[str]:
        """The response QR text(s), with only what the holder ticked (and never beyond the entitlement)."""
        entries = self._holding_entries()
        agreed = {d: {ns: list(e) for ns, e in spaces.items()} for d, spaces in consent.items()}
        codes = codes_for(answer_challenge(pending, self._holdings(entries), agreed))
        self._spend(entries, agreed)
        return codes

    def open_online_request(self, link: str) -> ParsedRequest:
        """A website's ``openid4vp://`` link or QR: fetch its signed request and check who is asking."""
        client_id, request_uri = request_uri_parts(link)
        readers, _ = self._trust_data()
        with online("The website"), self.http(request_uri) as http, http.stream(
                "GET", request_uri, headers={"Accept": "application/oauth-authz-req+jwt"}) as response:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_REQUEST:  # stop reading: a request object is small
                    break
        if response.status_code >= 500:
            raise failing("The website")
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

    def _online_sources(self) -> tuple[list[tuple[str, PrivateKey]], list[tuple[Credential, PrivateKey]],
                                       list[tuple[str | Credential, dict[str, Any]]]]:
        """What may answer a website: per format, an unused proof of age first, then the licence, the DBS
        check, the training; with each credential's store entry."""
        entries = [
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
        return sd_jwts, mdocs, origin

    def _answer_online(self, request: ParsedRequest, send: Callable[[dict[str, Any]], None]) -> None:
        sd_jwts, mdocs, origin = self._online_sources()
        try:
            answer = build_response(request, sd_jwts, mdocs, now=self.clock())
        except DidlibError as exc:  # nothing the holder may share answers it: the website hears access_denied
            with contextlib.suppress(DidlibError):  # best effort: the holder learns why either way
                send(error_response(request, "access_denied", exc.message))
            raise
        send(answer.form)
        with self.unlocked_store().lock:
            for credential, entry in origin:
                if entry["batch"] and any(credential is used for used in answer.used):
                    entry["used"] = True
            self.unlocked_store().save()

    def _post_online(self, request: ParsedRequest, form: Mapping[str, str]) -> None:
        uri = request.claims["response_uri"]
        with online("The website"), self.http(uri) as http:
            response = http.post(uri, data=dict(form))
        if response.status_code >= 500:
            raise failing("The website")
        if response.status_code != 200:
            raise DidlibError("the website refused the answer", code="refused")

    @staticmethod
    def _fresh(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The first unused credential of a kind, or None: a single-use credential once shown is never shown
        again (a verifier could link the two showings). Credentials outside a batch are never marked used."""
        return next((e for e in entries if not e["used"]), None)

    def start_proximity(self, host: str | None = None, adapter: BleAdapter | None = None,
                        no_adapter: str = "no Bluetooth adapter") -> ProximityShare:
        """Share over an ISO 18013-5 session: an ``mdoc:`` engagement QR naming a local-network address and
        port and, with a Bluetooth ``adapter`` (:func:`didlib.session.ble.connect.find_adapter`), BLE too.
        The address is the phone's own on its network (:func:`didlib.session.addresses.own_address`: a nearby
        till can reach it), loopback only when it has no other; ``host`` (or :attr:`proximity_host`) names one
        instead."""
        readers, _ = self._trust_data()
        entries = self._holding_entries()
        return ProximityShare(self._holdings(entries), readers, host or self.proximity_host or own_address(),
                              self.require_entitlement, adapter, no_adapter,
                              on_shared=lambda consent: self._spend(entries, consent))

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
        with self.unlocked_store().lock:
            for entry in self._entries():
                if "doctype" in entry and data.status is not None:
                    status = self._credential(entry).mso.status
                    if status:
                        entry["status"] = data.status.check_reference(status, self.clock()).state
            self.unlocked_store().save()
        self._changed()
        return failed[0].summary(self.clock()) if failed else "Status updated"
