"""Where frames come from: the device camera in the app, a fake camera that plays pictures in tests.

Both hand RGBA frames to a callback; the model decodes them with didlib's one decode function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = ["FrameSource", "FakeCamera"]

FrameCallback = Callable[[bytes, int, int], None]


class FrameSource(Protocol):
    def next_frame(self) -> tuple[bytes, int, int] | None: ...


class FakeCamera:
    """Plays a fixed list of RGBA frames (rendered wallet QR codes), one per call, then nothing."""

    def __init__(self, frames: Sequence[tuple[bytes, int, int]]) -> None:
        self._frames = list(frames)

    def load(self, frames: Sequence[tuple[bytes, int, int]]) -> None:
        self._frames = list(frames)

    def next_frame(self) -> tuple[bytes, int, int] | None:
        return self._frames.pop(0) if self._frames else None
