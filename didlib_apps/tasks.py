"""Work off the UI thread, and the one place an unexpected exception ends up, for both apps.

Network and file work must not freeze the screen (a phone kills an app that stops drawing) and must never
end the app: :func:`in_background` runs it on a worker thread and hands the outcome back on the Kivy thread;
:func:`catch_everything` installs the handler that logs what no one caught and tells the app, which shows a
message and goes on.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock

__all__ = ["in_background", "catch_everything"]

log = logging.getLogger("didlib_apps")
T = TypeVar("T")


def in_background(work: Callable[[], T], done: Callable[[T], None], failed: Callable[[BaseException], None],
                  name: str = "app-task") -> threading.Thread:
    """Run ``work`` on a worker thread; then ``done(result)`` or ``failed(exception)`` on the Kivy thread."""

    def run() -> None:
        try:
            result = work()
        except Exception as exc:
            log.info("background task failed: %s", "".join(traceback.format_exception(exc)))
            error = exc  # ``exc`` is unbound after the except block, before the callback runs
            Clock.schedule_once(lambda _dt: failed(error), 0)
            return
        Clock.schedule_once(lambda _dt: done(result), 0)

    thread = threading.Thread(target=run, daemon=True, name=name)
    thread.start()
    return thread


class _Report(ExceptionHandler):
    def __init__(self, report: Callable[[BaseException], None]) -> None:
        super().__init__()
        self.report = report

    def handle_exception(self, inst: BaseException) -> Any:
        if isinstance(inst, KeyboardInterrupt | SystemExit):
            return ExceptionManager.RAISE
        log.error("unexpected error: %s", "".join(traceback.format_exception(inst)))
        self.report(inst)
        return ExceptionManager.PASS


def catch_everything(report: Callable[[BaseException], None]) -> None:
    """Exceptions on the Kivy thread and on any other thread end in ``report`` (on the Kivy thread)."""
    ExceptionManager.add_handler(_Report(report))

    def from_thread(hook: threading.ExceptHookArgs) -> None:
        error = hook.exc_value
        if error is not None:
            log.error("unexpected error in %s: %s", hook.thread, "".join(traceback.format_exception(error)))
            Clock.schedule_once(lambda _dt: report(error), 0)

    threading.excepthook = from_thread
