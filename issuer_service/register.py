"""The fictional registers: drivers (DVLA), DBS certificates and safeguarding training records.

Generated from a fixed seed, so every install has the same people; the sample driver of
:mod:`didlib.samples` is always first, with a DBS certificate and a training record, for demos. A large
register (a million drivers, for load tests) is written in chunks with progress shown.

    python -m issuer_service.register --drivers 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from collections.abc import Callable

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from didlib.mdoc.issuer import birthday
from didlib.samples import SAMPLE_DRIVER, Person, driver_number
from issuer_service.models import DbsCertificate, Driver, TrainingRecord, WriteSessions

__all__ = ["seed", "SAMPLE_DBS_NUMBER", "SAMPLE_TRAINING_REFERENCE"]

SAMPLE_DBS_NUMBER = "001234567890"
SAMPLE_TRAINING_REFERENCE = "TR0000000001"
CHUNK = 10_000

_GIVEN = [
    "OLIVIA",
    "AMELIA",
    "ISLA",
    "AVA",
    "MIA",
    "SOPHIA",
    "GRACE",
    "LILY",
    "FREYA",
    "EMILY",
    "OLIVER",
    "GEORGE",
    "NOAH",
    "ARTHUR",
    "LEO",
    "HARRY",
    "OSCAR",
    "JACK",
    "CHARLIE",
    "THOMAS",
    "PRIYA",
    "AISHA",
    "MOHAMMED",
    "RHYS",
    "CATRIN",
    "EILIDH",
    "CALLUM",
    "SIOBHAN",
    "DECLAN",
    "NIAMH",
]
_FAMILY = [
    "SMITH",
    "JONES",
    "WILLIAMS",
    "TAYLOR",
    "BROWN",
    "DAVIES",
    "EVANS",
    "WILSON",
    "THOMAS",
    "JOHNSON",
    "ROBERTS",
    "ROBINSON",
    "THOMPSON",
    "WRIGHT",
    "WALKER",
    "WHITE",
    "EDWARDS",
    "HUGHES",
    "GREEN",
    "HALL",
    "PATEL",
    "KHAN",
    "MACDONALD",
    "CAMPBELL",
    "O'NEILL",
    "MURPHY",
    "LLOYD",
    "OWEN",
    "MORGAN",
    "PRICE",
]
_TOWNS = [
    ("Swansea", "SA"),
    ("Cardiff", "CF"),
    ("Leeds", "LS"),
    ("Manchester", "M"),
    ("Bristol", "BS"),
    ("Glasgow", "G"),
    ("Belfast", "BT"),
    ("Norwich", "NR"),
    ("York", "YO"),
    ("Exeter", "EX"),
]
_STREETS = ["High Street", "Station Road", "Church Lane", "Park Avenue", "Mill Road", "Victoria Street"]


def _person(rng: random.Random, today: dt.date) -> tuple[Person, str]:
    town, area = rng.choice(_TOWNS)
    born = today - dt.timedelta(days=rng.randint(15 * 365 + 4, 90 * 365))
    postcode = (
        f"{area}{rng.randint(1, 29)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
    )
    person = Person(
        rng.choice(_FAMILY),
        rng.choice(_GIVEN) + (" " + rng.choice(_GIVEN) if rng.random() < 0.3 else ""),
        born,
        rng.choice((1, 2)),
        f"{rng.randint(1, 200)} {rng.choice(_STREETS)}",
        town,
        postcode,
    )
    return person, postcode


def _driver_row(person: Person, serial: int, rng: random.Random, today: dt.date) -> dict:
    age = (today - person.birth_date).days // 365
    provisional = age < 17 or rng.random() < 0.12
    categories = ["B"]
    if not provisional:
        categories += [c for c in ("AM", "A", "C1", "D1", "BE") if rng.random() < 0.25]
    first_possible = birthday(person.birth_date, 17) if age >= 17 else today
    issued = max(first_possible, today - dt.timedelta(days=rng.randint(30, 3000)))
    return {
        "driver_number": driver_number(person, serial),
        "family_name": person.family_name,
        "given_name": person.given_name,
        "birth_date": person.birth_date,
        "sex": person.sex,
        "address": person.address,
        "city": person.city,
        "postcode": person.postcode,
        "licence_type": "provisional" if provisional else "full",
        "categories": categories,
        "penalty_points": 0 if provisional else rng.choice((0, 0, 0, 0, 3, 3, 6)),
        "issue_date": min(issued, today),
        "portrait_seed": rng.randint(1, 10**6),
    }


def _sample_rows(today: dt.date) -> tuple[dict, dict, dict]:
    driver = _driver_row(SAMPLE_DRIVER, 9, random.Random(0), today) | {
        "licence_type": "full",
        "categories": ["B", "AM"],
        "penalty_points": 0,
        "portrait_seed": 7,
    }
    person = {
        "family_name": SAMPLE_DRIVER.family_name,
        "given_name": SAMPLE_DRIVER.given_name,
        "birth_date": SAMPLE_DRIVER.birth_date,
    }
    dbs = person | {
        "certificate_number": SAMPLE_DBS_NUMBER,
        "level": "enhanced_barred_lists",
        "workforce": "child",
        "outcome": "clear",
        "barred_children": "not_barred",
        "barred_adults": "not_checked",
        "update_service": True,
        "issue_date": today - dt.timedelta(days=200),
    }
    training = person | {
        "reference": SAMPLE_TRAINING_REFERENCE,
        "course": "Safeguarding children and young people",
        "level": "intermediate",
        "completion_date": today - dt.timedelta(days=60),
        "renewal_date": today + dt.timedelta(days=3 * 365 - 60),
    }
    return driver, dbs, training


def seed(
    sessions: WriteSessions,
    drivers: int,
    *,
    today: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Fill empty registers with ``drivers`` fictional drivers (one in three also has a DBS certificate and
    one in five a training record). Returns how many drivers were added (0 if already seeded)."""
    today = today or dt.date.today()
    with sessions() as session:
        if session.scalar(select(func.count()).select_from(Driver)):
            return 0
        driver, dbs, training = _sample_rows(today)
        session.execute(insert(Driver), [driver])
        session.execute(insert(DbsCertificate), [dbs])
        session.execute(insert(TrainingRecord), [training])
        session.commit()
        _bulk(session, drivers - 1, today, progress)
    return drivers


