"""The wallet app: what a scanned code is (headless), the command line, the Android glue against stand-ins
for Android's API, and the real Kivy app driven by touches with a video file as its camera.

The UI run keeps a screenshot of every screen at each phone size in ``ui-screenshots/wallet/``. The "prove
my age" and answer screenshots are decoded here and verified with the verifier engine, offline, from the
trust data the wallet cached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types

import pytest

from conftest import NOW, ROOT
from didlib.errors import DecodeError
from didlib.oid4vci import CredentialOffer
from didlib.presentation import make_oneway
from didlib.qr import codes_for, split
from didlib.session.reader_auth import UNSTATED_WARNING
from didlib.verifier import AgePolicy
from wallet_app.codes import CodeReader

SHOTS = ROOT / "ui-screenshots" / "wallet"
SIZES = ("360x780", "412x915", "800x1280")
EVERY_SCREEN = ("pin_first_run", "cards_empty", "scan", "add", "cards", "prove", "request", "consent", "answer",
                "consent_unstated", "details", "engagement", "consent_session", "consent_online", "cards_sent",
                "add_offline", "peer_share", "peer_code", "peer", "settings", "restore", "delete", "pin_wrong",
                "pin_corrupt")


# ------------------------------------------------------------------------------------------ codes
def challenge(shop) -> str:
    """A shop's request code (age over 18), as its till shows it."""
    from didlib.presentation import Challenge

    key, chain = shop
    return Challenge.create(AgePolicy(18).request(), reader_key=key, reader_chain=chain, now=NOW).text


def test_each_kind_of_code_goes_where_it_belongs(shop, age_credential, device_key):
    reader = CodeReader()
    offer = CredentialOffer("https://dvla.example", ["uk.dvla.mdl.mdoc"], "abc").uri()
    assert (reader.read(offer).kind, reader.read(" openid4vp://?client_id=x ").kind) == ("offer", "online")
    assert reader.read(challenge(shop)).kind == "request"
    parts = codes_for(make_oneway(age_credential, device_key, now=NOW))
    assert len(parts) > 1
    assert [reader.read(part) for part in parts[:-1]] == [None] * (len(parts) - 1)
    assert reader.progress() == f"Part {len(parts) - 1} of {len(parts)} read: hold the phone there"
    peer = reader.read(parts[-1])
    assert peer.kind == "peer" and peer.text.startswith("DL1:") and reader.progress() == ""


@pytest.mark.parametrize(("text", "says"), [
    ("mdoc:owBjMS4w", "another wallet's code for a reader"),
    ("https://example.com", "not a code the wallet can read"),
    ("DLM:1/2:AB:xx", "not a code the wallet can read"),
])
def test_codes_the_wallet_has_no_use_for_say_what_they_are(text, says):
    with pytest.raises(DecodeError) as caught:
        CodeReader().read(text)
    assert says in caught.value.message


def test_a_wallets_answer_is_for_the_verifier(shop, age_credential, device_key, reader_trust):
    from didlib.presentation import answer_challenge, read_challenge

    holdings = [(age_credential, device_key)]
    pending = read_challenge(challenge(shop), holdings, reader_trust, now=NOW)
    (answer,) = split(answer_challenge(pending, holdings), 10**6)
    with pytest.raises(DecodeError, match="for the verifier's camera"):
        CodeReader().read(answer)


