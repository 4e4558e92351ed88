"""Runs the real wallet app against a real issuer service, taps through every screen and screenshots each.
Writes ``results.json`` (and the operator key and issuer data location) in the output folder; started by
``tests/test_wallet_app.py`` in its own process.

    python tests/ui/wallet_ui_driver.py OUTPUT_DIR
"""

from __future__ import annotations

import html
import re
import sys
import tempfile
from pathlib import Path

import httpx
from harness import StepDriver
from kivy.clock import Clock
from kivy.uix.textinput import TextInput

from didlib.pkidir import PkiDir
from didlib.qr import decode_image
from didlib.samples import SAMPLE_DRIVER, driver_number
from didlib.verifier import AgePolicy, TrustCache, VerifierEngine
from issuer_service import process
from issuer_service.register import SAMPLE_DBS_NUMBER
from wallet_app.app import WalletApp
from wallet_app.model.issuance import IssuerClient
from wallet_app.model.wallet import WalletModel

OUT = Path(sys.argv[1])
ROOT = Path(__file__).resolve().parents[2]
REQUEST_HINT = "DL1:... or openid4vp://..."
IDENTITY = (driver_number(SAMPLE_DRIVER), SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)


class Driver(StepDriver):
    def __init__(self, app: WalletApp, base: str, issuer_data: Path, shop_url: str) -> None:
        super().__init__(app, OUT)
        self.base, self.issuer_data, self.shop_url = base, issuer_data, shop_url
        self.browser = httpx.Client()  # the customer's browser at the shop (keeps its cookie)
        self.checkout: dict[str, str] = {}

    def type(self, hint: str, text: str) -> None:
        field = next(w for w in self.widgets(TextInput) if w.hint_text == hint or (not hint and not w.hint_text))
        field.text = text

    def tap_card(self, title: str) -> None:
        from wallet_app.app import CardWidget

        self.touch(next(w for w in self.widgets(CardWidget) if w.title == title))

    def start_reader(self) -> None:
        """A shop's reader scans the engagement QR (its text) and runs the session from another thread."""
        import threading

        from didlib.mdoc import DOCTYPE_AGE
        from didlib.mdoc.registry import NS_AGE
        from didlib.session import ReaderSession, TcpTransport, run_reader

        uri = self.app._codes[0]
        shop = PkiDir(self.issuer_data / "pki" / "dvla")
        data = TrustCache(self.app.model.folder / "trust", self._operator()).load()
        reader = ReaderSession(uri, {DOCTYPE_AGE: {NS_AGE: {"age_over_18": False, "portrait": False}}},
                               trust=data.issuers, reader_key=shop.key("reader"),
                               reader_chain=[shop.certificate("reader")])
        self.reader_outcome: dict = {}

        def run() -> None:
            (method,) = reader.engagement.retrieval_methods
            transport = TcpTransport.connect(*method.address())
            result = run_reader(reader, transport)
            self.reader_outcome["result"] = [result.valid, sorted(result.documents[0].elements.get(NS_AGE, {}))]

        threading.Thread(target=run, daemon=True).start()

    def _operator(self):
        from didlib.keys import load_public_key

        return load_public_key(self.app.model.store.records["trust"][self.base].encode())

    def note(self, key: str, value) -> None:
        self.results[key] = value

    def run(self) -> None:
        offer = IssuerClient(self.base).identify(*IDENTITY)
        reader = PkiDir(self.issuer_data / "pki" / "dvla")
        shop = VerifierEngine(AgePolicy(18), None, reader_key=reader.key("reader"),
                              reader_chain=[reader.certificate("reader")])
        s = self.steps
        s += [lambda: self.shot("pin_first_run"),
              lambda: self.type("PIN (at least 6 digits)", "123"),
              lambda: self.tap("Create wallet"),
              lambda: self.note("weak_pin", self.app.root.get_screen("pin").message),
              lambda: self.type("PIN (at least 6 digits)", "246810"),
              lambda: self.tap("Create wallet"),
              lambda: self.note("after_pin", self.app.root.current),
              lambda: self.shot("cards_empty"),
              lambda: self.tap("Add credential"),
              lambda: self.type("openid-credential-offer://...", offer["credential_offer_uri"]),
              lambda: self.type("transaction code", offer["tx_code"]),
              lambda: self.shot("add"),
              lambda: self.tap("Add"),
              lambda: None,
              lambda: self.tap("Add credential"),
              lambda: self.type("certificate number", SAMPLE_DBS_NUMBER),
              lambda: self.tap("Get DBS check"),
              lambda: None,
              lambda: self.shot("cards"),
              lambda: self.note("cards", [c.title for c in self.app.model.cards()]),
              lambda: self.tap("Prove my age"),
              lambda: None,
              lambda: self.photograph_codes("prove"),
              lambda: self.note("prove_parts", len(self.app._codes)),
              lambda: self.tap("Done"),
              lambda: self.tap("Share with a verifier"),
              lambda: self.prepare_shop(shop),
              lambda: self.type(REQUEST_HINT, shop_request[0]),
              lambda: self.tap("Read request"),
              lambda: None,
              lambda: self.shot("consent"),
              lambda: self.note("consent_reader", self.app.root.get_screen("consent").reader),
              lambda: self.note("consent_warning", self.app.root.get_screen("consent").warning),
              lambda: self.tap("Share"),
              lambda: None,
              lambda: self.shot("answer_1"),
              lambda: self.answer_check(shop),
              lambda: self.tap("Done"),
              lambda: self.tap("Share with a verifier"),  # a shop whose certificate states no entitlement
              lambda: self.prepare_shop(self.unstated_shop()),
              lambda: self.type(REQUEST_HINT, shop_request[0]),
              lambda: self.tap("Read request"),
              lambda: None,
              lambda: self.shot("consent_unstated"),
              lambda: self.note("unstated_warning", self.app.root.get_screen("consent").warning),
              lambda: self.tap("Decline"),
              lambda: self.tap_card("Driving licence"),
              lambda: None,
              lambda: self.shot("details"),
              lambda: self.note("details", self.app.root.get_screen("details").lines),
              lambda: self.tap("Back"),
              lambda: self.tap("Share with a verifier"),
              lambda: self.tap("Show my code for a nearby reader"),
              lambda: None,
              lambda: self.shot("engagement"),
              lambda: self.start_reader(),
              *([lambda: None] * 6),
              lambda: self.shot("consent_session"),
              lambda: self.note("session_screen", self.app.root.current),
              lambda: self.tap("Share"),
              *([lambda: None] * 6),
              lambda: self.note("session_result", self.reader_outcome.get("result")),
              lambda: self.start_checkout(),
              lambda: self.note("unused_before_online", self.unused_proofs()),
              lambda: self.tap("Share with a verifier"),
              lambda: self.type(REQUEST_HINT, self.checkout["link"]),
              lambda: self.tap("Read request"),
              *([lambda: None] * 6),
              lambda: self.shot("consent_online"),
              lambda: self.note("online_screen", self.app.root.current),
              lambda: self.note("online_reader", self.app.root.get_screen("consent").reader),
              lambda: self.tap("Share"),
              *([lambda: None] * 6),
              lambda: self.shot("cards_sent"),
              lambda: self.note("unused_after_online", self.unused_proofs()),
              lambda: self.note("online_message", self.app.root.get_screen("cards").message),
              lambda: self.note("online_outcome", self.browser.get(self.checkout["page"] + "/outcome").json()),
              lambda: self.tap("Settings"),
              lambda: self.shot("settings"),
              lambda: self.tap("Back"),
              lambda: self.app.model.lock(),
              lambda: self.app._show_pin(),
              lambda: self.type("PIN (at least 6 digits)", "000000"),
              lambda: self.tap("Unlock"),
              lambda: self.note("wrong_pin", self.app.root.get_screen("pin").message),
              lambda: self.shot("pin_wrong"),
              lambda: self.type("PIN (at least 6 digits)", "246810"),
              lambda: self.start_checkout(),  # the wallet opened by a website's same-device link
              lambda: setattr(self.app, "_opening", self.checkout["link"]),
              lambda: self.tap("Unlock"),
              *([lambda: None] * 6),
              lambda: self.note("opened_screen", self.app.root.current),
              lambda: self.tap("Decline"),
              lambda: self.note("after_unlock", self.app.root.current),
              lambda: self.note("declined_outcome", self.browser.get(self.checkout["page"] + "/outcome").json()),
              lambda: self.app.model.lock(),
              lambda: self.app._show_pin(),
              lambda: self.app.model.path.write_text("{"),  # the wallet file damaged: the lock screen offers the backup
              lambda: self.type("PIN (at least 6 digits)", "246810"),
              lambda: self.tap("Unlock"),
              lambda: self.note("corrupt", [self.app.root.get_screen("pin").message,
                                            self.app.root.get_screen("pin").can_restore]),
              lambda: self.shot("pin_corrupt"),
              lambda: self.type("PIN (at least 6 digits)", "246810"),
              lambda: self.tap("Restore the backup with this PIN"),
              lambda: self.note("after_restore", [self.app.root.current, len(self.app.model.cards())]),
              lambda: self.finish()]
        self.start(0.3)

    def unused_proofs(self) -> int:
        """Single-use proofs of age (SD-JWT VC, what websites get) left in the wallet."""
        return sum(not e["used"] for e in self.app.model._entries() if e["config_id"] == "uk.dvla.age.sd-jwt")

    def start_checkout(self) -> None:
        """A customer at the website's checkout: the page's same-device link is what the wallet opens."""
        page = self.shop_url + self.browser.post(f"{self.shop_url}/checkout").headers["location"]
        link = re.search(r'id="link" href="([^"]+)"', self.browser.get(page).text)
        self.checkout = {"page": page, "link": html.unescape(link.group(1)) if link else ""}

    def unstated_shop(self) -> VerifierEngine:
        """A verifier built on something else: its reader certificate has no entitlement extension."""
        from didlib.keys import generate_key
        from didlib.pki import create_reader_certificate

        ca = PkiDir(self.issuer_data / "pki" / "dvla")
        key = generate_key()
        cert = create_reader_certificate(ca.certificate("reader-ca"), ca.key("reader-ca"), key.public_key(),
                                         common_name="Corner Shop")
        return VerifierEngine(AgePolicy(18), None, reader_key=key, reader_chain=[cert])

    def prepare_shop(self, shop: VerifierEngine) -> None:
        operator = (self.app.model.store.records["trust"][self.base]).encode()
        (OUT / "operator.pem").write_bytes(operator)
        from didlib.keys import load_public_key

        shop.trust = TrustCache(self.app.model.folder / "trust", load_public_key(operator)).load()
        shop_request[:] = [shop.start_challenge()]

    def photograph_codes(self, prefix: str, then=None) -> None:
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

        follow = []
        for index in range(len(self.app._codes)):
            follow += [lambda i=index: draw(i), lambda: None, lambda i=index: photograph(i)]
        self.steps[:0] = [*follow, *([lambda: then(texts)] if then else [])]

    def answer_check(self, shop: VerifierEngine) -> None:
        """Read the answer from the screen, all its parts, and let the shop's engine decide."""

        def decide(texts: list[str]) -> None:
            verdict = None
            for text in texts:
                verdict = shop.scan(text) or verdict
            self.note("answer_parts", len(self.app._codes))
            self.note("answer_verdict", verdict.decision if verdict else None)
            self.note("answer_display", sorted(verdict.display) if verdict else [])

        self.photograph_codes("answer_part", decide)

    def report(self) -> None:
        self.results["wallet"] = str(self.app.model.folder)


shop_request: list[str] = []


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    issuer_data = Path(tempfile.mkdtemp()) / "issuer"
    proc, base = process.start(issuer_data, DIDLIB_ADMIN_TOKEN="admin", DIDLIB_SEED_DRIVERS="20")
    port = process.free_port()
    shop_url = f"http://localhost:{port}"
    shop = process.launch([sys.executable, str(ROOT / "examples/age_gated_shop/shop.py"), "--issuer", base,
                           "--reader-pki", str(issuer_data / "pki" / "dvla"), "--port", str(port)], shop_url)
    try:
        app = WalletApp(WalletModel(OUT / "wallet"))
        driver = Driver(app, base, issuer_data, shop_url)
        Clock.schedule_once(lambda _: driver.run(), 0.5)
        app.run()
    finally:
        process.stop(shop)
        process.stop(proc)


if __name__ == "__main__":
    main()
