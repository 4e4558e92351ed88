"""The demo shop end to end: the issuer service and the shop as real processes, the page rendered by headless
Chromium, its QR read back from Chromium's screenshot by the wallet model, and the page's verdict."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import httpx
import pytest
from PIL import Image

from conftest import new_wallet
from didlib.errors import DidlibError, ReaderNotAuthorised
from didlib.oid4vp import PresentationRequest, age_query, parse_request
from didlib.pkidir import PkiDir
from didlib.qr import decode_image
from didlib.samples import SAMPLE_DRIVER, driver_number
from issuer_service import process
from wallet_app.model.wallet import WalletModel

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "ui-screenshots"  # gitignored: for a human to look at
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IDENTITY = (driver_number(SAMPLE_DRIVER), SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    data = tmp_path_factory.mktemp("issuer")
    proc, base = process.start(data, DIDLIB_ADMIN_TOKEN="admin", DIDLIB_SEED_DRIVERS="10",
                               DIDLIB_RATE_PER_MINUTE="1000")
    yield base, data
    process.stop(proc)


@pytest.fixture(scope="module")
def shop(issuer):
    base, data = issuer
    port = process.free_port()
    url = f"http://localhost:{port}"
    proc = process.launch([sys.executable, str(ROOT / "examples/age_gated_shop/shop.py"), "--issuer", base,
                           "--reader-pki", str(data / "pki" / "dvla"), "--port", str(port)], url)
    yield url
    process.stop(proc)


@pytest.fixture(scope="module")
def wallet(issuer, tmp_path_factory):
    return new_wallet(tmp_path_factory.mktemp("wallet"), issuer[0])[0]


def chromium(url: str, tmp: Path, *, screenshot: Path | None = None) -> str:
    """Render ``url`` in headless Chromium (scripts run for up to 10 s of page time); the DOM it ends with."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--no-first-run", f"--user-data-dir={tmp / 'chromium'}",
            "--window-size=600,900", "--virtual-time-budget=10000"]
    argv += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    done = subprocess.run([*argv, url], capture_output=True, timeout=120, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def link_for(page: str) -> str:
    """The link the checkout page offers (built here, not read from the page)."""
    return "openid4vp://?" + urllib.parse.urlencode({"client_id": "x509_san_dns:localhost",
                                                     "request_uri": page.replace("/checkout/", "/request/")})


def unused(wallet: WalletModel) -> dict[str, int]:
    """Unused single-use proofs of age in the wallet, per format."""
    return {config: sum(not e["used"] for e in wallet._entries() if e["config_id"] == config)
            for config in ("uk.dvla.age.sd-jwt", "uk.dvla.age.mdoc")}


def new_checkout(shop: str) -> str:
    response = httpx.post(f"{shop}/checkout", follow_redirects=False)
    assert response.status_code == 303
    return shop + response.headers["location"]


def test_checkout_page_qr_wallet_and_age_verified(shop, wallet, tmp_path):
    home = chromium(shop + "/", tmp_path)
    assert "Verify my age with my wallet" in home
    page = new_checkout(shop)
    assert "Waiting for your wallet" in chromium(page, tmp_path)
    chromium(page, tmp_path, screenshot=tmp_path / "checkout.png")
    (link,) = decode_image(Image.open(tmp_path / "checkout.png"))
    assert link.startswith("openid4vp://?client_id=x509_san_dns%3Alocalhost")

    request = wallet.open_online_request(link)
    assert request.reader.name == "Example Cider Shop"
    assert request.requested_claims() == ["age_over_18"] and request.beyond_entitlement == []
    before = unused(wallet)
    wallet.answer_online(request)
    assert unused(wallet) == {"uk.dvla.age.sd-jwt": before["uk.dvla.age.sd-jwt"] - 1,
                              "uk.dvla.age.mdoc": before["uk.dvla.age.mdoc"]}, "one single-use SD-JWT VC spent"

    dom = chromium(page, tmp_path)
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "checkout.png", SCREENSHOTS / "shop-checkout.png")
    chromium(page, tmp_path, screenshot=SCREENSHOTS / "shop-verified.png")
    assert 'class="verified"' in dom and "Age verified: over 18" in dom
    outcome = httpx.get(page + "/outcome").json()
    assert outcome == {"outcome": "verified", "age_over_18": True, "detail": ""}, "only the boolean it asked for"
    assert SAMPLE_DRIVER.family_name.upper() not in dom.upper()

    with pytest.raises(Exception) as info:  # the same request cannot be answered twice
        wallet.answer_online(request)
    assert getattr(info.value, "code", None) == "refused"


