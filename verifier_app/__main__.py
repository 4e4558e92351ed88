"""``python -m verifier_app`` (``make verifier``): the verifier on a desktop, and the phone app's entry point.

    python -m verifier_app --issuer http://127.0.0.1:8000       # update the trust list from the issuer service
    python -m verifier_app --trust pki/iaca.pem --trust pki/ds.pem
    python -m verifier_app --camera till.avi                    # a video file as the camera (demos, tests)
    python -m verifier_app --register volunteers                # the youth organisation's volunteer register
    python -m verifier_app                                      # as on a phone: the saved configuration

Whatever is given is remembered in the state folder, so the next start needs no arguments. The app never
waits for the network to start: it starts from its cached trust data and updates in the background.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def default_state() -> Path:
    """~/.didlib-verifier on a desktop; the app's private storage on a phone."""
    if "ANDROID_ARGUMENT" in os.environ:  # set by python-for-android's launcher
        from android.storage import app_storage_path

        return Path(app_storage_path()) / "verifier"
    return Path.home() / ".didlib-verifier"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verifier_app", description="didlib verifier (shops, youth organisations)")
    parser.add_argument("--issuer", help="issuer service URL to download the trust list and status lists from")
    parser.add_argument("--trust", action="append", help="IACA / document signer PEM files (instead of --issuer)")
    parser.add_argument("--state", default=None, help="folder for the settings and the cached trust data")
    parser.add_argument("--camera", help="camera index (0: the first camera) or a video file to scan from")
    parser.add_argument("--reader-key", help="reader authentication key (PEM), for challenge checks")
    parser.add_argument("--reader-cert", help="reader authentication certificate (PEM)")
    parser.add_argument("--register", help="the organisation's volunteer register: its folder (volunteer-register "
                        "--state) or a database URL (default: in the state folder)")
    args = parser.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")

    from verifier_app.config import AppConfig

    config = AppConfig.load(args.state or default_state())
    if args.issuer:
        config.issuer = args.issuer.rstrip("/")
    if args.trust:
        config.trust_files = [str(Path(p).resolve()) for p in args.trust]
    if args.camera:
        config.camera = args.camera if args.camera.isdigit() else str(Path(args.camera).resolve())
    if args.reader_key:
        config.reader_key = str(Path(args.reader_key).resolve())
    if args.reader_cert:
        config.reader_cert = str(Path(args.reader_cert).resolve())
    if args.register:
        config.register = args.register if "://" in args.register else str(Path(args.register).resolve())
    config.save()

    from verifier_app.app import VerifierApp

    VerifierApp.from_config(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
