"""Installation: `cmake --install` with DESTDIR and --prefix, and the Debian package that
scripts/package builds from the binary under test (SLUICE_BIN's build directory): its
contents, the extracted binary running --version and a broker on the packaged
server.properties, the packaged service configs starting their services, the systemd units,
and lintian.

The tests of the package itself skip when dpkg-deb is missing, and under a sanitizer build (a
package is made from a release build; scripts/package refuses an ASan one): they run in the
release tier. The tests that run what was installed (version, broker, services, units) then
run on a `cmake --install` root instead.
"""

import glob
import gzip
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (REPO, T, admin_client, consumer, producer, sluice_bin, unique_topic,
                      wait_for)
from service_harness import ServiceProcess

pytestmark = pytest.mark.own_broker

VERSION = open(os.path.join(REPO, "VERSION")).readline().strip()
GROUPS = ["serve", "topics", "groups", "acls", "produce", "consume", "users", "jobs", "join",
          "gateway", "inspect-worker"]
MAN_PAGES = ["sluice.1"] + ["sluice-%s.1" % g for g in GROUPS]
UNITS = {"sluice.service": "serve --config /etc/sluice/server.properties",
         "sluice-jobs.service": "jobs serve --config /etc/sluice/jobs.properties",
         "sluice-gateway.service": "gateway serve --config /etc/sluice/gateway.properties",
         "sluice-join.service": "join --config /etc/sluice/join.properties"}
CONFIGS = ["server.properties", "jobs.properties", "gateway.properties", "join.properties"]


def build_dir():
    return os.path.dirname(os.path.abspath(sluice_bin()))


def cmake_cache(key):
    """The value of KEY in the build directory's CMakeCache.txt, or None."""
    try:
        with open(os.path.join(build_dir(), "CMakeCache.txt")) as f:
            for line in f:
                m = re.match(r"%s:[A-Z]+=(.*)$" % re.escape(key), line.rstrip("\n"))
                if m:
                    return m.group(1)
    except FileNotFoundError:
        return None
    return None


def sanitizer_build():
    if cmake_cache("SL_SANITIZE") == "ON":
        return True
    ldd = subprocess.run(["ldd", sluice_bin()], capture_output=True, text=True)
    return "libasan" in ldd.stdout


def need_build_dir():
    if cmake_cache("CMAKE_HOME_DIRECTORY") is None:
        pytest.skip("%s is not in a CMake build directory" % sluice_bin())


# ---- cmake --install ------------------------------------------------------------------------

def cmake_install(destdir, prefix):
    r = subprocess.run(["cmake", "--install", build_dir(), "--prefix", prefix],
                       env=dict(os.environ, DESTDIR=str(destdir)), capture_output=True,
                       text=True, timeout=T(120))
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def check_man_pages(mandir):
    for page in MAN_PAGES:
        with open(os.path.join(mandir, page)) as f:
            text = f.read()
        name = page[:-2]
        assert '.TH %s "1"' % name.upper() in text, page
        assert re.search(r"^\.SH NAME\n%s \\- \S" % re.escape(name), text, re.M), page
        m = re.search(r"^\.SH SYNOPSIS\n(.*?)^\.SH DESCRIPTION", text, re.S | re.M)
        assert m, "%s has no SYNOPSIS (help2man found no usage line)" % page
        plain = re.sub(r"\\f[BIRP]|\\[,/]|^\.B ", "", m.group(1), flags=re.M)
        plain = " ".join(plain.replace("\\-", "-").replace("\\~", " ").split())
        assert plain.startswith(name.replace("sluice-", "sluice ", 1) + " "), (page, plain)


def test_cmake_install_with_destdir_and_prefix_usr_puts_config_in_etc_and_units_in_lib(
        tmp_path):
    need_build_dir()
    if not cmake_cache("HELP2MAN") or cmake_cache("HELP2MAN").endswith("NOTFOUND"):
        pytest.fail("help2man was not found when %s was configured (scripts/setup installs "
                    "it; configure again)" % build_dir())
    cmake_install(tmp_path, "/usr")
    unitdir = (cmake_cache("SL_SYSTEMD_SYSTEM_UNITDIR") or "/lib/systemd/system").lstrip("/")
    want = (["usr/bin/sluice"] + ["etc/sluice/" + c for c in CONFIGS]
            + [os.path.join(unitdir, u) for u in UNITS]
            + ["usr/share/man/man1/" + p for p in MAN_PAGES])
    assert files_under(tmp_path) == sorted(want)
    assert os.access(tmp_path / "usr/bin/sluice", os.X_OK)
    for unit, args in UNITS.items():
        with open(tmp_path / unitdir / unit) as f:
            text = f.read()
        assert "\nExecStart=/usr/bin/sluice %s\n" % args in text, unit
        assert "@" not in text, "unit %s has an unreplaced @VAR@" % unit
    check_man_pages(tmp_path / "usr/share/man/man1")
    with open(tmp_path / "etc/sluice/server.properties") as f:
        assert "\nlog.dirs=/var/lib/sluice\n" in f.read()


