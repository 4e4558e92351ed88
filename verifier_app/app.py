"""The verifier app's screens (Kivy). They render :class:`verifier_app.model.VerifierModel` and forward taps;
every decision is made in didlib. Readable at arm's length on a phone: sizes in dp, type in sp (it follows
the phone's text size setting), full-screen colours for the verdict.

Offline first: the app starts from its cached trust data and updates it on a worker thread; no exception
ends it (one handler logs it and shows a message). It looks for a Bluetooth adapter once at start (for ISO
18013-5 sessions with a wallet that shows an ``mdoc:`` code) and closes it on exit.
"""

from __future__ import annotations

import io
import logging
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.checkbox import CheckBox
from kivy.uix.label import Label
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

from didlib.errors import DidlibError
from didlib.qr import qr_png
from didlib.session.ble.connect import BleAdapter, find_adapter
from didlib.verifier import ReplayCache
from didlib_apps import phone
from didlib_apps.viewfinder import Viewfinder, open_camera, request_camera_permission
from verifier_app import palette
from verifier_app.config import REPLAY_FILE, AppConfig
from verifier_app.model import VerifierModel
from verifier_app.trust import TrustSource

__all__ = ["VerifierApp"]

log = logging.getLogger("verifier_app")

# Not named verifier.kv: Kivy would load that a second time by itself for VerifierApp.
Builder.load_file(str(Path(__file__).with_name("screens.kv")))


def texture(data: bytes, ext: str) -> Any:
    """A texture from image bytes, scaled smoothly (a small portrait shown large must not look blocky)."""
    loaded = CoreImage(io.BytesIO(data), ext=ext).texture
    loaded.mag_filter = "linear"
    loaded.min_filter = "linear"
    return loaded


class SetupScreen(Screen):
    message = StringProperty("")
    busy = BooleanProperty(False)


class HomeScreen(Screen):
    trust_text = StringProperty("")
    trust_stale = BooleanProperty(False)
    counts_text = StringProperty("")
    message = StringProperty("")


class ScanScreen(Screen):
    title = StringProperty("")
    hint = StringProperty("")
    message = StringProperty("")
    request_png = BooleanProperty(False)
    blocked = StringProperty("")


class ConnectScreen(Screen):
    title = StringProperty("")
    message = StringProperty("")
    bluetooth = StringProperty("")


class ResultScreen(Screen):
    headline = StringProperty("")
    details = StringProperty("")
    reasons = StringProperty("")
    action = StringProperty("")
    footer = StringProperty("")
    countdown = StringProperty("")
    background = ListProperty(list(palette.NEUTRAL))
    has_portrait = BooleanProperty(False)
    portrait_ratio = NumericProperty(4 / 3)  # height / width of the portrait
    register_button = StringProperty("")  # "Add to the register" / "Look up in the register" / "" (none)
    register_note = StringProperty("")


class PinScreen(Screen):
    prompt = StringProperty("")
    message = StringProperty("")


class SettingsScreen(Screen):
    freshness = NumericProperty(60)
    clear_after = NumericProperty(10)
    message = StringProperty("")
    register_step = StringProperty("")  # Settings.volunteer_register
    register_place = StringProperty("")


class _ShowErrors(ExceptionHandler):
    """The one place an unexpected exception ends up: logged, shown, and the app goes on."""

    def __init__(self, app: VerifierApp) -> None:
        super().__init__()
        self.app = app

    def handle_exception(self, inst: BaseException) -> Any:
        if isinstance(inst, KeyboardInterrupt | SystemExit):
            return ExceptionManager.RAISE
        self.app.report(inst)
        return ExceptionManager.PASS


