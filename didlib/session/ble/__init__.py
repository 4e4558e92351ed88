"""The ISO/IEC 18013-5 Bluetooth Low Energy transport (8.3.3.1.1).

:mod:`.gatt` (UUIDs, State values, Ident), :mod:`.framing` (chunks) and :mod:`.channel` (the state machine
behind :class:`~didlib.session.transport.Transport`) know no Bluetooth stack; :mod:`.bumble_stack` runs
them on Bumble (``pip install didlib[ble]``), and an Android build can run them on the platform's stack.
"""

from didlib.session.ble.channel import BleChannel, GattPort
from didlib.session.ble.framing import Reassembler, chunk_payload_size, split
from didlib.session.ble.gatt import CENTRAL_CLIENT, PERIPHERAL_SERVER, STATE_END, STATE_START, Mode, ident

__all__ = [
    "CENTRAL_CLIENT",
    "PERIPHERAL_SERVER",
    "STATE_END",
    "STATE_START",
    "BleChannel",
    "GattPort",
    "Mode",
    "Reassembler",
    "chunk_payload_size",
    "ident",
    "split",
]