def test_cmake_install_with_another_prefix_keeps_everything_under_it(tmp_path):
    need_build_dir()
    cmake_install(tmp_path, "/opt/sluice")
    got = files_under(tmp_path)
    assert all(f.startswith("opt/sluice/") for f in got), got
    assert "opt/sluice/bin/sluice" in got
    for c in CONFIGS:
        assert "opt/sluice/etc/sluice/" + c in got
    with open(tmp_path / "opt/sluice/lib/systemd/system/sluice.service") as f:
        assert ("\nExecStart=/opt/sluice/bin/sluice serve --config "
                "/opt/sluice/etc/sluice/server.properties\n") in f.read()


# ---- the Debian package ---------------------------------------------------------------------

def package_skip_reason():
    if not shutil.which("dpkg-deb"):
        return "dpkg-deb not found: the package tests need Debian's dpkg (scripts/setup)"
    if sanitizer_build():
        return ("%s is a sanitizer build; packages are made from release builds (the package "
                "tests run in the release tier)" % sluice_bin())
    return None


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """The .deb scripts/package makes from SLUICE_BIN's build directory."""
    if package_skip_reason():
        pytest.skip(package_skip_reason())
    need_build_dir()
    out = tmp_path_factory.mktemp("deb")
    r = subprocess.run([os.path.join(REPO, "scripts", "package"), "--out", str(out)],
                       env=dict(os.environ, SLUICE_BIN=os.path.abspath(sluice_bin())),
                       capture_output=True, text=True, timeout=T(300))
    assert r.returncode == 0, r.stdout + r.stderr
    path = r.stdout.strip().splitlines()[-1]
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True).stdout.strip()
    assert path == os.path.join(str(out), "sluice_%s-1_%s.deb" % (VERSION, arch))
    return path


@pytest.fixture(scope="module")
def root(request, tmp_path_factory):
    """The package extracted with dpkg-deb -x; where no package is made (a sanitizer build),
    `cmake --install --prefix /usr` of the build into a temporary DESTDIR (the same files but
    the Debian ones), so the configs and units are run by that build's binary too."""
    r = tmp_path_factory.mktemp("root")
    if package_skip_reason():
        need_build_dir()
        cmake_install(r, "/usr")
    else:
        deb = request.getfixturevalue("deb")
        subprocess.run(["dpkg-deb", "-x", deb, str(r)], check=True, timeout=T(60))
    return r


def control_field(deb, field):
    r = subprocess.run(["dpkg-deb", "-f", deb, field], capture_output=True, text=True,
                       check=True)
    return r.stdout.strip()


def test_package_holds_the_binary_man_pages_units_configs_and_docs_owned_by_root(deb):
    r = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True)
    entries = {}
    for line in r.stdout.splitlines():
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        entries[path.lstrip(".")] = (mode, owner)
    files = {p: e for p, e in entries.items() if e[0].startswith("-")}
    want = (["/usr/bin/sluice"] + ["/etc/sluice/" + c for c in CONFIGS]
            + ["/lib/systemd/system/" + u for u in UNITS]
            + ["/usr/share/man/man1/%s.gz" % p for p in MAN_PAGES]
            + ["/usr/share/doc/sluice/copyright", "/usr/share/doc/sluice/changelog.Debian.gz",
               "/usr/share/lintian/overrides/sluice"])
    assert sorted(files) == sorted(want)
    assert all(owner == "root/root" for _, owner in entries.values()), entries
    assert files["/usr/bin/sluice"][0] == "-rwxr-xr-x"
    for p in want[1:]:
        assert files[p][0] == "-rw-r--r--", p
    for p, (mode, _) in entries.items():
        if mode.startswith("d"):
            assert mode == "drwxr-xr-x", p


