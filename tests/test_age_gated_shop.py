"""The demo shop end to end: the issuer service and the shop as real processes, the page rendered by headless
Chromium, its QR read back from Chromium's screenshot by the wallet model, and the page's verdict."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from PIL import Image
from privacy import needles, personal_traces

from conftest import new_wallet
from didlib.errors import DidlibError, ReaderNotAuthorised
from didlib.jose import b64url_decode, b64url_encode
from didlib.mdoc import DeviceRequest
from didlib.mdoc.registry import NS_ISO
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


def launch_shop(issuer: tuple[str, Path], state: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    base, data = issuer
    port = port or process.free_port()
    url = f"http://localhost:{port}"
    return process.launch([sys.executable, str(ROOT / "examples/age_gated_shop/shop.py"), "--issuer", base,
                           "--reader-pki", str(data / "pki" / "dvla"), "--port", str(port), "--state", str(state)],
                          url), url


@pytest.fixture(scope="module")
def shop_state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shop")


@pytest.fixture(scope="module")
def shop(issuer, shop_state):
    proc, url = launch_shop(issuer, shop_state)
    yield url
    process.stop(proc)


@pytest.fixture(scope="module")
def wallet(issuer, tmp_path_factory):
    return new_wallet(tmp_path_factory.mktemp("wallet"), issuer[0])[0]


def chromium(url: str, tmp: Path, *, screenshot: Path | None = None) -> str:
    """Render ``url`` in headless Chromium (scripts run for up to 10 s of page time); the DOM it ends with.
    One browser profile per test folder: its cookies carry from one run to the next, as in one browser."""
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


def new_checkout(shop: str, browser: httpx.Client | None = None) -> tuple[httpx.Client, str]:
    """A customer's browser (a client that keeps cookies) starts a checkout: the browser and the page's URL."""
    browser = browser or httpx.Client()
    response = browser.post(f"{shop}/checkout", follow_redirects=False)
    assert response.status_code == 303
    return browser, shop + response.headers["location"]


def chromium_checkout(shop: str, tmp: Path) -> str:
    """Chromium presses the "verify" button itself (so the checkout is its own): the checkout page's URL."""
    start = tmp / "start.html"
    start.write_text(f'<form method="post" action="{shop}/checkout"></form>'
                     "<script>document.forms[0].submit()</script>")
    dom = chromium(start.as_uri(), tmp)
    link = html.unescape(re.search(r'data-link="([^"]+)"', dom).group(1))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    return query["request_uri"][0].replace("/request/", "/checkout/")


def test_checkout_page_qr_wallet_and_age_verified(shop, wallet, tmp_path):
    home = chromium(shop + "/", tmp_path)
    assert "Verify my age with my wallet" in home
    page = chromium_checkout(shop, tmp_path)
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
    assert SAMPLE_DRIVER.family_name.upper() not in dom.upper()
    assert httpx.get(page + "/outcome").status_code == 404, "the verdict is for the browser that started it"
    assert "Waiting" not in chromium(page, tmp_path / "another-browser")

    with pytest.raises(Exception) as info:  # the same request cannot be answered twice
        wallet.answer_online(request)
    assert getattr(info.value, "code", None) == "refused"


# ------------------------------------------------------------- the Digital Credentials API (issue 18, item 3)
# The browser's wallet selector, played by the test: the page's navigator.credentials.get hands its argument and
# the page's origin to the test (a DevTools binding), and resolves with the DigitalCredential the test gives it.
SELECTOR = """(() => {
  let answered = null;
  window.__walletAnswers = (credential) => { const resolve = answered; answered = null; resolve(credential); };
  if (typeof window.DigitalCredential === "undefined") window.DigitalCredential = function DigitalCredential() {};
  Object.defineProperty(navigator.credentials, "get", {value: (options) => new Promise((resolve) => {
    answered = resolve;
    window.__walletSelector(JSON.stringify({digital: options.digital, origin: location.origin}));
  })});
})();"""
WITHOUT_API = "delete window.DigitalCredential;"
MDOC_ONLY = SELECTOR + "DigitalCredential.userAgentAllowsProtocol = (protocol) => protocol === 'org-iso-mdoc';"
NONE_ALLOWED = SELECTOR + "DigitalCredential.userAgentAllowsProtocol = () => false;"


