"""Bluetooth without radios across processes: Bumble virtual controllers on one local link, each reachable
over TCP on 127.0.0.1 as an HCI transport.

Bumble no longer ships the relay that joined controllers of several processes, so this small hub plays
that part: it prints one transport name per device (``tcp-client:127.0.0.1:<port>``) and runs until
stopped; a wallet in one process and a till in another open one each (``DIDLIB_BLE_ADAPTER=...`` or
:meth:`~didlib.session.ble.bumble_stack.BumbleAdapter.open`) and talk ISO 18013-5 BLE.

    python -m didlib.session.ble.hub --devices 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys

from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

__all__ = ["main"]


async def _serve(devices: int) -> None:
    link = LocalLink()  # type: ignore[no-untyped-call]
    names, keep = [], []
    for index in range(devices):
        sock = socket.create_server(("127.0.0.1", 0))  # a free port, loopback only
        transport = await open_tcp_server_transport_with_socket(sock)
        keep.append((transport, Controller(f"hub{index}", transport.source, transport.sink, link=link)))
        names.append(f"tcp-client:127.0.0.1:{sock.getsockname()[1]}")
    print(json.dumps({"adapters": names}), flush=True)
    await asyncio.get_running_loop().create_future()  # until the process is stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=2, choices=range(1, 17), metavar="N")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.devices))
    return 0


if __name__ == "__main__":
    sys.exit(main())
