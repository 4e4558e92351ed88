"""The holder's phone in a process of its own, for tests/test_ble_session.py: opens a Bluetooth adapter
(a Bumble transport name, e.g. a hub's tcp-client:...), prints its mdoc: engagement, serves one reader over
BLE in the given mode, prints whether it shared, and exits.

    python tests/ble_phone.py <adapter> <folder with credential.cbor, device.pem, reader-ca.pem, now> <mode>
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from didlib import TrustStore
from didlib.keys import load_private_key
from didlib.mdoc import Credential
from didlib.session import HolderSession, serve_holder
from didlib.session.ble import Mode
from didlib.session.ble.bumble_stack import BumbleAdapter
from didlib.session.ble.connect import BleHolder


def main(adapter_name: str, folder: Path, mode: str) -> None:
    adapter = BumbleAdapter.open(adapter_name)
    ble = BleHolder(adapter, Mode(mode))
    holder = HolderSession(
        [(Credential.from_bytes((folder / "credential.cbor").read_bytes()), load_private_key(folder / "device.pem"))],
        reader_trust=TrustStore.from_pem_files([folder / "reader-ca.pem"]),
        retrieval_methods=[ble.method],
        now=dt.datetime.fromisoformat((folder / "now").read_text()),
    )
    print(holder.qr_uri(), flush=True)
    channel = ble.open(holder.engagement, timeout=20)
    shared = serve_holder(holder, channel, lambda pending: {d.doctype: d.allowed() for d in pending.documents}, 20)
    channel.close()
    ble.close()
    adapter.close()
    print(json.dumps({"shared": shared}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