class VerifierApp(App):
    title = "didlib verifier"

    def __init__(self, model: VerifierModel, config: AppConfig | None = None,
                 source: TrustSource | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.app_config = config
        self.trust_source = source
        self.busy = False
        self.stopped = False
        self._register: Any = None  # the organisation's volunteer register, opened on first use
        self._register_lock = threading.Lock()
        self._adapter_lock = threading.Lock()  # the adapter found as the app stops is closed, not kept
        model.listeners.append(lambda _: self.render())
        # an ISO 18013-5 session ends on its worker thread; the screens change on the UI thread
        model.post = lambda then: Clock.schedule_once(lambda _dt: then(), 0)

    @classmethod
    def from_config(cls, config: AppConfig) -> VerifierApp:
        """The app as configured in its state folder (the reader key and certificate, if any, loaded here)."""
        source = TrustSource(config)
        key: Any = None
        chain: list[Any] = []
        problem = ""
        try:
            key, chain = config.load_reader()
        except (DidlibError, ValueError) as exc:
            problem = f"The reader key could not be loaded: {exc}"
        # Nonces in the state folder: a code already shown is refused after a restart too.
        replay = ReplayCache(config.folder / REPLAY_FILE)
        model = VerifierModel(source.load, reader_key=key, reader_chain=chain, settings=config.settings,
                              replay=replay)
        model.message = problem
        return cls(model, config, source)

    def build(self) -> ScreenManager:
        ExceptionManager.add_handler(_ShowErrors(self))
        threading.excepthook = lambda hook: Clock.schedule_once(lambda _dt: self.report(hook.exc_value), 0)
        manager = ScreenManager(transition=NoTransition())
        for screen in (SetupScreen(), HomeScreen(), ScanScreen(), ConnectScreen(), ResultScreen(), PinScreen(),
                       SettingsScreen()):
            manager.add_widget(screen)
        self.viewfinder: Viewfinder = manager.get_screen("scan").ids.viewfinder
        Clock.schedule_interval(lambda _: self._tick(), 0.25)
        Clock.schedule_once(lambda _: self.start(), 0)
        return manager

    def start(self) -> None:
        """First screen: set-up when there is no trust data, else home and an update in the background."""
        self.render()
        threading.Thread(target=self._find_adapter, daemon=True, name="bluetooth").start()
        if self.model.has_trust() and self.app_config is not None and self.app_config.issuer:
            self.update_trust()

    def _find_adapter(self) -> None:
        """Once at start, off the UI thread (opening a USB adapter takes a moment): the Bluetooth adapter for
        ISO 18013-5 sessions, or why there is none (said on the connecting screen; sessions then use the
        local network)."""
        adapter, why = find_adapter()
        with self._adapter_lock:
            if self.stopped:
                _close(adapter)
                return
            self.model.adapter, self.model.no_adapter = adapter, "" if adapter is not None else why

    def on_stop(self) -> None:
        with self._adapter_lock:
            self.stopped = True
            _close(self.model.adapter)
            self.model.adapter = None
        with self._register_lock:
            if self._register is not None:
                self._register.close()
        if self.root is not None:
            self.viewfinder.stop()

    # ------------------------------------------------------------------------------------- errors
    def report(self, exc: BaseException | None) -> None:
        log.error("unexpected error: %s", "".join(traceback.format_exception(exc)) if exc else "")
        if self.root is None:
            return
        words = exc.message if isinstance(exc, DidlibError) else "Something went wrong"
        self.model.message = f"{words}. The app is still working: try again."
        self.render()

    def in_background(self, work: Callable[[], str], then: Callable[[str], None]) -> None:
        """Run ``work`` off the UI thread (network, files) and hand its message to ``then`` on the UI thread."""

        def run() -> None:
            try:
                message = work()
            except Exception as exc:  # the handler's job, on the UI thread
                log.error("background task failed: %s", "".join(traceback.format_exception(exc)))
                message = f"Something went wrong: {exc}"
            Clock.schedule_once(lambda _dt: then(message), 0)

        threading.Thread(target=run, daemon=True, name="verifier-task").start()

    # ------------------------------------------------------------------------------------- render
    def render(self) -> None:
        if self.root is None:
            return
        model = self.model
        if self.root.current in ("pin", "settings") and model.state in ("home", "setup"):
            return
        if model.state == "setup" or (model.state == "home" and not model.has_trust()):
            setup = self.root.get_screen("setup")
            setup.message, setup.busy = model.message, self.busy
            if not setup.ids.issuer.text and self.app_config is not None and self.app_config.issuer:
                setup.ids.issuer.text = self.app_config.issuer
            self._show("setup")
        elif model.state == "home":
            home = self.root.get_screen("home")
            home.trust_text, home.trust_stale = model.trust_status()
            counts = model.counts
            home.counts_text = (f"Checks today: {counts.get('checks', 0)} (accepted {counts.get('accept', 0)}, "
                                f"refused {counts.get('reject', 0)}, referred {counts.get('refer', 0)})")
            home.message = model.message
            self._show("home")
        elif model.state == "scanning":
            self._render_scan()
        elif model.state == "connecting":
            connect = self.root.get_screen("connect")
            connect.title = model.check.title if model.check else ""
            connect.message = model.message
            connect.bluetooth = ("Bluetooth when the phone offers it, else the local network"
                                 if model.adapter is not None else
                                 f"Local network ({model.no_adapter or 'no Bluetooth adapter'})")
            self._show("connect")
        elif model.state == "result" and model.verdict is not None:
            self._render_result()

    def _show(self, name: str) -> None:
        if name != "scan":
            self.viewfinder.stop()
        self.root.current = name

    def _render_scan(self) -> None:
        scan = self.root.get_screen("scan")
        model = self.model
        scan.title = model.check.title if model.check else ""
        scan.blocked = model.blocked
        if model.request_qr:
            scan.hint = "Ask the person to scan this code with their wallet, then hold their answer up to the camera"
            scan.ids.request.texture = texture(qr_png(model.request_qr, "L", box_size=5), "png")
            scan.request_png = True
        else:
            scan.hint = "" if model.blocked else "Hold the code on the customer's phone inside the frame"
            scan.request_png = False
        scan.message = model.message or self.viewfinder.error
        if self.root.current != "scan":
            self.root.current = "scan"
            if not model.blocked:
                self.start_camera()

    def start_camera(self) -> None:
        camera = self.app_config.camera if self.app_config is not None else "0"

        def granted(ok: bool) -> None:
            if not ok:
                self.viewfinder.error = "The camera is not allowed: allow it in the phone's settings, or use a picture"
                self.render()
                return
            self.viewfinder.start(lambda: open_camera(camera), self.model.codes)

        request_camera_permission(granted)

    def _render_result(self) -> None:
        verdict = self.model.verdict
        if verdict is None:
            return
        result = self.root.get_screen("result")
        result.headline = verdict.headline
        result.background = list(palette.VERDICT.get(verdict.decision, palette.NEUTRAL))
        portrait = verdict.display.get("portrait")
        result.has_portrait = isinstance(portrait, bytes)
        if isinstance(portrait, bytes):
            try:
                shown = texture(portrait, "jpg")
                result.ids.portrait.texture = shown
                result.portrait_ratio = shown.height / max(shown.width, 1)
            except Exception:  # a portrait Kivy cannot draw is left out, the verdict still shows
                result.has_portrait = False
        lines = []
        display = verdict.display
        if "name" in display:
            lines.append(display["name"])
        if "dbs_level" in display:
            lines.append(f"DBS {display['dbs_level'].replace('_', ' ')}, {display.get('workforce', '')} workforce")
            children, adults = (display.get(k, "not shown").replace("_", " ")
                                for k in ("barred_list_children", "barred_list_adults"))
            lines.append(f"Barred lists: children {children}, adults {adults}")
            if display.get("update_service_checked"):
                lines.append(f"Update Service checked {display['update_service_checked']}")
            if not any("same person" in reason for reason in verdict.reasons):
                proven = "proven" if display.get("same_holder_proven") else "NOT proven"
                lines.append(f"Same person as the licence: {proven}")
        result.details = "\n".join(lines)
        result.reasons = "\n".join(r[:1].upper() + r[1:] for r in verdict.reasons)
        result.action = verdict.action
        issued = f"Issuer: {verdict.issuer}" if verdict.issuer else ""
        until = f", valid until {verdict.valid_until:%d %b %Y}" if verdict.valid_until else ""
        result.footer = issued + until + (" (trust list out of date)" if verdict.stale else "")
        if self.model.link_note:
            result.footer += ("\n" if result.footer else "") + f"Read over {self.model.link_note}"
        result.register_button = self.model.register_offer()
        result.register_note = self.model.register_note
        self._update_countdown()
        self._show("result")

    def use_register(self) -> None:
        """The result screen's register button (the model runs it off the UI thread)."""
        self.model.use_register(self.open_register, actor="verifier-app")

    def open_register(self) -> Any:
        """The register, opened once (on the model's worker thread) and kept until the app stops."""
        with self._register_lock:
            if self._register is None:
                if self.app_config is None:
                    raise DidlibError("this till has no state folder for a register", code="no_register")
                self._register = self.app_config.open_register()
            return self._register

    def _update_countdown(self) -> None:
        left = self.model.seconds_left()
        self.root.get_screen("result").countdown = f"Clears in {left} s" if left else ""

    def _tick(self) -> None:
        self.model.tick()
        if self.model.state == "result":
            self._update_countdown()
        elif self.model.state == "scanning" and self.root.current == "scan":
            self.root.get_screen("scan").message = self.model.message or self.viewfinder.error

    # ------------------------------------------------------------------------------------- input
    def pick_file(self, title: str, filters: list[str], chosen: Callable[[str], None]) -> None:
        """The system's file picker on a phone, a chooser on a desktop (shared with the wallet)."""
        phone.pick_file(title, filters, chosen)

    def pick_image(self) -> None:
        self.pick_file("Choose a picture of the code", ["*.png", "*.jpg", "*.jpeg"], self.model.image)

    def update_trust(self) -> None:
        """Update the trust list off the UI thread; the message says what happened (and what is kept)."""
        if self.trust_source is None:
            self.model.message = "No issuer to update from"
            self.render()
            return
        if self.busy:
            return
        self.busy = True
        self.model.message = "Updating the trust list..."
        self.render()
        self.in_background(self.trust_source.refresh, self._updated)

    def connect(self, issuer: str) -> None:
        """Set-up: the first connection to an issuer (pins its trust list key) and a first download."""
        if self.trust_source is None or self.busy:
            return
        self.busy = True
        self.model.message = "Connecting..."
        self.render()
        self.in_background(lambda: self.trust_source.connect(issuer), self._updated)  # type: ignore[union-attr]

    def load_trust_file(self) -> None:
        if self.trust_source is None:
            return
        source = self.trust_source

        def chosen(path: str) -> None:
            self.in_background(lambda: source.load_file(path), self._updated)

        self.pick_file("Choose a trust list or certificate file", ["*.jwt", "*.pem"], chosen)

    def _updated(self, message: str) -> None:
        self.busy = False
        self.model.message = message
        if self.model.state == "setup" and self.model.has_trust():
            self.model.state = "home"
        self.render()

    # --------------------------------------------------------------------------------- settings
    def open_settings(self) -> None:
        """Settings sit behind the operator PIN (chosen the first time)."""
        pin = self.root.get_screen("pin")
        has_pin = self.app_config is not None and self.app_config.has_pin
        pin.prompt = "Operator PIN" if has_pin else "Choose an operator PIN (at least 4 digits)"
        pin.message = ""
        pin.ids.pin.text = ""
        self.root.current = "pin"

    def enter_pin(self, text: str) -> None:
        pin = self.root.get_screen("pin")
        config = self.app_config
        if config is None:
            return
        if config.has_pin:
            if not config.check_pin(text):
                pin.message, pin.ids.pin.text = "Wrong PIN", ""
                return
        else:
            try:
                config.set_pin(text)
            except ValueError as exc:
                pin.message = str(exc).capitalize()
                return
        self._settings_shown()
        self.root.current = "settings"

    def close_settings(self) -> None:
        if self.app_config is not None:
            self.app_config.save()
        self.root.current = "home"
        self.render()

    def _settings_shown(self) -> None:
        screen = self.root.get_screen("settings")
        screen.freshness = self.model.settings.freshness_seconds
        screen.clear_after = self.model.settings.clear_after_seconds
        screen.register_step = self.model.settings.volunteer_register
        screen.register_place = f"Register: {self.app_config.register_place()}" if self.app_config else ""
        box = screen.ids.issuers
        box.clear_widgets()
        for name, on in self.model.trusted_issuers():
            row = BoxLayout(size_hint_y=None, height=dp(48), spacing=dp(8))
            check = CheckBox(active=on, size_hint_x=None, width=dp(48), color=palette.INK)
            check.bind(active=lambda _w, value, n=name: self._trust_issuer(n, value))
            row.add_widget(check)
            label = Label(text=name, color=palette.INK, font_size=sp(18), halign="left", valign="middle",
                          shorten=True, shorten_from="right")
            label.bind(size=lambda w, size: setattr(w, "text_size", size))
            row.add_widget(label)
            box.add_widget(row)

    def load_reader(self) -> None:
        """Settings: the organisation's reader key, then its certificate, for volunteer and peer checks."""
        config = self.app_config
        if config is None:
            return

        def key_chosen(key_file: str) -> None:
            def cert_chosen(cert_file: str) -> None:
                message = config.store_reader(key_file, cert_file)
                key, chain = config.load_reader() if message.startswith("Reader key loaded") else (None, [])
                if key is not None:
                    self.model.reader_key, self.model.reader_chain = key, chain
                self.root.get_screen("settings").message = message

            self.pick_file("Now choose the reader certificate (PEM)", ["*.pem", "*.crt"], cert_chosen)

        self.pick_file("Choose the reader key (PEM)", ["*.pem", "*.key"], key_chosen)

    def set_register_step(self, step: str) -> None:
        """Settings: what a volunteer check that clears someone offers (saved with "Save and go back")."""
        self.model.settings.volunteer_register = step
        self.root.get_screen("settings").register_step = step

    def _trust_issuer(self, name: str, on: bool) -> None:
        (self.model.settings.distrusted.discard if on else self.model.settings.distrusted.add)(name)


def _close(adapter: BleAdapter | None) -> None:
    close = getattr(adapter, "close", None)
    if close is not None:
        close()
