"""``python -m wallet_app`` (``make wallet``): the wallet on a desktop. Data in ``~/.didlib-wallet``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wallet_app", description="didlib wallet")
    parser.add_argument("--data", default=str(Path.home() / ".didlib-wallet"), help="wallet folder")
    parser.add_argument("link", nargs="?", help="a request link to answer (openid4vp://..., as a website's "
                        "same-device button opens it)")
    args = parser.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from wallet_app.app import WalletApp
    from wallet_app.model.wallet import WalletModel

    Path(args.data).mkdir(parents=True, exist_ok=True)
    WalletApp(WalletModel(Path(args.data)), opening=args.link or _android_link()).run()
    return 0


def _android_link() -> str | None:
    """On a phone the link arrives in the launching intent (intent_filters.xml), not on the command line."""
    from kivy.utils import platform

    if platform != "android":
        return None
    from jnius import autoclass  # pyjnius: only in the Android build

    return autoclass("org.kivy.android.PythonActivity").mActivity.getIntent().getDataString()


if __name__ == "__main__":
    sys.exit(main())
