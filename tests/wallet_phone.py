"""The wallet model in a process of its own, for tests/test_wallet_holder.py: unlocks the wallet in a folder,
prints the mdoc: engagement of a share on 127.0.0.1, waits for the reader's request, prints what the consent
screen would say (JSON), agrees to everything the reader may have, and prints how many proofs of age are left.

    python tests/wallet_phone.py <wallet folder> <PIN>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from wallet_app.model.wallet import WalletModel


def main(folder: Path, pin: str) -> None:
    model = WalletModel(folder, proximity_host="127.0.0.1")
    model.unlock(pin)
    share = model.start_proximity()
    print(share.uri, flush=True)
    view = model.consent(share.wait_for_request(timeout=30))
    print(json.dumps({"asker": view.asker, "credential": view.credential, "wants": view.wants}), flush=True)
    share.respond(view.consent())
    print(json.dumps({"proofs_left": model.proofs_left()}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