@pytest.fixture(scope="module")
def dc_shop(issuer, tmp_path_factory):
    """A shop of its own for the browser tests: their checkouts come from 127.0.0.1 like the others' and would
    use up that client's 10 a minute."""
    proc, url = launch_shop(issuer, tmp_path_factory.mktemp("dc-shop"))
    yield url
    process.stop(proc)


def browser_page(tmp: Path, events: list[dict], script: str):
    """Headless Chromium over the DevTools protocol with ``script`` run before every page's own."""
    from devtools import DevTools

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    page = DevTools(CHROMIUM, tmp / "devtools-profile", events.append)
    page.call("Runtime.enable")
    page.call("Page.enable")
    page.call("Runtime.addBinding", name="__walletSelector")
    page.call("Page.addScriptToEvaluateOnNewDocument", source=script)
    return page


def press_verify(page, shop: str) -> None:
    """The customer opens the shop and presses "Verify my age": the checkout page, the browser's own."""
    page.call("Page.navigate", url=shop + "/")
    page.wait_for("document.readyState === 'complete' && !!document.getElementById('verify')")
    page.evaluate("document.getElementById('verify').click()")
    page.wait_for("location.pathname.startsWith('/checkout/') && document.readyState === 'complete' "
                  "&& !!document.getElementById('qr')")


