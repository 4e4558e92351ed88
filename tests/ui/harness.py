"""What the UI drivers share: Kivy set up for a headless run (this module must be imported before any other
Kivy import), and a driver that runs steps on the Kivy clock, taps like a finger, screenshots screens and
writes ``results.json`` (with the first error, if a step failed)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# UI_DENSITY=2 draws every dp and sp at two pixels, as on a high-density phone (sizes built from raw pixels
# would come out half as large as the rest).
os.environ.update(KIVY_NO_ARGS="1", KIVY_NO_FILELOG="1", KIVY_NO_CONSOLELOG="1", KIVY_HOME=tempfile.mkdtemp(),
                  KIVY_USE_DEFAULTCONFIG="1", KIVY_METRICS_DENSITY=os.environ.get("UI_DENSITY", "1"))

from kivy.config import Config

# The window size in dp: UI_SIZE=360x780 is a small phone in portrait.
_density = float(os.environ["KIVY_METRICS_DENSITY"])
_width, _height = (int(float(v) * _density) for v in os.environ.get("UI_SIZE", "540x960").split("x"))
Config.set("graphics", "width", str(_width))
Config.set("graphics", "height", str(_height))

from kivy.clock import Clock  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402
from kivy.uix.button import Button  # noqa: E402

_RUNNING: list[StepDriver] = []  # drivers started in this process


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

    def wait_for(self, condition: Callable[[], object], seconds: float = 60.0, deadline: float | None = None) -> None:
        """Repeat this step (a tick at a time) until ``condition`` holds or ``seconds`` have passed (a
        loaded machine slows worker threads and the camera down, so the limit is in time, not in ticks)."""
        deadline = time.monotonic() + seconds if deadline is None else deadline
        if not condition() and time.monotonic() < deadline:
            self.steps.insert(0, lambda: self.wait_for(condition, seconds, deadline))

    def at_sizes(self, name: str, sizes: list[tuple[int, int]]) -> None:
        """Screenshot the current screen and check its layout at each window size in dp (``name-WxH.png``,
        layout ``name-WxH``), then go back to the size it had: one run covers every size."""
        before = tuple(Window.size)
        follow: list[Callable[[], object]] = []
        for width, height in sizes:
            tag = f"{name}-{width}x{height}"
            size = (int(width * _density), int(height * _density))  # the window is in pixels
            follow += [lambda size=size: setattr(Window, "size", size), lambda: None, lambda: None,
                       lambda t=tag: self.shot(t), lambda t=tag: self.layout(t)]
        follow += [lambda: setattr(Window, "size", before), lambda: None]
        self.steps[:0] = follow

    def start(self, interval: float) -> None:
        # Kivy's clock holds a bound method weakly: without a strong reference the driver could be collected
        # half-way (it was, at random steps, once a run allocated enough for a cyclic garbage collection).
        _RUNNING.append(self)
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

    def layout(self, name: str) -> None:
        """Record what is wrong with the current screen's layout (see :func:`layout_problems`)."""
        self.results.setdefault("layout", {})[name] = layout_problems(self.app.root.current_screen)

    def report(self) -> None:
        """Add what the test checks at the end (overridden by each driver)."""

    def finish(self) -> None:
        try:
            self.report()
        except Exception as exc:  # still write the results and stop: an app that goes on would hang the test
            self.results.setdefault("error", f"report: {type(exc).__name__}: {exc}")
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1))
        self.steps = []
        self.app.stop()


def _shown(widget: Any) -> bool:
    return widget.opacity > 0 and widget.width > 0 and widget.height > 0


def layout_problems(screen: Any) -> list[str]:
    """Text that does not fit its widget (clipped or spilling out), widgets outside the window, and sibling
    widgets in a layout that overlap: what a person would see as broken at this window size."""
    from kivy.uix.label import Label
    from kivy.uix.layout import Layout
    from kivy.uix.scrollview import ScrollView

    problems: list[str] = []
    win_w, win_h = Window.size
    scrolled = {id(w) for s in screen.walk() if isinstance(s, ScrollView) for w in s.walk(restrict=True) if w is not s}
    for widget in screen.walk():
        if not _shown(widget) or any(not _shown(p) for p in _parents(widget, screen)):
            continue
        name = f"{type(widget).__name__}({getattr(widget, 'text', '')[:30]!r})"
        if isinstance(widget, Label) and widget.text:
            widget.texture_update()
            tw, th = widget.texture_size
            if tw > widget.width + 1 or th > widget.height + 1:
                problems.append(f"{name}: text {tw:.0f}x{th:.0f} does not fit {widget.width:.0f}x{widget.height:.0f}")
        if id(widget) not in scrolled:
            x, y = widget.to_window(widget.x, widget.y)
            if x < -1 or y < -1 or x + widget.width > win_w + 1 or y + widget.height > win_h + 1:
                problems.append(f"{name}: outside the window at {x:.0f},{y:.0f} {widget.width:.0f}x{widget.height:.0f}")
        if isinstance(widget, Layout):
            kids = [c for c in widget.children if _shown(c)]
            for i, a in enumerate(kids):
                for b in kids[i + 1 :]:
                    if a.x < b.right - 1 and b.x < a.right - 1 and a.y < b.top - 1 and b.y < a.top - 1:
                        first, second = (f"{type(c).__name__}({getattr(c, 'text', '')[:20]!r})" for c in (a, b))
                        problems.append(f"{first} overlaps {second} in {type(widget).__name__}")
    return problems


def _parents(widget: Any, top: Any) -> list[Any]:
    out = []
    parent = widget.parent
    while parent is not None and widget is not top and parent is not top:
        out.append(parent)
        parent = parent.parent
    return out
