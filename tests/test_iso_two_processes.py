"""Issue 19's done-when: a presentation over an ISO 18013-5 session between the wallet model and the verifier
app's model in two separate processes reaches a verdict. The holder is ``tests/iso_wallet.py`` (a WalletModel
with credentials from the issuer service, a real process too); the verifier app's model runs here, with its
trust list downloaded from the issuer as the app does (``verifier_app.trust.TrustSource``) and the issuer's
shop reader certificate, and scans the wallet's ``mdoc:`` engagement. Loopback only."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT
from didlib import TrustStore
from didlib.mdoc import DOCTYPE_AGE
from didlib.pkidir import PkiDir
from didlib.verifier import TrustData
from issuer_service import process
from verifier_app.config import AppConfig
from verifier_app.model import VerifierModel
from verifier_app.trust import TrustSource


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    data = tmp_path_factory.mktemp("issuer")
    proc, base = process.start(data, DIDLIB_ADMIN_TOKEN="admin", DIDLIB_SEED_DRIVERS="5", DIDLIB_RATE_PER_MINUTE="1000")
    yield base, data
    process.stop(proc)


class Holder:
    """The wallet process: send it ``share`` or ``decline``, read its JSON lines (each within a time limit)."""

    def __init__(self, issuer: str, folder) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "iso_wallet.py"), issuer, str(folder)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT / "tests")
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()

    def read(self, timeout: float = 60) -> dict:
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"the wallet process said nothing for {timeout} s") from None

    def ask(self, command: str) -> str:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()["uri"]

    def close(self) -> int:
        """Its exit status once stdin is closed (killed if it does not end: a wallet left waiting)."""
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture(scope="module")
def holder(issuer, tmp_path_factory):
    wallet = Holder(issuer[0], tmp_path_factory.mktemp("wallet"))
    assert wallet.read(120) == {"ready": True}
    yield wallet
    assert wallet.close() == 0


def till(issuer, folder, trust=None) -> VerifierModel:
    """The verifier app's model as ``python -m verifier_app --issuer ...`` makes it, with the shop's reader key."""
    base, data = issuer
    config = AppConfig(folder, issuer=base)
    source = TrustSource(config)
    source.connect(base)
    shop = PkiDir(data / "pki" / "dvla")
    return VerifierModel(trust or source.load, reader_key=shop.key("reader"), reader_chain=[shop.certificate("reader")])


def scan(model: VerifierModel, uri: str, seconds: float = 60) -> float:
    """The camera reads the wallet's engagement; returns the seconds until the verdict is on screen."""
    started = time.monotonic()
    model.choose("age:18")
    model.codes([uri])
    assert model.state == "connecting"
    while model.state == "connecting" and time.monotonic() - started < seconds:
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_wallet_process_shares_with_the_verifier_app_over_an_iso_session(issuer, holder, tmp_path):
    model = till(issuer, tmp_path / "till")
    took = scan(model, holder.ask("share"))
    told = holder.read()
    assert told == {"reader": "Example Shop", "asked": [DOCTYPE_AGE], "shared": True}, "the wallet saw the till"
    verdict = model.verdict
    assert model.state == "result" and verdict.decision == "accept", verdict.reasons if verdict else model.state
    assert verdict.headline == "OVER 18" and set(verdict.display) == {"over_18", "portrait"}
    assert verdict.issuer and model.link_note == "local network"
    assert model.counts == {"checks": 1, "accept": 1}
    print(f"scan to verdict over an ISO 18013-5 session between two processes: {took:.2f} s")


def test_a_holder_who_declines_gives_a_plain_refusal(issuer, holder, tmp_path):
    model = till(issuer, tmp_path / "till")
    scan(model, holder.ask("decline"))
    assert holder.read()["shared"] is False
    assert model.state == "result" and model.verdict.decision == "reject"
    assert model.verdict.reasons == ["the customer ended the check on their phone"]
    assert model.verdict.action == "Do not sell. Ask for another proof of age."


def test_a_till_that_does_not_trust_the_issuer_rejects(issuer, holder, tmp_path, pki):
    elsewhere = TrustData(TrustStore([pki.certificate("iaca")]))  # another issuer's root, not the DVLA's
    model = till(issuer, tmp_path / "till", trust=lambda: elsewhere)
    scan(model, holder.ask("share"))
    assert holder.read()["shared"] is True, "the wallet shared: the till refuses"
    assert model.verdict.decision == "reject" and model.verdict.codes == ["untrusted_issuer"], model.verdict.codes
    assert model.verdict.reasons == ["issuer not trusted"]
