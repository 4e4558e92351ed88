"""Refreshing trust data with the network gone or failing (issue 14, item 12): a refused connection or a
server answering 500 is a typed didlib error in the report, never an exception out of the refresh; the cache
is kept and its age said. Real sockets and real servers, no mocks."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import httpx
import pytest

from conftest import NOW
from didlib.keys import generate_key, public_key_pem
from didlib.pkidir import PkiDir
from didlib.trustlist import ISSUER, TrustList, TrustListEntry
from didlib.verifier import TrustCache
from issuer_service import process
from wallet_app.model.wallet import WalletModel

ROOT = Path(__file__).resolve().parent.parent


def fetch(url: str) -> bytes:
    """What the apps pass to TrustCache.refresh."""
    return httpx.get(url, timeout=5).raise_for_status().content


@pytest.fixture(params=["closed_port", "server_500"])
def dead_issuer(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def cached(folder: Path, pki: PkiDir, fetched: dt.datetime):
    """A trust cache holding a good trust list downloaded at ``fetched``; returns the operator key too."""
    operator = generate_key()
    entry = TrustListEntry("DVLA", ISSUER, [pki.certificate("iaca")], [pki.certificate("ds")],
                           [])
    token = TrustList("demo", fetched, fetched + dt.timedelta(days=30), [entry]).sign(operator)
    cache = TrustCache(folder, operator.public_key())
    cache.store_trust_list(token, fetched)
    return cache, operator


def test_refresh_keeps_the_cache_and_says_how_old_it_is(tmp_path, pki, dead_issuer):
    cache, _ = cached(tmp_path / "trust", pki, NOW - dt.timedelta(hours=3))
    report = cache.refresh(f"{dead_issuer}/trust/list", fetch, now=NOW)  # raised httpx errors before
    assert report.trust_list == "kept"
    assert [p.code for p in report.errors] == ["unreachable"]
    assert report.age(NOW) == dt.timedelta(hours=3)
    assert report.summary(NOW).startswith("Could not update") and "3 h ago" in report.summary(NOW)
    assert len(cache.load(NOW).issuers) == 1, "the good cached trust list is still used"


def test_refresh_without_a_cache_reports_it(tmp_path, closed_port):
    report = TrustCache(tmp_path, generate_key().public_key()).refresh(f"{closed_port}/list", fetch, now=NOW)
    assert report.fetched_at is None and report.age(NOW) is None
    assert "no trust data cached" in report.summary(NOW)


def test_wallet_status_refresh_with_the_issuer_gone(tmp_path, pki, dead_issuer):
    model = WalletModel(tmp_path, clock=lambda: NOW)
    model.setup("246810")
    _, operator = cached(tmp_path / "trust", pki, NOW - dt.timedelta(hours=3))
    model.store.records["trust"] = {dead_issuer: public_key_pem(operator.public_key()).decode()}
    message = model.refresh_status()  # raised httpx.ConnectError / HTTPStatusError before
    assert message == "Could not update (no connection): keeping trust data from 3 h ago", "plain words, no Errno"


def test_wallet_first_contact_with_an_unreachable_issuer_is_a_typed_error(tmp_path, closed_port):
    from didlib.errors import NetworkError

    model = WalletModel(tmp_path)
    model.setup("246810")
    with pytest.raises(NetworkError):
        model._pin_trust(closed_port)


def test_shop_checkout_survives_a_failed_refresh(tmp_path):
    """The shop refreshes on checkout; with its issuer gone it keeps selling from its cache (it gave 500)."""
    issuer, base = process.start(tmp_path / "issuer")
    port = process.free_port()
    url = f"http://localhost:{port}"
    shop = process.launch([sys.executable, str(ROOT / "examples/age_gated_shop/shop.py"), "--issuer", base,
                           "--reader-pki", str(tmp_path / "issuer" / "pki" / "dvla"), "--port", str(port),
                           "--refresh", "0", "--state", str(tmp_path / "shop")], url)
    try:
        assert httpx.post(f"{url}/checkout").status_code == 303
        process.stop(issuer)
        response = httpx.post(f"{url}/checkout")
        assert response.status_code == 303, response.text
    finally:
        process.stop(shop)
        if issuer.poll() is None:
            process.stop(issuer)