def test_package_control_names_version_arch_libraries_and_conffiles(deb, tmp_path):
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True).stdout.strip()
    assert control_field(deb, "Package") == "sluice"
    assert control_field(deb, "Version") == VERSION + "-1"
    assert control_field(deb, "Architecture") == arch
    depends = [d.split()[0] for d in control_field(deb, "Depends").split(", ")]
    for lib in ["librdkafka1", "libjansson4", "libsqlite3-0", "libssl3", "libwebsockets17",
                "liblmdb0", "libutf8proc2", "zlib1g", "libsnappy1v5", "liblz4-1", "libzstd1",
                "libc6", "adduser"]:
        assert lib in depends, (lib, depends)
    for rec in ["libcurl4", "libtesseract5", "tesseract-ocr-eng", "chromium"]:
        assert rec in control_field(deb, "Recommends")
    ctl = tmp_path / "DEBIAN"
    subprocess.run(["dpkg-deb", "-e", deb, str(ctl)], check=True)
    with open(ctl / "conffiles") as f:
        assert sorted(f.read().split()) == sorted("/etc/sluice/" + c for c in CONFIGS)
    for script in ["postinst", "prerm", "postrm"]:
        assert os.access(ctl / script, os.X_OK), script
        subprocess.run(["sh", "-n", str(ctl / script)], check=True)
    with open(ctl / "postinst") as f:
        assert re.search(r"adduser .*--system .*sluice", f.read(), re.S)


def test_packaged_binary_is_stripped_and_man_pages_and_changelog_are_gzip_n(deb, root):
    r = subprocess.run(["readelf", "-S", str(root / "usr/bin/sluice")], capture_output=True,
                       text=True, check=True)
    assert ".symtab" not in r.stdout and ".debug_info" not in r.stdout
    for path in (glob.glob(str(root / "usr/share/man/man1/*.gz"))
                 + [str(root / "usr/share/doc/sluice/changelog.Debian.gz")]):
        with open(path, "rb") as f:
            head = f.read(10)
        assert head[:2] == b"\x1f\x8b", path
        assert head[3] & 0x08 == 0, "%s: gzip stored a file name (want gzip -n)" % path
        assert head[4:8] == b"\0\0\0\0", "%s: gzip stored a time stamp (want gzip -n)" % path
        assert head[8] == 2, "%s: not gzip -9" % path
        gzip.open(path).read()
    with gzip.open(str(root / "usr/share/doc/sluice/changelog.Debian.gz"), "rt") as f:
        assert f.readline().startswith("sluice (%s-1) " % VERSION)
    with open(root / "usr/share/doc/sluice/copyright") as f:
        text = f.read()
    assert text.startswith("Format: https://www.debian.org/doc/packaging-manuals/"
                           "copyright-format/1.0/\n")
    assert "Files: src/kafka/schema/*" in text and "License: Apache-2.0" in text


def test_extracted_binary_prints_its_version(root):
    r = subprocess.run([str(root / "usr/bin/sluice"), "--version"], capture_output=True,
                       text=True, timeout=T(10))
    assert r.returncode == 0, r.stderr
    assert re.match(r"sluice %s \(commit [0-9a-f]{7,}(-dirty)?\)$" % re.escape(VERSION),
                    r.stdout.strip()), r.stdout


def packaged_config(root, name, tmp_path, replace=None, uncomment=False):
    """The packaged /etc/sluice/NAME, with uncomment every commented '#key=value' line made a
    setting, and for each KEY: (OLD, NEW) of replace every KEY= line set to NEW (the file as
    shipped must hold KEY=OLD)."""
    with open(root / "etc/sluice" / name) as f:
        text = f.read()
    for key, (old, _) in (replace or {}).items():
        assert "\n%s=%s\n" % (key, old) in text, "%s has no line %s=%s" % (name, key, old)
    if uncomment:
        text = re.sub(r"(?m)^#([a-z][a-z0-9_.]*=)", r"\1", text)
    for key, (_, new) in (replace or {}).items():
        text = re.sub(r"(?m)^%s=.*$" % re.escape(key), "%s=%s" % (key, new), text)
    path = tmp_path / ("%s%s" % ("uncommented-" if uncomment else "", name))
    path.write_text(text)
    return path


class PackagedBroker:
    """`usr/bin/sluice serve --config FILE` from the extracted package (no other flag but the
    ready file: the config names the data dir and the listener)."""

    def __init__(self, root, config, tmp_path):
        self.cmd = [str(root / "usr/bin/sluice"), "serve", "--config", str(config),
                    "--ready-file", str(tmp_path / "ready")]
        self.ready = tmp_path / "ready"
        self.stderr_path = tmp_path / "broker.stderr"
        self.proc = None

    def start(self):
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=err,
                                         stderr=err)
        deadline = time.monotonic() + T(20)
        while time.monotonic() < deadline:
            if self.ready.exists() and self.ready.read_text().endswith("\n"):
                return self.ready.read_text().splitlines()[0]
            assert self.proc.poll() is None, "broker exited:\n" + self.stderr()
            time.sleep(0.05)
        raise AssertionError("broker not ready:\n" + self.stderr())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=T(30))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("broker ignored SIGTERM")
        return self.proc.returncode if self.proc else None

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")


