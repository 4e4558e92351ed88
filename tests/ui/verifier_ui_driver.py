"""Runs the real verifier app (offscreen or under Xvfb) as ``python -m verifier_app`` would: its state folder
holds a trust list cached two days ago, the issuer is unreachable, and its camera is a video file (a phone's
screen showing the codes, with blur and noise) read through didlib.scanner, the same path as a real camera.
Taps through each scenario, screenshots every screen and checks its layout. Writes ``results.json``.
Started by ``tests/test_verifier_app.py`` in its own process (Kivy runs one app per process).

    UI_SIZE=360x780 python tests/ui/verifier_ui_driver.py OUTPUT_DIR [checks|screens|setup]
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import threading
from pathlib import Path

from harness import StepDriver
from kivy.app import App
from kivy.clock import Clock
from kivy.uix.textinput import TextInput

from didlib import TrustStore
from didlib.cbor import decode, encode
from didlib.keys import generate_key, private_key_pem, public_key_pem
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL, Credential, issue_mdoc
from didlib.mdoc.registry import NS_AGE, NS_DBS, NS_ISO
from didlib.pki import common_name_of, create_reader_certificate
from didlib.pkidir import PkiDir
from didlib.presentation import answer_challenge, make_oneway, read_challenge
from didlib.presentation.qrflows import ONE_WAY
from didlib.qr import codes_for, frame, unframe
from didlib.samples import dbs_data, mdl_data, proof_of_age_data
from didlib.scanner import write_code_video
from didlib.session import HolderSession, RetrievalMethod, TcpListener, entitlement_extension, serve_holder
from didlib.status import StatusList, StatusListToken
from didlib.trustlist import ISSUER, TrustList, TrustListEntry
from didlib.verifier import TrustCache
from issuer_service.process import free_port
from verifier_app.__main__ import main as start_app

OUT = Path(sys.argv[1])
MODE = sys.argv[2] if len(sys.argv) > 2 else "checks"
NOW = dt.datetime.now(dt.UTC)
STATUS_URI = "https://dvla.example.invalid/status/1"
UNREACHABLE = f"http://127.0.0.1:{free_port()}"  # nothing listens: the till is offline


def blank_video(path: Path) -> Path:
    """An empty counter: the camera sees no code."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15.0, (640, 360))
    for _ in range(5):
        writer.write(np.full((360, 640, 3), 90, np.uint8))
    writer.release()
    return path


def build_world() -> dict:
    pki = PkiDir.create(Path(tempfile.mkdtemp()) / "pki")
    other = PkiDir.create(Path(tempfile.mkdtemp()) / "other", issuer="Elsewhere")
    phone = generate_key()
    signer_key, signer_cert = pki.signer()

    def issue(doctype, data, key=phone, status_idx=None, signer=(signer_key, signer_cert), **kw):
        status = {"status_list": {"idx": status_idx, "uri": STATUS_URI}} if status_idx is not None else None
        return Credential.from_issuer_signed(issue_mdoc(doctype, data, signer_key=signer[0], signer_chain=[signer[1]],
                                                        device_key=key.public_key(), status=status, **kw))

    revocations = StatusList(64)
    revocations.set(9, 1)
    token = StatusListToken.create_jwt(STATUS_URI, revocations, signer_key, chain=[signer_cert])
    store = TrustStore([pki.certificate("iaca")], [signer_cert])
    club_key = generate_key()
    club_cert = create_reader_certificate(
        pki.certificate("reader-ca"), pki.key("reader-ca"), club_key.public_key(), common_name="Scouts Hall",
        organisation="Example Scouts", extra_extensions=[entitlement_extension(
            {DOCTYPE_MDL: {NS_ISO: "*"}, DOCTYPE_DBS: {NS_DBS: "*"}, DOCTYPE_AGE: {NS_AGE: "*"}})])
    return {
        "pki": pki, "phone": phone, "store": store, "status_token": token, "signer_cert": signer_cert,
        "proof": issue(DOCTYPE_AGE, proof_of_age_data(), status_idx=3),
        "revoked": issue(DOCTYPE_AGE, proof_of_age_data(), status_idx=9),
        "stranger": issue(DOCTYPE_AGE, proof_of_age_data(), signer=other.signer()),
        "licence": issue(DOCTYPE_MDL, mdl_data()),
        "dbs": issue(DOCTYPE_DBS, dbs_data()),
        "club": (club_key, club_cert),
    }


