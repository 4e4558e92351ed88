"""QR codes for offline presentation: framing, splitting, drawing (qrcode) and reading (zxing-cpp).

A didlib QR payload is CBOR, compressed with zlib and written in base45 (RFC 9285) so the code uses QR
alphanumeric mode, as the EU Digital COVID Certificate did: ``DL1:<base45>``. A payload too large for one
comfortable code is split over several ``DLM:<i>/<n>:<id>:<base45 part>`` codes that a verifier assembles
in any order. Decoding lives behind :func:`decode_image`, :func:`decode_rgba` and :func:`decode_luminance`
only: zxing-cpp on desktops, pyzbar on a phone build (python-for-android packages it, not zxing-cpp).
"""

from __future__ import annotations

import io
import secrets
import string
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import base45

from didlib.cbor import Limits, decode, encode
from didlib.compression import inflate
from didlib.errors import DecodeError, LimitExceeded, UsageError

__all__ = [
    "frame",
    "unframe",
    "split",
    "codes_for",
    "Assembler",
    "qr_image",
    "qr_png",
    "qr_terminal",
    "qr_version",
    "decode_image",
    "decode_rgba",
    "decode_luminance",
    "SINGLE",
    "MULTI",
]

SINGLE, MULTI = "DL1:", "DLM:"
MAX_PAYLOAD = 16 * 1024  # decompressed CBOR
MAX_TEXT = 24 * 1024
MAX_PARTS = 8
MAX_IMAGE_SIDE = 16_384  # pixels; far beyond any camera or screenshot (the decoder itself stops at 65535)
MAX_IMAGE_PIXELS = 40_000_000
PAYLOAD_LIMITS = Limits(max_size=MAX_PAYLOAD, max_depth=24, max_items=4096)
_ID_ALPHABET = string.digits + string.ascii_uppercase


def frame(value: Any) -> str:
    """CBOR-encode, compress and base45-encode ``value`` as one ``DL1:`` text."""
    data = encode(value)
    if len(data) > MAX_PAYLOAD:
        raise LimitExceeded(f"a QR payload of {len(data)} bytes is too large")
    text: bytes = base45.b45encode(zlib.compress(data, 9))
    return SINGLE + text.decode("ascii")


def unframe(text: str) -> Any:
    """Inverse of :func:`frame`, with limits on every step (no zip bombs, no huge CBOR)."""
    if not isinstance(text, str) or not text.startswith(SINGLE):
        raise DecodeError("not a didlib QR payload (expected 'DL1:')", code="not_didlib_qr")
    body = text[len(SINGLE) :]
    if len(body) > MAX_TEXT:
        raise LimitExceeded("QR payload text is too long")
    try:
        compressed = base45.b45decode(body)
    except (ValueError, KeyError, TypeError) as exc:
        raise DecodeError(f"QR payload is not base45: {exc}") from exc
    return decode(inflate(compressed, MAX_PAYLOAD, "QR payload"), PAYLOAD_LIMITS)


