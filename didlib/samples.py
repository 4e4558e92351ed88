"""Fictional people and generated portraits for demos, tests and the mock issuers.

Nothing here is a real person. Portraits are drawn (not photographs) so that a credential looks and
weighs like a real one: a JPEG of the usual size with the detail a camera photo has.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import random
from dataclasses import dataclass
from typing import Any

from didlib.errors import UsageError
from didlib.mdoc.registry import (
    DOCTYPE_AGE,
    DOCTYPE_DBS,
    DOCTYPE_MDL,
    MAX_QR_PORTRAIT,
    NS_AGE,
    NS_DBS,
    NS_DVLA,
    NS_ISO,
    NS_TRAINING,
)

__all__ = [
    "Person",
    "SAMPLE_DRIVER",
    "portrait_jpeg",
    "mdl_data",
    "proof_of_age_data",
    "dbs_data",
    "driver_number",
    "flat_claims",
    "training_data",
]


@dataclass(frozen=True)
class Person:
    """A fictional person, for sample credentials."""

    family_name: str
    given_name: str
    birth_date: dt.date
    sex: int  # ISO/IEC 5218: 1 male, 2 female
    address: str
    city: str
    postcode: str


SAMPLE_DRIVER = Person("MORGAN", "SARAH JANE", dt.date(1990, 7, 14), 2, "1 Example Street", "Swansea", "SA1 1AA")
"""The fictional driver of the demos, tests and the issuer's sample register."""


def driver_number(person: Person, serial: int = 9) -> str:
    """A UK driver number in the DVLA layout, with fixed check letters (this is a mock)."""
    surname = ("".join(c for c in person.family_name.upper() if "A" <= c <= "Z") + "99999")[:5]
    born = person.birth_date
    month = born.month + (50 if person.sex == 2 else 0)
    initials = "".join(n[0] for n in person.given_name.split()[:2]).upper().ljust(2, "9")
    return f"{surname}{str(born.year)[2]}{month:02d}{born.day:02d}{str(born.year)[3]}{initials}{serial % 10}AA"