@pytest.fixture
def packaged_broker(root, tmp_path):
    brokers = []

    def make(uncomment=False):
        data = tmp_path / ("data-%d" % len(brokers))
        conf = packaged_config(root, "server.properties", tmp_path, uncomment=uncomment,
                               replace={"log.dirs": ("/var/lib/sluice", data),
                                        "listeners": ("PLAINTEXT://127.0.0.1:9092",
                                                      "PLAINTEXT://127.0.0.1:0")})
        b = PackagedBroker(root, conf, tmp_path)
        brokers.append(b)
        bootstrap = b.start()
        assert not bootstrap.endswith(":9092"), "listening on the packaged port, not port 0"
        return b, bootstrap, data
    yield make
    for b in brokers:
        try:
            b.stop()
        except AssertionError:
            pass


def test_extracted_broker_on_the_packaged_config_produces_and_consumes(packaged_broker):
    b, bootstrap, data = packaged_broker()
    topic = unique_topic("pkg")
    p = producer(bootstrap)
    errors = []
    p.produce(topic, key=b"k", value=b"from the package",
              on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(T(30)) == 0 and errors == [None], errors
    c = consumer(bootstrap)
    c.subscribe([topic])
    try:
        msg = wait_for(lambda: c.poll(0.5), T(30), "the record back")
        assert msg.error() is None and msg.value() == b"from the package"
    finally:
        c.close()
    assert any(topic in d for _, ds, _ in os.walk(data) for d in ds), "no %s in %s" % (
        topic, data)
    assert b.stop() == 0
    assert "unknown setting" not in b.stderr(), b.stderr()


def test_every_commented_setting_in_the_packaged_server_properties_is_known(packaged_broker):
    b, _, _ = packaged_broker(uncomment=True)
    assert b.stop() == 0
    assert "unknown setting" not in b.stderr(), b.stderr()


class PackagedService(ServiceProcess):
    def __init__(self, root, args, config, tmp_path, name, settings):
        super().__init__(tmp_path, name, settings)
        self.root = root
        self.ARGS = args + ["--config", str(config)]

    def command(self):
        cmd = [str(self.root / "usr/bin/sluice")] + self.ARGS
        for k, v in self.settings.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        return cmd


SERVICES = {  # config -> (args, settings the test points at its own broker and temp dirs)
    "jobs.properties": (["jobs", "serve"], {"store.path": "{tmp}/jobs.db"}),
    "gateway.properties": (["gateway", "serve"], {}),
    "join.properties": (["join"], {"state.dir": "{tmp}/join"}),
}


@pytest.mark.parametrize("uncomment", [False, True], ids=["as-shipped", "uncommented"])
@pytest.mark.parametrize("config", sorted(SERVICES))
def test_packaged_service_config_starts_its_service(root, packaged_broker, tmp_path, config,
                                                    uncomment):
    _, bootstrap, _ = packaged_broker()
    # The packaged join.properties names the topics it joins; they must exist.
    adm = admin_client(bootstrap)
    from confluent_kafka.admin import NewTopic
    for fut in adm.create_topics([NewTopic(t, 1, 1) for t in
                                  ("orders", "customers", "orders-enriched")]).values():
        fut.result(timeout=T(10))
    args, extra = SERVICES[config]
    settings = {"brokers": bootstrap, "http.listen": "127.0.0.1:0"}
    settings.update({k: v.format(tmp=tmp_path) for k, v in extra.items()})
    conf = packaged_config(root, config, tmp_path, uncomment=uncomment)
    if uncomment and config == "jobs.properties":
        settings["type.inspect.command"] = "/bin/cat"  # the example names a rules file
    svc = PackagedService(root, args, conf, tmp_path, config.split(".")[0], settings)
    try:
        svc.start()
        assert svc.stop() == 0, svc.stderr_tail()
    finally:
        svc.kill9()


def test_packaged_units_pass_systemd_analyze_verify(root, tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not found")
    units = []
    for unit in UNITS:
        with open(root / "lib/systemd/system" / unit) as f:
            text = f.read()
        for key in ["User=sluice", "NoNewPrivileges=yes", "ProtectSystem=strict",
                    "LimitNOFILE=1048576", "Restart=on-failure", "KillSignal=SIGTERM"]:
            assert "\n%s\n" % key in text, (unit, key)
        assert re.search(r"\nTimeoutStopSec=(\d+)\n", text), unit
        # Checked against the extracted binary and configs (verify wants ExecStart to exist).
        text = text.replace("/usr/bin/sluice", str(root / "usr/bin/sluice"))
        text = text.replace("/etc/sluice/", str(root / "etc/sluice") + "/")
        (tmp_path / unit).write_text(text)
        units.append(str(tmp_path / unit))
    with open(root / "lib/systemd/system/sluice.service") as f:
        text = f.read()
    assert "\nStateDirectory=sluice\n" in text
    assert int(re.search(r"\nTimeoutStopSec=(\d+)\n", text).group(1)) >= 60
    r = subprocess.run(["systemd-analyze", "verify", "--man=no"] + units, capture_output=True,
                       text=True, timeout=T(60), cwd=str(tmp_path))
    assert r.returncode == 0 and not r.stderr.strip(), r.stdout + r.stderr


@pytest.mark.time_limit(600)
def test_lintian_reports_no_errors_on_the_package(deb):
    if not shutil.which("lintian"):
        pytest.fail("lintian not found (scripts/setup installs it)")
    r = subprocess.run(["lintian", "--pedantic", "-I", deb], capture_output=True, text=True,
                       timeout=T(500))
    tags = [line for line in r.stdout.splitlines() if re.match(r"[EWIPX]: ", line)]
    errors = [line for line in tags if line.startswith("E: ")]
    assert not errors, "\n".join(tags)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- maintainer scripts, run with every command they call stubbed ---------------------------

STUBBED = ["getent", "addgroup", "adduser", "deluser", "delgroup", "mkdir", "chown", "rm",
           "rmdir", "systemctl", "deb-systemd-invoke"]


def run_maintainer_script(script, args, tmp_path, user_exists):
    """Runs packaging/debian/SCRIPT ARGS with PATH holding only stubs that log their argv (so
    nothing on this machine changes, and a command not stubbed fails the script); returns the
    logged calls. getent answers as if the sluice user and group exist when user_exists."""
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    log = tmp_path / "calls"
    log.write_text("")
    for name in STUBBED:
        rc = 0 if name != "getent" or user_exists else 2
        (stubs / name).write_text('#!/bin/sh\necho "%s $*" >> "%s"\nexit %d\n' % (name, log, rc))
        (stubs / name).chmod(0o755)
    r = subprocess.run(["/bin/sh", os.path.join(REPO, "packaging", "debian", script)] + args,
                       env={"PATH": str(stubs)}, capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 0, r.stdout + r.stderr
    return [line for line in log.read_text().splitlines() if not line.startswith("getent ")]


def test_postinst_configure_creates_the_sluice_system_user_once(tmp_path):
    calls = run_maintainer_script("postinst", ["configure"], tmp_path, user_exists=False)
    assert "addgroup --quiet --system sluice" in calls, calls
    adduser = [c for c in calls if c.startswith("adduser ")]
    assert len(adduser) == 1 and "--system" in adduser[0] and "--ingroup sluice" in adduser[0] \
        and "--home /var/lib/sluice" in adduser[0] and adduser[0].endswith(" sluice"), calls
    calls = run_maintainer_script("postinst", ["configure"], tmp_path, user_exists=True)
    assert not [c for c in calls if c.split()[0] in ("adduser", "addgroup")], calls


def test_postrm_keeps_data_on_remove_and_deletes_it_and_the_user_on_purge(tmp_path):
    calls = run_maintainer_script("postrm", ["remove"], tmp_path, user_exists=True)
    assert not [c for c in calls if c.split()[0] in ("rm", "deluser", "delgroup")], calls
    calls = run_maintainer_script("postrm", ["purge"], tmp_path, user_exists=True)
    rm = [c for c in calls if c.startswith("rm ")]
    assert len(rm) == 1 and rm[0].startswith("rm -rf ") and all(
        d in rm[0].split() for d in ["/var/lib/sluice", "/var/lib/sluice-jobs",
                                     "/var/lib/sluice-join"]), calls
    assert "deluser --quiet --system sluice" in calls, calls
    assert "delgroup --quiet --system sluice" in calls, calls


def test_prerm_stops_the_services_only_on_remove(tmp_path):
    for action in ["upgrade", "remove"]:
        calls = run_maintainer_script("prerm", [action], tmp_path, user_exists=True)
        stops = [c for c in calls if c.startswith("deb-systemd-invoke stop ")]
        if action == "upgrade" or not os.path.isdir("/run/systemd/system"):
            assert stops == [], calls
        else:
            assert len(stops) == 1 and all(u in stops[0] for u in UNITS), calls