def test_request_object_is_signed_for_the_shop_host(shop, wallet):
    link = link_for(new_checkout(shop))
    request = wallet.open_online_request(link)
    assert request.claims["response_uri"].startswith(shop + "/response/")
    with pytest.raises(ReaderNotAuthorised):  # the link names another client than the signed request
        wallet.open_online_request(link.replace("localhost", "evil.example", 1))


def test_forged_and_unknown_responses(shop, issuer, wallet, tmp_path):
    page = new_checkout(shop)
    checkout_id = page.rsplit("/", 1)[1]
    assert httpx.post(f"{shop}/response/{checkout_id}", data={"response": "a.b.c.d.e"}).status_code == 400
    assert httpx.post(f"{shop}/response/nope", data={"response": "x"}).status_code == 404
    assert httpx.post(f"{shop}/response/{checkout_id}", content=b"x" * 100_000).status_code == 413
    assert httpx.get(page + "/outcome").json()["outcome"] == "refused"
    # a shop whose certificate comes from a reader CA the wallet does not trust
    other = PkiDir.create(tmp_path / "other").website_reader("localhost", organisation="Impostor")
    token = PresentationRequest.create("localhost", f"{shop}/response/x", age_query()).request_object(*other)
    readers, _ = wallet._trust_data()
    with pytest.raises(ReaderNotAuthorised):
        parse_request(token, readers)


def test_wallet_without_sd_jwt_answers_with_an_mdoc(shop, wallet):
    """A wallet holding only mdocs: the shop's query accepts the proof of age mdoc (OpenID4VP handover)."""
    entries = wallet._entries()
    entries[:] = [e for e in entries if not e["config_id"].endswith(".sd-jwt")]
    page = new_checkout(shop)
    request = wallet.open_online_request(link_for(page))
    before = unused(wallet)["uk.dvla.age.mdoc"]
    wallet.answer_online(request)
    assert unused(wallet)["uk.dvla.age.mdoc"] == before - 1
    assert httpx.get(page + "/outcome").json() == {"outcome": "verified", "age_over_18": True, "detail": ""}


def test_wallet_that_cannot_answer_says_access_denied(shop, wallet):
    """Nothing in the wallet satisfies the query: it sends no credential and the shop hears access_denied (8.5)."""
    entries = wallet._entries()
    kept = list(entries)
    entries[:] = [e for e in entries if ".age." not in e["config_id"] and ".mdl." not in e["config_id"]]
    try:
        page = new_checkout(shop)
        with pytest.raises(DidlibError) as info:
            wallet.answer_online(wallet.open_online_request(link_for(page)))
        assert info.value.code == "no_matching_credential"
        outcome = httpx.get(page + "/outcome").json()
        assert outcome["outcome"] == "refused" and "access_denied" in outcome["detail"]
    finally:
        entries[:] = kept


def test_oversized_or_missing_request_objects(wallet, monkeypatch):
    """A website that streams megabytes, or has no request: the wallet stops reading and says so."""
    sent = []

    def megabytes():
        for _ in range(100):
            sent.append(65536)
            yield b"e" * 65536

    def website(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/big"):
            return httpx.Response(200, content=megabytes())
        return httpx.Response(404)

    monkeypatch.setattr(wallet, "http", lambda base: httpx.Client(transport=httpx.MockTransport(website)))
    for path in ("big", "gone"):
        with pytest.raises(DidlibError) as info:
            wallet.open_online_request(link_for(f"http://localhost/checkout/{path}"))
        assert info.value.code == "no_request"
    assert sum(sent) <= 2 * 65536, "the wallet stopped reading once the request was too large"
