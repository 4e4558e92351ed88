"""The verifier app: its model headless, and the real Kivy app driven by touches with a fake camera.

The UI run takes a screenshot of every screen into ``ui-screenshots/verifier/`` (kept for people to look at).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import NOW, ROOT
from didlib import TrustStore
from didlib.errors import DidlibError
from didlib.presentation import make_oneway
from didlib.qr import codes_for, qr_image
from didlib.scanner import Frame, Scanner
from didlib.verifier import TrustData
from verifier_app.model import VerifierModel

SHOTS = ROOT / "ui-screenshots" / "verifier"


def frames_of(text):
    """Each code drawn into a 1280x720 greyscale camera frame, read by the apps' scanner (didlib.scanner)."""
    from PIL import Image

    out = []
    for code in codes_for(text):
        picture = Image.new("L", (1280, 720), 90)
        picture.paste(qr_image(code, "M", box_size=3).convert("L"), (420, 40))
        out.append(Scanner().scan(Frame(picture.tobytes(), 1280, 720)))
    return out


@pytest.fixture
def model(pki):
    store = TrustStore([pki.certificate("iaca")], [pki.certificate("ds")])
    clock = [NOW]
    m = VerifierModel(lambda: TrustData(store, fetched_at=NOW - dt.timedelta(days=2)), clock=lambda: clock[0])
    m.clock_box = clock
    return m


def test_model_flow_and_privacy(model, age_credential, device_key):
    seen = []
    model.listeners.append(lambda m: seen.append(m.state))
    assert model.trust_status() == ("Trust list from 2 days ago", False)
    model.choose("age:18")
    for frame in frames_of(make_oneway(age_credential, device_key, now=NOW)):
        model.codes(frame)
    assert model.state == "result" and model.verdict.headline == "OVER 18"
    model.clock_box[0] = NOW + dt.timedelta(seconds=11)
    model.tick()
    assert model.state == "home" and model.verdict is None, "the result clears itself"
    assert model.counts == {"checks": 1, "accept": 1}
    assert seen[0] == "scanning" and seen[-1] == "home"


def test_model_multi_part_message_and_image_fallback(model, age_credential, device_key, tmp_path):
    model.choose("age:18")
    first, second = frames_of(make_oneway(age_credential, device_key, now=NOW))
    model.codes(first)
    assert model.state == "scanning" and model.message == "Part 1 of 2 read: show the next code"
    model.codes(second)
    assert model.state == "result"
    model.done()
    model.choose("age:18")
    (tmp_path / "not-a-code.png").write_bytes(b"\x89PNG junk")
    model.image(tmp_path / "not-a-code.png")
    assert model.state == "scanning" and model.message


def test_model_distrusting_an_issuer(model, age_credential, device_key):
    assert model.trusted_issuers() == [("DVLA IACA", True)]
    model.settings.distrusted.add("DVLA IACA")
    model.choose("age:18")
    for frame in frames_of(make_oneway(age_credential, device_key, now=NOW)):
        model.codes(frame)
    assert model.verdict.decision == "reject"


def test_model_stale_trust_data(pki):
    store = TrustStore([pki.certificate("iaca")])
    model = VerifierModel(lambda: TrustData(store, fetched_at=NOW - dt.timedelta(days=9)), clock=lambda: NOW)
    assert model.trust_status() == ("Trust list from 9 days ago: out of date, update when online", True)


def test_a_challenge_check_without_a_reader_key_says_why(model):
    model.choose("volunteer")
    assert model.state == "scanning" and model.request_qr is None
    assert "no reader key" in model.blocked and "DBS check" in model.blocked
    assert "load them in Settings" in model.blocked, "what to do about it"
    model.codes(["DL1:anything"])
    assert model.state == "scanning", "nothing is checked without a request"
    model.done()
    assert model.blocked == ""


def test_the_countdown_before_the_verdict_clears(model, age_credential, device_key):
    model.choose("age:18")
    for codes in frames_of(make_oneway(age_credential, device_key, now=NOW)):
        model.codes(codes)
    assert model.seconds_left() == 10
    model.clock_box[0] = NOW + dt.timedelta(seconds=7.5)
    assert model.seconds_left() == 3


def test_every_text_colour_has_contrast():
    from verifier_app.palette import PAIRS, contrast

    low = {name: round(contrast(text, background), 2) for name, text, background in PAIRS
           if contrast(text, background) < 4.5}
    assert not low, f"below 4.5:1 (WCAG 2.1 1.4.3): {low}"