def selector_request(page, events: list[dict]) -> dict:
    """What the page handed to navigator.credentials.get, with its origin."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        calls = [e for e in events if e["method"] == "Runtime.bindingCalled"]
        if calls:
            events.remove(calls[0])
            return json.loads(calls[0]["params"]["payload"])
        page.pump(0.2)
    raise AssertionError("the page never called navigator.credentials.get")


def hand_over(page, wallet, request, protocol: str, before: dict) -> list:
    """The wallet answers (one single-use proof spent), the browser hands the DigitalCredential to the page; what
    the page then says, and its class."""
    data = wallet.answer_dc_api(request)
    assert sum(before.values()) - sum(unused(wallet).values()) == 1, "one single-use proof spent"
    page.evaluate(f"window.__walletAnswers({json.dumps({'protocol': protocol, 'data': data})})")
    return page.wait_for("(() => { const p = document.getElementById('outcome'); "
                         "return /verified|not accepted/i.test(p.textContent) && [p.textContent, p.className]; })()")


@pytest.mark.parametrize("answer_origin", ["page", "another"])
def test_shop_verifies_through_the_digital_credentials_api(dc_shop, wallet, tmp_path, answer_origin):
    """The page offers "Verify with your wallet" (the browser has the API); the browser's wallet selector hands
    the request and the page's origin to the wallet, whose answer the page posts; the shop shows the verdict.
    An answer made for another origin (a phishing page relaying the shop's unsigned request) is refused."""
    events: list[dict] = []
    page = browser_page(tmp_path, events, SELECTOR)
    try:
        press_verify(page, dc_shop)
        assert page.wait_for("!document.getElementById('dc-api').hidden && "
                             "document.getElementById('dc-api').textContent") == "Verify with your wallet"
        page.evaluate("document.getElementById('dc-api').click()", userGesture=True)
        asked = selector_request(page, events)
        assert asked["origin"] == dc_shop, "the browser asserts the page's origin"
        protocols = [r["protocol"] for r in asked["digital"]["requests"]]
        assert protocols == ["openid4vp-v1-signed", "openid4vp-v1-unsigned", "org-iso-mdoc"]
        before = unused(wallet)
        if answer_origin == "page":
            request = wallet.open_dc_api_request(asked["digital"], asked["origin"])
            assert request.asker == f"Example Cider Shop ({dc_shop})" and request.requested_claims() == ["age_over_18"]
            protocol = "openid4vp-v1-signed"
        else:
            with pytest.raises(ReaderNotAuthorised):  # the signed request names the shop's origin only
                wallet.open_dc_api_request(asked["digital"], "https://evil.example")
            unsigned = {"requests": asked["digital"]["requests"][1:2]}
            request = wallet.open_dc_api_request(unsigned, "https://evil.example")
            protocol = "openid4vp-v1-unsigned"
        outcome = hand_over(page, wallet, request, protocol, before)
        if answer_origin == "page":
            assert outcome == ["Age verified: over 18", "verified"]
            assert page.evaluate("document.getElementById('qr').hidden && document.getElementById('dc-api').hidden")
        else:
            assert "not accepted" in outcome[0] and "another audience" in outcome[0], outcome
            assert outcome[1] == "refused" and "Age verified" not in page.evaluate("document.body.innerText")
            checkout = page.evaluate("location.pathname")
            status = page.evaluate(f"fetch('{checkout}/outcome').then(r => r.json())")
            assert status["outcome"] == "waiting" and status["detail"], status
        SCREENSHOTS.mkdir(exist_ok=True)
        shot = page.call("Page.captureScreenshot", format="png")["data"]
        (SCREENSHOTS / f"shop-dc-api-{answer_origin}.png").write_bytes(base64.b64decode(shot))
    finally:
        page.close()


@pytest.mark.parametrize("answer_origin", ["page", "another"])
def test_safari_verifies_with_org_iso_mdoc(dc_shop, wallet, tmp_path, answer_origin):
    """Safari 26 allows only org-iso-mdoc (ISO/IEC 18013-7 Annex C): the page asks in that protocol alone, the
    wallet answers with a DeviceResponse sealed to the shop's key for the page's origin, and the shop shows the
    verdict. A phishing page cannot use the shop's reader-authenticated DeviceRequest for its own origin, and an
    answer made for another origin does not open at the shop."""
    events: list[dict] = []
    page = browser_page(tmp_path, events, MDOC_ONLY)
    try:
        press_verify(page, dc_shop)
        assert page.wait_for("!document.getElementById('dc-api').hidden")
        page.evaluate("document.getElementById('dc-api').click()", userGesture=True)
        asked = selector_request(page, events)
        assert [r["protocol"] for r in asked["digital"]["requests"]] == ["org-iso-mdoc"], "the browser's only one"
        before = unused(wallet)
        if answer_origin == "page":
            request = wallet.open_dc_api_request(asked["digital"], asked["origin"])
            assert request.asker == f"Example Cider Shop ({dc_shop})" and request.requested_claims() == ["age_over_18"]
        else:
            with pytest.raises(ReaderNotAuthorised):  # readerAuth signs the transcript: the shop's origin only
                wallet.open_dc_api_request(asked["digital"], "https://evil.example")
            data = asked["digital"]["requests"][0]["data"]
            stripped = DeviceRequest([replace(d, reader_auth=None) for d in
                                      DeviceRequest.parse(b64url_decode(data["deviceRequest"])).doc_requests])
            relayed = {"protocol": "org-iso-mdoc", "data": {**data, "deviceRequest": b64url_encode(stripped.encode())}}
            request = wallet.open_dc_api_request(relayed, "https://evil.example")
        outcome = hand_over(page, wallet, request, "org-iso-mdoc", before)
        if answer_origin == "page":
            assert outcome == ["Age verified: over 18", "verified"]
        else:
            assert "not accepted" in outcome[0] and "does not open" in outcome[0], outcome
            status = page.evaluate(f"fetch('{page.evaluate('location.pathname')}/outcome').then(r => r.json())")
            assert status["outcome"] == "waiting", status
        SCREENSHOTS.mkdir(exist_ok=True)
        shot = page.call("Page.captureScreenshot", format="png")["data"]
        (SCREENSHOTS / f"shop-org-iso-mdoc-{answer_origin}.png").write_bytes(base64.b64decode(shot))
    finally:
        page.close()


@pytest.mark.parametrize("script", [WITHOUT_API, NONE_ALLOWED], ids=["no-api", "no-protocol-allowed"])
def test_browsers_without_the_api_get_the_qr_code_and_link(dc_shop, tmp_path, script):
    """Firefox, older Chrome (no API), and a browser that allows none of the protocols offered: no button, QR and
    link."""
    events: list[dict] = []
    page = browser_page(tmp_path, events, script)
    try:
        press_verify(page, dc_shop)
        page.pump(0.5)
        assert page.evaluate("document.getElementById('dc-api').hidden"), "no button without the API"
        assert page.evaluate("!document.getElementById('qr').hidden && "
                             "document.getElementById('link').href.startsWith('openid4vp://')")
    finally:
        page.close()


def test_dc_api_endpoints_refuse_other_browsers_and_bad_answers(dc_shop):
    browser, page = new_checkout(dc_shop)
    assert httpx.post(page + "/dc-api").status_code == 404, "only the browser that started the checkout"
    options = browser.post(page + "/dc-api").json()
    assert [r["protocol"] for r in options["digital"]["requests"]] == [
        "openid4vp-v1-signed", "openid4vp-v1-unsigned", "org-iso-mdoc"]
    for body in (b"{", b'{"protocol": "org-iso-mdoc", "data": {}}', b'{"protocol": "openid4vp-v1-unsigned"}'):
        assert browser.post(page + "/dc-api/response", content=body).status_code == 400
    bogus = {"protocol": "openid4vp-v1-unsigned", "data": {"response": "a.b.c.d.e"}}
    reply = browser.post(page + "/dc-api/response", json=bogus)
    assert reply.status_code == 400 and "does not decrypt" in reply.json()["error_description"]
    sealed = {"protocol": "org-iso-mdoc", "data": {"response": "gmVkY2FwaQ"}}  # ["dcapi", then nothing: not CBOR
    reply = browser.post(page + "/dc-api/response", json=sealed)
    assert reply.status_code == 400 and "EncryptedResponse" in reply.json()["error_description"]
    assert httpx.post(page + "/dc-api/response", json=bogus).status_code == 404
    assert browser.get(page + "/outcome").json()["outcome"] == "waiting"
    script = browser.get(dc_shop + "/dc-api.js")
    assert script.status_code == 200 and "navigator.credentials.get" in script.text


def test_request_object_is_signed_for_the_shop_host(shop, wallet):
    link = link_for(new_checkout(shop)[1])
    request = wallet.open_online_request(link)
    assert request.claims["response_uri"].startswith(shop + "/response/")
    with pytest.raises(ReaderNotAuthorised):  # the link names another client than the signed request
        wallet.open_online_request(link.replace("localhost", "evil.example", 1))


def test_forged_and_unknown_responses(shop, issuer, wallet, tmp_path):
    """Anyone who saw the QR can post to its response URI: nothing they post ends the customer's checkout."""
    browser, page = new_checkout(shop)
    checkout_id = page.rsplit("/", 1)[1]
    assert httpx.post(f"{shop}/response/{checkout_id}", data={"response": "a.b.c.d.e"}).status_code == 400
    assert httpx.post(f"{shop}/response/nope", data={"response": "x"}).status_code == 404
    assert httpx.post(f"{shop}/response/{checkout_id}", content=b"x" * 100_000).status_code == 413
    outcome = browser.get(page + "/outcome").json()
    assert outcome["outcome"] == "waiting" and "does not decrypt" in outcome["detail"], "was ended as refused"
    wallet.answer_online(wallet.open_online_request(link_for(page)))  # the real wallet, afterwards
    assert browser.get(page + "/outcome").json()["outcome"] == "verified"
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
    browser, page = new_checkout(shop)
    request = wallet.open_online_request(link_for(page))
    before = unused(wallet)["uk.dvla.age.mdoc"]
    wallet.answer_online(request)
    assert unused(wallet)["uk.dvla.age.mdoc"] == before - 1
    assert browser.get(page + "/outcome").json() == {"outcome": "verified", "age_over_18": True, "detail": ""}


def test_wallet_that_cannot_answer_says_access_denied(shop, wallet):
    """Nothing in the wallet satisfies the query: it sends no credential and the shop hears access_denied (8.5)."""
    entries = wallet._entries()
    kept = list(entries)
    entries[:] = [e for e in entries if ".age." not in e["config_id"] and ".mdl." not in e["config_id"]]
    try:
        browser, page = new_checkout(shop)
        with pytest.raises(DidlibError) as info:
            wallet.answer_online(wallet.open_online_request(link_for(page)))
        assert info.value.code == "no_matching_credential"
        outcome = browser.get(page + "/outcome").json()
        # the checkout stays open (anyone holding the request could send an error), the reason is shown
        assert outcome["outcome"] == "waiting" and "access_denied" in outcome["detail"]
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


# ------------------------------------------------------------------------- hardening (issue 14, item 13)
def client_at(address: str) -> httpx.Client:
    """A browser on another machine: its connections come from another loopback address (127.0.0.0/8)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address))


def test_a_checkout_flood_from_one_client_leaves_customers_served(shop):
    """1,050 anonymous checkouts in 1.3 s once made every real customer wait ten minutes for a 503."""
    url = shop.replace("localhost", "127.0.0.1")
    flood = client_at("127.0.0.3")
    codes = [flood.post(f"{url}/checkout").status_code for _ in range(40)]
    assert 0 < codes.count(303) <= 10 and codes[-1] == 429, codes
    assert flood.post(f"{url}/checkout").headers["retry-after"] == "60"
    new_checkout(url, client_at("127.0.0.4"))  # another customer is still served


def test_pages_forbid_framing_and_foreign_scripts(shop):
    browser, page = new_checkout(shop)
    for url in (shop + "/", page):
        headers = browser.get(url).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'nonce-" in csp and "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert browser.cookies.get("shop_browser"), "the checkout is bound to this browser"
    assert httpx.get(page).status_code == 404 and httpx.get(page + "/outcome").status_code == 404


def caught_answer(wallet: WalletModel, link: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The form the wallet would post for ``link``, caught on its way out (the wallet's own code made it)."""
    request = wallet.open_online_request(link)
    sent: dict[str, str] = {}

    def catch(posted: httpx.Request) -> httpx.Response:
        sent.update(urllib.parse.parse_qsl(posted.content.decode()))
        return httpx.Response(200)

    with monkeypatch.context() as patch:
        patch.setattr(wallet, "http", lambda base: httpx.Client(transport=httpx.MockTransport(catch)))
        wallet.answer_online(request)
    return sent


def test_checkouts_outlive_a_restart_and_two_shops_accept_one_answer_once(issuer, wallet, tmp_path, monkeypatch):
    state, port = tmp_path / "shop", process.free_port()
    first, url = launch_shop(issuer, state, port)
    browser, page = new_checkout(url)
    process.stop(first)
    first, url = launch_shop(issuer, state, port)  # restarted on the same state
    second, other = launch_shop(issuer, state)  # a second worker on the same state
    try:
        assert browser.get(page).status_code == 200, "the checkout outlived the restart"
        form = caught_answer(wallet, link_for(page), monkeypatch)
        checkout_id = page.rsplit("/", 1)[1]
        with ThreadPoolExecutor(2) as pool:  # the same answer to both workers at once
            codes = list(pool.map(lambda base: httpx.post(f"{base}/response/{checkout_id}", data=form).status_code,
                                  [url, other]))
        assert sorted(codes) == [200, 400], codes
        for base in (url, other):
            assert browser.get(f"{base}/checkout/{checkout_id}/outcome").json()["outcome"] == "verified"
        assert (state / "checkouts.sqlite").stat().st_mode & 0o077 == 0, "it holds the requests' private keys"
    finally:
        process.stop(first)
        process.stop(second)


def test_the_shop_keeps_nothing_personal(shop, shop_state, wallet):
    """specs/verifier.md: after its checkouts (this one and the module's others) the shop's files hold no name,
    birth date, portrait, document number or device key of the customer."""
    browser, page = new_checkout(shop)
    wallet.answer_online(wallet.open_online_request(link_for(page)))
    assert browser.get(page + "/outcome").json()["outcome"] == "verified"
    licence = next(e for e in wallet._entries() if e["config_id"] == "uk.dvla.mdl.mdoc")
    portrait = wallet._credential(licence).elements()[NS_ISO]["portrait"]
    keys = [wallet._keys().private_key(e["key_id"]).public_key() for e in wallet._entries()]
    seen = needles(SAMPLE_DRIVER, driver_number(SAMPLE_DRIVER), portrait, keys)
    assert any(shop_state.rglob("*.sqlite")), "the shop wrote its checkouts"
    assert personal_traces(shop_state, [seen]) == []
