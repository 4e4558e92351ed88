"""The wallet's screens (Kivy). They render :class:`wallet_app.model.wallet.WalletModel` and forward taps;
credentials, keys and every protocol step live in the model and in didlib.

Made for a phone: sizes in dp, type in sp (it follows the phone's text size setting); codes come in through
the camera (the viewfinder the verifier uses too), a pasted text, or a link the phone hands over; network
work runs off the UI thread behind a progress indicator, and no exception ends the app.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.animation import Animation
from kivy.app import App
from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.modalview import ModalView
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

from didlib.errors import DidlibError, NetworkError
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL
from didlib.oid4vci import CredentialOffer
from didlib.oid4vp import ParsedRequest
from didlib.presentation import PendingChallenge
from didlib.presentation.consent import ConsentView
from didlib.qr import qr_png
from didlib_apps import phone
from didlib_apps.tasks import catch_everything, in_background
from didlib_apps.viewfinder import Viewfinder, open_camera, request_camera_permission
from wallet_app.codes import Code, CodeReader
from wallet_app.model.wallet import Card, ProximityShare, WalletModel

__all__ = ["WalletApp", "plain"]

log = logging.getLogger("wallet_app")

# Not named wallet.kv: Kivy would load that a second time by itself for WalletApp.
Builder.load_file(str(Path(__file__).with_name("screens.kv")))

CARD_COLOURS = {DOCTYPE_MDL: (0.1, 0.3, 0.55, 1), DOCTYPE_AGE: (0.0, 0.4, 0.33, 1), DOCTYPE_DBS: (0.45, 0.2, 0.5, 1)}
ROTATE_SECONDS = 10  # a new one-way code this often, so a photo of the screen soon expires
PART_SECONDS = 1.5  # multi-part codes cycle this fast, for the verifier's camera
NO_CONNECTION = "No connection. Try again when you are online."
BACKUP_SUFFIX = "dwb"  # didlib wallet backup
UNEXPECTED = "Something went wrong. The wallet is still working: try again."


def plain(exc: BaseException) -> str:
    """What the holder reads about a failure: a sentence, never a traceback."""
    if isinstance(exc, NetworkError):
        return NO_CONNECTION
    if isinstance(exc, DidlibError):
        text = exc.message.rstrip(".")
        return text[:1].upper() + text[1:] + "."
    return UNEXPECTED


def texture(data: bytes, ext: str) -> Any:
    """A texture from image bytes, scaled smoothly (a small portrait shown large must not look blocky)."""
    loaded = CoreImage(io.BytesIO(data), ext=ext).texture
    loaded.mag_filter = loaded.min_filter = "linear"
    return loaded


class PinScreen(Screen):
    prompt = StringProperty("")
    action = StringProperty("")
    message = StringProperty("")
    first = BooleanProperty(False)  # choosing a PIN: typed twice
    can_restore = BooleanProperty(False)


class CardWidget(ButtonBehavior, BoxLayout):
    title = StringProperty("")
    line1 = StringProperty("")
    line2 = StringProperty("")
    colour = ListProperty([0.3, 0.3, 0.3, 1])


class CardsScreen(Screen):
    message = StringProperty("")
    proofs = StringProperty("")


class ScanScreen(Screen):
    title = StringProperty("")
    hint = StringProperty("")
    message = StringProperty("")
    paste = StringProperty("")  # the screen to paste on instead


class AddScreen(Screen):
    progress = StringProperty("")
    tx_hint = StringProperty("")


class QrScreen(Screen):
    title = StringProperty("")
    hint = StringProperty("")
    part = StringProperty("")
    note = StringProperty("")
    thresholds = BooleanProperty(False)


class RequestScreen(Screen):
    message = StringProperty("")


class ConsentRow(BoxLayout):
    text = StringProperty("")
    active = BooleanProperty(True)
    locked = BooleanProperty(False)


class ConsentScreen(Screen):
    asker = StringProperty("")
    credential = StringProperty("")
    hint = StringProperty("")
    keeps = StringProperty("")
    warning = StringProperty("")


class PeerScreen(Screen):
    verdict = StringProperty("")
    issuer = StringProperty("")
    has_portrait = BooleanProperty(False)


class PeerShareScreen(Screen):
    message = StringProperty("")


class DetailsScreen(Screen):
    title = StringProperty("")
    lines = StringProperty("")


class SettingsScreen(Screen):
    message = StringProperty("")


class DeleteScreen(Screen):
    message = StringProperty("")


class RestoreScreen(Screen):
    message = StringProperty("")


class Busy(ModalView):
    """The progress indicator over the screen while the wallet waits for the network."""

    text = StringProperty("")


class WalletApp(App):
    title = "didlib wallet"

    def __init__(self, model: WalletModel, opening: str | None = None, camera: str = "0", **kwargs: Any) -> None:
        """``opening``: a link the wallet was started with (an offer or a website's request), handled once the
        PIN is entered. ``camera``: a camera index or a video file (desktops, tests)."""
        super().__init__(**kwargs)
        self.model = model
        self.camera = camera
        self._opening = opening
        self._codes: list[str] = []
        self._part = 0
        self._threshold = 18
        self._pending: PendingChallenge | None = None
        self._consent: ConsentView | None = None
        self._rows: list[tuple[Any, ConsentRow]] = []
        self._rotate: Any = None
        self._cycle: Any = None
        self._proximity: ProximityShare | None = None
        self._online: ParsedRequest | None = None
        self._offer = ""
        self._reader = CodeReader()
        self._busy: Busy | None = None
        self._showed_proof = False  # a proof of age was on screen: maybe time for new ones when it goes

    # ----------------------------------------------------------------------------------- set-up
    def build(self) -> ScreenManager:
        catch_everything(self.report)
        manager = ScreenManager(transition=NoTransition())
        for screen in (PinScreen(), CardsScreen(), ScanScreen(), AddScreen(), QrScreen(), RequestScreen(),
                       ConsentScreen(), PeerScreen(), PeerShareScreen(), DetailsScreen(), SettingsScreen(),
                       DeleteScreen(), RestoreScreen()):
            manager.add_widget(screen)
        manager.bind(current=self._screen_changed)
        self.viewfinder: Viewfinder = manager.get_screen("scan").ids.viewfinder
        phone.on_new_link(self.open_link)
        Clock.schedule_once(lambda _: self._show_pin(), 0)
        return manager

    def on_stop(self) -> None:
        if self.root is not None:
            self.viewfinder.stop()
        phone.screen_brightness(False)

    def _screen(self, name: str) -> Any:
        return self.root.get_screen(name)

    def show(self, name: str) -> None:
        self.root.current = name

    def _screen_changed(self, _manager: Any, current: str) -> None:
        if current != "cards":
            self._screen("cards").message = ""  # said once, when coming back; not there the next time
        if current != "scan":
            self.viewfinder.stop()
        if current != "qr":
            for event in (self._rotate, self._cycle):
                if event is not None:
                    event.cancel()
            self._rotate = self._cycle = None
            self.model.end_showing()
            phone.screen_brightness(False)
            if self._showed_proof:
                self._showed_proof = False
                Clock.schedule_once(lambda _dt: self._top_up(), 0)
        if current == "cards":
            if self._proximity is not None and self._pending is None:  # left the engagement screen: stop waiting
                self._proximity.close()
                self._proximity = None
            self._render_cards()

    # ----------------------------------------------------------------------- errors and waiting
    def report(self, exc: BaseException) -> None:
        """The one handler's message, on whatever screen is showing (the app goes on)."""
        self._done_waiting()
        if self.root is None:
            return
        screen = self.root.current_screen
        for name in ("message", "progress", "verdict"):
            if hasattr(screen, name):
                setattr(screen, name, plain(exc))
                return
        self._screen("cards").message = plain(exc)
        self.show("cards")

    def work(self, what: str, job: Callable[[], Any], done: Callable[[Any], None],
             failed: Callable[[str], None]) -> None:
        """``job`` off the UI thread behind the progress indicator saying ``what``; then ``done(result)`` or
        ``failed(plain message)`` on the UI thread."""
        if self._busy is not None:
            return
        self._busy = Busy(text=what)
        self._busy.open(animation=False)
        bar = self._busy.ids.bar
        self._busy_animation = Animation(value=100, duration=1.2) + Animation(value=0, duration=0)
        self._busy_animation.repeat = True
        self._busy_animation.start(bar)

        def finished(result: Any) -> None:
            self._done_waiting()
            done(result)

        def broke(exc: BaseException) -> None:
            self._done_waiting()
            failed(plain(exc))

        in_background(job, finished, broke, name="wallet-task")

    @property
    def busy(self) -> bool:
        return self._busy is not None

    def _done_waiting(self) -> None:
        if self._busy is not None:
            self._busy_animation.cancel(self._busy.ids.bar)
            self._busy.dismiss(animation=False)
            self._busy = None

    # ------------------------------------------------------------------------------------- PIN
    def _show_pin(self, message: str = "") -> None:
        pin = self._screen("pin")
        pin.first = not self.model.has_wallet()
        pin.prompt = "Choose a PIN of at least 6 digits to protect your wallet" if pin.first else "Enter your PIN"
        pin.action = "Create wallet" if pin.first else "Unlock"
        pin.message = message
        self.show("pin")

    def restore_from_lock(self, pin: str) -> None:
        """The lock screen's way out of a damaged wallet file: the last good copy, opened with the PIN."""
        screen = self._screen("pin")
        try:
            self.model.restore_backup(pin)
        except DidlibError as exc:
            screen.message = f"Not restored: {plain(exc)}"
            return
        screen.can_restore = False
        self._unlocked()

    def pin_entered(self, pin: str, again: str = "") -> None:
        screen = self._screen("pin")
        try:
            if self.model.has_wallet():
                self.model.unlock(pin)
            else:
                self.model.setup(pin, again)
        except DidlibError as exc:  # a wrong PIN says how many tries are left (WrongPin's message)
            screen.message = plain(exc)
            screen.can_restore = self.model.can_restore()
            return
        screen.can_restore = False
        self._unlocked()

    def _unlocked(self) -> None:
        self.show("cards")
        if self._opening:
            link, self._opening = self._opening, None
            self.open_link(link)

    # ----------------------------------------------------------------------------------- cards
    def _render_cards(self) -> None:
        screen = self._screen("cards")
        box = screen.ids.cards
        box.clear_widgets()
        cards = self.model.cards() if self.model.store else []
        for card in cards:
            widget = CardWidget(title=card.title, colour=list(CARD_COLOURS.get(card.doctype, (0.3, 0.3, 0.35, 1))))
            widget.line1 = card.name or card.details.get("certificate_level", "").replace("_", " ").capitalize()
            widget.line2 = f"{card.issuer}  ·  valid until {card.valid_until:%-d %B %Y}"
            if card.portrait:
                widget.ids.portrait.texture = texture(card.portrait, "jpg")
            else:
                widget.ids.portrait.opacity = 0
            widget.bind(on_release=lambda _w, c=card: self.show_card(c))
            box.add_widget(widget)
        left = self.model.proofs_left() if self.model.store else 0
        screen.proofs = f"{left} single-use proofs of age left" if cards else ""
        if not cards and not screen.message:
            screen.message = "No credentials yet: add one from an issuer."

    def show_card(self, card: Card) -> None:
        """Everything the credential holds, in plain words (the portrait stays on the card)."""
        screen = self._screen("details")
        screen.title = card.title
        checked = [f"Status: {card.status}"] if card.status != "not checked" else []
        screen.lines = "\n".join([f"{label}: {value}" for label, value in card.lines] + checked)
        self.show("details")

    # ------------------------------------------------------------------------------------ links
    def open_link(self, link: str) -> None:
        """A link the phone (or the command line) handed over: an offer or a website's request."""
        if self.model.store is None:
            self._opening = link  # after the PIN
            return
        self.handle_text(link, "cards")

    def handle_text(self, text: str, where: str) -> None:
        """A pasted or handed-over code, whatever it is (a multi-part code pasted one part a line); a problem
        is said on the screen ``where``."""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            self._say(where, "Scan the code first, or paste its text.")
            return
        for line in lines:
            try:
                code = self._reader.read(line)
            except DidlibError as exc:
                self._say(where, plain(exc))
                return
            if code is not None:
                self._dispatch(code)
                return
        self._say(where, self._reader.progress())

    def _say(self, where: str, message: str) -> None:
        screen = self._screen(where)
        for name in ("message", "progress", "verdict"):
            if hasattr(screen, name):
                setattr(screen, name, message)
                return

    def _dispatch(self, code: Code) -> None:
        if code.kind == "offer":
            self.offer_scanned(code.text)
        elif code.kind == "online":
            self.show("request")
            self._read_online(code.text)
        elif code.kind == "request":
            self.show("request")
            self.read_request(code.text)
        else:
            self.show("peer")
            self.peer_check(code.text)

    # ---------------------------------------------------------------------------------- scanner
    def scan(self, title: str, hint: str, paste: str) -> None:
        """The camera, for any code (an offer, a verifier's or website's request, a person's code)."""
        screen = self._screen("scan")
        screen.title, screen.hint, screen.paste, screen.message = title, hint, paste, ""
        self._reader.reset()
        self.show("scan")

        def granted(ok: bool) -> None:
            if not ok:
                screen.message = "The camera is not allowed: allow it in the phone's settings, or paste the code"
                return
            self.viewfinder.start(lambda: open_camera(self.camera), self._scanned)

        request_camera_permission(granted)
        Clock.schedule_once(lambda _dt: self._camera_problem(), 2)

    def _camera_problem(self) -> None:
        if self.root.current == "scan" and self.viewfinder.error:
            self._screen("scan").message = self.viewfinder.error

    def _scanned(self, texts: list[str]) -> None:
        screen = self._screen("scan")
        for text in texts:
            try:
                code = self._reader.read(text)
            except DidlibError as exc:
                screen.message = plain(exc)
                continue
            if code is not None:
                self.viewfinder.stop()
                self._dispatch(code)
                return
            screen.message = self._reader.progress()

    # ------------------------------------------------------------------------------------- add
    def offer_scanned(self, offer: str) -> None:
        """An offer from the camera or a link: redeemed at once, or after the code the issuer gave."""
        screen = self._screen("add")
        self.show("add")
        screen.ids.offer.text = offer
        try:
            needs = CredentialOffer.from_uri(offer).tx_code_length
        except DidlibError as exc:
            screen.progress = f"Not added: {plain(exc)}"
            return
        if needs:
            screen.tx_hint = f"Now type the {needs}-digit code the issuer gave you, and tap Add."
            screen.progress = ""
            return
        self.add_offer(offer, "")

    def add_offer(self, offer: str, tx_code: str) -> None:
        screen = self._screen("add")
        if not offer:
            screen.progress = "Scan the issuer's code first, or paste its link."
            return

        def added(titles: list[str]) -> None:
            screen.ids.offer.text = screen.ids.tx.text = screen.tx_hint = screen.progress = ""
            self._screen("cards").message = "Added to your wallet."
            self.show("cards")

        def failed(message: str) -> None:
            screen.progress = f"Not added: {message}"

        self.work("Getting your credential from the issuer...",
                  lambda: self.model.add_from_offer(offer, tx_code or None), added, failed)

    def add_bound(self, kind: str, reference: str) -> None:
        screen = self._screen("add")

        def job() -> list[str]:
            licence = self.model._licence_entry()
            if licence is None:
                raise DidlibError("add your driving licence first: the DBS check is bound to it")
            offer = self.model.request_bound(licence["issuer_url"], kind, reference)
            return self.model.add_from_offer(offer["credential_offer_uri"], offer.get("tx_code"))

        def failed(message: str) -> None:
            screen.progress = f"Not added: {message}"

        self.work("Showing your licence to the DBS and getting your check...", job,
                  lambda _added: self.show("cards"), failed)

    # ------------------------------------------------------------------------------- QR codes
    def _show_codes(self, title: str, hint: str, codes: list[str], thresholds: bool, note: str = "") -> None:
        screen = self._screen("qr")
        screen.title, screen.hint, screen.thresholds, screen.note = title, hint, thresholds, note
        self._codes, self._part = codes, 0
        self._draw_part()
        self.show("qr")
        phone.screen_brightness(True)
        if self._cycle is None and len(codes) > 1:
            self._cycle = Clock.schedule_interval(lambda _: self.next_part(), PART_SECONDS)

    def _draw_part(self) -> None:
        screen = self._screen("qr")
        code = self._codes[self._part]
        screen.ids.code.texture = texture(qr_png(code, "M" if len(self._codes) > 1 else "L", box_size=4), "png")
        screen.part = f"Code {self._part + 1} of {len(self._codes)}" if len(self._codes) > 1 else ""

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
            self._screen("cards").message = plain(exc)
            self.show("cards")
            return
        left = self.model.proofs_left()
        self._show_codes(f"Over {self._threshold}", "Show this to the cashier. It changes every few seconds.",
                         codes, True, f"{left} more single-use proofs of age in your wallet")
        if self._rotate is None:
            self._rotate = Clock.schedule_interval(lambda _: self.show_prove(again=True), ROTATE_SECONDS)
        self._showed_proof = True

    def _top_up(self) -> None:
        """After a showing, with two or fewer proofs left: a new batch (when online). It runs behind the
        progress indicator, which keeps other taps away from the wallet's records until it is stored (a
        failed top-up puts the records back as they were: nothing else may change them meanwhile)."""
        if self.model.store is None or not self.model.needs_top_up():
            return
        cards = self._screen("cards")

        def done(added: int) -> None:
            self._render_cards()
            cards.message = f"{added} new single-use proofs of age added." if added else ""

        self.work("Getting new proofs of age...", self.model.top_up, done,
                  lambda message: setattr(cards, "message", f"No new proofs of age now: {message}"))

    # ---------------------------------------------------------------------------- consent flow
    def read_request(self, text: str) -> None:
        """A verifier's request code: who asks and for what, on the consent screen."""
        try:
            pending = self.model.read_request(text)
        except DidlibError as exc:
            self._screen("request").message = f"Not a request we can answer: {plain(exc)}"
            return
        self._show_consent(pending)

    def _read_online(self, link: str) -> None:
        """A website's request: fetched off the UI thread, then the same consent screen."""
        screen = self._screen("request")
        screen.message = ""
        self.work("Asking the website what it needs...", lambda: self.model.open_online_request(link),
                  self._show_online_consent,
                  lambda message: setattr(screen, "message", f"Not a request we can answer: {message}"))

    def _show_online_consent(self, request: ParsedRequest) -> None:
        """A website gets all it asked for or nothing: Decline sends nothing."""
        self._online, self._pending = request, None
        self._render_consent(self.model.consent(request), locked=True)

    def _show_consent(self, pending: Any) -> None:
        """The consent screen, for a QR challenge or a proximity request alike (both say who and what)."""
        self._pending, self._online = pending, None
        self._render_consent(self.model.consent(pending), locked=False)

    def _render_consent(self, view: ConsentView, *, locked: bool) -> None:
        """Who asks (from its verified certificate) and who vouches for them, which credential answers, one
        row per item in plain words (refused ones unticked and locked), and what they will keep."""
        consent = self._screen("consent")
        self._consent = view
        consent.asker = f"{view.asker} wants to know:"
        answers = f"Answered from your {view.credential.lower()}." if view.credential else \
            "Nothing in your wallet answers this."
        missing = f" You do not hold: {', '.join(view.missing)}." if view.missing else ""
        consent.credential = answers + missing
        consent.keeps = view.keeps_line() or "They say they will not keep it."
        consent.hint = "\n".join([*(f"They say why: {purpose}" for purpose in view.purposes),
                                  "Untick what you do not want to share." if view.choosable and not locked
                                  else "They need all of this: Decline sends nothing."])
        consent.warning = "\n".join(view.warnings)
        box = consent.ids.choices
        box.clear_widgets()
        self._rows = []
        for item in view.items:
            text = item.phrase[:1].upper() + item.phrase[1:] + \
                ("" if item.allowed else "  (they may not ask for this: never shared)")
            row = ConsentRow(text=text, active=item.allowed, locked=locked or not view.choosable or not item.allowed)
            box.add_widget(row)
            self._rows.append((item, row))
        self.show("consent")

    def share(self) -> None:
        if self._online is not None:
            self._share_online()
            return
        if self._pending is None or self._consent is None:
            return
        consent = self._consent.consent([item for item, row in self._rows if row.ids.check.active])
        pending, self._pending = self._pending, None
        if self._proximity is not None:
            proximity, self._proximity = self._proximity, None
            self.work("Sending to the reader...", lambda: proximity.respond(consent),
                      lambda _r: self._sent("Shared with the reader."),
                      lambda message: self._sent(f"Not shared: {message}"))
            return
        codes = self.model.answer(pending, consent)
        self._show_codes("Your answer", "Show this to the verifier's camera.", codes, False)

    def _sent(self, message: str) -> None:
        self._screen("cards").message = message
        self.show("cards")

    def _share_online(self) -> None:
        request, self._online = self._online, None
        if request is None:
            return
        wants = "; ".join(self._consent.wants) if self._consent is not None else ""
        self.work("Sending your answer to the website...", lambda: self.model.answer_online(request),
                  lambda _r: self._sent(f"Sent to {request.asker}: {wants}."),
                  lambda message: self._sent(f"Not sent: {message}"))

    def decline(self) -> None:
        self._online = None
        if self._proximity is not None:
            proximity, self._proximity = self._proximity, None
            in_background(proximity.decline, lambda _r: None, lambda exc: log.info("decline: %s", exc))
        self._pending = None
        self.show("cards")

    def start_proximity(self) -> None:
        """Show the mdoc: engagement for a nearby reader (Bluetooth when the phone has it, and the local
        network), and wait off the UI thread for its request."""
        from didlib.session.ble.connect import find_adapter

        adapter, why = find_adapter()
        try:
            share = self.model.start_proximity(adapter=adapter, no_adapter=why)
        except DidlibError as exc:
            self._screen("request").message = plain(exc)
            return
        self._proximity = share
        self._show_codes("Show this to the reader", "Waiting for the reader's request...", [share.uri], False,
                         f"Connection: {share.bluetooth}")

        def failed(exc: BaseException) -> None:
            if self._proximity is share:
                self._proximity = None
                self._screen("request").message = plain(exc)
                self.show("request")

        in_background(share.wait_for_request, self._show_consent, failed, name="wallet-proximity")

    # ---------------------------------------------------------------------------------- peer
    def peer_check(self, text: str) -> None:
        """Check someone's identity code (its parts put together by :class:`CodeReader`)."""
        screen = self._screen("peer")
        try:
            verdict = self.model.peer_check([text])
        except DidlibError as exc:
            screen.verdict, screen.issuer, screen.has_portrait = plain(exc), "", False
            return
        if verdict is None:
            screen.verdict = "Scan the next code"
            return
        shown = verdict.display
        lines = [verdict.headline, str(shown.get("name", "")),
                 "Over 18" if shown.get("over_18") else "", "; ".join(verdict.reasons)]
        screen.verdict = "\n".join(line for line in lines if line)
        screen.issuer = f"Issued by {verdict.issuer}" if verdict.issuer else ""
        portrait = shown.get("portrait")
        screen.has_portrait = isinstance(portrait, bytes)
        if isinstance(portrait, bytes):
            screen.ids.portrait.texture = texture(portrait, "jpg")

    def share_with_person(self, name: bool, photo: bool, over_18: bool) -> None:
        """A code for someone checking who you are (renting a room, sharing a car): what the holder ticked."""
        choices = [choice for choice, on in (("name", name), ("photo", photo), ("over_18", over_18)) if on]
        if not choices:
            self._screen("peer_share").message = "Tick at least one thing to show."
            return
        self._show_identity(choices)

    def _show_identity(self, choices: list[str]) -> None:
        """The identity code, made again every few seconds while it is on screen (a checker accepts a code
        only while it is fresh, so a photo of it soon expires)."""
        try:
            codes = self.model.share_identity(choices)
        except DidlibError as exc:
            self._screen("peer_share").message = plain(exc)
            self.show("peer_share")
            return
        self._show_codes("Your identity code", "Let the other person scan this with their wallet's "
                         '"Check someone".', codes, False)
        if self._rotate is None:
            self._rotate = Clock.schedule_interval(lambda _: self._show_identity(choices), ROTATE_SECONDS)

    # ------------------------------------------------------------------------------- settings
    def change_pin(self, old: str, new: str, again: str) -> None:
        screen = self._screen("settings")
        if new != again:
            screen.message = "The two new PINs are not the same."
            return
        try:
            self.model.unlocked_store().change_pin(old, new)
            screen.message = "PIN changed."
        except DidlibError as exc:
            screen.message = plain(exc)

    def backup(self, passphrase: str, again: str) -> None:
        """An encrypted backup file, in a folder the holder picks, under a passphrase of its own."""
        screen = self._screen("settings")

        def chosen(folder: Path) -> None:
            path = folder / f"didlib-wallet-{dt.date.today():%Y-%m-%d}.{BACKUP_SUFFIX}"
            self.work("Writing the backup...", lambda: self.model.export_backup(path, passphrase, again),
                      lambda _r: setattr(screen, "message", f"Backup written to {path}"),
                      lambda message: setattr(screen, "message", f"No backup written: {message}"))

        phone.pick_folder("Choose where to keep the backup", chosen)

    def restore(self, passphrase: str, pin: str, again: str) -> None:
        """A backup file (picked with the system's picker) becomes the wallet, under a new PIN typed twice:
        also the way back for a holder who forgot the PIN."""
        screen = self._screen("restore")

        def restored(_result: object) -> None:
            screen.message = screen.ids.passphrase.text = screen.ids.pin.text = screen.ids.again.text = ""
            self._screen("cards").message = "Restored from the backup."
            self._unlocked()

        def chosen(path: str) -> None:
            self.work("Restoring...", lambda: self.model.import_backup(Path(path), passphrase, pin, again),
                      restored, lambda message: setattr(screen, "message", f"Not restored: {message}"))

        phone.pick_file("Choose the backup file", [f"*.{BACKUP_SUFFIX}"], chosen)

    def refresh_status(self) -> None:
        screen = self._screen("settings")
        self.work("Checking your credentials with their issuers...", self.model.refresh_status,
                  lambda message: setattr(screen, "message", message),
                  lambda message: setattr(screen, "message", f"Not updated: {message}"))

    def delete_everything(self, pin: str) -> None:
        """Only after the PIN, on its own screen (one stray tap on Settings deletes nothing)."""
        try:
            self.model.delete_everything(pin)
        except DidlibError as exc:
            self._screen("delete").message = plain(exc)
            return
        self._show_pin("Everything was deleted.")