SIZES = ("360x780", "412x915", "800x1280")  # dp, portrait
DENSITY = {"412x915": "2"}  # one size drawn at two pixels per dp, as on a high-density phone


def _driver(out, size: str, mode: str) -> subprocess.Popen:
    env = os.environ | {"SDL_AUDIODRIVER": "dummy", "UI_SIZE": size, "UI_DENSITY": DENSITY.get(size, "1")}
    command = [sys.executable, str(ROOT / "tests" / "ui" / "verifier_ui_driver.py"), str(out), mode]
    if shutil.which("xvfb-run") and not os.environ.get("DISPLAY"):
        command = ["xvfb-run", "-a", "-s", "-screen 0 1700x2000x24", *command]  # a real X window
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _results(proc: subprocess.Popen, out) -> dict:
    output, _ = proc.communicate(timeout=400)
    results_file = out / "results.json"
    assert results_file.exists(), output[-4000:]
    results = json.loads(results_file.read_text())
    assert "error" not in results, results.get("error")
    return results


@pytest.mark.skipif(not shutil.which("Xvfb") and not os.environ.get("DISPLAY") and sys.platform != "linux",
                    reason="needs a display or SDL's offscreen driver")
def test_ui_at_a_till_offline_with_a_video_camera(tmp_path):
    """``python -m verifier_app`` with a trust list cached two days ago, the issuer unreachable and a video of
    a phone's screen (blur, noise, two-part codes) as its camera; at three phone sizes in portrait. Then a
    till with no trust data at all. Every screen is screenshotted and its layout checked."""
    runs = {size: (tmp_path / size, size, "checks" if size == SIZES[0] else "screens") for size in SIZES}
    runs |= {f"setup-{size}": (tmp_path / f"setup-{size}", size, "setup") for size in SIZES}
    procs = {}
    for name, (out, size, mode) in runs.items():  # two at a time: this is a 2-core machine
        procs[name] = _driver(out, size, mode)
        if len(procs) % 2 == 0:
            for running in list(procs.values())[-2:]:
                running.wait(timeout=400)
    results = {name: _results(proc, runs[name][0]) for name, proc in procs.items()}

    checks = results[SIZES[0]]
    offline = "Could not update the trust list (no connection to the issuer): still using the one from 2 days ago"
    assert checks["home"]["message"] == offline, "offline start: the cache is used and the failed update is said"
    expected = {
        "valid": ("accept", "OVER 18", []),
        "replayed": ("reject", "NOT VERIFIED", ["this code was already used"]),
        "tampered": ("reject", "NOT VERIFIED", ["the code has been altered"]),
        "expired": ("reject", "NOT VERIFIED", ["this code is too old: ask for a fresh one"]),
        "revoked": ("reject", "NOT VERIFIED", ["this proof of age has been revoked by its issuer"]),
        "untrusted": ("reject", "NOT VERIFIED", ["issuer not trusted (not on the trust list)"]),
        "challenge25": ("accept", "OVER 25", []),
        "volunteer": ("accept", "VOLUNTEER CLEARED", []),
        "session": ("accept", "OVER 18", []),  # a wallet's mdoc: engagement, over an ISO 18013-5 session
    }
    for name, (decision, headline, reasons) in expected.items():
        got = checks[name]
        assert (got["screen"], got["decision"], got["headline"]) == ("result", decision, headline), name
        for reason in reasons:
            assert reason in got["reasons"], name
        if decision == "reject":
            assert got["action"] == "Do not sell. Ask for another proof of age.", name
        assert got["countdown"].startswith("Clears in "), name
    assert checks["valid"]["display_keys"] == ["over_18", "portrait"], "an age check shows nothing else"
    connecting = checks["connecting"]
    assert (connecting["screen"], connecting["message"]) == ("connect", "Connecting to the wallet…")
    assert checks["session"]["footer"].endswith("Read over local network"), "how the phone was reached"
    assert checks["counts"]["counts"] == {"checks": 11, "accept": 6, "reject": 5}
    assert checks["saved"]["pin"], "the operator PIN chosen before the settings is saved for the next start"
    for size in SIZES:  # issue 21: an organiser adds the volunteer just cleared, then looks them up
        got = results[size]
        assert got["step_Add"]["register_step"] == "add" and got["volunteer_add"]["headline"] == "VOLUNTEER CLEARED"
        assert got["registered"]["register_note"] == "Added to the register (volunteer 1)", size
        assert got["lookup"]["register_note"].startswith("On the register (volunteer 1): SARAH JANE MORGAN, DBS "
                                                         "enhanced barred lists, child workforce, checked in person")
        assert got["register"]["names"] == ["SARAH JANE MORGAN"] and got["saved"]["register_step"] == "lookup"
    assert checks["reader_loaded"]["message"] == "Reader key loaded: Scouts Hall", "loaded in Settings, no command line"

    for size in SIZES:
        setup = results[f"setup-{size}"]
        assert setup["setup_first"]["screen"] == "setup", "no trust data: the setup screen, not a traceback"
        assert setup["setup_offline"]["message"] == "Could not connect (no connection to the issuer)"
        assert setup["after_a_bug"]["message"] == "Something went wrong. The app is still working: try again."
        broken = " ".join(setup["layout"].pop("broken_on_purpose"))
        assert "does not fit" in broken and "overlaps" in broken, "the layout check sees clipping and overlaps"

    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        out, size = runs[name][:2]
        assert result["layout"] and not any(result["layout"].values()), (name, result["layout"])
        for screen in ("valid", "revoked", "volunteer", "session", "registered", "lookup"):
            if screen in result:
                sizes = result[screen]["sizes"]
                width, height = sizes["window"]
                assert sizes["headline_height"] >= height / 10, (name, screen, sizes)
                if screen != "revoked":
                    assert sizes["portrait_width"] >= 0.6 * width and sizes["portrait_filter"] == "linear", sizes
        shots = sorted(out.glob("*.png"))
        assert shots and all(png.stat().st_size > 2000 for png in shots)
        for png in shots:
            shutil.copy(png, SHOTS / f"{size}-{png.name}")
    for name in SIZES:
        assert {"home", "scan", "valid", "revoked", "volunteer_request", "volunteer", "pin", "settings", "connecting",
                "session", "settings_register", "volunteer_add", "registered", "lookup"} <= \
            {p.stem for p in runs[name][0].glob("*.png")}, name


