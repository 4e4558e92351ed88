"""A short run of ``make bench``: every benchmark still runs and reports what the README's figures come from.

The timings themselves are not tested (benchmarks are not timed tests); what is checked is that each figure
is there, as a ratio to raw cryptography measured in the same run, and that the credentials the issuance
benchmark counts were really issued (each with a status entry of its own; a sample verifies in full).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from didlib.jose import b64url_encode
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, issue_mdoc
from didlib.pkidir import PkiDir
from didlib.samples import proof_of_age_data

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def bench() -> Iterator[tuple[Any, Any]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCH))
        for name in ("DIDLIB_BENCH_POSTGRES", "DIDLIB_TEST_POSTGRES"):  # the bench drops the tables it uses
            patch.delenv(name, raising=False)
        import issuer
        import run

        yield run, issuer


def test_every_benchmark_runs_and_reports_ratios(bench, capsys):
    run, _ = bench
    assert run.main(["--rounds", "4", "--no-service"]) == 0
    report = json.loads(capsys.readouterr().out)
    results = {r["name"]: r for r in report["results"]}
    for name in ("mdoc_verify_proof_of_age", "sd_jwt_verify_proof_of_age_x5c", "sd_jwt_verify_proof_of_age_issuer_key",
                 "status_lookup_cached_1M", "iso_session_round_trip", "openid4vp_round_trip", "ble_session_mtu_185"):
        assert results[name]["ratio"] > 0 and results[name]["raw_median_seconds"] > 0, name
    assert report["certificate_chain_cache"]["hits"] > 0, "the chain cache serves repeated verifications"


def test_issuance_benchmark_counts_real_credentials(bench):
    _, issuer = bench
    issuance, fetches = issuer.bench_backend("sqlite", None, clients=2, requests=2, batch=5, runs=2)
    assert issuance["credentials"] == 2 * 2 * 5 and len(issuance["every_run_per_second"]) == 2
    assert issuance["credentials_per_second"] > 0 and issuance["ratio"] > 0
    assert fetches["fetches_per_second"] > 0 and fetches["not_modified_per_second"] > 0


def _issued(pki: PkiDir, index: int) -> tuple[Any, str]:
    key = generate_key()
    signer_key, signer_cert = pki.signer()
    credential = issue_mdoc(DOCTYPE_AGE, proof_of_age_data(), signer_key=signer_key, signer_chain=[signer_cert],
                            device_key=key.public_key(), status={"status_list": {"idx": index, "uri": "https://i/1"}})
    return key, b64url_encode(credential.to_bytes())


def test_the_benchmark_check_catches_a_foreign_or_shared_credential(bench, pki, tmp_path):
    _, issuer = bench
    iaca = pki.certificate("iaca")
    issuer.check_issued([_issued(pki, 1), _issued(pki, 2)], iaca)
    with pytest.raises(AssertionError, match="does not verify"):
        issuer.check_issued([_issued(pki, 1)], PkiDir.create(tmp_path / "other").certificate("iaca"))
    with pytest.raises(AssertionError, match="share a status list entry"):
        issuer.check_issued([_issued(pki, 3), _issued(pki, 3)], iaca)
