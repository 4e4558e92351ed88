"""``python -m wallet_app`` (``make wallet``): the wallet on a desktop. Data in ``~/.didlib-wallet``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wallet_app", description="didlib wallet")
    parser.add_argument("--data", default=str(Path.home() / ".didlib-wallet"), help="wallet folder")
    args = parser.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from wallet_app.app import WalletApp
    from wallet_app.model.wallet import WalletModel

    Path(args.data).mkdir(parents=True, exist_ok=True)
    WalletApp(WalletModel(Path(args.data))).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
