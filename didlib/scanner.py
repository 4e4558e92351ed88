"""From camera frames to scanned QR texts: the one path a till, a wallet and ``didlib check --video`` share.

A :class:`FrameSource` hands out greyscale frames (what the decoder reads; a colour copy for a viewfinder
when the source has one). :class:`VideoSource` opens a camera index or a video file alike through
OpenCV's ``VideoCapture`` (``opencv-python-headless``, the ``apps`` extra), so a recorded video stands in
for the camera in demos and tests through the very same path. :class:`Scanner` decodes each frame with
:func:`didlib.qr.decode_luminance` and passes on each text once per appearance (a camera sees the same code
many frames running). :func:`scan_video` drives a :class:`~didlib.verifier.VerifierEngine` to a verdict.

No GUI here: the apps draw their viewfinder over this module (``didlib_apps.viewfinder``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from didlib.errors import DecodeError, NoCamera
from didlib.qr import decode_luminance

if TYPE_CHECKING:
    from didlib.verifier import Verdict, VerifierEngine

__all__ = ["Frame", "FrameSource", "VideoSource", "Scanner", "camera_spec", "scan_video", "write_code_video"]

MAX_FRAME_PIXELS = 4096 * 4096
MAX_VIDEO_FRAMES = 20_000  # about 11 minutes at 30 frames a second: a till's video, not a film


@dataclass(frozen=True)
class Frame:
    """One frame: 8-bit greyscale ``luminance`` (width * height bytes) for the decoder, and optionally a
    ``preview`` of the same frame in colour (``preview_format`` is a Kivy colour format: bgr, rgb, rgba)."""

    luminance: bytes
    width: int
    height: int
    preview: bytes | None = None
    preview_format: str = "bgr"


class FrameSource(Protocol):
    def read(self) -> Frame | None:
        """The next frame, or None when there is none yet (a camera warming up) or no more (end of a file)."""
        ...

    def close(self) -> None: ...


def camera_spec(text: str | int) -> int | str:
    """``--camera 0`` is the first camera, anything else a video file path."""
    if isinstance(text, int):
        return text
    return int(text) if text.strip().isdigit() else text


class VideoSource:
    """A camera (by index) or a video file (by path) through OpenCV. A file can ``loop``, as a demo till's
    camera never runs out; frames are mirrored, rotated or noisy as the camera gives them."""

    def __init__(self, source: int | str | Path, loop: bool = False) -> None:
        try:
            import cv2
        except ImportError as exc:  # pragma: no cover - the apps extra installs it
            raise NoCamera("reading a camera or a video needs OpenCV (pip install 'didlib[apps]')") from exc
        self._cv2: Any = cv2
        self.source = camera_spec(str(source) if isinstance(source, Path) else source)
        if isinstance(self.source, str) and not Path(self.source).is_file():
            raise NoCamera(f"no video file {self.source}")
        self._capture: Any = cv2.VideoCapture(self.source)
        if not self._capture.isOpened():
            raise NoCamera(f"cannot open camera or video {self.source}")
        self.loop = loop and isinstance(self.source, str)
        self.frames_read = 0
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps < 1000 else 30.0

    def read(self) -> Frame | None:
        ok, image = self._capture.read()
        if not ok and self.loop and self.frames_read:
            self._capture.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._capture.read()
        if not ok or image is None:
            return None
        self.frames_read += 1
        if image.ndim == 2:
            grey = image
            image = self._cv2.cvtColor(image, self._cv2.COLOR_GRAY2BGR)
        else:
            grey = self._cv2.cvtColor(image, self._cv2.COLOR_BGR2GRAY)
        height, width = grey.shape[:2]
        if width * height > MAX_FRAME_PIXELS:
            raise DecodeError(f"a {width}x{height} frame is too large to scan")
        return Frame(grey.tobytes(), width, height, image.tobytes(), "bgr")

    def frames(self) -> Iterator[Frame]:
        """Every frame of a file (at most :data:`MAX_VIDEO_FRAMES`), or of a camera until it stops."""
        for _ in range(MAX_VIDEO_FRAMES):
            frame = self.read()
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        self._capture.release()


@dataclass
class Scanner:
    """Decodes frames and reports each QR text when it appears, not again while it stays in view (a text
    is new once it has been out of view for ``forget_after`` seconds)."""

    forget_after: float = 2.0
    _last_seen: dict[str, float] = field(default_factory=dict)

    def scan(self, frame: Frame, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        try:
            texts = decode_luminance(frame.luminance, frame.width, frame.height)
        except DecodeError:
            return []
        self._last_seen = {t: seen for t, seen in self._last_seen.items() if now - seen <= self.forget_after}
        new = [t for t in dict.fromkeys(texts) if t not in self._last_seen]
        for text in texts:
            self._last_seen[text] = now
        return new

    def reset(self) -> None:
        """Forget what is in view (a new check starts: the code still held up counts again)."""
        self._last_seen.clear()


def scan_video(source: FrameSource, engine: VerifierEngine, fps: float = 30.0) -> Verdict | None:
    """Feed every frame's new codes to ``engine`` until it reaches a verdict (None if the video ends first).
    Time in the scanner is the video's own (frame number / ``fps``), so a file scans the same at any speed."""
    scanner = Scanner()
    for number in range(MAX_VIDEO_FRAMES):
        frame = source.read()
        if frame is None:
            return None
        for text in scanner.scan(frame, now=number / fps):
            verdict = engine.scan(text)
            if verdict is not None:
                return verdict
    return None


