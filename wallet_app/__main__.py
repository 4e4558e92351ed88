"""``python -m wallet_app`` (``make wallet``): the wallet on a desktop, and the phone app's entry point.

    python -m wallet_app                                   # data in ~/.didlib-wallet
    python -m wallet_app 'openid-credential-offer://?...'  # a link, as a phone hands over a tapped one
    python -m wallet_app 'openid4vp://?client_id=...'      # a website's same-device button
    python -m wallet_app --camera offer.avi                # a video file as the camera (demos, tests)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def default_data() -> Path:
    """~/.didlib-wallet on a desktop; the app's private storage on a phone."""
    if "ANDROID_ARGUMENT" in os.environ:  # set by python-for-android's launcher
        from android.storage import app_storage_path

        return Path(app_storage_path()) / "wallet"
    return Path.home() / ".didlib-wallet"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wallet_app", description="didlib wallet")
    parser.add_argument("--data", default=None, help="wallet folder (default ~/.didlib-wallet)")
    parser.add_argument("--camera", default="0", help="camera index (0: the first camera) or a video file")
    parser.add_argument("link", nargs="?", help="a link to open: an issuer's openid-credential-offer://... or a "
                        "website's openid4vp://... (as a phone opens a tapped link in the wallet)")
    args = parser.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from didlib_apps.phone import launch_link
    from wallet_app.app import WalletApp
    from wallet_app.model.wallet import WalletModel

    data = Path(args.data) if args.data else default_data()
    data.mkdir(parents=True, exist_ok=True)
    camera = args.camera if args.camera.isdigit() else str(Path(args.camera).resolve())
    WalletApp(WalletModel(data), opening=args.link or launch_link(), camera=camera).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
