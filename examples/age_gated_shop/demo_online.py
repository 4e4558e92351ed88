"""``make demo-online``: the mock issuer and the age-gated shop, started together, and what to open.

With ``--once`` a headless wallet model goes through one checkout and the script exits (0 when the shop
saw "over 18"); without it both services run until Ctrl-C, for a browser and the desktop wallet.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import tempfile
from html import unescape
from pathlib import Path

import httpx

from didlib.samples import SAMPLE_DRIVER, driver_number
from issuer_service import process
from wallet_app.model.issuance import IssuerClient
from wallet_app.model.wallet import WalletModel

SHOP = Path(__file__).with_name("shop.py")


def checkout_once(issuer: str, shop: str, folder: Path) -> bool:
    """A customer with a fresh wallet: get credentials, start a checkout, answer it, read the verdict."""
    wallet = WalletModel(folder / "wallet")
    wallet.setup("246810")
    offer = IssuerClient(issuer).identify(driver_number(SAMPLE_DRIVER), SAMPLE_DRIVER.birth_date.isoformat(),
                                          SAMPLE_DRIVER.postcode)
    wallet.add_from_offer(offer["credential_offer_uri"], offer["tx_code"])
    browser = httpx.Client()  # keeps the shop's cookie: the checkout and its verdict are this browser's
    page = shop + browser.post(f"{shop}/checkout").headers["location"]
    link = unescape(re.search(r'id="link" href="([^"]+)"', browser.get(page).text).group(1))
    print(f"   checkout page {page}\n   wallet opens  {link[:90]}...")
    request = wallet.open_online_request(link)
    print(f"   the wallet shows: {request.reader.name} ({request.client_id}) asks for {request.requested_claims()}")
    wallet.answer_online(request)
    outcome = browser.get(page + "/outcome").json()
    print(f"   the shop learns: {outcome}")
    return outcome == {"outcome": "verified", "age_over_18": True, "detail": ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="one headless checkout, then exit")
    parser.add_argument("--issuer-port", type=int, default=8000)
    parser.add_argument("--shop-port", type=int, default=8300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="didlib-online-") as tmp:
        folder = Path(tmp)
        issuer_proc, issuer = process.start(folder / "issuer", args.issuer_port, DIDLIB_SEED_DRIVERS="50")
        shop = f"http://localhost:{args.shop_port}"
        shop_proc = None
        try:
            shop_proc = process.launch([sys.executable, str(SHOP), "--issuer", issuer, "--reader-pki",
                                        str(folder / "issuer" / "pki" / "dvla"), "--port", str(args.shop_port)], shop)
            if args.once:
                ok = checkout_once(issuer, shop, folder)
                print("Online demo", "passed" if ok else "FAILED")
                return 0 if ok else 1
            offer = IssuerClient(issuer).identify(driver_number(SAMPLE_DRIVER),
                                                  SAMPLE_DRIVER.birth_date.isoformat(), SAMPLE_DRIVER.postcode)
            print(f"""
Issuer (mock DVLA): {issuer}/docs
Shop:               {shop}/      <- open this in a browser and press "Verify my age"

In another terminal: make wallet   (PIN of your choice), then "Add credential" with
   offer:            {offer['credential_offer_uri']}
   transaction code: {offer['tx_code']}
and "Share with a verifier" with the checkout page's link (openid4vp://...). Ctrl-C stops both services.""",
                  flush=True)
            stop = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stop)
            signal.sigwait(stop)
            return 0
        finally:
            if shop_proc is not None:
                process.stop(shop_proc)
            process.stop(issuer_proc)


if __name__ == "__main__":
    raise SystemExit(main())
