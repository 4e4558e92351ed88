"""What a phone app needs from Android that a desktop does without: links handed over in intents, the screen's
brightness, and the system's file picker. Each call works on both: pyjnius, python-for-android's ``android``
module and plyer are imported only on Android (they are in the phone builds' requirements).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.filechooser import FileChooserListView
from kivy.uix.popup import Popup
from kivy.utils import platform

__all__ = ["launch_link", "on_new_link", "screen_brightness", "pick_file", "pick_folder", "shared_folder"]


def _activity() -> Any:
    from jnius import autoclass  # pyjnius: only in the Android build

    return autoclass("org.kivy.android.PythonActivity").mActivity


def launch_link() -> str | None:
    """The link the app was started with (an ``openid4vp://`` or ``openid-credential-offer://`` link the
    phone routed here by the manifest's intent filters), or None."""
    if platform != "android":
        return None
    data: str | None = _activity().getIntent().getDataString()
    return data


def on_new_link(handle: Callable[[str], None]) -> None:
    """Links tapped while the app is already running arrive as new intents (``singleTask`` activity); each
    is handed to ``handle`` on the Kivy thread. Nothing to do on a desktop (the link is an argument)."""
    if platform != "android":
        return
    from android import activity  # python-for-android

    def new_intent(intent: Any) -> None:
        link = intent.getDataString()
        if link:
            Clock.schedule_once(lambda _dt: handle(str(link)), 0)

    activity.bind(on_new_intent=new_intent)


def screen_brightness(full: bool) -> None:
    """Full brightness while a code is on screen (a scanner reads a bright screen at once), back to the
    user's setting after. ``WindowManager.LayoutParams.screenBrightness``: 1.0, or -1 for the user's."""
    if platform != "android":
        return
    from android.runnable import run_on_ui_thread  # python-for-android: window changes on Android's UI thread

    @run_on_ui_thread
    def apply() -> None:
        window = _activity().getWindow()
        params = window.getAttributes()
        params.screenBrightness = 1.0 if full else -1.0
        window.setAttributes(params)

    apply()


def shared_folder() -> Path:
    """Where a file the user keeps (a backup) is written: the home folder on a desktop; on Android the app's
    folder on shared storage (``Android/data/<package>/files``, reachable from a computer and the Files app
    with no storage permission), as plyer's Android file chooser only opens files."""
    if platform != "android":
        return Path.home()
    return Path(str(_activity().getExternalFilesDir(None).getAbsolutePath()))


def pick_file(title: str, filters: list[str], chosen: Callable[[str], None]) -> None:
    """The system's file picker on Android (plyer); a Kivy chooser elsewhere. ``chosen`` gets the path on the
    Kivy thread; nothing happens if the user cancels."""
    if platform == "android":
        from plyer import filechooser

        def selected(selection: list[str] | None) -> None:
            if selection:
                Clock.schedule_once(lambda _dt: chosen(selection[0]), 0)

        filechooser.open_file(on_selection=selected, title=title)
        return
    chooser = FileChooserListView(filters=filters, path=str(shared_folder()))
    popup = Popup(title=title, content=chooser, size_hint=(0.95, 0.9), title_size=sp(18))

    def submit(_chooser: FileChooserListView, selection: list[str], _touch: object) -> None:
        popup.dismiss()
        if selection:
            chosen(selection[0])

    chooser.bind(on_submit=submit)
    popup.open()


def pick_folder(title: str, chosen: Callable[[Path], None]) -> None:
    """Where to save a file: a Kivy folder chooser with a "Save here" button on a desktop; on Android (plyer's
    chooser there only opens files) the app's folder on shared storage, without asking."""
    if platform == "android":
        chosen(shared_folder())
        return
    layout = BoxLayout(orientation="vertical", spacing=dp(8))
    chooser = FileChooserListView(path=str(shared_folder()), filters=[lambda folder, name: Path(folder, name).is_dir()])
    save = Button(text="Save here", size_hint_y=None, height=dp(52), font_size=sp(18))
    layout.add_widget(chooser)
    layout.add_widget(save)
    popup = Popup(title=title, content=layout, size_hint=(0.95, 0.9), title_size=sp(18))

    def done(_button: Button) -> None:
        popup.dismiss()
        chosen(Path(chooser.path))

    save.bind(on_release=done)
    popup.open()
