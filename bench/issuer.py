"""Issuer service throughput over HTTP: a real uvicorn process, concurrent wallets, SQLite and PostgreSQL.

Reported per backend: credentials per second with several clients, and the time per credential as a ratio
to the raw cryptography each credential costs the issuer (one ECDSA verification of the key proof, one
ECDSA signature of the MSO), measured in the same run; the CPU per credential of the service and, when
PostgreSQL runs on this machine, of its server processes; on PostgreSQL with 1 and 2 workers, and their ratio.
And status list fetches per second, full (200) and not modified (304). Clients run in this process, on the
same machine: the figures are the whole system's, and the load average is printed with them.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from didlib import TrustStore
from didlib.jose import b64url_decode
from didlib.keys import PrivateKey, generate_key
from didlib.mdoc import Credential, present_elements, verify_response
from didlib.oid4vci import PRE_AUTHORIZED_GRANT, CredentialOffer, make_proof
from didlib.samples import SAMPLE_DRIVER, driver_number
from didlib.session.transcript import fresh_qr_transcript
from issuer_service import process as issuer_process

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


class _Process(NamedTuple):
    parent: int
    cpu_seconds: float  # user + system, its own and that of its children that have exited
    name: str


def _processes() -> dict[int, _Process]:
    """Every process on the machine by pid (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            name, _, rest = text[text.index("(") + 1 :].rpartition(")")
            fields = rest.split()
            cpu = sum(int(ticks_used) for ticks_used in fields[11:15]) / ticks  # utime, stime, cutime, cstime
            found[int(entry.name)] = _Process(int(fields[1]), cpu, name)
    return found


def _process_tree(pid: int) -> dict[int, _Process]:
    """A process and its descendants (uvicorn's supervisor and workers)."""
    found = _processes()
    tree = {pid}
    for _ in range(3):  # the supervisor, its workers, their children
        tree |= {p for p, process in found.items() if process.parent in tree}
    return {p: found[p] for p in tree if p in found}


def _cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its descendants so far."""
    return sum(process.cpu_seconds for process in _process_tree(pid).values())


def _database_cpu_seconds() -> float:
    """CPU seconds so far of every PostgreSQL server process on this machine (any cluster), those of
    connections that have closed included (in the postmaster's children's time)."""
    return sum(process.cpu_seconds for process in _processes().values() if process.name == "postgres")


def _pin_workers(pid: int, workers: int) -> list[int]:
    """Pin each worker process (every thread of it) to a core of its own, from the last core down, as a
    deployment would (systemd's ``CPUAffinity=``, ``taskset``). A worker is one interpreter, so it never uses
    more than a core; unpinned, its event loop and thread pool hand each request between threads on
    different cores, and the caches go cold at every handoff (measured: about a third more CPU per
    credential). Threads started later inherit the mask. The wallets are kept to the cores left over, if any
    (by the caller)."""
    cores = sorted(os.sched_getaffinity(0))
    serving = [p for p, process in _process_tree(pid).items() if process.parent == pid] if workers > 1 else [pid]
    pinned = []
    for worker, core in zip(sorted(serving), reversed(cores), strict=False):
        for thread in os.listdir(f"/proc/{worker}/task"):
            os.sched_setaffinity(int(thread), {core})
        pinned.append(core)
    return pinned


def _connection(base: str) -> http.client.HTTPConnection:
    """A keep-alive connection to the service at ``base`` (``http://host:port``)."""
    where = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=60)


class _Wallet:
    """A wallet reduced to its requests, on one keep-alive connection (the standard library's
    ``http.client``): the bench measures the service, and a full HTTP client (httpx) in the same interpreter
    costs more CPU per request than the service's own routing does. Each credential still gets a key of its
    own and a proof signed over the issuer's nonce, as :class:`wallet_app.model.issuance.IssuerClient` does."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = _connection(base)

    def call(self, path: str, body: bytes = b"", content_type: str = "application/json",
             token: str | None = None) -> dict[str, Any]:
        headers = {"Content-Type": content_type} | ({"Authorization": f"Bearer {token}"} if token else {})
        self.http.request("POST", path, body, headers)
        response = self.http.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {answer[:200]!r}")
        return json.loads(answer)  # type: ignore[no-any-return]

    def batch(self, size: int) -> list[tuple[PrivateKey, str]]:
        """Offer, token, nonce and one credential request for ``size`` proofs of age; their keys and
        credentials."""
        number, birth, postcode = IDENTITY
        offer = self.call("/dvla/identify", json.dumps(
            {"driver_number": number, "birth_date": birth, "postcode": postcode}).encode())
        code = CredentialOffer.from_uri(offer["credential_offer_uri"]).pre_authorized_code
        form = {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": code, "tx_code": offer["tx_code"]}
        token = self.call("/token", urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded")
        nonce = self.call("/nonce")["c_nonce"]
        keys = [generate_key() for _ in range(size)]
        body = {"credential_configuration_id": "uk.dvla.age.mdoc",
                "proofs": {"jwt": [make_proof(key, self.base, nonce) for key in keys]}}
        answer = self.call("/credential", json.dumps(body).encode(), token=token["access_token"])
        return list(zip(keys, [c["credential"] for c in answer["credentials"]], strict=True))


def _wallet(base: str, requests: int, batch: int, keep: list[tuple[PrivateKey, str]] | None = None) -> int:
    """One wallet asking ``requests`` times for a batch; the credentials it got go to ``keep``."""
    wallet, issued = _Wallet(base), 0
    for _ in range(requests):
        credentials = wallet.batch(batch)
        issued += len(credentials)
        if keep is not None:
            keep.extend(credentials)
    wallet.http.close()
    return issued


def check_issued(issued: list[tuple[PrivateKey, str]], iaca: x509.Certificate) -> None:
    """Every credential counted is a proof of age with a status list entry of its own, and a sample of them,
    presented with the keys the wallets made, verifies in full against the issuer's IACA."""
    credentials = [(key, Credential.from_bytes(b64url_decode(text))) for key, text in issued]
    entries = {json.dumps((c.mso.status or {}).get("status_list"), sort_keys=True) for _, c in credentials}
    if len(entries) != len(credentials):
        raise AssertionError("two credentials share a status list entry")
    transcript = fresh_qr_transcript()[0]
    for key, credential in credentials[:: max(len(credentials) // 20, 1)]:
        response = present_elements(credential, key, ["age_over_18"], transcript)
        if not verify_response(response, trust=TrustStore([iaca]), session_transcript=transcript).valid:
            raise AssertionError("an issued credential does not verify")


def _fetches_per_second(base: str, path: str, headers: dict[str, str], expect: int, clients: int,
                        fetches: int) -> float:
    """``fetches`` GETs of ``path`` by ``clients`` keep-alive connections at once, each answered ``expect``."""
    def fetch(_: int) -> None:
        connection = _connection(base)
        for _ in range(fetches // clients):
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == expect, response.status
        connection.close()

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(fetch, range(clients)))
    return fetches // clients * clients / (time.perf_counter() - start)


class _Run(NamedTuple):
    credentials: int
    seconds: float
    service_cpu_seconds: float
    database_cpu_seconds: float


def _issuance_run(base: str, pid: int, clients: int, requests: int, batch: int,
                  issued: list[tuple[PrivateKey, str]]) -> _Run:
    """One timed run of ``clients`` wallets."""
    cpu_before, database_before, start = _cpu_seconds(pid), _database_cpu_seconds(), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        count = sum(pool.map(_wallet, [base] * clients, [requests] * clients, [batch] * clients, [issued] * clients))
    return _Run(count, time.perf_counter() - start, _cpu_seconds(pid) - cpu_before,
                _database_cpu_seconds() - database_before)


def bench_backend(label: str, database_url: str | None, clients: int = 6, requests: int = 16,
                  batch: int = 5, workers: int = 1, runs: int = 3) -> list[dict[str, object]]:
    """Issuance and status list fetches against one service; issuance is the best of ``runs`` timed runs
    (other work on a shared machine only ever slows a run down), every run's rate reported too."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"DATABASE_URL": database_url} if database_url else {}
        proc, base = issuer_process.start(Path(tmp), args=("--demo", "--workers", str(workers)),
                                          DIDLIB_ADMIN_TOKEN="bench", DIDLIB_SEED_DRIVERS="100",
                                          DIDLIB_RATE_PER_MINUTE="1000000", **env)
        everywhere = os.sched_getaffinity(0)
        try:
            pinned = _pin_workers(proc.pid, workers)
            os.sched_setaffinity(0, everywhere - set(pinned) or everywhere)  # the wallets' threads inherit it
            _wallet(base, 2, batch)  # warm up (portrait cache, connections, each worker)
            # The wallets share this process (and its interpreter lock) and the machine's cores with the
            # service. The service's own CPU time per credential is the load-independent figure: 1 / it is what
            # one worker issues per second with a core to itself.
            issued: list[tuple[PrivateKey, str]] = []
            timed = [_issuance_run(base, proc.pid, clients, requests, batch, issued) for _ in range(runs)]
            count, elapsed, service_cpu, database_cpu = max(timed, key=lambda run: run.credentials / run.seconds)
            check_issued(issued, x509.load_pem_x509_certificate(httpx.get(f"{base}/trust/dvla/iaca.pem").content))
            raw = _raw_per_credential()

            path = "/status/dvla/1"
            etag = httpx.get(base + path).headers["etag"]
            full = _fetches_per_second(base, path, {}, 200, 4, 2000)
            unchanged = _fetches_per_second(base, path, {"If-None-Match": etag}, 304, 4, 2000)
        finally:
            os.sched_setaffinity(0, everywhere)
            issuer_process.stop(proc, timeout=30)
    per_credential = elapsed / count
    where = f"{workers} uvicorn worker{'s' if workers > 1 else ''}"
    return [
        {"name": f"issuance_http_{label}_{workers}w", "what": f"{clients} concurrent wallets (threads, keep-alive), "
         f"offer + token + nonce + credential request for a batch of {batch} proof-of-age mdocs, over HTTP to {where}; "
         f"the best of {runs} runs",
         "workers": workers, "pinned_to_cores": pinned, "credentials": count,
         "credentials_per_second": round(count / elapsed, 1),
         "every_run_per_second": [round(run.credentials / run.seconds, 1) for run in timed],
         "service_cpu_ms_per_credential": round(service_cpu / count * 1000, 3),
         "credentials_per_service_cpu_second": round(count / service_cpu, 1),
         **({"database_cpu_ms_per_credential": round(database_cpu / count * 1000, 3)} if database_url else {}),
         "load_average_1min": round(os.getloadavg()[0], 2),
         "median_seconds": round(per_credential, 6), "raw_crypto": "1 ECDSA verification (key proof) + "
         "1 ECDSA signature (MSO) per credential", "raw_median_seconds": round(raw, 7),
         "ratio": round(per_credential / raw, 2), "target": "at least 500 a second on SQLite, 400 on PostgreSQL"},
        {"name": f"status_list_fetch_{label}_{workers}w", "what": "GET of a status list token (kept in memory per "
         "list version), 4 keep-alive clients in this process: a full 200 and a 304 for If-None-Match",
         "fetches_per_second": round(full, 1), "not_modified_per_second": round(unchanged, 1),
         "median_seconds": round(1 / full, 6), "raw_crypto": "none per fetch (signed once per "
         "list version); ratio to one ECDSA signature", "raw_median_seconds": round(raw / 2, 7),
         "ratio": round((1 / full) / (raw / 2), 2), "target": "at least 2,000 a second"},
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
