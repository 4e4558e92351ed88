"""Runs the real wallet app against a real issuer service and a real shop, with a video file as its camera,
taps through every screen and screenshots each at every phone size. Started by ``tests/test_wallet_app.py``
in its own process (Kivy runs one app per process); writes ``results.json`` in the output folder.

    python tests/ui/wallet_ui_driver.py OUTPUT_DIR [flow|screens]

``screens`` (no issuer, no network) shows the screens that need no credentials at 412x915, for a run at
another density (UI_DENSITY=2: every dp and sp two pixels, where a raw pixel size would show as half as large).

The camera: each video shows a phone's screen held up to the wallet (blur and noise, as
:func:`didlib.scanner.write_code_video` draws it): the QR PNG the issuer service made for an offer, the
shop's request code, another wallet's identity code as the app drew it on screen.
"""

from __future__ import annotations

import base64
import html
import io
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx
from harness import StepDriver
from kivy.clock import Clock
from kivy.uix.textinput import TextInput
from PIL import Image

from didlib.keys import load_public_key
from didlib.oid4vci import CredentialOffer
from didlib.pkidir import PkiDir
from didlib.qr import codes_for, decode_image
from didlib.samples import SAMPLE_DRIVER, driver_number
from didlib.scanner import write_code_video
from didlib.verifier import AgePolicy, TrustCache, VerifierEngine
from issuer_service import process
from issuer_service.register import SAMPLE_DBS_NUMBER
from wallet_app.app import CardWidget, WalletApp
from wallet_app.model.wallet import WalletModel

OUT = Path(sys.argv[1])
MODE = sys.argv[2] if len(sys.argv) > 2 else "flow"  # "flow": everything; "screens": the screens needing no data
ROOT = Path(__file__).resolve().parents[2]
SIZES = [(360, 780), (412, 915), (800, 1280)]  # dp (density 1), portrait phones and a tablet
PIN, PIN_B = "246810", "135790"
LOOPBACK = "127.0.0.1"  # tests send traffic to no other address (the phone's own address in real use)
PASSPHRASE = "correct horse battery"
IDENTITY = (driver_number(SAMPLE_DRIVER), SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)
REQUEST_HINT = "DL1:... or openid4vp://..."


