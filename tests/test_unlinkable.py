"""Unlinkability: nothing two verifiers receive ties two presentations to one person.

Credentials come from the real issuer service (a process on SQLite): two proofs of age from one batch and a
third issued later to another driver, likewise two driving licences of one person, each format. Each is shown
to a different verifier with ``age_over_18`` only, and every value each verifier received is collected (every
CBOR and JSON value, embedded CBOR and JWT parts included). A value the two presentations of one person share
must also be in the other person's: then everyone issued that credential type that day shares it. The one
exception the design allows (specs/mdoc.md, "Coarse times") is a day-rounded time: the end of validity is
capped at the birthday that changes an age statement, which the other person does not share.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import cbor2
import pytest
from sqlalchemy import select

from didlib.cbor import Embedded, decode
from didlib.errors import DidlibError
from didlib.jose import b64url_decode
from didlib.mdoc import present_elements
from didlib.samples import SAMPLE_DRIVER, driver_number
from didlib.sdjwt import present_sd_jwt
from didlib.session.transcript import fresh_qr_transcript
from didlib.times import day_start
from issuer_service.models import Driver, make_engine, make_sessions
from issuer_service.process import start
from wallet_app.model.issuance import Issued
from wallet_app.model.issuance import IssuerClient as Wallet

CONFIGS = ("uk.dvla.age.mdoc", "uk.dvla.age.sd-jwt", "uk.dvla.mdl.mdoc", "uk.dvla.mdl.sd-jwt")
BATCHED = {"uk.dvla.age.mdoc", "uk.dvla.age.sd-jwt"}


@pytest.fixture(scope="module")
def issued(tmp_path_factory) -> Iterator[dict[str, tuple[Issued, Issued, Issued]]]:
    """Per configuration: two credentials of one person, and one of another person issued later."""
    data = tmp_path_factory.mktemp("issuer")
    proc, base = start(data, DIDLIB_ADMIN_TOKEN="unlinkable-admin", DIDLIB_SEED_DRIVERS="20")
    try:
        engine = make_engine(f"sqlite:///{data / 'issuer.db'}")
        with make_sessions(engine)() as session:
            other = session.scalars(select(Driver).where(Driver.driver_number != driver_number(SAMPLE_DRIVER))).first()
            second = (other.driver_number, other.birth_date.isoformat(), other.postcode)
        engine.dispose()
        first = (driver_number(SAMPLE_DRIVER), SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)
        wallet = Wallet(base)
        out = {}
        for config in CONFIGS:
            if config in BATCHED:  # one batch request: the same second, the same offer
                one, two = wallet.obtain(wallet.identify(*first), config, count=2)
            else:
                (one,) = wallet.obtain(wallet.identify(*first), config)
                (two,) = wallet.obtain(wallet.identify(*first), config)
            time.sleep(1.1)  # the other person's credential is issued at another second
            (other_person,) = wallet.obtain(wallet.identify(*second), config)
            out[config] = (one, two, other_person)
        yield out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def _leaves(value: Any) -> Iterator[tuple[str, Any]]:
    """Every value inside ``value``, with embedded CBOR (tag 24, COSE payloads) opened too."""
    if isinstance(value, Embedded):
        yield ("bytes", value.raw)
        yield from _leaves(decode(value.content))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(key)
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, cbor2.CBORTag):
        yield from _leaves(value.value)
    elif isinstance(value, bytes):
        yield ("bytes", value)
        try:
            inner = decode(value)
        except DidlibError:
            return
        if isinstance(inner, dict | list | Embedded):
            yield from _leaves(inner)
    else:
        yield (type(value).__name__, value if not isinstance(value, dt.datetime | dt.date) else value.isoformat())


def _coarse_time(leaf: tuple[str, Any]) -> bool:
    """A time rounded to the start of a UTC day, as a tdate (CBOR) or NumericDate (JSON)."""
    kind, value = leaf
    if kind == "datetime" or (kind == "str" and len(value) == 20 and value.endswith("T00:00:00Z")):
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment == day_start(moment)
    return kind == "int" and 10**9 < value < 10**10 and value % 86400 == 0


def _json_part(part: str) -> Any:
    return json.loads(b64url_decode(part))


def _sd_jwt_leaves(presentation: str) -> Iterator[tuple[str, Any]]:
    *issued_parts, kb_jwt = presentation.split("~")
    header, payload, signature = issued_parts[0].split(".")
    yield from _leaves([_json_part(header), _json_part(payload), signature])
    for disclosure in issued_parts[1:]:
        yield ("str", disclosure)
        yield from _leaves(_json_part(disclosure))
    kb_header, kb_payload, kb_signature = kb_jwt.split(".")
    yield from _leaves([_json_part(kb_header), _json_part(kb_payload), kb_signature])


def seen_by_a_verifier(credential: Issued, verifier: int, now: dt.datetime) -> set[tuple[str, Any]]:
    """Everything verifier number ``verifier`` receives when ``credential`` shows ``age_over_18``."""
    if credential.config_id.endswith(".mdoc"):
        transcript, _ = fresh_qr_transcript()
        return set(_leaves(decode(present_elements(credential.mdoc(), credential.key, ["age_over_18"], transcript))))
    presentation = present_sd_jwt(
        credential.credential, credential.key, ["age_over_18"], nonce=f"nonce-{verifier}", aud=f"verifier-{verifier}",
        now=now,
    )
    return set(_sd_jwt_leaves(presentation))


@pytest.mark.parametrize("config", CONFIGS)
def test_two_presentations_of_one_person_share_only_what_everyone_shares(issued, config):
    one, two, other_person = issued[config]
    now = dt.datetime.now(dt.UTC)
    first, second, third = (seen_by_a_verifier(c, n, now) for n, c in enumerate((one, two, other_person)))
    linking = {leaf for leaf in (first & second) - third if not _coarse_time(leaf)}
    assert not linking, f"values that tie two presentations to one person: {sorted(map(str, linking))[:10]}"
    assert len(first & third) > 3, "the comparison sees the shared values (certificates, doctype, versions)"


@pytest.mark.parametrize("config", CONFIGS)
def test_the_service_issues_day_rounded_times(issued, config):
    for credential in issued[config]:
        if config.endswith(".mdoc"):
            mso = credential.mdoc().mso
            times = [mso.signed, mso.valid_from, mso.valid_until]
        else:
            payload = _json_part(credential.credential.split("~")[0].split(".")[1])
            times = [dt.datetime.fromtimestamp(payload[c], dt.UTC) for c in ("iat", "exp")]
        assert times[0] <= dt.datetime.now(dt.UTC) < times[-1]
        assert all(moment == day_start(moment) for moment in times), times
