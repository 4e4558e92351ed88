"""How CBOR values are shown as JSON (CLI output, logs of results, the apps).

bytes -> standard base64 text; full-date -> ``YYYY-MM-DD``; tdate -> ``YYYY-MM-DDTHH:MM:SSZ``;
other tags -> ``{"tag": n, "value": ...}``; embedded CBOR -> ``{"tag": 24, "value": base64}``;
map keys -> text. The mapping is one way: it is for reading, not for signing.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import cbor2

from didlib.cbor import Embedded

__all__ = ["to_json"]


def to_json(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, Embedded):
        return {"tag": 24, "value": base64.b64encode(value.content).decode()}
    if isinstance(value, cbor2.CBORTag):
        return {"tag": value.tag, "value": to_json(value.value)}
    return str(value)
