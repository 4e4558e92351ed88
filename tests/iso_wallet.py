"""The holder's wallet in a process of its own, for tests/test_iso_two_processes.py: a ``WalletModel`` with the
sample driver's licence and proofs of age from the issuer service, sharing face to face over ISO 18013-5.

It prints ``{"ready": true}``, then for each line it reads on stdin (``share`` or ``decline``) starts a
proximity presentation on loopback (``start_proximity(host="127.0.0.1")``), prints ``{"uri": ...}`` (the
``mdoc:`` engagement its screen would show), waits for the reader's request, agrees to what the reader may
ask (``share``) or declines, and prints who asked and whether it shared. One JSON line per step.

    python tests/iso_wallet.py ISSUER_URL FOLDER
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from conftest import new_wallet
from didlib.errors import DidlibError


def say(**line: Any) -> None:
    print(json.dumps(line), flush=True)


def main(issuer: str, folder: Path) -> None:
    wallet, _ = new_wallet(folder, issuer)
    say(ready=True)
    for command in sys.stdin:
        share = wallet.start_proximity(host="127.0.0.1")
        say(uri=share.uri)
        try:
            pending = share.wait_for_request(timeout=30)
        except DidlibError as exc:
            share.close()
            say(error=exc.code)
            continue
        reader = pending.reader.name if pending.reader else None
        if command.strip() == "share":
            share.respond({d.doctype: d.allowed() for d in pending.documents if d.held})
        else:
            share.decline()
        say(reader=reader, asked=sorted(d.doctype for d in pending.documents), shared=command.strip() == "share")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
