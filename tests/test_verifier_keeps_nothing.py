"""A verifier keeps nothing personal: after a day of checks, no file it wrote holds a name, a birth date, a
portrait, a document number or a device key that it saw (specs/verifier.md). The replay cache keeps nonces
(or their hashes) with expiry times; the rest is counts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from privacy import needles, personal_traces

from conftest import NOW, issue
from didlib.cli import main
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_MDL
from didlib.mdoc.registry import NS_ISO
from didlib.presentation import make_oneway
from didlib.qr import codes_for
from didlib.samples import SAMPLE_DRIVER, Person, mdl_data, portrait_jpeg, proof_of_age_data
from didlib.verifier import ReplayCache
from verifier_app.config import REPLAY_FILE, AppConfig
from verifier_app.model import VerifierModel
from verifier_app.trust import TrustSource

PEOPLE = [
    SAMPLE_DRIVER,
    dataclasses.replace(SAMPLE_DRIVER, family_name="OKONKWO", given_name="DAVID", birth_date=dt.date(1984, 3, 2)),
    dataclasses.replace(SAMPLE_DRIVER, family_name="LLEWELLYN", given_name="CERYS", birth_date=dt.date(2001, 11, 23)),
]


@dataclasses.dataclass
class Shown:
    """What a verifier saw of one person in a day: the codes, and the personal values inside them."""

    codes: list[list[str]]
    needles: dict[str, bytes]


def _day_of_codes(pki, person: Person, seed: int) -> Shown:
    portrait = portrait_jpeg(seed, max_bytes=900)
    key = generate_key()
    proof = issue(pki, DOCTYPE_AGE, proof_of_age_data(person, NOW.date(), portrait), key.public_key())
    licence = issue(pki, DOCTYPE_MDL, mdl_data(person, NOW.date(), portrait), key.public_key())
    moment = NOW + dt.timedelta(seconds=seed)
    codes = [
        codes_for(make_oneway(proof, key, ["age_over_18", "portrait"], now=moment)),
        codes_for(make_oneway(licence, key, ["given_name", "family_name", "portrait"], now=moment)),
    ]
    document_number = licence.elements()[NS_ISO]["document_number"]
    return Shown(codes, needles(person, document_number, portrait, [key.public_key()]))


@pytest.fixture(scope="module")
def day(pki) -> list[Shown]:
    return [_day_of_codes(pki, person, seed) for seed, person in enumerate(PEOPLE, start=1)]


def test_the_till_command_keeps_only_nonces_and_counts(day, pki, tmp_path, capsys):
    state = tmp_path / "state"
    trust = ["--trust", str(pki.folder / "iaca.pem"), "--trust", str(pki.folder / "ds.pem")]
    now = (NOW + dt.timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    decisions = []
    for person in day:
        for policy, codes in zip(("age:18", "peer"), person.codes, strict=True):
            for _ in range(2):  # the second showing is a replay, refused
                payloads = [arg for c in codes for arg in ("--payload", c)]
                code = main(["check", "--policy", policy, *trust, "--state", str(state), "--now", now, *payloads])
                decisions.append((code, json.loads(capsys.readouterr().out)["verdict"]))
    assert decisions.count((0, "accept")) == 6 and len(decisions) == 12, decisions
    assert any(state.iterdir()), "the till wrote its state"
    assert personal_traces(state, [p.needles for p in day]) == []
    assert all(needle for person in day for needle in person.needles.values())


def test_the_search_finds_a_planted_value(day, tmp_path):
    """The search itself can fail: a personal value written in any of the forms looked for is found."""
    (tmp_path / "log.txt").write_bytes(b"seen: " + day[1].needles["portrait (base64url)"])
    (tmp_path / "db.sqlite").write_bytes(b"\x00" + day[2].needles["document number"] + b"\x00")
    found = personal_traces(tmp_path, [p.needles for p in day])
    assert found == ["db.sqlite: document number", "log.txt: portrait (base64url)"]


def test_the_verifier_app_keeps_only_nonces_counts_and_settings(day, pki, tmp_path):
    """The app's model as the app builds it (settings and nonces in its state folder), a day of age checks."""
    config = AppConfig(tmp_path / "verifier", trust_files=[str(pki.folder / "iaca.pem"), str(pki.folder / "ds.pem")])
    config.folder.mkdir()
    config.save()
    model = VerifierModel(TrustSource(config).load, settings=config.settings,
                          replay=ReplayCache(config.folder / REPLAY_FILE), clock=lambda: NOW + dt.timedelta(seconds=10))
    decisions = []
    for person in day:
        for _ in range(2):  # the second showing is a replay, refused
            model.choose("age:18")
            model.codes(person.codes[0])
            decisions.append(model.verdict.decision)
            model.done()
    assert decisions == ["accept", "reject"] * 3
    assert personal_traces(config.folder, [p.needles for p in day]) == []
