"""Document signer keys in a PKCS#11 token: SoftHSM2 set up by the test, the service configured for it."""

from __future__ import annotations

import glob
import shutil
import signal
import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from test_issuer_service import IDENTITY, start_service

from didlib import TrustStore
from didlib.mdoc import present_elements, verify_response
from didlib.session.transcript import fresh_qr_transcript
from issuer_service.process import free_port
from wallet_app.model.issuance import IssuerClient

MODULES = glob.glob("/usr/lib/softhsm/libsofthsm2.so") + glob.glob("/usr/lib/*/softhsm/libsofthsm2.so")
pytestmark = pytest.mark.skipif(not MODULES or not shutil.which("softhsm2-util"),
                                reason="SoftHSM2 is not installed (.ci/run installs it)")


@pytest.fixture
def token(tmp_path):
    conf = tmp_path / "softhsm2.conf"
    (tmp_path / "tokens").mkdir()
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "didlib", "--pin", "1234", "--so-pin",
                    "5678"], env=env, check=True, capture_output=True)
    return env | {"DIDLIB_KEYS": "pkcs11", "DIDLIB_PKCS11_MODULE": MODULES[0], "DIDLIB_PKCS11_PIN": "1234"}


def test_issuance_with_document_signer_keys_in_the_token(token, tmp_path):
    port = free_port()
    proc = start_service(tmp_path / "data", port, **token)
    try:
        wallet = IssuerClient(f"http://127.0.0.1:{port}")
        (issued,) = wallet.obtain(wallet.identify(*IDENTITY), "uk.dvla.age.mdoc")
        credential = issued.mdoc()
        signer = credential.issuer_signed.issuer_auth.x5chain()[0]
        assert "HSM Document Signer" in signer.subject.rfc4514_string()
        pem = (tmp_path / "data" / "pki" / "dvla" / "ds-dvla.pem").read_bytes()
        assert signer.public_bytes(Encoding.PEM) == pem, "signed by the token's key, certified by the IACA"
        trust = TrustStore.from_pem_files([tmp_path / "data" / "pki" / "dvla" / "iaca.pem"])
        transcript, _ = fresh_qr_transcript()
        result = verify_response(present_elements(credential, issued.key, ["age_over_18"], transcript), trust=trust,
                                 session_transcript=transcript)
        assert result.valid, result.errors
        sd = wallet.obtain(wallet.identify(*IDENTITY), "uk.dvla.age.sd-jwt")
        assert sd[0].credential.count("~") > 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