class Driver(StepDriver):
    def __init__(self, app: WalletApp, base: str, issuer_data: Path, shop_url: str, issuer: Any) -> None:
        super().__init__(app, OUT)
        self.base, self.issuer_data, self.shop_url, self.issuer = base, issuer_data, shop_url, issuer
        self.browser = httpx.Client()  # the customer's browser at the shop (keeps its cookie)
        self.checkout: dict[str, str] = {}
        self.videos = OUT / "videos"
        self.videos.mkdir(parents=True, exist_ok=True)
        self.progress_shown: list[str] = []
        self.reader_outcome: dict[str, Any] = {}
        self.other: WalletModel | None = None
        self.model_a = app.model  # the first person's wallet (the peer check switches to another)
        work = app.work

        def spy(what: str, *args: Any) -> None:  # what the progress indicator said, for the test
            self.progress_shown.append(what)
            work(what, *args)

        app.work = spy  # type: ignore[method-assign]

    # ---------------------------------------------------------------------------------- helpers
    def type(self, hint: str, text: str) -> None:
        field = next((w for w in self.widgets(TextInput) if w.hint_text == hint), None)
        if field is None:
            raise LookupError(f"no field {hint!r} on {self.app.root.current}")
        field.text = text

    def note(self, key: str, value: Any) -> None:
        self.results[key] = value

    def screen(self, name: str | None = None) -> Any:
        return self.app.root.get_screen(name or self.app.root.current)

    def every_size(self, name: str) -> None:
        self.at_sizes(name, SIZES if MODE == "flow" else [(412, 915)])

    def camera(self, name: str, codes: list[Any]) -> None:
        """The wallet's camera becomes a video of a phone (or a letter) showing ``codes``."""
        self.app.camera = str(write_code_video(codes, self.videos / f"{name}.avi"))

    def idle(self, seconds: float = 90) -> None:
        """Wait for the wallet's network work to end."""
        self.wait_for(lambda: not self.app.busy, seconds)

    def tap_card(self, title: str) -> None:
        self.touch(next(w for w in self.widgets(CardWidget) if w.title == title))

    def operator(self) -> Any:
        return load_public_key(self.app.model.store.records["trust"][self.base].encode())

    # -------------------------------------------------------------------------------- the world
    def offer_picture(self) -> tuple[Image.Image, str]:
        """An offer as the issuer service hands it to a citizen across the room: its QR code (PNG) and the
        transaction code it shows beside it (demo mode)."""
        identified = httpx.post(f"{self.base}/dvla/identify?qr=true", timeout=30,
                                json=dict(zip(("driver_number", "birth_date", "postcode"), IDENTITY, strict=True)))
        body = identified.raise_for_status().json()
        picture = Image.open(io.BytesIO(base64.b64decode(body["qr_png_base64"])))
        return picture, body["tx_code"]

    def shop(self) -> VerifierEngine:
        reader = PkiDir(self.issuer_data / "pki" / "dvla")
        engine = VerifierEngine(AgePolicy(18), None, reader_key=reader.key("reader"),
                                reader_chain=[reader.certificate("reader")])
        return engine

    def prepare_shop(self, shop: VerifierEngine) -> list[str]:
        """The shop's till shows its request code (it trusts what the wallet's issuer publishes)."""
        (OUT / "operator.pem").write_bytes(self.app.model.store.records["trust"][self.base].encode())
        shop.trust = TrustCache(self.app.model.folder / "trust", self.operator()).load()
        return codes_for(shop.start_challenge())

    def unstated_shop(self) -> VerifierEngine:
        """A verifier built on something else: its reader certificate has no entitlement extension."""
        from didlib.keys import generate_key
        from didlib.pki import create_reader_certificate

        ca = PkiDir(self.issuer_data / "pki" / "dvla")
        key = generate_key()
        cert = create_reader_certificate(ca.certificate("reader-ca"), ca.key("reader-ca"), key.public_key(),
                                         common_name="Corner Shop")
        return VerifierEngine(AgePolicy(18), None, reader_key=key, reader_chain=[cert])

    def start_other_wallet(self) -> None:
        """A second person's wallet (their own folder, PIN and credentials), set up in the background."""
        def run() -> None:
            other = WalletModel(OUT / "wallet-b", proximity_host=LOOPBACK)
            other.setup(PIN_B, PIN_B)
            picture, tx = self.offer_picture()
            (uri,) = decode_image(picture)
            other.add_from_offer(uri, tx)
            self.other = other

        threading.Thread(target=run, daemon=True).start()

    def start_reader(self) -> None:
        """A shop's reader scans the engagement QR (its text) and runs the session from another thread."""
        from didlib.mdoc import DOCTYPE_AGE
        from didlib.mdoc.registry import NS_AGE
        from didlib.session import ReaderSession, TcpTransport, run_reader

        uri = self.app._codes[0]
        shop = PkiDir(self.issuer_data / "pki" / "dvla")
        data = TrustCache(self.app.model.folder / "trust", self.operator()).load()
        reader = ReaderSession(uri, {DOCTYPE_AGE: {NS_AGE: {"age_over_18": False, "portrait": False}}},
                               trust=data.issuers, reader_key=shop.key("reader"),
                               reader_chain=[shop.certificate("reader")])

        def run() -> None:
            method = next(m for m in reader.engagement.retrieval_methods if m.address() is not None)
            transport = TcpTransport.connect(*method.address())
            result = run_reader(reader, transport)
            self.reader_outcome["result"] = [result.valid, sorted(result.documents[0].elements.get(NS_AGE, {}))]

        threading.Thread(target=run, daemon=True).start()

    def start_checkout(self) -> None:
        """A customer at the website's checkout: the page's same-device link is what the wallet opens."""
        page = self.shop_url + self.browser.post(f"{self.shop_url}/checkout").headers["location"]
        link = re.search(r'id="link" href="([^"]+)"', self.browser.get(page).text)
        self.checkout = {"page": page, "link": html.unescape(link.group(1)) if link else ""}

    def unused_proofs(self) -> int:
        """Single-use proofs of age (SD-JWT VC, what websites get) left in the wallet."""
        return sum(not e["used"] for e in self.app.model._entries() if e["config_id"] == "uk.dvla.age.sd-jwt")

    def photograph_codes(self, prefix: str, then: Any = None) -> None:
        """Photograph each code the screen cycles through (stopping the app's own cycling, so every part is
        taken once), as a camera would over a few seconds."""
        for event in (self.app._cycle, self.app._rotate):
            if event is not None:
                event.cancel()
        self.app._cycle = self.app._rotate = None
        texts: list[str] = []

        def draw(index: int) -> None:
            self.app._part = index
            self.app._draw_part()

        def photograph(index: int) -> None:
            self.shot(f"{prefix}_{index + 1}")
            texts.extend(decode_image(OUT / f"{prefix}_{index + 1}.png"))

        follow: list[Any] = []
        for index in range(len(self.app._codes)):
            follow += [lambda i=index: draw(i), lambda: None, lambda i=index: photograph(i)]
        self.steps[:0] = [*follow, *([lambda: then(texts)] if then else [])]

    def answer_check(self, shop: VerifierEngine) -> None:
        """Read the answer from the screen, all its parts, and let the shop's engine decide."""

        def decide(texts: list[str]) -> None:
            verdict = None
            for text in texts:
                verdict = shop.scan(text) or verdict
            self.note("answer_verdict", verdict.decision if verdict else None)
            self.note("answer_display", sorted(verdict.display) if verdict else [])

        self.photograph_codes("answer_part", decide)

    def cashier(self, texts: list[str]) -> None:
        """A till reads the "prove my age" screen as photographed, offline, from the trust data the wallet
        cached (while the codes are fresh: a till accepts a code for a minute)."""
        till = VerifierEngine(AgePolicy(18), TrustCache(self.app.model.folder / "trust", self.operator()).load())
        verdicts = [till.scan(text) for text in texts]
        self.note("prove_verdict", [len(texts), *((verdicts[-1].decision, verdicts[-1].headline)
                                                  if verdicts and verdicts[-1] else ())])

    def peer_video(self) -> None:
        """The identity code as the first wallet drew it, photographed, becomes the second wallet's camera."""
        def film(texts: list[str]) -> None:
            self.note("peer_code_parts", len(texts))
            self.camera("peer", texts)

        self.photograph_codes("peer_code", film)

    def switch_wallet(self, model: WalletModel) -> None:
        """The other phone: the same app, another person's wallet."""
        self.app.model = model
        self.app.show("cards")

    # -------------------------------------------------------------------------------- the run
    def run_screens(self) -> None:
        """The screens that need no credentials, and a bug somewhere in the app (it must go on)."""
        self.steps += [lambda: self.every_size("pin_first_run"),
                       lambda: self.type("PIN", PIN),
                       lambda: self.type("The same PIN again", PIN),
                       lambda: self.tap("Create wallet"),
                       lambda: self.every_size("cards_empty"),
                       lambda: Clock.schedule_once(lambda _dt: 1 / 0, 0),  # a bug somewhere in the app
                       lambda: None,
                       lambda: None,
                       lambda: self.note("after_a_bug", [self.app.root.current, self.screen("cards").message]),
                       *[step for name, button in (("add", "Add credential"), ("request", "Share with a verifier"),
                                                   ("peer_share", "Show who I am"), ("settings", "Settings"))
                         for step in (lambda b=button: self.tap(b), lambda n=name: self.every_size(n),
                                      lambda: self.app.show("cards"))],
                       lambda: self.tap("Settings"),
                       lambda: self.tap("Delete everything..."),
                       lambda: self.every_size("delete"),
                       lambda: self.finish()]
        self.start(0.1)

    def run(self) -> None:
        picture, tx_code = self.offer_picture()
        shop = self.shop()
        requests: list[list[str]] = []
        unreachable = CredentialOffer(f"http://127.0.0.1:{process.free_port()}", ["uk.dvla.mdl.mdoc"], "x", 6).uri()
        first = self.model_a
        self.start_other_wallet()
        s = self.steps
        s += [lambda: self.every_size("pin_first_run"),
              lambda: self.type("PIN", "123"),
              lambda: self.type("The same PIN again", "123"),
              lambda: self.tap("Create wallet"),
              lambda: self.note("weak_pin", self.screen("pin").message),
              lambda: self.type("PIN", PIN),
              lambda: self.type("The same PIN again", "246811"),
              lambda: self.tap("Create wallet"),
              lambda: self.note("pin_mismatch", [self.screen("pin").message, self.app.model.has_wallet()]),
              lambda: self.note("pin_keypad", sorted({w.input_type for w in self.widgets(TextInput)})),
              lambda: self.type("PIN", PIN),
              lambda: self.type("The same PIN again", PIN),
              lambda: self.tap("Create wallet"),
              lambda: self.note("after_pin", self.app.root.current),
              lambda: self.every_size("cards_empty"),
              # an offer from the issuer service, read by the camera
              lambda: self.camera("blank", [Image.new("L", (64, 64), 255)]),  # a phone with nothing on screen
              lambda: self.tap("Add credential"),
              lambda: self.tap("Scan the issuer's code"),
              lambda: self.wait_for(lambda: self.app.viewfinder.texture is not None, 30),
              lambda: self.every_size("scan"),
              lambda: self.camera("offer", [picture]),
              lambda: self.tap("Cancel"),
              lambda: self.tap("Add credential"),
              lambda: self.tap("Scan the issuer's code"),
              lambda: self.wait_for(lambda: self.app.root.current == "add", 90),
              lambda: self.note("offer_scanned", [self.app.root.current, self.screen("add").tx_hint,
                                                  self.screen("add").ids.offer.text.startswith("openid-credential")]),
              lambda: self.type("Code from the issuer", tx_code),
              lambda: self.every_size("add"),
              lambda: self.tap("Add"),
              lambda: None,
              lambda: self.idle(),
              lambda: self.note("after_add", [self.app.root.current, self.screen("cards").message]),
              lambda: self.tap("Add credential"),
              lambda: self.type("DBS certificate number", SAMPLE_DBS_NUMBER),
              lambda: self.tap("Get DBS check"),
              lambda: None,
              lambda: self.idle(),
              lambda: self.note("cards", [c.title for c in self.app.model.cards()]),
              lambda: self.every_size("cards"),
              # prove my age: one proof for the whole showing
              lambda: self.note("proofs_before", self.app.model.proofs_left()),
              lambda: self.tap("Prove my age"),
              lambda: None,
              lambda: self.every_size("prove"),
              lambda: self.photograph_codes("prove", self.cashier),
              lambda: self.note("prove_parts", len(self.app._codes)),
              lambda: self.note("prove_note", self.screen("qr").note),
              lambda: self.tap("Done"),
              # a shop's request code, read by the camera; the consent screen; the answer, read by the shop
              lambda: requests.append(self.prepare_shop(shop)),
              lambda: self.camera("request", requests[-1]),
              lambda: self.tap("Share with a verifier"),
              lambda: self.every_size("request"),
              lambda: self.tap("Scan the verifier's or website's code"),
              lambda: self.wait_for(lambda: self.app.root.current == "consent", 90),
              lambda: self.every_size("consent"),
              lambda: self.note("consent", {k: getattr(self.screen("consent"), k)
                                            for k in ("asker", "credential", "keeps", "warning")}),
              lambda: self.note("consent_rows", [r.text for _, r in self.app._rows]),
              lambda: self.tap("Share"),
              lambda: None,
              lambda: self.every_size("answer"),
              lambda: self.answer_check(shop),
              lambda: self.tap("Done"),
              # a shop whose certificate states no entitlement, pasted
              lambda: self.tap("Share with a verifier"),
              lambda: self.type(REQUEST_HINT, self.prepare_shop(self.unstated_shop())[0]),
              lambda: self.tap("Read pasted request"),
              lambda: None,
              lambda: self.every_size("consent_unstated"),
              lambda: self.note("unstated_warning", self.screen("consent").warning),
              lambda: self.tap("Decline"),
              lambda: self.tap_card("Driving licence"),
              lambda: None,
              lambda: self.every_size("details"),
              lambda: self.note("details", self.screen("details").lines),
              lambda: self.tap("Back"),
              # face to face over an ISO 18013-5 session
              lambda: self.tap("Share with a verifier"),
              lambda: self.tap("Show my code for a nearby reader"),
              lambda: None,
              lambda: self.every_size("engagement"),
              lambda: self.note("engagement_note", self.screen("qr").note),
              lambda: self.start_reader(),
              lambda: self.wait_for(lambda: self.app.root.current == "consent", 60),
              lambda: self.every_size("consent_session"),
              lambda: self.note("session_screen", self.app.root.current),
              lambda: self.tap("Share"),
              lambda: self.wait_for(lambda: "result" in self.reader_outcome, 60),
              lambda: self.note("session_result", self.reader_outcome.get("result")),
              lambda: self.idle(),
              # a website's request, pasted
              lambda: self.start_checkout(),
              lambda: self.note("unused_before_online", self.unused_proofs()),
              lambda: self.tap("Share with a verifier"),
              lambda: self.type(REQUEST_HINT, self.checkout["link"]),
              lambda: self.tap("Read pasted request"),
              lambda: None,
              lambda: self.idle(),
              lambda: self.every_size("consent_online"),
              lambda: self.note("online_screen", self.app.root.current),
              lambda: self.note("online_asker", self.screen("consent").asker),
              lambda: self.tap("Share"),
              lambda: None,
              lambda: self.idle(),
              lambda: self.every_size("cards_sent"),
              lambda: self.note("unused_after_online", self.unused_proofs()),
              lambda: self.note("online_message", self.screen("cards").message),
              lambda: self.note("online_outcome", self.browser.get(self.checkout["page"] + "/outcome").json()),
              # two or fewer proofs of age left: after the next showing, new ones come by themselves
              lambda: self.note("top_up", [self.app.model.proofs_left(), self.app.model.needs_top_up()]),
              lambda: self.tap("Prove my age"),
              lambda: None,
              lambda: self.tap("Done"),
              lambda: None,
              lambda: self.idle(),
              lambda: self.results["top_up"].extend([self.app.model.proofs_left(), self.screen("cards").message]),
              # a link tapped while the wallet is open (an offer whose issuer cannot be reached)
              lambda: self.app.open_link(unreachable),
              lambda: self.note("link_screen", [self.app.root.current, self.screen("add").tx_hint]),
              lambda: self.type("Code from the issuer", "123456"),
              lambda: self.tap("Add"),
              lambda: None,
              lambda: self.idle(),
              lambda: self.every_size("add_offline"),
              lambda: self.note("offline_add", self.screen("add").progress),
              lambda: self.tap("Back"),
              # peer check: this wallet shows who its holder is, the other wallet's "Check someone" reads it
              lambda: self.tap("Show who I am"),
              lambda: self.every_size("peer_share"),
              lambda: self.tap("Show my code"),
              lambda: None,
              lambda: self.every_size("peer_code"),
              lambda: self.peer_video(),
              lambda: self.tap("Done"),
              lambda: self.wait_for(lambda: self.other is not None, 120),
              lambda: self.switch_wallet(self.other),
              lambda: self.tap("Check someone"),
              lambda: self.tap("Scan their code"),
              lambda: self.wait_for(lambda: self.app.root.current == "peer" and self.screen("peer").verdict, 90),
              lambda: None,
              lambda: self.every_size("peer"),
              lambda: self.note("peer", [self.screen("peer").verdict, self.screen("peer").issuer,
                                         self.screen("peer").has_portrait]),
              lambda: self.tap("Back"),
              lambda: self.switch_wallet(first),
              # settings: backup and restore through the chooser, then offline
              lambda: self.tap("Settings"),
              lambda: self.every_size("settings"),
              lambda: self.type("At least 8 characters", PASSPHRASE),
              lambda: self.type("The same passphrase again", PASSPHRASE),
              lambda: self.tap("Back up..."),
              lambda: None,
              lambda: self.save_here(OUT),
              lambda: None,
              lambda: self.idle(),
              lambda: self.note("backup_message", self.screen("settings").message),
              lambda: self.tap("Restore..."),
              lambda: self.every_size("restore"),
              lambda: self.type("Backup passphrase", PASSPHRASE),
              lambda: self.type("New PIN", PIN),
              lambda: self.type("New PIN again", PIN),
              lambda: self.tap("Choose the backup file..."),
              lambda: None,
              lambda: self.choose_file(next(OUT.glob("*.dwb"), OUT / "missing.dwb")),
              lambda: None,
              lambda: self.idle(),
              lambda: self.note("restored", [self.app.root.current, self.screen("cards").message,
                                             len(self.app.model.cards())]),
              lambda: self.tap("Settings"),
              lambda: self.tap("Back"),
              # locked: a wrong PIN says how many tries are left; a website's link opens after the PIN
              lambda: self.app.model.lock(),
              lambda: self.app._show_pin(),
              lambda: self.type("PIN", "000000"),
              lambda: self.tap("Unlock"),
              lambda: self.note("wrong_pin", self.screen("pin").message),
              lambda: self.every_size("pin_wrong"),
              lambda: self.type("PIN", PIN),
              lambda: self.start_checkout(),
              lambda: setattr(self.app, "_opening", self.checkout["link"]),
              lambda: self.tap("Unlock"),
              lambda: self.wait_for(lambda: self.app.root.current == "consent" and not self.app.busy, 60),
              lambda: self.note("opened_screen", self.app.root.current),
              lambda: self.tap("Decline"),
              lambda: self.note("after_unlock", self.app.root.current),
              lambda: self.note("declined_outcome", self.browser.get(self.checkout["page"] + "/outcome").json()),
              # the wallet file damaged: the lock screen offers the backup
              lambda: self.app.model.lock(),
              lambda: self.app._show_pin(),
              lambda: self.app.model.path.write_text("{"),
              lambda: self.type("PIN", PIN),
              lambda: self.tap("Unlock"),
              lambda: self.note("corrupt", [self.screen("pin").message, self.screen("pin").can_restore]),
              lambda: self.every_size("pin_corrupt"),
              lambda: self.type("PIN", PIN),
              lambda: self.tap("Restore the backup with this PIN"),
              lambda: self.note("after_restore", [self.app.root.current, len(self.app.model.cards())]),
              # offline: the status update says so; then delete everything, only after the PIN
              lambda: self.tap("Settings"),
              lambda: process.stop(self.issuer),
              lambda: self.tap("Update status"),
              lambda: None,
              lambda: self.idle(),
              lambda: self.note("offline_status", self.screen("settings").message),
              lambda: self.tap("Delete everything..."),
              lambda: self.every_size("delete"),
              lambda: self.type("PIN", "000000"),
              lambda: self.tap("Delete everything"),
              lambda: self.note("delete_wrong_pin", [self.screen("delete").message, self.app.model.has_wallet()]),
              lambda: self.type("PIN", PIN),
              lambda: self.tap("Delete everything"),
              lambda: self.note("deleted", [self.app.root.current, self.screen("pin").message,
                                            self.app.model.has_wallet()]),
              lambda: self.finish()]
        self.start(0.1)

    def save_here(self, folder: Path) -> None:
        """The folder chooser: go to ``folder`` and tap "Save here"."""
        from kivy.core.window import Window
        from kivy.uix.button import Button
        from kivy.uix.filechooser import FileChooserListView
        from kivy.uix.popup import Popup

        popup = next(w for w in Window.children if isinstance(w, Popup))
        next(w for w in popup.walk() if isinstance(w, FileChooserListView)).path = str(folder)
        self.touch(next(w for w in popup.walk() if isinstance(w, Button) and w.text == "Save here"))

    def choose_file(self, path: Path) -> None:
        """Pick ``path`` in the open file chooser, as a double tap on it would."""
        from kivy.core.window import Window
        from kivy.uix.popup import Popup

        popup = next(w for w in Window.children if isinstance(w, Popup))
        popup.content.dispatch("on_submit", [str(path)], None)

    def report(self) -> None:
        self.results["wallet"] = str(self.model_a.folder)
        self.results["progress_shown"] = self.progress_shown


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if MODE == "screens":
        app = WalletApp(WalletModel(OUT / "wallet"))
        driver = Driver(app, "", OUT, "", None)
        Clock.schedule_once(lambda _: driver.run_screens(), 0.5)
        app.run()
        return
    issuer_data = Path(tempfile.mkdtemp()) / "issuer"
    proc, base = process.start(issuer_data, DIDLIB_ADMIN_TOKEN="admin", DIDLIB_SEED_DRIVERS="20")
    port = process.free_port()
    shop_url = f"http://localhost:{port}"
    shop = process.launch([sys.executable, str(ROOT / "examples/age_gated_shop/shop.py"), "--issuer", base,
                           "--reader-pki", str(issuer_data / "pki" / "dvla"), "--port", str(port)], shop_url)
    try:
        app = WalletApp(WalletModel(OUT / "wallet", proximity_host=LOOPBACK))
        driver = Driver(app, base, issuer_data, shop_url, proc)
        Clock.schedule_once(lambda _: driver.run(), 0.5)
        app.run()
    finally:
        process.stop(shop)
        process.stop(proc)


if __name__ == "__main__":
    main()
