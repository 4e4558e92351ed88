"""Which address the engagement names (issue 19, item 4): the choice among given interfaces, on its own."""

from __future__ import annotations

import ipaddress

import pytest

from didlib.session import addresses
from didlib.session.addresses import LOOPBACK, choose_address, interface_addresses, own_address

PHONE = [("lo", "127.0.0.1"), ("rmnet_data0", "10.148.12.9"), ("dummy0", "fe80::1"), ("wlan0", "fe80::a1b2"),
         ("wlan0", "192.168.1.23"), ("lo", "::1")]


@pytest.mark.parametrize(("interfaces", "chosen"), [
    (PHONE, "192.168.1.23"),  # Wi-Fi, not mobile data (also private IPv4) nor loopback
    ([("docker0", "172.17.0.1"), ("eth0", "10.0.0.5")], "10.0.0.5"),  # a container bridge is not the network
    ([("br-4f1", "172.18.0.1"), ("veth12", "10.1.1.1"), ("virbr0", "192.168.122.1"), ("enp3s0", "192.168.0.7")],
     "192.168.0.7"),
    ([("tun0", "10.8.0.2"), ("wlp2s0", "172.20.10.4")], "172.20.10.4"),  # a VPN tunnel is not the network either
    ([("eth0", "169.254.10.1"), ("wlan0", "fe80::1%wlan0"), ("lo", "127.0.0.1")], LOOPBACK),  # link-local only
    ([], LOOPBACK),
    ([("lo", "127.0.0.1")], LOOPBACK),
    ([("usb0", "192.168.42.129"), ("wlan0", "81.2.69.160")], "192.168.42.129"),  # private IPv4 before public
    ([("wlan0", "2a00:1450:4009::5"), ("eth1", "81.2.69.160")], "81.2.69.160"),  # IPv4 before IPv6
    ([("wlan0", "fd12::5"), ("eth0", "fe80::9")], "fd12::5"),  # unique-local IPv6 when there is nothing else
    ([("swlan0", "192.168.43.1"), ("ap0", "192.168.44.1")], "192.168.43.1"),  # the phone's hotspot: first listed
    ([("weird", "not an address"), ("wlan0", "0.0.0.0"), ("eth0", "224.0.0.1")], LOOPBACK),
])
def test_choose_address(interfaces, chosen):
    assert choose_address(interfaces) == chosen


def test_this_machines_interfaces_are_read():
    pairs = interface_addresses()
    assert all(isinstance(name, str) and ipaddress.ip_address(address.split("%")[0]) for name, address in pairs)
    assert ipaddress.ip_address(own_address())
    assert own_address() == choose_address(pairs)


def test_without_interface_listing_the_route_out_is_used(monkeypatch):
    """Android 10 and later refuse apps the interface list and /proc/net: the source address of the route out
    stands in (asking the routing table sends nothing)."""
    def refused() -> list[tuple[int, str]]:
        raise PermissionError("interface listing not allowed")

    real_path = addresses.Path
    monkeypatch.setattr(addresses.socket, "if_nameindex", refused)
    monkeypatch.setattr(addresses, "Path", lambda _: real_path("/nonexistent/if_inet6"))
    routed = addresses.route_address()
    if routed is None:
        pytest.skip("this machine has no route out")
    assert interface_addresses() == [("", routed)] and own_address() == routed
