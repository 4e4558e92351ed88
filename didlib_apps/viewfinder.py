"""The apps' camera: a viewfinder widget over :mod:`didlib.scanner`, written once for the verifier and the wallet.

Frames are read and decoded on a worker thread (never the UI thread); the widget shows the newest frame with
a framing guide and hands each newly seen QR text to the app on the UI thread. Where frames come from:

- desktops: :class:`didlib.scanner.VideoSource` (OpenCV ``VideoCapture``), a camera index or a video file
  alike (``--camera 0``, ``--camera till.avi``), so demos and tests go through the same path as a real camera;
- Android: Kivy's Android camera provider (:class:`AndroidCamera`), after the CAMERA permission is granted at
  run time; its NV21 preview's Y plane is the greyscale frame the decoder reads (pyzbar there: python-for-android
  has recipes for pyzbar and libzbar, not for zxing-cpp; see didlib.qr.decode_luminance).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, Line
from kivy.graphics.texture import Texture
from kivy.metrics import dp
from kivy.uix.image import Image
from kivy.utils import platform

from didlib.errors import DidlibError
from didlib.scanner import Frame, FrameSource, Scanner, VideoSource, camera_spec

__all__ = ["Viewfinder", "AndroidCamera", "open_camera", "request_camera_permission"]

SourceFactory = Callable[[], FrameSource]


class AndroidCamera:
    """Kivy's Android camera provider as a :class:`~didlib.scanner.FrameSource` (phones only)."""

    def __init__(self, index: int = 0, resolution: tuple[int, int] = (1280, 720)) -> None:
        from kivy.core.camera import Camera as CoreCamera

        self._camera = CoreCamera(index=index, resolution=resolution, stopped=False)
        self.texture = self._camera.texture  # the viewfinder shows the GPU preview directly

    def read(self) -> Frame | None:
        buffer = self._camera.grab_frame()
        if buffer is None:
            return None
        width, height = self._camera.resolution
        return Frame(bytes(buffer[: width * height]), width, height)  # NV21: the Y plane comes first

    def close(self) -> None:
        self._camera.stop()


def request_camera_permission(then: Callable[[bool], None]) -> None:
    """Android asks the user at run time (API 23+); elsewhere there is nothing to ask."""
    if platform != "android":
        then(True)
        return
    from android.permissions import Permission, request_permissions

    def answered(_permissions: list[str], grants: list[bool]) -> None:
        Clock.schedule_once(lambda _dt: then(all(grants)), 0)

    request_permissions([Permission.CAMERA], answered)


def open_camera(spec: str | int) -> FrameSource:
    """The source named by ``--camera``: an index is a camera, anything else a video file (played in a loop)."""
    source = camera_spec(spec)
    if platform == "android":
        return AndroidCamera(source if isinstance(source, int) else 0)
    return VideoSource(source, loop=True)


class Viewfinder(Image):
    """Shows the camera and reports new QR texts through ``on_codes`` (on the UI thread)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("fit_mode", "contain")
        super().__init__(**kwargs)
        self.error = ""
        self._scanner = Scanner()
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._pending: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick: Any = None
        self._on_codes: Callable[[list[str]], None] = lambda _texts: None
        with self.canvas.after:
            self._guide_colour = Color(1, 1, 1, 0.9)
            self._guide = [Line(width=dp(3)) for _ in range(4)]
        self.bind(pos=self._draw_guide, size=self._draw_guide)

    # ---------------------------------------------------------------------------------- control
    def start(self, open_source: SourceFactory, on_codes: Callable[[list[str]], None]) -> None:
        self.stop()
        self._on_codes, self.error = on_codes, ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(open_source, self._stop), daemon=True,
                                        name="viewfinder")
        self._thread.start()
        self._tick = Clock.schedule_interval(self._show, 1 / 15)

    def stop(self) -> None:
        self._stop.set()
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        with self._lock:
            self._latest, self._pending = None, []
        self._scanner.reset()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    # ------------------------------------------------------------------------------ worker thread
    def _run(self, open_source: SourceFactory, stop: threading.Event) -> None:
        try:
            source = open_source()
        except DidlibError as exc:
            self.error = exc.message
            return
        except Exception as exc:  # a camera driver's own error: report it, the app goes on
            self.error = f"The camera could not start: {exc}"
            return
        texture = getattr(source, "texture", None)
        if texture is not None:
            Clock.schedule_once(lambda _dt: setattr(self, "texture", texture), 0)
        pace = 1.0 / source.fps if isinstance(source, VideoSource) and isinstance(source.source, str) else 0.0
        try:
            while not stop.is_set():
                started = time.monotonic()
                frame = source.read()
                if frame is None:
                    time.sleep(0.03)
                    continue
                texts = self._scanner.scan(frame)
                with self._lock:
                    self._latest = frame
                    self._pending.extend(texts)
                # A file plays at its own frame rate, as a camera would deliver it.
                time.sleep(max(0.0, pace - (time.monotonic() - started)))
        finally:
            source.close()

    # -------------------------------------------------------------------------------- UI thread
    def _show(self, _dt: float) -> None:
        with self._lock:
            frame, self._latest = self._latest, None
            texts, self._pending = self._pending, []
        if frame is not None and frame.preview is not None:
            texture: Any = getattr(self, "texture", None)
            if texture is None or tuple(texture.size) != (frame.width, frame.height):
                texture = Texture.create(size=(frame.width, frame.height), colorfmt="rgb")
                texture.flip_vertical()
            texture.blit_buffer(frame.preview, colorfmt=frame.preview_format, bufferfmt="ubyte")
            self.texture = texture
            self.canvas.ask_update()
        if texts:
            self._on_codes(texts)

    def _draw_guide(self, *_args: Any) -> None:
        """Corner brackets around the middle of the view: where to hold the code."""
        side = min(self.width, self.height) * 0.7
        x0, y0 = self.center_x - side / 2, self.center_y - side / 2
        x1, y1 = x0 + side, y0 + side
        arm = side / 6
        corners = [((x0, y0 + arm), (x0, y0), (x0 + arm, y0)), ((x1 - arm, y0), (x1, y0), (x1, y0 + arm)),
                   ((x1, y1 - arm), (x1, y1), (x1 - arm, y1)), ((x0 + arm, y1), (x0, y1), (x0, y1 - arm))]
        for line, points in zip(self._guide, corners, strict=True):
            line.points = [c for point in points for c in point]
