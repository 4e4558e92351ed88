"""``python -m verifier_app`` (``make verifier``): the verifier on a desktop.

    python -m verifier_app --issuer http://127.0.0.1:8000       # trust data from the issuer service
    python -m verifier_app --trust pki/iaca.pem --trust pki/ds.pem
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verifier_app", description="didlib verifier (shops, youth organisations)")
    parser.add_argument("--issuer", help="issuer service URL to download the trust list and status lists from")
    parser.add_argument("--trust", action="append", help="IACA / document signer PEM files (instead of --issuer)")
    parser.add_argument("--state", default=str(Path.home() / ".didlib-verifier"), help="trust data cache folder")
    parser.add_argument("--reader-key", help="reader authentication key (PEM), for challenge checks")
    parser.add_argument("--reader-cert", help="reader authentication certificate (PEM)")
    args = parser.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")

    import httpx
    from cryptography import x509

    from didlib.keys import load_private_key, load_public_key
    from didlib.trust import TrustStore
    from didlib.verifier import TrustCache, TrustData
    from verifier_app.app import VerifierApp
    from verifier_app.model import VerifierModel

    refresh = None
    trust: Callable[[], TrustData]
    if args.issuer:
        state = Path(args.state)
        state.mkdir(parents=True, exist_ok=True)
        pinned = state / "operator.pem"
        if not pinned.exists():  # trust on first use, then pinned: later lists must be signed by the same key
            pinned.write_bytes(httpx.get(f"{args.issuer}/trust/operator.pem", timeout=10).raise_for_status().content)
        cache = TrustCache(state, load_public_key(pinned))

        def fetch(url: str) -> bytes:
            return httpx.get(url, timeout=10).raise_for_status().content

        def refresh() -> str:  # never raises: offline or failing, the cached data stays and its age is said
            return cache.refresh(f"{args.issuer}/trust/list", fetch).summary(dt.datetime.now(dt.UTC))

        refresh()
        trust = cache.load
    elif args.trust:
        store = TrustStore.from_pem_files(args.trust)

        def trust_from_files() -> TrustData:
            return TrustData(store)

        trust = trust_from_files
    else:
        parser.error("give --issuer or --trust")
    key = load_private_key(args.reader_key) if args.reader_key else None
    chain = [x509.load_pem_x509_certificate(Path(args.reader_cert).read_bytes())] if args.reader_cert else []
    VerifierApp(VerifierModel(trust, reader_key=key, reader_chain=chain), refresh=refresh).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
