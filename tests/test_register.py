"""The fictional registers: realistic, consistent, and every record issuable."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from didlib.mdoc import issue_mdoc
from didlib.samples import SAMPLE_DRIVER, driver_number
from issuer_service.authorities import CONFIGS, credential_data
from issuer_service.models import DbsCertificate, Driver, TrainingRecord, make_engine, make_sessions
from issuer_service.register import seed

TODAY = dt.date(2026, 6, 1)


def test_seeded_register_is_consistent_and_issuable(tmp_path, pki, device_key):
    sessions = make_sessions(make_engine(f"sqlite:///{tmp_path / 'r.db'}"))
    seen = []
    assert seed(sessions, 3000, today=TODAY, progress=lambda done, total: seen.append((done, total))) == 3000
    assert seen and seen[-1] == (2999, 2999), "progress is reported"
    assert seed(sessions, 3000, today=TODAY) == 0, "seeding happens once"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Driver)) == 3000
        numbers = session.scalars(select(Driver.driver_number)).all()
        assert len(set(numbers)) == 3000
        sample = session.scalar(select(Driver).where(Driver.driver_number == driver_number(SAMPLE_DRIVER)))
        assert sample.postcode == SAMPLE_DRIVER.postcode
        ages = [(TODAY - born).days // 365 for born in session.scalars(select(Driver.birth_date)).all()]
        assert min(ages) >= 15 and max(ages) <= 90
        provisional = session.scalar(
            select(func.count()).select_from(Driver).where(Driver.licence_type == "provisional"))
        assert 0 < provisional < 3000
        assert session.scalar(select(func.count()).select_from(DbsCertificate)) > 500
        assert session.scalar(select(func.count()).select_from(TrainingRecord)) > 300
        signer_key, signer_cert = pki.signer()
        now = dt.datetime.combine(TODAY, dt.time(12), dt.UTC)
        kinds = {"driver": Driver, "dbs": DbsCertificate, "training": TrainingRecord}
        for config in CONFIGS.values():
            if config.format != "mso_mdoc":
                continue
            for record in session.scalars(select(kinds[config.subject]).limit(150)).all():
                issue_mdoc(config.doctype, credential_data(config, record, TODAY), signer_key=signer_key,
                           signer_chain=[signer_cert], device_key=device_key.public_key(), now=now)
