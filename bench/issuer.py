"""Issuer service throughput over HTTP: a real uvicorn process, concurrent wallets, SQLite and PostgreSQL.

Reported per backend: credentials per second with several clients, and the time per credential as a ratio
to the raw cryptography each credential costs the issuer (one ECDSA verification of the key proof, one
ECDSA signature of the MSO), measured in the same run; on PostgreSQL with 1 and 2 workers, and their ratio.
And status list fetches per second, full (200) and not modified (304). Clients run in this process, on the
same machine: the figures are the whole system's, and the load average is printed with them.
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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants so far (Linux /proc; uvicorn's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    tree, total = {pid}, 0.0
    for _ in range(3):  # the supervisor, its workers, their children
        tree |= {p for p, (parent, _) in stats.items() if parent in tree}
    for p in tree:
        total += stats.get(p, (0, 0.0))[1]
    return total


def _wallet(base: str, requests: int, batch: int) -> int:
    """One wallet: ``requests`` times an offer, a token, a nonce and a credential request for ``batch``."""
    wallet = IssuerClient(base, httpx.Client(base_url=base, timeout=60))
    issued = 0
    for _ in range(requests):
        issued += len(wallet.obtain(wallet.identify(*IDENTITY), "uk.dvla.age.mdoc", count=batch))
    return issued


def bench_backend(label: str, database_url: str | None, clients: int = 4, requests: int = 12,
                  batch: int = 5, workers: int = 1) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"DATABASE_URL": database_url} if database_url else {}
        proc, base = issuer_process.start(Path(tmp), args=("--demo", "--workers", str(workers)),
                                          DIDLIB_ADMIN_TOKEN="bench", DIDLIB_SEED_DRIVERS="100",
                                          DIDLIB_RATE_PER_MINUTE="100000", **env)
        try:
            _wallet(base, 1, batch)  # warm up (portrait cache, connections)
            # The wallets share this process (and its interpreter lock: about one core of the machine's). The
            # service's own CPU time per credential is the load-independent figure: 1 / it is what one worker
            # issues per second with a core to itself.
            cpu_before, start = _cpu_seconds(proc.pid), time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                issued = sum(pool.map(_wallet, [base] * clients, [requests] * clients, [batch] * clients))
            elapsed, service_cpu = time.perf_counter() - start, _cpu_seconds(proc.pid) - cpu_before
            raw = _raw_per_credential()

            fetches = 600
            status_uri = f"{base}/status/dvla/1"
            etag = httpx.get(status_uri).headers["etag"]
            fetch_rates: dict[int, float] = {}
            for kind, headers in ((200, {}), (304, {"If-None-Match": etag})):
                start = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                    def fetch(_: int, headers: dict[str, str] = headers, kind: int = kind) -> None:
                        with httpx.Client(timeout=30) as client:
                            for _ in range(fetches // clients):
                                assert client.get(status_uri, headers=headers).status_code == kind

                    list(pool.map(fetch, range(clients)))
                fetch_rates[kind] = fetches / (time.perf_counter() - start)
        finally:
            issuer_process.stop(proc, timeout=30)
    per_credential = elapsed / issued
    where = f"{workers} uvicorn worker{'s' if workers > 1 else ''}"
    return [
        {"name": f"issuance_http_{label}_{workers}w", "what": f"{clients} concurrent wallets (threads), "
         f"offer + token + nonce + credential request for a batch of {batch} proof-of-age mdocs, over HTTP to {where}",
         "workers": workers, "credentials": issued, "credentials_per_second": round(issued / elapsed, 1),
         "service_cpu_ms_per_credential": round(service_cpu / issued * 1000, 3),
         "credentials_per_service_cpu_second": round(issued / service_cpu, 1),
         "load_average_1min": round(os.getloadavg()[0], 2),
         "median_seconds": round(per_credential, 6), "raw_crypto": "1 ECDSA verification (key proof) + "
         "1 ECDSA signature (MSO) per credential", "raw_median_seconds": round(raw, 7),
         "ratio": round(per_credential / raw, 2)},
        {"name": f"status_list_fetch_{label}_{workers}w", "what": "GET of a status list token (kept in memory per "
         "list version), concurrent clients in this process: a full 200 and a 304 for If-None-Match",
         "fetches_per_second": round(fetch_rates[200], 1), "not_modified_per_second": round(fetch_rates[304], 1),
         "median_seconds": round(1 / fetch_rates[200], 6), "raw_crypto": "none per fetch (signed once per "
         "list version); ratio to one ECDSA signature", "raw_median_seconds": round(raw / 2, 7),
         "ratio": round((1 / fetch_rates[200]) / (raw / 2), 2)},
    ]


def bench_issuer() -> list[dict[str, object]]:
    results = bench_backend("sqlite", None)
    postgres = os.environ.get("DIDLIB_BENCH_POSTGRES") or os.environ.get("DIDLIB_TEST_POSTGRES")
    if postgres:
        from issuer_service.models import Base, make_engine

        for workers in (1, 2):
            engine = make_engine(postgres)
            Base.metadata.drop_all(engine)
            engine.dispose()
            results += bench_backend("postgresql", postgres, workers=workers)
        one, two = (float(str(r["credentials_per_second"])) for r in results
                    if str(r["name"]).startswith("issuance_http_postgresql"))
        results.append({"name": "issuance_postgresql_scaling", "what": "credentials/s with 2 workers over 1 worker",
                        "ratio": round(two / one, 2), "target": "at least 1.6"})
    return results
