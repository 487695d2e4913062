"""Settings and flags that say what to do: a mistyped broker setting names the nearest known
one, config.strict=true and --strict refuse to start on any unknown setting, and --listen
explains a port out of range and accepts a host name, as Kafka's listeners do."""

import os
import subprocess

from conftest import T, Broker, sluice_bin


def serve(tmp_path, *args, timeout_s=None):
    """Runs `sluice serve ARGS` expecting it to exit by itself; returns (rc, stderr)."""
    data = os.path.join(str(tmp_path), "data")
    p = subprocess.run([sluice_bin(), "serve", "--data", data] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout_s or T(15))
    return p.returncode, p.stderr.decode(errors="replace")


def write_config(tmp_path, text):
    path = os.path.join(str(tmp_path), "broker.properties")
    with open(path, "w") as f:
        f.write(text)
    return path


TYPOS = "num.partitons=3\nlog.retention.hour=5\nwholly.unrelated.thing=1\n"


def test_every_mistyped_setting_is_reported_with_the_nearest_known_name(tmp_path):
    b = Broker(tmp_path, config_file=write_config(tmp_path, TYPOS))
    try:
        b.start()
        err = b.stderr_text()
    finally:
        b.close()
    assert "unknown setting 'num.partitons' ignored (did you mean num.partitions?)" in err, err
    assert ("unknown setting 'log.retention.hour' ignored (did you mean log.retention.hours?)"
            in err), err
    line = [x for x in err.splitlines() if "wholly.unrelated.thing" in x]
    assert len(line) == 1 and "did you mean" not in line[0], err


def test_config_strict_refuses_to_start_on_an_unknown_setting(tmp_path):
    cfg = write_config(tmp_path, "config.strict=true\n" + TYPOS)
    rc, err = serve(tmp_path, "--config", cfg, "--listen", "127.0.0.1:0")
    assert rc == 2, (rc, err)
    assert "config.strict=true: unknown setting 'num.partitons' (did you mean num.partitions?)" \
        in err, err
    assert "'log.retention.hour' (did you mean log.retention.hours?)" in err, err
    assert "'wholly.unrelated.thing'" in err, err
    assert "listening on" not in err, err


def test_the_strict_flag_refuses_to_start_on_an_unknown_setting(tmp_path):
    rc, err = serve(tmp_path, "--strict", "--set", "log.retention.hour=5",
                    "--listen", "127.0.0.1:0")
    assert rc == 2, (rc, err)
    assert "did you mean log.retention.hours?" in err, err


def test_strict_starts_when_every_setting_is_known(tmp_path):
    b = Broker(tmp_path, {"config.strict": "true", "num.partitions": "2"})
    try:
        b.start()
        assert b.running()
    finally:
        b.close()


def test_a_port_out_of_range_is_named_as_such(tmp_path):
    rc, err = serve(tmp_path, "--listen", "127.0.0.1:99999")
    assert rc == 2 and "out of range" in err and "65535" in err, (rc, err)
    cfg = write_config(tmp_path, "listeners=PLAINTEXT://127.0.0.1:70000\n")
    rc, err = serve(tmp_path, "--config", cfg)
    assert rc != 0 and "out of range" in err, (rc, err)


def test_a_port_that_is_not_a_number_is_named_as_such(tmp_path):
    rc, err = serve(tmp_path, "--listen", "127.0.0.1:http")
    assert rc == 2 and "not a number" in err, (rc, err)


def test_listen_accepts_a_host_name(tmp_path):
    b = Broker(tmp_path)
    b.listen = "localhost:0"
    try:
        b.start()
        host, _, port = b.bootstrap.rpartition(":")
        assert host == "localhost" and int(port) > 0, b.bootstrap
        r = subprocess.run([sluice_bin(), "topics", "list", "--brokers", b.bootstrap],
                           capture_output=True, timeout=T(30))
        assert r.returncode == 0, r.stderr
    finally:
        b.close()


def test_a_host_name_that_does_not_resolve_says_so(tmp_path):
    rc, err = serve(tmp_path, "--listen", "no-such-host.invalid:0", timeout_s=T(30))
    assert rc == 1 and "does not resolve" in err, (rc, err)