def tampered(text: str) -> str:
    _, created, nonce, response = unframe(text)
    doc = decode(response)
    items = doc["documents"][0]["issuerSigned"]["nameSpaces"][NS_AGE]
    for index, item in enumerate(items):
        value = item.decode()
        if value["elementIdentifier"] == "age_over_18":
            items[index] = type(item).wrap({**value, "elementValue": not value["elementValue"]})
    return frame([ONE_WAY, created, nonce, encode(doc)])


def till_state(world: dict, folder: Path) -> list[str]:
    """What the till kept from its last time online, two days ago; returns the app's command line."""
    operator = generate_key()
    folder.mkdir(parents=True)
    (folder / "operator.pem").write_bytes(public_key_pem(operator.public_key()))
    iaca = world["pki"].certificate("iaca")
    entry = TrustListEntry(common_name_of(iaca), ISSUER, [iaca], [world["signer_cert"]], [STATUS_URI])
    when = NOW - dt.timedelta(days=2)
    cache = TrustCache(folder, operator.public_key())
    cache.store_trust_list(TrustList("Test operator", when, NOW + dt.timedelta(days=30), [entry]).sign(operator), when)
    cache.store_status_token(STATUS_URI, world["status_token"], NOW)
    key, cert = world["club"]
    (folder.parent / "reader.pem").write_bytes(private_key_pem(key))
    from cryptography.hazmat.primitives.serialization import Encoding

    (folder.parent / "reader-cert.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    world["reader_files"] = [str(folder.parent / "reader.pem"), str(folder.parent / "reader-cert.pem")]
    return ["--state", str(folder), "--issuer", UNREACHABLE, "--camera", str(blank_video(folder.parent / "blank.avi")),
            "--reader-key", str(folder.parent / "reader.pem"), "--reader-cert", str(folder.parent / "reader-cert.pem")]


class Driver(StepDriver):
    """Steps through scenarios: a video for the camera, tap, wait for the verdict, screenshot, record."""

    def __init__(self, world: dict) -> None:
        super().__init__(App.get_running_app(), OUT)
        self.world = world
        self.videos = OUT / "videos"
        self.videos.mkdir(exist_ok=True)

    def record(self, name: str) -> None:
        model = self.app.model
        verdict = model.verdict
        screen = self.app.root.current_screen
        self.results[name] = {"screen": self.app.root.current,
                              "headline": verdict.headline if verdict else None,
                              "decision": verdict.decision if verdict else None,
                              "reasons": verdict.reasons if verdict else [],
                              "action": verdict.action if verdict else "",
                              "display_keys": sorted(verdict.display) if verdict else [],
                              "message": getattr(screen, "message", ""),
                              "footer": getattr(screen, "footer", ""),
                              "register_note": model.register_note,
                              "register_step": model.settings.volunteer_register,
                              "countdown": getattr(screen, "countdown", "")}
        if self.app.root.current == "result":
            self.results[name]["sizes"] = self.sizes()

    def sizes(self) -> dict:
        """The headline's height and the portrait's width against the window's."""
        from kivy.core.window import Window

        ids = self.app.root.get_screen("result").ids
        portrait = ids.portrait
        return {"window": list(Window.size), "headline_height": ids.headline.height,
                "headline_font": ids.headline.font_size,
                "portrait_width": portrait.width if portrait.opacity else 0,
                "portrait_filter": portrait.texture.mag_filter if portrait.texture else None}

    def camera(self, name: str, text: str, parts: int = 8) -> None:
        """The camera becomes a video of a phone showing ``text``'s codes (the first ``parts`` of them)."""
        codes = codes_for(text)[:parts]
        self.app.app_config.camera = str(write_code_video(codes, self.videos / f"{name}.avi"))

    def scenario(self, name: str, check: str, text_of) -> None:
        self.steps += [
            lambda: self.camera(name, text_of()),
            lambda: self.tap(check),
            lambda: self.wait_for(lambda: self.app.model.state == "result"),
            lambda: None,
            lambda: self.shot(name),
            lambda: self.layout(name),
            lambda: self.record(name),
            lambda: self.tap("Done"),
        ]

    def phone(self) -> None:
        """A wallet beside the till shows its ``mdoc:`` engagement QR (ISO 18013-5, the local network on
        loopback) and, once ``phone_go`` is set, agrees to share what the till asks."""
        listener = TcpListener("127.0.0.1")
        holder = HolderSession([(self.world["proof"], self.world["phone"])],
                               reader_trust=TrustStore([self.world["pki"].certificate("reader-ca")]),
                               retrieval_methods=[RetrievalMethod.local_network(listener.host, listener.port)])
        self.phone_go = threading.Event()

        def serve() -> None:
            transport = listener.accept(60)
            self.phone_go.wait(60)
            serve_holder(holder, transport, lambda p: {d.doctype: d.allowed() for d in p.documents}, 60)
            transport.close()
            listener.close()

        threading.Thread(target=serve, daemon=True).start()
        self.app.app_config.camera = str(write_code_video([holder.qr_uri()], self.videos / "engagement.avi"))

    def run(self) -> None:
        if MODE == "setup":
            self.run_setup()
            return
        w = self.world
        first = make_oneway(w["proof"], w["phone"])
        self.steps += [lambda: self.wait_for(lambda: not self.app.busy), lambda: None,
                       lambda: self.shot("home"), lambda: self.layout("home"), lambda: self.record("home")]
        self.scenario("valid", "Age 18", lambda: first)
        self.scenario("revoked", "Age 18", lambda: make_oneway(w["revoked"], w["phone"]))
        if MODE == "checks":  # every verdict once (at one window size); "screens" shows each kind of screen
            self.scenario("replayed", "Age 18", lambda: first)
            self.scenario("tampered", "Age 18", lambda: tampered(make_oneway(w["proof"], w["phone"])))
            self.scenario("expired", "Age 18", lambda: make_oneway(w["proof"], w["phone"],
                                                                   now=NOW - dt.timedelta(minutes=3)))
            self.scenario("untrusted", "Age 18", lambda: make_oneway(w["stranger"], w["phone"]))
            self.scenario("challenge25", 'Age 25  "Challenge 25"',
                          lambda: make_oneway(w["proof"], w["phone"], ["age_over_25", "portrait"]))
        self.steps += [  # a wallet's mdoc: engagement: the ISO 18013-5 session, then the same verdict screen
            self.phone,
            lambda: self.tap("Age 18"),
            lambda: self.wait_for(lambda: self.app.model.state == "connecting"),
            lambda: None,
            lambda: self.shot("connecting"),
            lambda: self.layout("connecting"),
            lambda: self.record("connecting"),
            lambda: self.phone_go.set(),
            lambda: self.wait_for(lambda: self.app.model.state == "result"),
            lambda: None,
            lambda: self.shot("session"),
            lambda: self.layout("session"),
            lambda: self.record("session"),
            lambda: self.tap("Done"),
        ]
        self.steps += [
            *self.volunteer("volunteer"),
            lambda: self.tap("Done"),
            lambda: self.camera("scan", make_oneway(w["proof"], w["phone"]), parts=1),
            lambda: self.tap("Age 18"),
            lambda: self.wait_for(lambda: "Part 1 of 2" in self.app.model.message, 20),
            lambda: None,
            lambda: self.shot("scan"),
            lambda: self.layout("scan"),
            lambda: self.tap("Cancel"),
            lambda: self.tap("Settings"),
            lambda: None,
            lambda: self.shot("pin"),
            lambda: self.layout("pin"),
            lambda: self.type_pin("2468"),
            lambda: self.tap("OK"),
            lambda: None,
            lambda: self.shot("settings"),
            lambda: self.layout("settings"),
            lambda: self.record("settings"),
            lambda: self.tap("Load reader key and certificate"),
            lambda: None,
            lambda: self.choose_file(self.world["reader_files"][0]),
            lambda: None,
            lambda: self.choose_file(self.world["reader_files"][1]),
            lambda: None,
            lambda: self.record("reader_loaded"),
            *self.register_step("Add", "settings_register", open_settings=False),
            # an organiser adds the volunteer just cleared to the register, then looks them up at the next check
            *self.volunteer("volunteer_add"),
            lambda: self.tap("Add to the register"),
            lambda: self.wait_for(lambda: self.app.model.register_note.startswith("Added"), 30),
            lambda: None,
            lambda: self.shot("registered"),
            lambda: self.layout("registered"),
            lambda: self.record("registered"),
            lambda: self.tap("Done"),
            *self.register_step("Look up"),
            *self.volunteer("volunteer_lookup"),
            lambda: self.tap("Look up in the register"),
            lambda: self.wait_for(lambda: self.app.model.register_note.startswith(("On the", "Not on")), 30),
            lambda: None,
            lambda: self.shot("lookup"),
            lambda: self.layout("lookup"),
            lambda: self.record("lookup"),
            lambda: self.tap("Done"),
            lambda: self.finish(),
        ]
        self.start(0.1)

    def volunteer(self, name: str) -> list:
        """A volunteer DBS check (challenge flow): the request QR, the wallet's answer through the camera, the
        verdict screenshotted as ``name``."""
        w = self.world
        holdings = [(w["licence"], w["phone"]), (w["dbs"], w["phone"])]
        reader_cas = TrustStore([w["pki"].certificate("reader-ca")])

        def answer() -> None:
            request = read_challenge(self.app.model.request_qr, holdings, reader_cas)
            self.camera(name, answer_challenge(request, holdings))
            self.app.start_camera()

        return [
            lambda: setattr(self.app.app_config, "camera", str(blank_video(self.videos / "blank.avi"))),
            lambda: self.tap("Volunteer DBS check"),
            lambda: None,
            lambda: self.shot(f"{name}_request"),
            lambda: self.layout(f"{name}_request"),
            answer,
            lambda: self.wait_for(lambda: self.app.model.state == "result"),
            lambda: None,
            lambda: self.shot(name),
            lambda: self.layout(name),
            lambda: self.record(name),
        ]

    def register_step(self, choice: str, shot: str | None = None, *, open_settings: bool = True) -> list:
        """Settings (behind the PIN, already chosen): the volunteer register step ``choice``, saved."""
        steps = [] if not open_settings else [
            lambda: self.tap("Settings"), lambda: None, lambda: self.type_pin("2468"), lambda: self.tap("OK"),
            lambda: None]
        steps += [lambda: self.into_view(choice), lambda: None, lambda: self.tap(choice), lambda: None]
        if shot:
            steps += [lambda: self.shot(shot), lambda: self.layout(shot)]
        return [*steps, lambda: self.record(f"step_{choice}"), lambda: self.into_view("Save and go back"),
                lambda: None, lambda: self.tap("Save and go back")]

    def into_view(self, text: str) -> None:
        """Scroll the settings page until the button ``text`` is on screen (a finger scrolls first too)."""
        from kivy.uix.button import Button
        from kivy.uix.scrollview import ScrollView

        button = next(b for b in self.widgets(Button) if b.text == text)
        scroll = next(v for v in self.widgets(ScrollView))
        scroll.scroll_to(button, padding=20, animate=False)

    def choose_file(self, path: str) -> None:
        """Pick ``path`` in the open file chooser, as a double tap on it would."""
        from kivy.core.window import Window
        from kivy.uix.popup import Popup

        popup = next(w for w in Window.children if isinstance(w, Popup))
        popup.content.dispatch("on_submit", [path], None)

    def type_pin(self, pin: str) -> None:
        next(w for w in self.widgets(TextInput)).text = pin

    def run_setup(self) -> None:
        self.steps += [
            lambda: None,
            lambda: self.record("setup_first"),
            lambda: self.shot("setup"),
            lambda: self.layout("setup"),
            lambda: setattr(next(w for w in self.widgets(TextInput)), "text", UNREACHABLE),
            lambda: self.tap("Connect"),
            lambda: self.wait_for(lambda: not self.app.busy),
            lambda: None,
            lambda: self.record("setup_offline"),
            lambda: self.shot("setup_offline"),
            lambda: self.layout("setup_offline"),
            lambda: Clock.schedule_once(lambda _dt: 1 / 0, 0),  # a bug somewhere in the app
            lambda: None,
            lambda: None,
            lambda: self.record("after_a_bug"),
            self.break_layout,
            lambda: None,
            lambda: self.layout("broken_on_purpose"),
            lambda: self.finish(),
        ]
        self.start(0.1)

    def break_layout(self) -> None:
        """The layout check must see what it is for: clipped text and overlapping siblings."""
        from kivy.uix.button import Button
        from kivy.uix.floatlayout import FloatLayout
        from kivy.uix.label import Label

        screen = self.app.root.current_screen
        screen.clear_widgets()
        broken = FloatLayout()
        broken.add_widget(Label(text="a long line of text in a narrow label", size_hint=(None, None),
                                size=(60, 30), pos=(10, 10)))
        broken.add_widget(Button(text="x", size_hint=(None, None), size=(80, 80), pos=(40, 20)))
        screen.add_widget(broken)

    def report(self) -> None:
        from verifier_app.config import AppConfig

        self.results["counts"] = {"counts": self.app.model.counts}
        saved = AppConfig.load(self.app.app_config.folder)
        self.results["saved"] = {"pin": saved.has_pin, "register_step": saved.settings.volunteer_register}
        if self.app.model.settings.volunteer_register:
            self.results["register"] = {"names": [v.name for v in self.app.open_register().volunteers("ui-test")]}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    world = build_world()
    state = Path(tempfile.mkdtemp()) / "till"
    argv = ["--state", str(state)] if MODE == "setup" else till_state(world, state)
    Clock.schedule_once(lambda _: Driver(world).run(), 0.5)  # the harness keeps the driver it starts
    start_app(argv)


if __name__ == "__main__":
    main()
