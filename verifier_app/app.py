"""The verifier app's screens (Kivy). They render :class:`verifier_app.model.VerifierModel` and forward taps;
every decision is made in didlib. Readable at arm's length: big type, full-screen colours for the verdict.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.checkbox import CheckBox
from kivy.uix.filechooser import FileChooserListView
from kivy.uix.label import Label
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

from didlib.qr import qr_png
from verifier_app.camera import FrameSource
from verifier_app.model import VerifierModel

__all__ = ["VerifierApp"]

# Not named verifier.kv: Kivy would load that a second time by itself for VerifierApp.
Builder.load_file(str(Path(__file__).with_name("screens.kv")))

COLOURS = {"accept": (0.05, 0.55, 0.22, 1), "reject": (0.78, 0.1, 0.1, 1), "refer": (0.85, 0.5, 0.0, 1)}


def texture(data: bytes, ext: str) -> Any:
    return CoreImage(io.BytesIO(data), ext=ext).texture


class HomeScreen(Screen):
    trust_text = StringProperty("")
    trust_stale = BooleanProperty(False)
    counts_text = StringProperty("")


class ScanScreen(Screen):
    title = StringProperty("")
    hint = StringProperty("")
    message = StringProperty("")
    request_png = BooleanProperty(False)


class ResultScreen(Screen):
    headline = StringProperty("")
    details = StringProperty("")
    reasons = StringProperty("")
    footer = StringProperty("")
    background = ListProperty([0.5, 0.5, 0.5, 1])
    has_portrait = BooleanProperty(False)


class SettingsScreen(Screen):
    freshness = NumericProperty(60)
    clear_after = NumericProperty(10)


class VerifierApp(App):
    title = "didlib verifier"

    def __init__(self, model: VerifierModel, camera: FrameSource | None = None,
                 refresh: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.camera = camera
        self._refresh = refresh
        model.listeners.append(lambda _: self.render())

    def build(self) -> ScreenManager:
        manager = ScreenManager(transition=NoTransition())
        for screen in (HomeScreen(), ScanScreen(), ResultScreen(), SettingsScreen()):
            manager.add_widget(screen)
        manager.bind(current=lambda *_: self._settings_shown() if manager.current == "settings" else None)
        Clock.schedule_interval(lambda _: self._camera_tick(), 0.2)
        Clock.schedule_interval(lambda _: self.model.tick(), 1.0)
        Clock.schedule_once(lambda _: self.render(), 0)
        return manager

    # ------------------------------------------------------------------------------------- render
    def render(self) -> None:
        if self.root is None:
            return
        model = self.model
        if model.state == "home":
            home = self.root.get_screen("home")
            home.trust_text, home.trust_stale = model.trust_status()
            counts = model.counts
            home.counts_text = (f"Checks today: {counts.get('checks', 0)}  (accepted {counts.get('accept', 0)}, "
                                f"refused {counts.get('reject', 0)}, referred {counts.get('refer', 0)})")
            if self.root.current != "settings":
                self.root.current = "home"
        elif model.state == "scanning":
            self._render_scan()
        elif model.state == "result" and model.verdict is not None:
            self._render_result()

    def _render_scan(self) -> None:
        scan = self.root.get_screen("scan")
        model = self.model
        scan.title = model.check.title if model.check else ""
        if model.request_qr:
            scan.hint = "Ask the person to scan this code with their wallet, then show their answer to the camera"
            scan.ids.request.texture = texture(qr_png(model.request_qr, "L", box_size=5), "png")
            scan.request_png = True
        else:
            scan.hint = "Point the camera at the code on the customer's phone"
            scan.request_png = False
        scan.message = model.message or ("" if self.camera else "No camera found: use a picture of the code")
        self.root.current = "scan"

    def _render_result(self) -> None:
        verdict = self.model.verdict
        if verdict is None:
            return
        result = self.root.get_screen("result")
        result.headline = verdict.headline
        result.background = list(COLOURS.get(verdict.decision, (0.3, 0.3, 0.3, 1)))
        portrait = verdict.display.get("portrait")
        result.has_portrait = isinstance(portrait, bytes)
        if isinstance(portrait, bytes):
            result.ids.portrait.texture = texture(portrait, "jpg")
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
        result.reasons = "\n".join(verdict.reasons)
        issued = f"Issuer: {verdict.issuer}" if verdict.issuer else ""
        until = f"  valid until {verdict.valid_until:%d %b %Y}" if verdict.valid_until else ""
        result.footer = issued + until + ("   (trust data out of date)" if verdict.stale else "")
        self.root.current = "result"

    def _settings_shown(self) -> None:
        screen = self.root.get_screen("settings")
        screen.freshness = self.model.settings.freshness_seconds
        screen.clear_after = self.model.settings.clear_after_seconds
        box = screen.ids.issuers
        box.clear_widgets()
        for name, on in self.model.trusted_issuers():
            row = BoxLayout(size_hint_y=None, height=44)
            check = CheckBox(active=on, size_hint_x=None, width=48, color=(0.1, 0.1, 0.12, 1))
            check.bind(active=lambda _w, value, n=name: self._trust_issuer(n, value))
            row.add_widget(check)
            row.add_widget(Label(text=name, color=(0.1, 0.1, 0.12, 1), font_size=20, halign="left",
                                 text_size=(400, None)))
            box.add_widget(row)

    def _trust_issuer(self, name: str, on: bool) -> None:
        (self.model.settings.distrusted.discard if on else self.model.settings.distrusted.add)(name)

    # ------------------------------------------------------------------------------------- input
    def _camera_tick(self) -> None:
        if self.camera is None or self.model.state != "scanning":
            return
        frame = self.camera.next_frame()
        if frame is not None:
            self.model.frame(*frame)

    def pick_image(self) -> None:
        chooser = FileChooserListView(filters=["*.png", "*.jpg", "*.jpeg"], path=str(Path.home()))
        popup = Popup(title="Choose a picture of the code", content=chooser, size_hint=(0.95, 0.9))

        def chosen(_chooser: FileChooserListView, selection: list[str], _touch: object) -> None:
            popup.dismiss()
            self.model.image(selection[0])

        chooser.bind(on_submit=chosen)
        popup.open()

    def update_trust(self) -> None:
        if self._refresh is None:
            self.model.message = "No issuer configured to update from"
        else:
            self.model.message = self._refresh()
        self.render()
