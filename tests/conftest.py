"""Shared fixtures: the public vectors (tests/vectors, or DIDLIB_VECTORS), a development PKI,
holder keys and issued credentials."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from didlib import TrustStore
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_MDL, Credential, issue_mdoc
from didlib.mdoc.registry import ONLINE_AGE_ENTITLEMENT
from didlib.pkidir import PkiDir
from didlib.samples import flat_claims, mdl_data, portrait_jpeg, proof_of_age_data
from didlib.sdjwt.profiles import VCT, issue_credential_sd_jwt
from didlib.session.transcript import fresh_qr_transcript

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(os.environ.get("DIDLIB_VECTORS", ROOT / "tests" / "vectors"))
UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SHOP_HOST = "shop.example"


def load_vectors(name: str) -> dict:
    path = VECTORS / name
    if not path.exists():
        pytest.fail(f"test vectors not found at {path}; set DIDLIB_VECTORS")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def annex_d() -> dict[str, bytes]:
    return {k: bytes.fromhex(v["hex"]) for k, v in load_vectors("iso18013-5-annexD.json")["vectors"].items()}


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiDir:
    return PkiDir.create(tmp_path_factory.mktemp("pki"), now=NOW - dt.timedelta(days=30))


@pytest.fixture(scope="session")
def trust(pki: PkiDir) -> TrustStore:
    return TrustStore.from_pem_files([pki.folder / "iaca.pem"])


@pytest.fixture(scope="session")
def reader_trust(pki: PkiDir) -> TrustStore:
    """What a wallet trusts to authenticate readers: the development reader CA."""
    return TrustStore.from_pem_files([pki.folder / "reader-ca.pem"])


@pytest.fixture(scope="session")
def shop(pki: PkiDir):
    """A shop's reader key and certificate chain (entitled to an age check)."""
    return pki.key("reader"), [pki.certificate("reader")]


@pytest.fixture(scope="session")
def portrait() -> bytes:
    return portrait_jpeg(7, max_bytes=900)  # small enough for the proof of age


@pytest.fixture(scope="session")
def device_key():
    return generate_key()


def issue(pki: PkiDir, doctype: str, data: dict, device_public, **kwargs) -> Credential:
    signer_key, signer_cert = pki.signer()
    kwargs.setdefault("now", NOW)
    issued = issue_mdoc(
        doctype, data, signer_key=signer_key, signer_chain=[signer_cert], device_key=device_public, **kwargs
    )
    return Credential.from_bytes(Credential.from_issuer_signed(issued).to_bytes())


@pytest.fixture(scope="session")
def licence(pki: PkiDir, device_key, portrait: bytes) -> Credential:
    return issue(pki, DOCTYPE_MDL, mdl_data(today=NOW.date(), portrait=portrait), device_key.public_key())


@pytest.fixture(scope="session")
def age_credential(pki: PkiDir, device_key, portrait: bytes) -> Credential:
    return issue(pki, DOCTYPE_AGE, proof_of_age_data(today=NOW.date(), portrait=portrait), device_key.public_key())


@pytest.fixture(scope="session")
def website(pki: PkiDir):
    """A website's reader certificate (OpenID4VP, x509_san_dns:shop.example) with the online age entitlement."""
    return pki.website_reader(SHOP_HOST, organisation="Example Shop", entitlement=ONLINE_AGE_ENTITLEMENT, now=NOW)


@pytest.fixture(scope="session")
def age_sd_jwt(pki: PkiDir, device_key, portrait: bytes) -> str:
    """A proof of age SD-JWT VC bound to ``device_key``."""
    key, cert = pki.signer()
    claims = flat_claims(proof_of_age_data(today=NOW.date(), portrait=portrait))
    return issue_credential_sd_jwt(VCT[DOCTYPE_AGE], claims, signer_key=key, signer_chain=[cert],
                                   holder_key=device_key.public_key(), now=NOW)


@pytest.fixture
def session():
    """A fresh QR-engagement session: (transcript bytes, reader ephemeral private key)."""
    return fresh_qr_transcript()


def new_wallet(folder: Path, issuer: str, progress=lambda _: None):
    """A wallet model with a PIN and the sample driver's licence and proofs of age from a running issuer;
    returns it and the credential configurations it added."""
    from didlib.samples import SAMPLE_DRIVER, driver_number
    from wallet_app.model.issuance import IssuerClient
    from wallet_app.model.wallet import WalletModel

    model = WalletModel(folder)
    model.setup("246810")
    offer = IssuerClient(issuer).identify(driver_number(SAMPLE_DRIVER), SAMPLE_DRIVER.birth_date.isoformat(),
                                          SAMPLE_DRIVER.postcode)
    return model, model.add_from_offer(offer["credential_offer_uri"], offer["tx_code"], progress)


@pytest.fixture
def closed_port() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port that was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Failing(http.server.BaseHTTPRequestHandler):
    def _fail(self) -> None:
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "21")
        self.end_headers()
        self.wfile.write(b"Internal Server Error")

    do_GET = do_POST = _fail

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_500() -> Iterator[str]:
    """A real HTTP server on a free port of 127.0.0.1 that answers every GET and POST with 500."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def till_in_thread(reader: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """A till: ``reader`` (a ReaderSession) connects to its engagement's local-network address and runs the
    session in a thread; ``outcome["result"]`` holds the result once the thread is joined."""
    from didlib.session import TcpTransport, run_reader

    outcome: dict[str, Any] = {}

    def till() -> None:
        (method,) = reader.engagement.retrieval_methods
        transport = TcpTransport.connect(*method.address())
        outcome["result"] = run_reader(reader, transport)
        transport.close()

    thread = threading.Thread(target=till)
    thread.start()
    return thread, outcome
