"""What the UI drivers share: Kivy set up for a headless run (this module must be imported before any other
Kivy import), and a driver that runs steps on the Kivy clock, taps like a finger, screenshots screens and
writes ``results.json`` (with the first error, if a step failed)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.update(KIVY_NO_ARGS="1", KIVY_NO_FILELOG="1", KIVY_NO_CONSOLELOG="1", KIVY_HOME=tempfile.mkdtemp(),
                  KIVY_USE_DEFAULTCONFIG="1", KIVY_METRICS_DENSITY="1")

from kivy.config import Config

Config.set("graphics", "width", "540")
Config.set("graphics", "height", "960")

from kivy.clock import Clock  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402
from kivy.uix.button import Button  # noqa: E402


class StepDriver:
    """Steps run one per clock tick; a ``lambda: None`` step waits a tick (for threads, the camera, redraws)."""

    def __init__(self, app: Any, out: Path) -> None:
        self.app, self.out = app, out
        self.results: dict[str, Any] = {}
        self.steps: list[Callable[[], object]] = []

    def widgets(self, kind: type) -> list[Any]:
        return [w for w in self.app.root.current_screen.walk() if isinstance(w, kind)]

    def touch(self, widget: Any) -> None:
        x, y = widget.to_window(*widget.center)
        finger = UnitTestTouch(x, y)
        finger.touch_down()
        finger.touch_up()

    def tap(self, text: str) -> None:
        button = next((w for w in self.widgets(Button) if w.text == text), None)
        if button is None:
            raise LookupError(f"no button {text!r} on {self.app.root.current}")
        self.touch(button)

    def shot(self, name: str) -> None:
        Window.canvas.ask_update()
        self.app.root.current_screen.export_to_png(str(self.out / f"{name}.png"))

    def start(self, interval: float) -> None:
        Clock.schedule_interval(self._step, interval)

    def _step(self, _dt: float) -> bool:
        if not self.steps:
            return False
        transition = getattr(self.app.root, "transition", None)
        if transition is not None and transition.is_active:
            return True  # a screen still sliding in: a tap now would land beside its button (seen under load)
        try:
            self.steps.pop(0)()
        except Exception as exc:  # report and stop: the test shows what went wrong
            self.results["error"] = f"{type(exc).__name__}: {exc}"
            self.finish()
            return False
        return True

    def report(self) -> None:
        """Add what the test checks at the end (overridden by each driver)."""

    def finish(self) -> None:
        self.report()
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1))
        self.steps = []
        self.app.stop()