def _bulk(session: Session, count: int, today: dt.date, progress: Callable[[int, int], None] | None) -> None:
    rng = random.Random(20261129)
    seen: set[str] = set()
    done = 0
    while done < count:
        drivers, certificates, trainings = [], [], []
        for _ in range(min(CHUNK, count - done)):
            person, _ = _person(rng, today)
            row = _driver_row(person, rng.randint(0, 9), rng, today)
            if row["driver_number"] in seen:  # the layout allows collisions: the DVLA adds a serial digit too
                row["driver_number"] = row["driver_number"][:13] + str(rng.randint(0, 9)) + row["driver_number"][14:]
                if row["driver_number"] in seen:
                    continue
            seen.add(row["driver_number"])
            drivers.append(row)
            identity = {
                "family_name": person.family_name,
                "given_name": person.given_name,
                "birth_date": person.birth_date,
            }
            age = (today - person.birth_date).days // 365
            if age >= 18 and rng.random() < 1 / 3:
                certificates.append(
                    identity
                    | {
                        "certificate_number": f"{rng.randint(10**11, 10**12 - 1)}",
                        "level": rng.choice(("basic", "standard", "enhanced", "enhanced_barred_lists")),
                        "workforce": rng.choice(("child", "adult", "child_and_adult")),
                        "outcome": "clear" if rng.random() < 0.9 else "information_disclosed",
                        "barred_children": "barred" if rng.random() < 0.01 else "not_barred",
                        "barred_adults": "not_checked",
                        "update_service": rng.random() < 0.5,
                        "issue_date": today - dt.timedelta(days=rng.randint(10, 1500)),
                    }
                )
            if age >= 16 and rng.random() < 0.2:
                done_on = today - dt.timedelta(days=rng.randint(1, 900))
                trainings.append(
                    identity
                    | {
                        "reference": f"TR{rng.randint(10**9, 10**10 - 1)}",
                        "course": "Safeguarding essentials",
                        "level": rng.choice(("basic", "intermediate", "advanced")),
                        "completion_date": done_on,
                        "renewal_date": done_on + dt.timedelta(days=3 * 365),
                    }
                )
        session.execute(insert(Driver), drivers)
        _insert_ignoring_duplicates(session, DbsCertificate, certificates)
        _insert_ignoring_duplicates(session, TrainingRecord, trainings)
        session.commit()
        done += len(drivers)
        if progress:
            progress(done, count)


def _insert_ignoring_duplicates(session: Session, model: type, rows: list[dict]) -> None:
    """Random certificate numbers may collide in a big register; the later one is simply skipped."""
    if not rows:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    if session.get_bind().dialect.name == "postgresql":
        session.execute(postgresql.insert(model).on_conflict_do_nothing(), rows)
    else:
        session.execute(sqlite.insert(model).on_conflict_do_nothing(), rows)


def main(argv: list[str] | None = None) -> int:
    from issuer_service.config import Settings
    from issuer_service.models import make_engine, make_sessions

    parser = argparse.ArgumentParser(description="Seed the fictional registers (DATABASE_URL or the data folder).")
    parser.add_argument("--drivers", type=int, default=1000)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-6)
        print(f"\r{done:>9,} / {total:,} drivers  ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)

    added = seed(make_sessions(make_engine(settings.database_url)), args.drivers, progress=show)
    print(f"\n{added:,} drivers added" if added else "the registers are already seeded", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