# ------------------------------------------------------------------------------- command line
def test_a_link_on_the_command_line_opens_in_the_wallet(tmp_path):
    """``python -m wallet_app LINK`` hands the link to the app (answered after the PIN); --camera a file."""
    video = tmp_path / "till.avi"
    video.write_bytes(b"")
    probe = ("import sys; import wallet_app.app as a; "
             "a.WalletApp.run = lambda self: print(self._opening, self.camera); "
             "from wallet_app.__main__ import main; main(sys.argv[1:])")
    link = "openid-credential-offer://?credential_offer=%7B%7D"
    env = os.environ | {"KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1", "KIVY_HOME": str(tmp_path / "kivy")}
    out = subprocess.run([sys.executable, "-c", probe, "--data", str(tmp_path / "w"), "--camera", str(video), link],
                         capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [link, str(video)]


# ---------------------------------------------------------------------------------- Android
class _Window:
    def __init__(self) -> None:
        self.params = types.SimpleNamespace(screenBrightness=-1.0)
        self.applied: list[float] = []

    def getAttributes(self):  # Android's names
        return self.params

    def setAttributes(self, params):
        self.applied.append(params.screenBrightness)


@pytest.fixture
def android(monkeypatch):
    """Stand-ins for pyjnius and python-for-android's ``android`` module, as a phone build imports them."""
    from didlib_apps import phone

    window = _Window()
    intents: list = []
    activity = types.SimpleNamespace(getWindow=lambda: window,
                                     getIntent=lambda: types.SimpleNamespace(getDataString=lambda: "openid4vp://?a"))
    jnius = types.SimpleNamespace(autoclass=lambda name: types.SimpleNamespace(mActivity=activity))
    android_pkg = types.ModuleType("android")
    android_pkg.activity = types.SimpleNamespace(bind=lambda **kw: intents.append(kw["on_new_intent"]))
    runnable = types.ModuleType("android.runnable")
    runnable.run_on_ui_thread = lambda f: f
    monkeypatch.setitem(sys.modules, "jnius", jnius)
    monkeypatch.setitem(sys.modules, "android", android_pkg)
    monkeypatch.setitem(sys.modules, "android.runnable", runnable)
    monkeypatch.setattr(phone, "platform", "android")
    return types.SimpleNamespace(window=window, intents=intents, phone=phone)


def test_android_brightness_and_links(android, monkeypatch):
    phone = android.phone
    phone.screen_brightness(True)
    phone.screen_brightness(False)
    assert android.window.applied == [1.0, -1.0], "full brightness while a code shows, then the user's own"
    assert phone.launch_link() == "openid4vp://?a"
    handled: list[str] = []
    monkeypatch.setattr(phone.Clock, "schedule_once", lambda f, _t: f(0))
    phone.on_new_link(handled.append)
    (new_intent,) = android.intents
    new_intent(types.SimpleNamespace(getDataString=lambda: "openid-credential-offer://?b"))
    new_intent(types.SimpleNamespace(getDataString=lambda: None))  # a plain launch: no link
    assert handled == ["openid-credential-offer://?b"]


def test_desktop_has_no_android_calls():
    from didlib_apps import phone

    phone.screen_brightness(True)  # nothing to do, nothing imported
    assert phone.launch_link() is None and "jnius" not in sys.modules


# ------------------------------------------------------------------------------------- the UI
def _driver(out, mode: str, density: str) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "tests" / "ui" / "wallet_ui_driver.py"), str(out), mode]
    if shutil.which("xvfb-run") and not os.environ.get("DISPLAY"):
        command = ["xvfb-run", "-a", "-s", "-screen 0 1700x2000x24", *command]  # a real X window
    env = os.environ | {"SDL_AUDIODRIVER": "dummy", "UI_DENSITY": density}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _results(proc: subprocess.Popen, out) -> dict:
    output, _ = proc.communicate(timeout=500)
    results_file = out / "results.json"
    assert results_file.exists(), output[-4000:]
    results = json.loads(results_file.read_text())
    assert "error" not in results, results.get("error")
    return results


@pytest.mark.skipif(not shutil.which("Xvfb") and not os.environ.get("DISPLAY") and sys.platform != "linux",
                    reason="needs a display or SDL's offscreen driver")
