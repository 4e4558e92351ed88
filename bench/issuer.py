"""Issuer service throughput over HTTP: a real uvicorn process, concurrent wallets, SQLite and PostgreSQL.

Reported per backend: credentials per second with several clients, and the time per credential as a ratio
to the raw cryptography each credential costs the issuer (one ECDSA verification of the key proof, one
ECDSA signature of the MSO), measured in the same run. And status list fetches per second.
"""

from __future__ import annotations

import concurrent.futures
import os
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from didlib.keys import generate_key
from didlib.samples import SAMPLE_DRIVER, driver_number
from issuer_service import process as issuer_process
from wallet_app.model.issuance import IssuerClient

IDENTITY = (driver_number(SAMPLE_DRIVER), SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)


def _raw_per_credential(rounds: int = 200) -> float:
    signer, holder = generate_key(), generate_key()
    message = b"m" * 700
    proof_sig = holder.sign(message, ec.ECDSA(hashes.SHA256()))
    start = time.perf_counter()
    for _ in range(rounds):
        holder.public_key().verify(proof_sig, message, ec.ECDSA(hashes.SHA256()))
        signer.sign(message, ec.ECDSA(hashes.SHA256()))
    return (time.perf_counter() - start) / rounds


def bench_backend(label: str, database_url: str | None, clients: int = 4, requests: int = 12,
                  batch: int = 5) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"DATABASE_URL": database_url} if database_url else {}
        proc, base = issuer_process.start(Path(tmp), DIDLIB_ADMIN_TOKEN="bench", DIDLIB_SEED_DRIVERS="100",
                                          DIDLIB_RATE_PER_MINUTE="100000", **env)
        try:
            def one_wallet(_: int) -> int:
                wallet = IssuerClient(base, httpx.Client(base_url=base, timeout=60))
                issued = 0
                for _ in range(requests):
                    issued += len(wallet.obtain(wallet.identify(*IDENTITY), "uk.dvla.age.mdoc", count=batch))
                return issued

            one_wallet(0)  # warm up (portrait cache, connections)
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                issued = sum(pool.map(one_wallet, range(clients)))
            elapsed = time.perf_counter() - start
            raw = _raw_per_credential()

            fetches = 300
            status_uri = f"{base}/status/dvla/1"
            httpx.get(status_uri)
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                def fetch(_: int) -> None:
                    with httpx.Client(timeout=30) as client:
                        for _ in range(fetches // clients):
                            client.get(status_uri).raise_for_status()

                list(pool.map(fetch, range(clients)))
            fetch_elapsed = time.perf_counter() - start
        finally:
            issuer_process.stop(proc, timeout=30)
    per_credential = elapsed / issued
    return [
        {"name": f"issuance_http_{label}", "what": f"{clients} concurrent wallets, offer + token + nonces + "
         f"credential request for a batch of {batch} proof-of-age mdocs, over HTTP to one uvicorn worker",
         "credentials": issued, "credentials_per_second": round(issued / elapsed, 1),
         "median_seconds": round(per_credential, 6), "raw_crypto": "1 ECDSA verification (key proof) + "
         "1 ECDSA signature (MSO) per credential", "raw_median_seconds": round(raw, 7),
         "ratio": round(per_credential / raw, 2)},
        {"name": f"status_list_fetch_{label}", "what": "GET of a 100,000-entry status list token (cached per "
         "list version), concurrent clients", "fetches_per_second": round(fetches / fetch_elapsed, 1),
         "median_seconds": round(fetch_elapsed / fetches, 6), "raw_crypto": "none per fetch (signed once per "
         "list version); ratio to one ECDSA signature", "raw_median_seconds": round(raw / 2, 7),
         "ratio": round((fetch_elapsed / fetches) / (raw / 2), 2)},
    ]


def bench_issuer() -> list[dict[str, object]]:
    results = bench_backend("sqlite", None)
    postgres = os.environ.get("DIDLIB_TEST_POSTGRES") or os.environ.get("DIDLIB_BENCH_POSTGRES")
    if postgres:
        from issuer_service.models import Base, make_engine

        engine = make_engine(postgres)
        Base.metadata.drop_all(engine)
        engine.dispose()
        results += bench_backend("postgresql", postgres)
    return results