def portrait_jpeg(
    seed: int = 1, size: tuple[int, int] = (96, 120), quality: int = 60, max_bytes: int | None = None
) -> bytes:
    """A drawn head-and-shoulders portrait as a JPEG; the same seed gives the same picture.

    With ``max_bytes`` the JPEG quality is lowered until it fits (as an issuer does for QR credentials).
    """
    try:
        from PIL import Image, ImageDraw, ImageFilter
    except ImportError:  # pragma: no cover - depends on the installation
        raise UsageError("generating portraits needs Pillow (a didlib dependency): reinstall didlib") from None
    rng = random.Random(seed)
    w, h = size
    scale = 4  # draw large, then shrink, for smooth edges
    img = Image.new("RGB", (w * scale, h * scale), tuple(rng.randint(170, 225) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    W, H = img.size
    skin = rng.choice([(241, 194, 167), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172)])
    hair = rng.choice([(40, 30, 20), (90, 60, 30), (200, 170, 90), (120, 40, 20), (60, 60, 60)])
    coat = tuple(rng.randint(20, 140) for _ in range(3))
    draw.ellipse([W * 0.1, H * 0.72, W * 0.9, H * 1.3], fill=coat)
    draw.rectangle([W * 0.42, H * 0.58, W * 0.58, H * 0.78], fill=skin)
    draw.ellipse([W * 0.24, H * 0.14, W * 0.76, H * 0.66], fill=hair)
    draw.ellipse([W * 0.28, H * 0.2, W * 0.72, H * 0.68], fill=skin)
    for x in (0.4, 0.6):
        draw.ellipse([W * (x - 0.04), H * 0.38, W * (x + 0.04), H * 0.42], fill=(250, 250, 250))
        draw.ellipse([W * (x - 0.018), H * 0.385, W * (x + 0.018), H * 0.415], fill=(50, 40, 30))
    draw.line([W * 0.5, H * 0.42, W * 0.48, H * 0.5], fill=tuple(c - 40 for c in skin), width=scale * 2)
    draw.arc([W * 0.42, H * 0.5, W * 0.58, H * 0.58], 20, 160, fill=(150, 60, 60), width=scale * 2)
    img = img.resize(size, Image.Resampling.LANCZOS).filter(ImageFilter.SMOOTH)
    noise = Image.effect_noise(size, 12).convert("RGB")
    img = Image.blend(img, noise, 0.06)  # a little sensor noise, as a camera photo has
    while True:
        out = io.BytesIO()
        img.save(out, "JPEG", quality=quality, optimize=True)
        if max_bytes is None or out.tell() <= max_bytes or quality <= 10:
            return out.getvalue()
        quality -= 5


def _names(person: Person) -> dict[str, str]:
    return {"family_name": person.family_name, "given_name": person.given_name,
            "birth_date": person.birth_date.isoformat()}


def _authority(today: dt.date) -> dict[str, Any]:
    return {"issue_date": today.isoformat(), "issuing_country": "GB", "issuing_authority": "DVLA"}


def mdl_data(
    person: Person = SAMPLE_DRIVER, today: dt.date | None = None, portrait: bytes | None = None
) -> dict[str, Any]:
    """Issuer input for a full driving licence of ``person`` (JSON-friendly, as the CLI takes it)."""
    today = today or dt.date.today()
    return {
        NS_ISO: {
            **_names(person),
            **_authority(today),
            "expiry_date": today.replace(year=today.year + 10).isoformat(),
            "document_number": driver_number(person),
            "portrait": base64.b64encode(portrait or portrait_jpeg()).decode(),
            "driving_privileges": [
                {"vehicle_category_code": "B", "issue_date": "2008-09-01"},
                {"vehicle_category_code": "AM", "issue_date": "2008-09-01"},
            ],
            "un_distinguishing_sign": "UK",
            "sex": person.sex,
            "resident_address": person.address,
            "resident_city": person.city,
            "resident_postal_code": person.postcode,
        },
        NS_DVLA: {"licence_type": "full", "penalty_points": 0},
    }


def proof_of_age_data(
    person: Person = SAMPLE_DRIVER, today: dt.date | None = None, portrait: bytes | None = None
) -> dict[str, Any]:
    """Issuer input for a proof of age: the birth date is used to derive age_over_NN and not issued."""
    today = today or dt.date.today()
    return {
        NS_AGE: {
            "birth_date": person.birth_date.isoformat(),
            "portrait": base64.b64encode(portrait or portrait_jpeg(max_bytes=MAX_QR_PORTRAIT)).decode(),
            **_authority(today),
            "expiry_date": (today + dt.timedelta(days=90)).isoformat(),
        }
    }


def dbs_data(person: Person = SAMPLE_DRIVER, today: dt.date | None = None) -> dict[str, Any]:
    """Issuer input for a DBS check of ``person`` (enhanced with barred lists, child workforce, clear)."""
    today = today or dt.date.today()
    return {
        NS_DBS: {
            **_names(person),
            "certificate_number": "001234567890",
            "certificate_level": "enhanced_barred_lists",
            "workforce": "child",
            "issue_date": today.isoformat(),
            "outcome": "clear",
            "barred_list_children": "not_barred",
            "update_service_subscribed": True,
            "update_service_checked": today.isoformat(),
            "issuing_country": "GB",
            "issuing_authority": "Disclosure and Barring Service",
        }
    }


SAMPLE_DATA = {DOCTYPE_MDL: mdl_data, DOCTYPE_AGE: proof_of_age_data, DOCTYPE_DBS: dbs_data}


def flat_claims(data: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Namespaced issuer input as the flat claims an SD-JWT VC takes."""
    return {name: value for elements in data.values() for name, value in elements.items()}


def training_data(person: Person = SAMPLE_DRIVER, today: dt.date | None = None) -> dict[str, Any]:
    """Issuer input for a safeguarding training certificate of ``person``."""
    today = today or dt.date.today()
    return {
        NS_TRAINING: {
            **_names(person),
            "course": "Safeguarding children and young people",
            "level": "intermediate",
            "completion_date": (today - dt.timedelta(days=30)).isoformat(),
            "renewal_date": (today + dt.timedelta(days=3 * 365 - 30)).isoformat(),
            "issuing_country": "GB",
            "issuing_authority": "Example Safeguarding Training Ltd",
        }
    }