def test_wallet_ui_end_to_end(tmp_path):
    """Everything at density 1 (three window sizes in one run), and beside it the screens that need no data
    at density 2, where a size in raw pixels would come out half as large."""
    out, dense = tmp_path / "shots", tmp_path / "dense"
    flow, screens = _driver(out, "flow", "1"), _driver(dense, "screens", "2")
    results, dense_results = _results(flow, out), _results(screens, dense)
    assert dense_results["after_a_bug"] == ["cards", "Something went wrong. The wallet is still working: try again."]
    assert len(dense_results["layout"]) == 7 and not any(dense_results["layout"].values()), dense_results["layout"]

    # the PIN: twice, on the numeric keypad
    assert results["weak_pin"] == "Choose a PIN of at least six digits."
    assert results["pin_mismatch"][1] is False and "not the same" in results["pin_mismatch"][0]
    assert results["pin_keypad"] == ["number"] and results["after_pin"] == "cards"
    # the offer QR from the issuer service, read by the camera (a video), then redeemed off the UI thread
    assert results["offer_scanned"] == ["add", "Now type the 6-digit code the issuer gave you, and tap Add.", True]
    assert results["after_add"] == ["cards", "Added to your wallet."]
    assert "Getting your credential from the issuer..." in results["progress_shown"]
    assert results["cards"] == ["Driving licence", "Proof of age", "DBS check"]
    # the shop's request code, read by the camera: consent, answer, verified by the shop
    consent = results["consent"]
    assert consent["asker"].startswith("Example Shop (checked by ") and consent["asker"].endswith("wants to know:")
    assert consent["warning"] == "", "a reader whose certificate states its entitlement"
    assert results["answer_verdict"] == "accept" and results["answer_display"] == ["over_18", "portrait"]
    assert results["unstated_warning"] == UNSTATED_WARNING, "shown for a reader whose certificate states none"
    assert results["session_screen"] == "consent"
    assert results["session_result"] == [True, ["age_over_18", "portrait"]], "shared over the ISO session"
    assert results["online_screen"] == "consent"
    assert results["unused_after_online"] == results["unused_before_online"] - 1
    assert results["online_outcome"] == {"outcome": "verified", "age_over_18": True, "detail": ""}
    # two or fewer proofs of age left: the next showing is followed by a new batch, fetched by itself
    left, needed, after, said = results["top_up"]
    assert needed and left <= 2 and after == left - 1 + 5 and said == "5 new single-use proofs of age added."
    assert "Getting new proofs of age..." in results["progress_shown"]
    # a link while running; an unreachable issuer is a plain message, not a crash
    assert results["link_screen"][0] == "add" and "6-digit code" in results["link_screen"][1]
    assert results["offline_add"] == "Not added: No connection. Try again when you are online."
    # the peer check between two wallets
    verdict, issuer, portrait = results["peer"]
    assert verdict.startswith("IDENTITY VERIFIED") and "SARAH JANE MORGAN" in verdict and portrait
    assert issuer.startswith("Issued by ")
    # safe with the data
    assert results["backup_message"].startswith("Backup written to ")
    assert results["restored"] == ["cards", "Restored from the backup.", 3]
    assert results["wrong_pin"].startswith("Wrong PIN") and "tries left" in results["wrong_pin"]
    assert results["delete_wrong_pin"][1] is True, "a wrong PIN deletes nothing"
    assert results["deleted"] == ["pin", "Everything was deleted.", False]
    assert results["opened_screen"] == "consent", "started with a link, the wallet asks after the PIN"
    assert results["declined_outcome"]["outcome"] == "waiting", "declining sends nothing"
    assert "damaged" in results["corrupt"][0] and results["corrupt"][1], "the lock screen offers the backup"
    assert results["after_restore"] == ["cards", 3]

    # the prove-my-age screen, as a cashier's camera sees it (every part), verified by a till offline
    assert results["prove_verdict"] == [results["prove_parts"], "accept", "OVER 18"]

    # every screen at every size: nothing clipped, nothing overlapping, nothing off the window
    layout = results["layout"]
    assert {f"{screen}-{size}" for screen in EVERY_SCREEN for size in SIZES} <= layout.keys()
    assert not {name: problems for name, problems in layout.items() if problems}
    SHOTS.mkdir(parents=True, exist_ok=True)
    for screen in EVERY_SCREEN:
        for size in SIZES:
            png = out / f"{screen}-{size}.png"
            assert png.stat().st_size > 2000, png.name
            shutil.copy(png, SHOTS / png.name)
