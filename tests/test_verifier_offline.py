"""The till offline first (verifier_app.trust, verifier_app.config): it starts from what is on disk, an update
that cannot connect keeps the cache and says so, and its settings and operator PIN survive a restart.
Network failures are real ones: a closed port on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import NOW
from didlib.errors import DidlibError
from didlib.keys import generate_key, public_key_pem
from didlib.pki import common_name_of
from didlib.trustlist import ISSUER, TrustList, TrustListEntry
from issuer_service.process import free_port
from verifier_app.config import CONFIG_FILE, AppConfig
from verifier_app.model import VerifierModel
from verifier_app.trust import OPERATOR_FILE, TrustSource, http_fetch

CLOCK = NOW + dt.timedelta(days=2)


@pytest.fixture
def operator():
    return generate_key()


def signed_list(pki, operator) -> str:
    iaca = pki.certificate("iaca")
    entry = TrustListEntry(common_name_of(iaca), ISSUER, [iaca], [pki.certificate("ds")])
    return TrustList("Test operator", NOW, NOW + dt.timedelta(days=30), [entry]).sign(operator)


def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: a real connection refused


@pytest.fixture
def cached(tmp_path, pki, operator):
    """A till that was online two days ago: operator key pinned, trust list cached."""
    config = AppConfig(tmp_path / "till", issuer=unreachable())
    config.save()
    source = TrustSource(config, clock=lambda: NOW)
    (tmp_path / "till" / OPERATOR_FILE).write_bytes(public_key_pem(operator.public_key()))
    source._cache().store_trust_list(signed_list(pki, operator), NOW)
    return TrustSource(AppConfig.load(tmp_path / "till"), clock=lambda: CLOCK)


def test_starts_from_the_cache_and_a_failed_update_keeps_it(cached):
    before = cached.load()
    message = cached.refresh()  # real httpx against a closed port
    assert message == "Could not update the trust list (no connection to the issuer): still using the one " \
                      "from 2 days ago"
    after = cached.load()
    assert after.fetched_at == before.fetched_at and len(after.issuers.anchors) == 1
    model = VerifierModel(cached.load, clock=lambda: CLOCK)
    assert model.has_trust() and model.trust_status() == ("Trust list from 2 days ago", False)


def test_no_trust_data_is_a_setup_state_not_a_traceback(tmp_path):
    source = TrustSource(AppConfig(tmp_path / "empty"))
    with pytest.raises(DidlibError):
        source.load()
    model = VerifierModel(source.load)
    assert not model.has_trust()
    model.choose("age:18")
    assert model.state == "setup" and "no trust list" in model.message
    assert source.refresh().startswith("No issuer to update from")
    assert source.connect(unreachable()) == "Could not connect (no connection to the issuer)"
    assert source.connect("ftp://x") == "Give the issuer's address, starting with https://"
    assert not (tmp_path / "empty" / OPERATOR_FILE).exists()


def test_connect_once_pins_the_operator_then_works_offline(tmp_path, pki, operator):
    served = {"/trust/operator.pem": public_key_pem(operator.public_key()),
              "/trust/list": signed_list(pki, operator).encode()}

    def fetch(url: str) -> bytes:
        return served[url.removeprefix("https://issuer.test")]

    config = AppConfig(tmp_path / "till")
    source = TrustSource(config, fetch=fetch, clock=lambda: NOW)
    assert source.connect("https://issuer.test/") == "Trust list updated"
    assert AppConfig.load(tmp_path / "till").issuer == "https://issuer.test", "remembered for a no-argument start"
    served["/trust/list"] = signed_list(pki, generate_key()).encode()  # someone else's list: refused, cache kept
    assert source.refresh().startswith("Could not update the trust list")
    assert len(source.load().issuers.anchors) == 1


def test_load_a_trust_list_file(tmp_path, pki, operator, cached):
    source = TrustSource(AppConfig(tmp_path / "fresh"))
    assert source.load_file(pki.folder / "iaca.pem") == "Issuer certificates loaded from iaca.pem"
    assert len(source.load().issuers.anchors) == 1
    (tmp_path / "junk.pem").write_text("junk")
    assert source.load_file(tmp_path / "junk.pem").startswith("No issuer certificates") or \
        source.load_file(tmp_path / "junk.pem").startswith("Could not use")
    (tmp_path / "list.jwt").write_text(signed_list(pki, operator))
    assert source.load_file(tmp_path / "list.jwt").startswith("A signed trust list needs the issuer's key")
    assert cached.load_file(tmp_path / "list.jwt") == "Trust list loaded from the file"
    (tmp_path / "other.jwt").write_text(signed_list(pki, generate_key()))
    assert cached.load_file(tmp_path / "other.jwt").startswith("Could not use other.jwt")
    assert source.load_file(tmp_path / "missing.pem").startswith("Could not use missing.pem")


def test_http_fetch_is_real_and_fails_typed():
    import httpx

    with pytest.raises(httpx.HTTPError):
        http_fetch(unreachable() + "/trust/list")


def test_settings_and_pin_survive_a_restart(tmp_path):
    config = AppConfig(tmp_path, issuer="https://issuer.test", camera="till.avi")
    config.settings.freshness_seconds, config.settings.distrusted = 90, {"DVLA IACA"}
    config.set_pin("2468")
    again = AppConfig.load(tmp_path)
    assert (again.issuer, again.camera, again.settings.freshness_seconds) == ("https://issuer.test", "till.avi", 90)
    assert again.settings.distrusted == {"DVLA IACA"}
    assert again.check_pin("2468") and not again.check_pin("1357") and not again.check_pin("")
    assert "2468" not in (tmp_path / CONFIG_FILE).read_text()
    with pytest.raises(ValueError):
        again.set_pin("12")
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"settings": {"freshness_seconds": "soon"}, "issuer": 5}))
    damaged = AppConfig.load(tmp_path)
    assert damaged.issuer is None and damaged.settings.freshness_seconds == 60 and not damaged.has_pin
    (tmp_path / CONFIG_FILE).write_text("{not json")
    assert AppConfig.load(tmp_path).camera == "0"


def test_a_reader_key_loaded_from_files_is_kept(tmp_path, pki):
    """On a phone there is no command line: the organisation's reader key and certificate are loaded once."""
    config = AppConfig(tmp_path / "till")
    assert config.load_reader() == (None, [])
    key_file, cert_file = pki.folder / "reader.key", pki.folder / "reader.pem"
    assert config.store_reader(key_file, cert_file).startswith("Reader key loaded")
    again = AppConfig.load(tmp_path / "till")
    key, chain = again.load_reader()
    assert key is not None and len(chain) == 1 and (tmp_path / "till" / "reader-key.pem").stat().st_mode & 0o077 == 0
    mismatch = config.store_reader(key_file, pki.folder / "iaca.pem")
    assert mismatch == "The key and the certificate do not belong together"
    assert config.store_reader(cert_file, cert_file).startswith("Could not use these files")
    assert config.store_reader(key_file, tmp_path / "missing.pem").startswith("Could not use these files")
    (tmp_path / "junk.pem").write_text("junk")
    assert config.store_reader(key_file, tmp_path / "junk.pem").startswith("Could not use these files")