# ------------------------------------------------------------------ an mdoc: engagement (ISO 18013-5 session)
class Phone:
    """A holder in a thread: shows an ``mdoc:`` engagement naming a loopback port and, once ``go`` is set,
    answers the reader with what ``decide`` allows (None: the holder declines)."""

    def __init__(self, holdings, reader_trust, decide=lambda p: {d.doctype: d.allowed() for d in p.documents}):
        import threading

        from didlib.session import HolderSession, RetrievalMethod, TcpListener, serve_holder

        self.listener = TcpListener("127.0.0.1")
        self.holder = HolderSession(holdings, reader_trust=reader_trust, now=NOW, retrieval_methods=[
            RetrievalMethod.local_network(self.listener.host, self.listener.port)])
        self.uri = self.holder.qr_uri()
        self.go, self.asked = threading.Event(), []

        def serve() -> None:
            transport = self.listener.accept(20)
            self.go.wait(20)
            with contextlib.suppress(DidlibError):  # a request the phone refuses (it answered with a status)
                serve_holder(self.holder, transport, lambda p: self.asked.append(p) or decide(p), 20)
            transport.close()
            self.listener.close()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()


def settle(model, seconds: float = 20.0) -> None:
    """Wait until the session's worker thread has handed the model its verdict."""
    import time

    deadline = time.monotonic() + seconds
    while model.state == "connecting" and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def till(model, shop):
    """The verifier app's model with a shop's reader key (a wallet answers only readers that authenticate)."""
    model.reader_key, model.reader_chain = shop
    return model


def test_model_reads_an_mdoc_engagement_and_runs_the_session(till, age_credential, device_key, reader_trust):
    phone = Phone([(age_credential, device_key)], reader_trust)
    seen = []
    till.listeners.append(lambda m: seen.append((m.state, m.message)))
    till.choose("age:18")
    till.codes([phone.uri])
    assert till.state == "connecting" and till.message == "Connecting to the wallet…", "progress while it runs"
    phone.go.set()
    settle(till)
    assert till.state == "result" and till.verdict.decision == "accept", till.verdict.reasons
    assert till.verdict.headline == "OVER 18" and set(till.verdict.display) == {"over_18", "portrait"}
    assert till.link_note == "local network"
    assert phone.asked[0].reader.name == "Example Shop", "the wallet saw the till's reader certificate"
    assert ("connecting", "Connecting to the wallet…") in seen and seen[-1][0] == "result"
    assert till.counts == {"checks": 1, "accept": 1}
    till.done()
    assert till.link_note == "" and till.verdict is None


