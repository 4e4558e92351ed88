"""Runs the real verifier app (offscreen or under Xvfb) with a fake camera, taps through each scenario and
takes a screenshot of every screen. Writes ``results.json`` in the output folder. Started by
``tests/test_verifier_app.py`` in its own process (Kivy runs one app per process).

    python tests/ui/verifier_ui_driver.py OUTPUT_DIR
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

from harness import StepDriver
from kivy.clock import Clock
from PIL import Image

from didlib import TrustStore
from didlib.cbor import decode, encode
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL, Credential, issue_mdoc
from didlib.mdoc.registry import NS_AGE, NS_DBS, NS_ISO
from didlib.pki import create_reader_certificate
from didlib.pkidir import PkiDir
from didlib.presentation import answer_challenge, make_oneway, read_challenge
from didlib.presentation.qrflows import ONE_WAY
from didlib.qr import codes_for, frame, qr_image, unframe
from didlib.samples import dbs_data, mdl_data, proof_of_age_data
from didlib.session import entitlement_extension
from didlib.status import StatusChecker, StatusList, StatusListToken
from didlib.verifier import TrustData
from verifier_app.app import VerifierApp
from verifier_app.camera import FakeCamera
from verifier_app.model import VerifierModel

OUT = Path(sys.argv[1])
NOW = dt.datetime.now(dt.UTC)
STATUS_URI = "https://dvla.example.invalid/status/1"


def camera_frames(text: str) -> list[tuple[bytes, int, int]]:
    """Each code of a presentation drawn into a 1280x720 camera-like frame (RGBA)."""
    frames = []
    codes = codes_for(text)
    for code in codes:
        picture = Image.new("RGBA", (1280, 720), (80, 90, 85, 255))
        picture.paste(qr_image(code, "M" if len(codes) > 1 else "L", box_size=3).convert("RGBA"), (420, 40))
        frames.append((picture.tobytes(), 1280, 720))
    return frames


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
            {DOCTYPE_MDL: {NS_ISO: "*"}, DOCTYPE_DBS: {NS_DBS: "*"}})])
    return {
        "pki": pki, "phone": phone, "store": store, "status": StatusChecker({STATUS_URI: token}, trust=store),
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


class Driver(StepDriver):
    """Steps through scenarios: tap, feed the camera, wait, screenshot, record."""

    def __init__(self, app: VerifierApp, camera: FakeCamera, world: dict) -> None:
        super().__init__(app, OUT)
        self.camera, self.world = camera, world

    def record(self, name: str) -> None:
        model = self.app.model
        verdict = model.verdict
        self.results[name] = {"screen": self.app.root.current,
                              "headline": verdict.headline if verdict else None,
                              "decision": verdict.decision if verdict else None,
                              "reasons": verdict.reasons if verdict else [],
                              "display_keys": sorted(verdict.display) if verdict else []}

    def scenario(self, name: str, check: str, text_of) -> None:
        self.steps += [
            lambda: self.tap(check),
            lambda: self.camera.load(camera_frames(text_of())),
            *([lambda: None] * 8),  # camera ticks every 0.2 s
            lambda: self.shot(name),
            lambda: self.record(name),
            lambda: self.tap("Done"),
        ]

    def run(self) -> None:
        w = self.world
        first = make_oneway(w["proof"], w["phone"])
        self.steps += [lambda: None, lambda: self.shot("home"), lambda: self.record("home")]
        self.scenario("valid", "Age 18", lambda: first)
        self.scenario("replayed", "Age 18", lambda: first)
        self.scenario("tampered", "Age 18", lambda: tampered(make_oneway(w["proof"], w["phone"])))
        self.scenario("expired", "Age 18", lambda: make_oneway(w["proof"], w["phone"],
                                                               now=NOW - dt.timedelta(minutes=3)))
        self.scenario("revoked", "Age 18", lambda: make_oneway(w["revoked"], w["phone"]))
        self.scenario("untrusted", "Age 18", lambda: make_oneway(w["stranger"], w["phone"]))
        self.scenario("challenge25", 'Age 25  "Challenge 25"', lambda: make_oneway(w["proof"], w["phone"],
                                                                                     ["age_over_25", "portrait"]))
        holdings = [(w["licence"], w["phone"]), (w["dbs"], w["phone"])]
        reader_cas = TrustStore([w["pki"].certificate("reader-ca")])
        self.steps += [
            lambda: self.tap("Volunteer DBS check"),
            lambda: None,
            lambda: self.shot("volunteer_request"),
            lambda: self.camera.load(camera_frames(answer_challenge(
                read_challenge(self.app.model.request_qr, holdings, reader_cas), holdings))),
            *([lambda: None] * 10),
            lambda: self.shot("volunteer"),
            lambda: self.record("volunteer"),
            lambda: self.tap("Done"),
            lambda: self.tap("Settings"),
            lambda: None,
            lambda: self.shot("settings"),
            lambda: self.tap("Back"),
            lambda: self.finish(),
        ]
        self.start(0.25)

    def report(self) -> None:
        self.results["counts"] = {"counts": self.app.model.counts}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    world = build_world()
    camera = FakeCamera([])
    model = VerifierModel(lambda: TrustData(world["store"], world["status"]), reader_key=world["club"][0],
                          reader_chain=[world["club"][1]])
    app = VerifierApp(model, camera=camera)
    driver = Driver(app, camera, world)
    Clock.schedule_once(lambda _: driver.run(), 0.5)
    app.run()


if __name__ == "__main__":
    main()

