"""Connections: the TCP congestion control of same-host connections
(socket.local.congestion.control), read from the kernel with `ss`."""

import socket
import subprocess
import time

import pytest

from conftest import Broker, T

pytestmark = pytest.mark.own_broker


def system_cc():
    with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
        return f.read().strip()


def broker_side_cc(port):
    """The congestion control of the broker's end of the one connection to port."""
    deadline = time.monotonic() + T(5)
    while True:
        out = subprocess.run(["ss", "-tniH", "state", "established", "( sport = :%d )" % port],
                             capture_output=True, text=True, timeout=T(10), check=True).stdout
        lines = out.splitlines()
        if len(lines) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == 2, "expected one connection (two lines) from ss:\n%s" % out
    return lines[1].split()[0]


def cc_with(make_broker, settings):
    b = make_broker(settings)
    port = int(b.bootstrap.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=T(5)):
        return broker_side_cc(port)


def test_a_loopback_client_gets_reno_by_default(make_broker):
    assert cc_with(make_broker, None) == "reno"


def test_an_empty_setting_keeps_the_system_default(make_broker):
    assert cc_with(make_broker, {"socket.local.congestion.control": ""}) == system_cc()


def test_a_named_algorithm_is_used_when_the_kernel_allows_it(make_broker):
    with open("/proc/sys/net/ipv4/tcp_allowed_congestion_control") as f:
        allowed = f.read().split()
    others = [n for n in allowed if n != "reno"]
    if not others:
        pytest.skip("only reno is allowed here")
    assert cc_with(make_broker, {"socket.local.congestion.control": others[0]}) == others[0]


@pytest.mark.parametrize("name,reason", [("no-such-cc", "not available in this kernel"),
                                         ("x" * 16, "under 16 bytes")])
def test_a_name_the_kernel_refuses_stops_the_start_with_a_message(tmp_path, name, reason):
    b = Broker(tmp_path, {"socket.local.congestion.control": name})
    p = subprocess.run(b.command(listen="127.0.0.1:0"), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=T(15))
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 1, "exit %d:\n%s" % (p.returncode, err)
    assert "socket.local.congestion.control" in err and reason in err, err
