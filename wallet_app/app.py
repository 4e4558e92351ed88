"""The wallet's screens (Kivy). They render :class:`wallet_app.model.wallet.WalletModel` and forward taps;
credentials, keys and every protocol step live in the model and in didlib."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.checkbox import CheckBox
from kivy.uix.label import Label
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

from didlib.errors import DidlibError
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL
from didlib.oid4vp import SCHEME as OPENID4VP
from didlib.oid4vp import ParsedRequest
from didlib.presentation import PendingChallenge
from didlib.qr import qr_png
from wallet_app.model.wallet import Card, ProximityShare, WalletModel

__all__ = ["WalletApp"]

# Not named wallet.kv: Kivy would load that a second time by itself for WalletApp.
Builder.load_file(str(Path(__file__).with_name("screens.kv")))

CARD_COLOURS = {DOCTYPE_MDL: (0.1, 0.3, 0.55, 1), DOCTYPE_AGE: (0.0, 0.44, 0.36, 1), DOCTYPE_DBS: (0.45, 0.2, 0.5, 1)}
ROTATE_SECONDS = 10  # a new one-way code this often, so a photo of the screen soon expires
PART_SECONDS = 1.5  # multi-part codes cycle this fast, for the verifier's camera


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return " ".join(str(v) for v in value.values())
    return str(value)


def texture(data: bytes, ext: str) -> Any:
    return CoreImage(io.BytesIO(data), ext=ext).texture


class PinScreen(Screen):
    prompt = StringProperty("")
    action = StringProperty("")
    message = StringProperty("")
    can_restore = BooleanProperty(False)


class CardWidget(ButtonBehavior, BoxLayout):
    title = StringProperty("")
    line1 = StringProperty("")
    line2 = StringProperty("")
    colour = ListProperty([0.3, 0.3, 0.3, 1])


class CardsScreen(Screen):
    message = StringProperty("")


class AddScreen(Screen):
    progress = StringProperty("")


class QrScreen(Screen):
    title = StringProperty("")
    hint = StringProperty("")
    part = StringProperty("")
    thresholds = BooleanProperty(False)


class RequestScreen(Screen):
    message = StringProperty("")


class ConsentScreen(Screen):
    reader = StringProperty("")
    hint = StringProperty("")
    warning = StringProperty("")


class PeerScreen(Screen):
    verdict = StringProperty("")


class DetailsScreen(Screen):
    title = StringProperty("")
    lines = StringProperty("")


class SettingsScreen(Screen):
    message = StringProperty("")


class WalletApp(App):
    title = "didlib wallet"

    def __init__(self, model: WalletModel, opening: str | None = None, **kwargs: Any) -> None:
        """``opening``: a request link the wallet was started with (same-device flow), answered after the PIN."""
        super().__init__(**kwargs)
        self.model = model
        self._opening = opening
        self._codes: list[str] = []
        self._part = 0
        self._threshold = 18
        self._pending: PendingChallenge | None = None
        self._choices: dict[tuple[str, str, str], CheckBox] = {}
        self._rotate: Any = None
        self._cycle: Any = None
        self._proximity: ProximityShare | None = None
        self._online: ParsedRequest | None = None

    def build(self) -> ScreenManager:
        manager = ScreenManager(transition=NoTransition())
        for screen in (PinScreen(), CardsScreen(), AddScreen(), QrScreen(), RequestScreen(), ConsentScreen(),
                       PeerScreen(), DetailsScreen(), SettingsScreen()):
            manager.add_widget(screen)
        manager.bind(current=self._screen_changed)
        Clock.schedule_once(lambda _: self._show_pin(), 0)
        return manager

    def _screen(self, name: str) -> Any:
        return self.root.get_screen(name)

    def _screen_changed(self, _manager: Any, current: str) -> None:
        if current != "qr":
            for event in (self._rotate, self._cycle):
                if event is not None:
                    event.cancel()
            self._rotate = self._cycle = None
            self.model.end_showing()
        if current == "cards":
            if self._proximity is not None and self._pending is None:  # left the engagement screen: stop waiting
                self._proximity.close()
                self._proximity = None
            self._render_cards()

    # ------------------------------------------------------------------------------------- PIN
    def _show_pin(self, message: str = "") -> None:
        pin = self._screen("pin")
        first = not self.model.has_wallet()
        pin.prompt = "Choose a PIN to protect your wallet" if first else "Enter your PIN"
        pin.action = "Create wallet" if first else "Unlock"
        pin.message = message
        self.root.current = "pin"

    def restore_from_lock(self, pin: str) -> None:
        """The lock screen's way out of a damaged wallet file: the last good copy, opened with the PIN."""
        screen = self._screen("pin")
        try:
            self.model.restore_backup(pin)
        except DidlibError as exc:
            screen.message = f"Not restored: {exc.message}"
            return
        screen.can_restore = False
        self.root.current = "cards"

    def pin_entered(self, pin: str) -> None:
        try:
            if self.model.has_wallet():
                self.model.unlock(pin)
            else:
                self.model.setup(pin)
        except DidlibError as exc:
            self._screen("pin").message = exc.message
            self._screen("pin").can_restore = self.model.can_restore()
            return
        self._screen("pin").can_restore = False
        self.root.current = "cards"
        if self._opening:
            link, self._opening = self._opening, None
            self.root.current = "request"
            self.read_request(link)

    # ----------------------------------------------------------------------------------- cards
    def _render_cards(self) -> None:
        box = self._screen("cards").ids.cards
        box.clear_widgets()
        cards = self.model.cards() if self.model.store else []
        for card in cards:
            widget = CardWidget(title=card.title, colour=list(CARD_COLOURS.get(card.doctype, (0.3, 0.3, 0.35, 1))))
            widget.line1 = card.name or card.details.get("certificate_level", "")
            extra = f"  ·  {card.unused} unused" + (f", {card.online} online" if card.online else "") \
                if card.doctype == DOCTYPE_AGE else ""
            widget.line2 = f"{card.issuer}  ·  valid to {card.valid_until:%d %b %Y}  ·  {card.status}{extra}"
            if card.portrait:
                widget.ids.portrait.texture = texture(card.portrait, "jpg")
            else:
                widget.ids.portrait.opacity = 0
            widget.bind(on_release=lambda _w, c=card: self.show_card(c))
            box.add_widget(widget)
        self._screen("cards").message = "" if cards else "No credentials yet: add one from an issuer."

    def show_card(self, card: Card) -> None:
        """Everything the credential holds (the portrait stays on the card)."""
        screen = self._screen("details")
        screen.title = card.title
        lines = [f"{name.replace('_', ' ')}: {_shown(value)}" for name, value in card.details.items()
                 if name != "portrait"]
        lines += ["", f"Issuer: {card.issuer}", f"Valid until {card.valid_until:%d %b %Y %H:%M} UTC",
                  f"Status: {card.status}"]
        screen.lines = "\n".join(lines)
        self.root.current = "details"

    # ------------------------------------------------------------------------------------- add
    def add_offer(self, offer: str, tx_code: str) -> None:
        screen = self._screen("add")
        try:
            added = self.model.add_from_offer(offer, tx_code or None, lambda step: setattr(screen, "progress", step))
        except DidlibError as exc:
            screen.progress = f"Not added: {exc.message}"
            return
        screen.progress = f"Added: {', '.join(added)}"
        self.root.current = "cards"

    def add_bound(self, kind: str, reference: str) -> None:
        screen = self._screen("add")
        licence = self.model._licence_entry() if self.model.store else None
        try:
            if licence is None:
                raise DidlibError("add your driving licence first: the DBS check is bound to it")
            offer = self.model.request_bound(licence["issuer_url"], kind, reference)
            self.model.add_from_offer(offer["credential_offer_uri"], offer.get("tx_code"))
        except DidlibError as exc:
            screen.progress = f"Not added: {exc.message}"
            return
        self.root.current = "cards"

    # ------------------------------------------------------------------------------- QR codes
    def _show_codes(self, title: str, hint: str, codes: list[str], thresholds: bool) -> None:
        screen = self._screen("qr")
        screen.title, screen.hint, screen.thresholds = title, hint, thresholds
        self._codes, self._part = codes, 0
        self._draw_part()
        self.root.current = "qr"
        if self._cycle is None and len(codes) > 1:
            self._cycle = Clock.schedule_interval(lambda _: self.next_part(), PART_SECONDS)

    def _draw_part(self) -> None:
        screen = self._screen("qr")
        code = self._codes[self._part]
        screen.ids.code.texture = texture(qr_png(code, "M" if len(self._codes) > 1 else "L", box_size=4), "png")
        screen.part = f"code {self._part + 1} of {len(self._codes)}" if len(self._codes) > 1 else ""

    def next_part(self) -> None:
        if self._codes:
            self._part = (self._part + 1) % len(self._codes)
            self._draw_part()

    def show_prove(self, threshold: int | None = None, *, again: bool = False) -> None:
        """The rotating one-way proof of age (age_over_NN and portrait only); ``again`` renews the code on
        screen from the same proof (a new threshold chosen on the screen is the same showing too)."""
        self._threshold = threshold or self._threshold
        try:
            codes = self.model.prove_age(self._threshold, again=again)
        except DidlibError as exc:
            self._screen("cards").message = exc.message
            return
        self._show_codes(f"Over {self._threshold}", "Show this to the cashier. It changes every few seconds.",
                         codes, True)
        if self._rotate is None:
            self._rotate = Clock.schedule_interval(lambda _: self.show_prove(again=True), ROTATE_SECONDS)

    # ---------------------------------------------------------------------------- consent flow
    def read_request(self, text: str) -> None:
        if text.startswith(OPENID4VP):
            self._read_online(text)
            return
        try:
            pending = self.model.read_request(text)
        except DidlibError as exc:
            self._screen("request").message = f"Not a request we can answer: {exc.message}"
            return
        self._show_consent(pending)

    def _read_online(self, link: str) -> None:
        """A website's request: fetched off the UI thread, then the same consent screen."""
        self._screen("request").message = "Asking the website..."

        def fetch() -> None:
            try:
                request = self.model.open_online_request(link)
            except DidlibError as exc:
                message = f"Not a request we can answer: {exc.message}"
                Clock.schedule_once(lambda _: setattr(self._screen("request"), "message", message))
                return
            Clock.schedule_once(lambda _: self._show_online_consent(request))

        threading.Thread(target=fetch, daemon=True).start()

    def _show_online_consent(self, request: ParsedRequest) -> None:
        """A website gets all it asked for or nothing: its claims are shown ticked; Decline sends nothing."""
        self._screen("request").message = ""
        self._online = request
        beyond = {path.rsplit(".", 1)[-1] for path in request.beyond_entitlement}
        kept = set(request.retained_claims())
        rows = [(name + ("  (kept by the website)" if name in kept else ""), name not in beyond, True)
                for name in request.requested_claims()]
        consent = self._screen("consent")
        self._consent_screen(request.reader, f"website {request.client_id.split(':', 1)[1]}", rows)
        consent.hint += "".join(f"\nThe website says: {purpose}" for purpose in request.purposes())

    def _show_consent(self, pending: Any) -> None:
        """The consent screen, for a QR challenge or a proximity request alike (both say who and what)."""
        self._pending = pending
        rows = []
        self._choices = {}
        for doc in self._pending.documents:
            for ns, elements in doc.elements.items():
                for element, retain in elements.items():
                    entitled = element not in doc.beyond_entitlement.get(ns, [])
                    note = ("" if doc.held else "  (you do not hold this)") + ("  (kept by the verifier)" if retain
                                                                               else "")
                    rows.append((element + note, entitled and doc.held, not entitled or not doc.held))
                    self._choices[(doc.doctype, ns, element)] = len(rows) - 1
        boxes = self._consent_screen(pending.reader, "", rows)
        self._choices = {key: boxes[index] for key, index in self._choices.items()}

    def _consent_screen(self, reader: Any, where: str, rows: list[tuple[str, bool, bool]]) -> list[CheckBox]:
        """Who asks (from its verified certificate) and one row per element: (label, ticked, locked)."""
        consent = self._screen("consent")
        organisation = reader.organisation if reader.organisation not in (None, reader.name) else None
        consent.reader = reader.name + (f" ({organisation})" if organisation else "") + \
            (f", {where}" if where else "") + "  - verified"
        consent.hint = "The website needs all of this; Decline sends nothing." if where else \
            "Untick what you do not want to share."
        consent.warning = "\n".join(self.model.consent_warnings(reader))
        box = consent.ids.choices
        box.clear_widgets()
        boxes = []
        for label, ticked, locked in rows:
            row = BoxLayout(size_hint_y=None, height=46)
            check = CheckBox(active=ticked, disabled=locked, size_hint_x=None, width=48, color=(0.1, 0.1, 0.1, 1))
            text = label.replace("_", " ") + ("" if ticked or not locked else "  (not entitled: never shared)")
            row.add_widget(check)
            row.add_widget(Label(text=text, color=(0.08, 0.1, 0.1, 1), font_size=19, halign="left",
                                 text_size=(420, None)))
            box.add_widget(row)
            boxes.append(check)
        self.root.current = "consent"
        return boxes

    def share(self) -> None:
        if self._online is not None:
            self._share_online()
            return
        if self._pending is None:
            return
        consent: dict[str, dict[str, list[str]]] = {}
        for (doctype, ns, element), box in self._choices.items():
            if box.active:
                consent.setdefault(doctype, {}).setdefault(ns, []).append(element)
        pending, self._pending = self._pending, None
        if self._proximity is not None:
            proximity, self._proximity = self._proximity, None
            threading.Thread(target=proximity.respond, args=(consent,), daemon=True).start()
            self._screen("cards").message = "Shared with the reader over the session"
            self.root.current = "cards"
            return
        codes = self.model.answer(pending, consent)
        self._show_codes("Your answer", "Show this to the verifier's camera.", codes, False)

    def _share_online(self) -> None:
        request, self._online = self._online, None
        if request is None:
            return
        cards = self._screen("cards")
        cards.message = "Sending to the website..."
        self.root.current = "cards"

        def send() -> None:
            try:
                self.model.answer_online(request)
                message = f"Sent to {request.asker}: {', '.join(request.requested_claims())}"
            except DidlibError as exc:
                message = f"Not sent: {exc.message}"

            def show(_dt: float) -> None:
                self._render_cards()  # a single-use proof of age is now spent
                cards.message = message

            Clock.schedule_once(show)

        threading.Thread(target=send, daemon=True).start()

    def decline(self) -> None:
        self._online = None
        if self._proximity is not None:
            self._proximity.decline()
            self._proximity = None
        self._pending = None
        self.root.current = "cards"

    def start_proximity(self) -> None:
        """Show the mdoc: engagement for a nearby reader, and wait (off the UI thread) for its request."""
        try:
            share = self.model.start_proximity()
        except DidlibError as exc:
            self._screen("request").message = exc.message
            return
        self._proximity = share
        self._show_codes("Show this to the reader", "Waiting for the reader's request...", [share.uri], False)

        def wait() -> None:
            try:
                pending = share.wait_for_request()
            except DidlibError as exc:
                message = exc.message
                Clock.schedule_once(lambda _: setattr(self._screen("request"), "message", message))
                return
            Clock.schedule_once(lambda _: self._show_consent(pending))

        threading.Thread(target=wait, daemon=True).start()

    # ---------------------------------------------------------------------------------- peer
    def peer_check(self, text: str) -> None:
        screen = self._screen("peer")
        codes = [line.strip() for line in text.splitlines() if line.strip()]
        try:
            verdict = self.model.peer_check(codes)
        except DidlibError as exc:
            screen.verdict = exc.message
            return
        if verdict is None:
            screen.verdict = "Scan the next code"
            return
        name = verdict.display.get("name", "")
        screen.verdict = f"{verdict.headline}\n{name}\n" + "; ".join(verdict.reasons)
        if verdict.display.get("portrait"):
            screen.ids.portrait.texture = texture(verdict.display["portrait"], "jpg")

    # ------------------------------------------------------------------------------- settings
    def change_pin(self, old: str, new: str) -> None:
        screen = self._screen("settings")
        try:
            self.model.unlocked_store().change_pin(old, new)
            screen.message = "PIN changed"
        except DidlibError as exc:
            screen.message = exc.message

    def backup(self, path: str) -> None:
        screen = self._screen("settings")
        if not path:
            screen.message = "Give a file to back up to"
            return
        self.model.unlocked_store().backup(path)
        screen.message = f"Encrypted backup written to {path}"

    def restore(self, path: str, pin: str) -> None:
        screen = self._screen("settings")
        try:
            self.model.restore_backup(pin, Path(path))
            screen.message = "Restored from the backup"
        except (DidlibError, OSError) as exc:
            screen.message = f"Not restored: {exc}"

    def refresh_status(self) -> None:
        screen = self._screen("settings")
        try:
            screen.message = self.model.refresh_status()
        except (DidlibError, OSError) as exc:
            screen.message = f"Could not update: {exc}"

    def delete_everything(self) -> None:
        self.model.unlocked_store().delete_everything()
        self.model.lock()
        self._show_pin("Everything was deleted.")