def test_a_declined_session_is_a_plain_refusal(till, age_credential, device_key, reader_trust):
    phone = Phone([(age_credential, device_key)], reader_trust, decide=lambda _: None)
    till.choose("age:18")
    till.codes([phone.uri])
    phone.go.set()
    settle(till)
    assert till.state == "result" and till.verdict.decision == "reject"
    assert till.verdict.reasons == ["the customer ended the check on their phone"]
    assert till.verdict.action == "Do not sell. Ask for another proof of age."


def test_a_session_from_an_untrusted_issuer_is_rejected(till, pki, device_key, reader_trust, tmp_path):
    from conftest import issue
    from didlib.mdoc import DOCTYPE_AGE
    from didlib.pkidir import PkiDir
    from didlib.samples import proof_of_age_data

    other = PkiDir.create(tmp_path / "other", issuer="Elsewhere", now=NOW - dt.timedelta(days=30))
    stranger = issue(other, DOCTYPE_AGE, proof_of_age_data(today=NOW.date()), device_key.public_key())
    phone = Phone([(stranger, device_key)], reader_trust)
    till.choose("age:18")
    till.codes([phone.uri])
    phone.go.set()
    settle(till)
    assert till.verdict.decision == "reject" and till.verdict.codes == ["untrusted_issuer"], till.verdict.codes


def test_an_unreachable_or_silent_phone_is_a_plain_message(till, reader_trust, age_credential, device_key):
    from didlib.keys import generate_key
    from didlib.session import DeviceEngagement, RetrievalMethod, TcpListener
    from issuer_service.process import free_port

    nobody = DeviceEngagement.create(generate_key().public_key(),
                                     [RetrievalMethod.local_network("127.0.0.1", free_port())]).to_uri()
    till.choose("age:18")
    till.codes([nobody])
    settle(till)
    assert till.state == "result" and till.verdict.reasons == ["the phone could not be reached on the local network"]
    till.done()

    silent = TcpListener("127.0.0.1")  # connects, then never answers
    mute = DeviceEngagement.create(generate_key().public_key(),
                                   [RetrievalMethod.local_network(silent.host, silent.port)]).to_uri()
    till.session_timeout = 1.0
    till.choose("age:18")
    till.codes([mute])
    settle(till)
    silent.close()
    assert till.verdict.reasons == ["the phone did not answer in time: try again"]
    till.done()

    till.choose("age:18")
    till.codes(["mdoc:not-an-engagement"])
    settle(till)
    assert till.state == "result" and till.verdict.decision == "reject" and till.verdict.reasons


def test_a_session_that_fails_unexpectedly_still_ends_in_a_verdict(till, age_credential, device_key, reader_trust):
    """Whatever a Bluetooth stack raises in the worker thread, the till shows a verdict, not "connecting"."""

    class Broken:
        address = b"\x00" * 6

        def connect(self, *args, **kwargs):
            raise OSError("the adapter went away")

    import uuid

    from didlib.session import HolderSession, RetrievalMethod
    from didlib.session.engagement import BleOptions

    holder = HolderSession([(age_credential, device_key)], reader_trust=reader_trust, retrieval_methods=[
        RetrievalMethod.ble(BleOptions(peripheral_server_uuid=uuid.uuid4()))])
    till.adapter = Broken()
    till.choose("age:18")
    till.codes([holder.qr_uri()])
    settle(till)
    assert till.state == "result" and till.verdict.decision == "reject"
    assert till.verdict.reasons == ["the check could not be completed: try again"]


def test_cancelling_a_session_drops_its_late_verdict(till, age_credential, device_key, reader_trust):
    phone = Phone([(age_credential, device_key)], reader_trust)
    till.choose("age:18")
    till.codes([phone.uri])
    assert till.state == "connecting"
    till.done()
    assert till.state == "home"
    phone.go.set()
    phone.thread.join(20)
    import time

    time.sleep(0.3)
    assert till.state == "home" and till.verdict is None, "a cancelled check does not come back"
    till.choose("age:18")
    till.codes(["mdoc:" + "A" * 10])
    settle(till)
    assert till.state == "result"


def test_a_till_without_a_reader_key_is_refused_by_the_wallet(model, age_credential, device_key, reader_trust):
    """ISO 18013-5 reader authentication: a wallet answers only readers that prove who they are."""
    phone = Phone([(age_credential, device_key)], reader_trust)
    phone.go.set()
    model.choose("age:18")
    model.codes([phone.uri])
    settle(model)
    assert model.verdict.decision == "reject" and model.verdict.reasons == ["the phone refused the check"]
