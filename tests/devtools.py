"""Headless Chromium driven over the Chrome DevTools Protocol, for pages whose script must meet a stand-in:
``--remote-debugging-pipe`` (the browser reads commands on fd 3 and writes replies and events on fd 4, each a
JSON message ended by NUL), so no port, no websocket library and no test hook in the page served."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _above(fd: int, lowest: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, lowest)
    os.close(fd)
    return moved


class DevTools:
    """One headless Chromium with one page (tab); :meth:`call` sends a command to it and waits for the reply,
    handing every event met on the way to ``on_event``."""

    def __init__(self, chromium: str, profile: Path, on_event: Callable[[dict[str, Any]], None] | None = None):
        to_browser, self._commands = os.pipe()
        self._events, from_browser = os.pipe()
        # above 4, so that placing one end on fd 3 or 4 never overwrites the other
        to_browser, from_browser = (_above(fd, 10) for fd in (to_browser, from_browser))
        argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--no-first-run", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", "--window-size=600,900", "about:blank"]
        # a small Python puts the pipe ends on fds 3 and 4, where Chromium looks for them, and becomes Chromium
        place = (f"import os; os.dup2({to_browser}, 3); os.dup2({from_browser}, 4); "
                 f"os.close({to_browser}); os.close({from_browser}); os.execv({argv[0]!r}, {argv!r})")
        self.proc = subprocess.Popen([sys.executable, "-c", place], pass_fds=(to_browser, from_browser),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self.on_event = on_event or (lambda _: None)
        self._buffer = b""
        self._next = 0
        self.session = ""
        page = next(t for t in self.call("Target.getTargets", browser=True)["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", browser=True, targetId=page["targetId"],
                                 flatten=True)["sessionId"]

    def call(self, method: str, *, browser: bool = False, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if not browser:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply is None:
                raise TimeoutError(f"no reply to {method}")
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result
            if "method" in reply:
                self.on_event(reply)

    def pump(self, seconds: float) -> None:
        """Hand the events of the next ``seconds`` to ``on_event``."""
        deadline = time.monotonic() + seconds
        while (event := self._receive(deadline)) is not None:
            if "method" in event:
                self.on_event(event)

    def evaluate(self, expression: str, **options: Any) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True,
                           **options)
        if "exceptionDetails" in result:
            raise RuntimeError(str(result["exceptionDetails"])[:500])
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        """Poll a page expression (handing events on) until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            self.pump(0.2)
        raise TimeoutError(f"never true: {expression}")

    def _receive(self, deadline: float) -> dict[str, Any] | None:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._events], [], [], left)[0]:
                return None
            chunk = os.read(self._events, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium has gone")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        value: dict[str, Any] = json.loads(message)
        return value

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", browser=True, timeout=10)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._commands)
        os.close(self._events)