def split(text: str, max_chars: int) -> list[str]:
    """One ``DL1:`` text if it fits in ``max_chars``, else ``DLM:`` parts of at most that length each."""
    if not text.startswith(SINGLE):
        raise UsageError("only DL1: payloads can be split")
    if len(text) <= max_chars:
        return [text]
    body = text[len(SINGLE) :]
    ident = "".join(secrets.choice(_ID_ALPHABET) for _ in range(4))
    overhead = len(f"{MULTI}{MAX_PARTS}/{MAX_PARTS}:{ident}:")
    size = max_chars - overhead
    if size < 16:
        raise UsageError("max_chars is too small to split into")
    count = -(-len(body) // size)
    size = -(-len(body) // count)  # parts of equal length: every code the same (smallest) version
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    if len(chunks) > MAX_PARTS:
        raise LimitExceeded(f"the payload needs more than {MAX_PARTS} QR codes")
    return [f"{MULTI}{i}/{len(chunks)}:{ident}:{chunk}" for i, chunk in enumerate(chunks, 1)]


@dataclass
class Assembler:
    """Collects scanned codes; returns the whole ``DL1:`` text once every part of a set is in.

    Parts may come in any order and repeat (a camera sees the same code many times). Sets that are not
    completed within ``max_age`` seconds are dropped, and at most a few sets are kept at once.
    """

    max_age: float = 60.0
    max_sets: int = 4
    _sets: dict[str, tuple[float, int, dict[int, str]]] = field(default_factory=dict)

    def add(self, text: str, now: float | None = None) -> str | None:
        """Add one scanned text: the whole ``DL1:`` text once every part of its set is in, else None. Texts
        that are not didlib's are a :class:`DecodeError` (``not_didlib_qr``)."""
        now = time.monotonic() if now is None else now
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise DecodeError("not a didlib QR payload", code="not_didlib_qr")
        if text.startswith(SINGLE):
            return text
        if not text.startswith(MULTI):
            raise DecodeError("not a didlib QR payload (expected 'DL1:' or 'DLM:')", code="not_didlib_qr")
        try:
            position, ident, chunk = text[len(MULTI) :].split(":", 2)
            index_text, total_text = position.split("/")
            index, total = int(index_text), int(total_text)
        except ValueError:
            raise DecodeError("malformed multi-part QR header") from None
        if not 1 <= index <= total <= MAX_PARTS or len(ident) != 4 or not chunk:
            raise DecodeError("multi-part QR header out of range")
        self._sets = {k: v for k, v in self._sets.items() if now - v[0] <= self.max_age}
        started, expected, parts = self._sets.get(ident, (now, total, {}))
        if expected != total:
            raise DecodeError("multi-part QR codes disagree on their count")
        parts[index] = chunk
        self._sets[ident] = (started, total, parts)
        while len(self._sets) > self.max_sets:  # keep the newest sets only
            self._sets.pop(min(self._sets, key=lambda k: self._sets[k][0]))
        if len(parts) < total:
            return None
        del self._sets[ident]
        return SINGLE + "".join(parts[i] for i in range(1, total + 1))

    def progress(self) -> dict[str, tuple[int, int]]:
        """Sets being collected: id -> (parts seen, parts needed), for the scanner screen."""
        return {k: (len(v[2]), v[1]) for k, v in self._sets.items()}


# ------------------------------------------------------------------------------------------- drawing
def _qr(text: str, ecc: str) -> Any:
    import qrcode
    from qrcode.util import QRData

    levels = {
        "L": qrcode.constants.ERROR_CORRECT_L,
        "M": qrcode.constants.ERROR_CORRECT_M,
        "Q": qrcode.constants.ERROR_CORRECT_Q,
        "H": qrcode.constants.ERROR_CORRECT_H,
    }
    code = qrcode.QRCode(error_correction=levels[ecc], border=4, box_size=6)
    alnum = all(c in _ALNUM for c in text)
    code.add_data(QRData(text.encode("ascii")) if alnum else text)  # one segment, in alphanumeric mode
    code.make(fit=True)
    return code


_ALNUM = set(string.digits + string.ascii_uppercase + " $%*+-./:")


# Largest text (alphanumeric mode) that fits version 30 at level L, and version 25 at level M.
ONE_CODE_CHARS = 2520
PART_CHARS = 1451


def codes_for(text: str) -> list[str]:
    """One code up to version 30-L; beyond that, equal parts of at most version 25-M each."""
    return split(text, ONE_CODE_CHARS) if len(text) <= ONE_CODE_CHARS else split(text, PART_CHARS)


def qr_version(text: str, ecc: str = "L") -> int:
    """The QR version (1-40) ``text`` needs at error-correction level ``ecc``."""
    return int(_qr(text, ecc).version)


def qr_image(text: str, ecc: str = "L", box_size: int = 6) -> Any:
    """A PIL image of the QR code."""
    code = _qr(text, ecc)
    code.box_size = box_size
    return code.make_image(fill_color="black", back_color="white").get_image()


def qr_png(text: str, ecc: str = "L", box_size: int = 6) -> bytes:
    """The QR code of ``text`` as PNG bytes."""
    out = io.BytesIO()
    qr_image(text, ecc, box_size).save(out, "PNG")
    return out.getvalue()


def qr_terminal(text: str, ecc: str = "L") -> str:
    """The QR code drawn with block characters, for a terminal."""
    out = io.StringIO()
    _qr(text, ecc).print_ascii(out=out, invert=True)
    return out.getvalue()


# ------------------------------------------------------------------------------------------- reading
def _texts(results: Iterable[Any]) -> list[str]:
    return [r.text for r in results if r.text]


def decode_image(image: Any) -> list[str]:
    """Every QR code's text in an image: a PIL image, or a path to an image file."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as opened:
                _check_size(opened.width, opened.height)  # from the header, before any pixel is decoded
                image = opened.convert("L")
        except Image.DecompressionBombError as exc:
            raise LimitExceeded(f"image {image} is too large to scan") from exc
        except (OSError, UnidentifiedImageError) as exc:
            raise DecodeError(f"cannot read image {image}: {exc}") from exc
    else:
        _check_size(image.width, image.height)
    return _texts(zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)))


def _check_size(width: int, height: int) -> None:
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise LimitExceeded(f"image of {width} x {height} pixels is too large to scan "
                            f"(at most {MAX_IMAGE_SIDE} a side and {MAX_IMAGE_PIXELS} pixels)")


def decode_rgba(pixels: bytes, width: int, height: int) -> list[str]:
    """Every QR code's text in a raw RGBA frame (a camera texture), without numpy or OpenCV."""
    if len(pixels) != width * height * 4:
        raise DecodeError("RGBA frame has the wrong size")
    try:
        import zxingcpp
    except ImportError:  # a phone build: pyzbar reads luminance only
        from PIL import Image

        return decode_luminance(Image.frombytes("RGBA", (width, height), pixels).convert("L").tobytes(), width, height)
    view = zxingcpp.ImageView(cast(Any, memoryview(pixels)), width, height, zxingcpp.ImageFormat.RGBA)
    return _texts(zxingcpp.read_barcodes(view, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)))


def decode_luminance(pixels: bytes, width: int, height: int) -> list[str]:
    """Every QR code's text in an 8-bit greyscale frame: what a camera gives most cheaply (OpenCV's grey
    conversion, the Y plane of Android's NV21 preview). zxing-cpp on desktops; pyzbar (over libzbar) where
    zxing-cpp is not packaged, as in python-for-android, which has recipes for both pyzbar and libzbar."""
    if width <= 0 or height <= 0 or len(pixels) != width * height:
        raise DecodeError("greyscale frame has the wrong size")
    try:
        import zxingcpp
    except ImportError:
        from pyzbar import pyzbar

        found = pyzbar.decode((pixels, width, height), symbols=[pyzbar.ZBarSymbol.QRCODE])
        return [r.data.decode("ascii", "replace") for r in found if r.data]
    view = zxingcpp.ImageView(cast(Any, memoryview(pixels)), width, height, zxingcpp.ImageFormat.Lum)
    return _texts(zxingcpp.read_barcodes(view, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)))