def write_code_video(
    codes: Sequence[str | Any],
    path: str | Path,
    size: tuple[int, int] = (1280, 720),
    frames_per_code: int = 8,
    rounds: int = 2,
    blur: float = 1.2,
    noise: float = 8.0,
    seed: int = 1,
    fps: float = 30.0,
) -> Path:
    """A video of a phone held up to a till camera, its screen cycling through ``codes`` as a wallet does:
    for demos, tests and the benchmark (MJPG in .avi, which every OpenCV build writes). Blur and sensor noise
    make it a fair test of the decoder; nothing but the codes is drawn from outside data. A code may also be
    a picture of one (a PIL image, such as the QR PNG an issuer hands out), shown as it is."""
    import cv2
    import numpy as np

    from didlib.qr import qr_image

    width, height = size
    rng = np.random.default_rng(seed)
    fourcc = cv2.VideoWriter.fourcc(*"MJPG")
    writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
    if not writer.isOpened():
        raise NoCamera(f"cannot write a video to {path}")
    try:
        side = int(height * 0.78)
        phone_w, phone_h = int(side * 0.62) + side // 8, height - 20
        x0, y0 = (width - phone_w) // 2 + width // 10, 10
        pictures: list[Any] = []
        for code in codes:
            drawn = qr_image(code, "M" if len(codes) > 1 else "L", box_size=4) if isinstance(code, str) else code
            qr = np.array(drawn.convert("L"))
            qr = cv2.resize(qr, (phone_w - 24, phone_w - 24), interpolation=cv2.INTER_NEAREST)
            scene = np.full((height, width, 3), (70, 84, 96), np.uint8)  # a counter, BGR
            cv2.rectangle(scene, (x0, y0), (x0 + phone_w, y0 + phone_h), (25, 25, 28), -1)  # the phone
            cv2.rectangle(scene, (x0 + 8, y0 + 30), (x0 + phone_w - 8, y0 + phone_h - 30), (245, 245, 245), -1)
            top = y0 + (phone_h - qr.shape[0]) // 2
            scene[top : top + qr.shape[0], x0 + 12 : x0 + 12 + qr.shape[1]] = qr[:, :, None]
            pictures.append(cv2.GaussianBlur(scene, (0, 0), blur) if blur else scene)
        # Sensor noise: a few grain patterns drawn once and cycled (drawing one per frame costs more than
        # everything else here).
        grains = [rng.normal(0.0, noise, (height, width, 3)).astype(np.int16) for _ in range(4)] if noise else []
        count = 0
        for _ in range(rounds):
            for picture in pictures:
                for _ in range(frames_per_code):
                    if grains:
                        grain = grains[count % len(grains)]
                        writer.write(np.clip(picture.astype(np.int16) + grain, 0, 255).astype(np.uint8))
                    else:
                        writer.write(picture)
                    count += 1
    finally:
        writer.release()
    return Path(path)
