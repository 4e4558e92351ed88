"""Which of the device's own addresses an ISO 18013-5 engagement names for the local-network transport.

The engagement QR must name an address a till on the same network can connect to (18013-5 8.2.1.1: the
retrieval method's options): the phone's Wi-Fi or Ethernet address, not loopback (which only the phone
itself reaches), not a link-local one (169.254/16, fe80::/10: not routed, and the same on every network),
nor the address of a container bridge, virtual machine network or VPN tunnel. :func:`choose_address` makes
the choice from a given list of interfaces (tested on its own); :func:`own_address` applies it to this
device's interfaces, read with the standard library (no packet is sent).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["choose_address", "interface_addresses", "own_address", "route_address", "LOOPBACK"]

LOOPBACK = "127.0.0.1"
# Interfaces another device on the same network can reach the phone on: Wi-Fi (wlan0, wlp2s0, wl*), the
# phone's own hotspot (ap0, swlan0), Ethernet (eth0, enp3s0, en0 on macOS).
_LAN = ("wlan", "wl", "swlan", "ap", "eth", "en")
# Interfaces that are not the local network: container and VM bridges, VPN tunnels, mobile data.
_VIRTUAL = ("docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "lxc", "lxd", "cni", "flannel", "podman",
            "tun", "tap", "wg", "zt", "utun", "tailscale", "rmnet", "ccmni", "pdp", "dummy", "lo")
_SIOCGIFADDR = 0x8915  # Linux (and Android): an interface's IPv4 address


def _usable(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return None
    return ip


def choose_address(interfaces: Iterable[tuple[str, str]]) -> str:
    """The best address to put in an engagement, from ``(interface name, address)`` pairs: a private IPv4
    address on a Wi-Fi or Ethernet interface first, then a private IPv4 address elsewhere, then any other
    routable IPv4, then IPv6 (global or unique-local). Loopback, link-local, and every address of a virtual
    interface (container bridges, VPNs, mobile data) are skipped; :data:`LOOPBACK` when nothing is left."""
    ranked: list[tuple[tuple[int, int, int], str]] = []
    for index, (name, address) in enumerate(interfaces):
        ip = _usable(address)
        if ip is None or name.lower().startswith(_VIRTUAL):
            continue
        family = 0 if ip.version == 4 and ip.is_private else 1 if ip.version == 4 else 2
        lan = 0 if name.lower().startswith(_LAN) else 1
        ranked.append(((family, lan, index), str(ip)))
    return min(ranked)[1] if ranked else LOOPBACK


def interface_addresses() -> list[tuple[str, str]]:
    """This device's ``(interface, address)`` pairs: on Linux and Android each interface's IPv4 address
    (``SIOCGIFADDR``) and its IPv6 addresses (``/proc/net/if_inet6``); elsewhere what the host name resolves
    to. Where that gives nothing usable (Android 10 and later keep ``/proc/net`` and interface listing from
    apps), the source address of the route out (:func:`route_address`), named ``""``. No packet is sent."""
    pairs: list[tuple[str, str]] = []
    if sys.platform.startswith("linux"):
        import fcntl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
            for _, name in socket.if_nameindex():
                with contextlib.suppress(OSError):
                    request = struct.pack("256s", name.encode()[:15])
                    answer = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)
                    pairs.append((name, socket.inet_ntoa(answer[20:24])))
        with contextlib.suppress(OSError, ValueError):
            for line in Path("/proc/net/if_inet6").read_text().splitlines():
                fields = line.split()
                if len(fields) == 6 and len(fields[0]) == 32:
                    pairs.append((fields[5], str(ipaddress.IPv6Address(bytes.fromhex(fields[0])))))
    else:
        with contextlib.suppress(OSError):
            for info in socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP):
                pairs.append(("", str(info[4][0])))
    if choose_address(pairs) == LOOPBACK:
        routed = route_address()
        if routed is not None:
            pairs.append(("", routed))
    return pairs


def route_address() -> str | None:
    """The address this device would send from to a non-local destination (a UDP socket's ``connect`` only
    asks the routing table: nothing is sent), or None without a route. The destination is TEST-NET-1
    (RFC 5737), which nothing answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
            return str(sock.getsockname()[0])
        except OSError:
            return None


def own_address() -> str:
    """The address a nearby device reaches this one on (:func:`choose_address` of :func:`interface_addresses`)."""
    return choose_address(interface_addresses())
