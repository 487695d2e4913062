"""Integration-test harness: starts the real `sluice serve` binary (or uses an external Kafka given
with --bootstrap) and offers helpers the tests share.

Every test gets its own broker on 127.0.0.1:0 in its own tmp_path; the broker's stderr goes to a
file there and its tail is printed when the test fails. Timeouts scale with SLUICE_TIMEOUT_SCALE
(3 under ASan). Brokers are stopped by PID, only the ones this harness started.
"""

import glob
import os
import signal
import struct
import subprocess
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PYTHON = sys.executable

TIMEOUT_SCALE = float(os.environ.get("SLUICE_TIMEOUT_SCALE", "1") or "1")
TEST_TIME_LIMIT_S = 300  # per-test limit before scaling; @pytest.mark.time_limit(s) overrides
STDERR_TAIL_LINES = 60


def T(seconds):
    """A timeout in seconds, stretched for slow (sanitizer) builds."""
    return seconds * TIMEOUT_SCALE


def sluice_bin():
    return os.environ.get("SLUICE_BIN") or os.path.join(REPO, "build", "sluice")


# ---- options, markers, per-test time limit ----------------------------------------------------

def pytest_addoption(parser):
    parser.addoption("--bootstrap", default=None, metavar="HOST:PORT",
                     help="run against this Kafka instead of starting sluice "
                          "(tests that restart or kill the broker are skipped)")
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow (or set SLUICE_SLOW=1)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long test; runs only with --runslow or SLUICE_SLOW=1")
    config.addinivalue_line("markers", "own_broker: needs a broker this harness starts "
                                       "(restart, kill, settings); skipped with --bootstrap")
    config.addinivalue_line("markers", "time_limit(seconds): per-test limit before scaling")
    config.addinivalue_line("markers", "long: takes 10 s or more; runs first, so that parallel "
                                       "workers do not wait on one long test at the end")


def pytest_collection_modifyitems(config, items):
    runslow = config.getoption("--runslow") or os.environ.get("SLUICE_SLOW") == "1"
    external = config.getoption("--bootstrap")
    skip_slow = pytest.mark.skip(reason="slow: use --runslow or SLUICE_SLOW=1")
    skip_own = pytest.mark.skip(reason="needs its own sluice broker; --bootstrap given")
    items.sort(key=lambda item: "long" not in item.keywords)  # stable: otherwise file order
    for item in items:
        if "slow" in item.keywords and not runslow:
            item.add_marker(skip_slow)
        if "own_broker" in item.keywords and external:
            item.add_marker(skip_own)


class TestTimeLimitExceeded(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("time_limit")
    limit = T(marker.args[0] if marker else TEST_TIME_LIMIT_S)

    def on_alarm(signum, frame):
        raise TestTimeLimitExceeded("test exceeded its time limit of %.0f s" % limit)
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" or rep.failed:
        setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        for b in getattr(item, "_sluice_brokers", []):
            tail = b.stderr_tail()
            if tail:
                rep.sections.append(("sluice stderr (%s, last %d lines)"
                                     % (b.stderr_path, STDERR_TAIL_LINES), tail))


# ---- the broker -------------------------------------------------------------------------------

class BrokerStartError(Exception):
    pass


class Broker:
    """A `sluice serve` process on 127.0.0.1:0 with its data dir in the test's tmp_path.

    bootstrap changes on every start (new ephemeral port): read it again after restart().
    """

    external = False

    def __init__(self, tmp_path, settings=None, name="broker", config_file=None, data_dir=None):
        self.tmp_path = str(tmp_path)
        self.name = name
        self.config_file = config_file
        self.data_dir = data_dir or os.path.join(self.tmp_path, name + "-data")
        self.ready_file = os.path.join(self.tmp_path, name + ".ready")
        self.stderr_path = os.path.join(self.tmp_path, name + ".stderr")
        self.settings = dict(settings or {})
        self.proc = None
        self.bootstrap = None
        self.listeners = {}
        self.starts = 0
        self.listen = "127.0.0.1:0"  # set to the old bootstrap to restart on the same port
        os.makedirs(self.data_dir, exist_ok=True)

    def command(self, listen=None):
        listen = listen or self.listen
        cmd = [sluice_bin(), "serve"]
        if self.config_file:
            cmd += ["--config", str(self.config_file)]
        cmd += ["--listen", listen, "--data", self.data_dir, "--ready-file", self.ready_file]
        for k, v in self.settings.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        return cmd

    def start(self, timeout_s=None):
        """Starts the process and waits for its ready file; raises BrokerStartError on exit or
        timeout (the process is killed then)."""
        if self.proc is not None:
            raise BrokerStartError("already running (pid %d)" % self.proc.pid)
        if not os.access(sluice_bin(), os.X_OK):
            raise BrokerStartError("no broker binary at %s (build it, or set SLUICE_BIN)"
                                   % sluice_bin())
        if os.path.exists(self.ready_file):
            os.unlink(self.ready_file)
        timeout_s = T(15) if timeout_s is None else timeout_s
        self.starts += 1
        with open(self.stderr_path, "ab") as err:
            err.write(("==== start %d: %s\n" % (self.starts, " ".join(self.command()))).encode())
            err.flush()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, cwd=self.tmp_path)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise BrokerStartError("broker exited with %d before it was ready:\n%s"
                                       % (rc, self.stderr_tail()))
            addr = self._read_ready()
            if addr:
                self.bootstrap = addr
                return self
            time.sleep(0.02)
        self._kill_and_reap()
        raise BrokerStartError("broker not ready within %.1f s:\n%s" % (timeout_s,
                                                                           self.stderr_tail()))

    def _read_ready(self):
        try:
            with open(self.ready_file) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        if not text.endswith("\n"):
            return None  # the file is written atomically; a partial read means a bug, retry
        # First line: HOST:PORT of the first listener; then NAME://HOST:PORT per listener
        # when there are several (or the first is not PLAINTEXT).
        lines = text.splitlines()
        addr = lines[0].strip()
        self.listeners = {}
        for line in lines[1:]:
            name, sep, hostport = line.strip().partition("://")
            if sep:
                self.listeners[name] = hostport
        host, _, port = addr.rpartition(":")
        if not host or not port.isdigit() or int(port) == 0:
            raise BrokerStartError("ready file holds %r, want HOST:PORT" % text)
        return addr

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s=None):
        """SIGTERM and wait; returns the exit code (kills with SIGKILL after the timeout and
        raises). No-op returning None when not running."""
        if self.proc is None:
            return None
        timeout_s = T(20) if timeout_s is None else timeout_s
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stacks = thread_stacks(proc.pid)
            self._kill_and_reap()
            raise AssertionError("broker pid %d ignored SIGTERM for %.1f s\n%s"
                                 % (proc.pid, timeout_s, stacks))
        self.proc = None
        self.bootstrap = None
        return rc

    def kill9(self):
        """SIGKILL and reap; returns immediately after the process is gone."""
        if self.proc is None:
            return
        self._kill_and_reap()

    def _kill_and_reap(self):
        proc = self.proc
        self.proc = None
        self.bootstrap = None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        try:
            proc.wait(timeout=T(10))
        except subprocess.TimeoutExpired:
            pass

    def restart(self, timeout_s=None):
        """Clean restart on the same data dir: SIGTERM (must exit 0), then start."""
        rc = self.stop()
        assert rc == 0, "broker exited with %r on SIGTERM" % rc
        return self.start(timeout_s)

    def close(self):
        """Teardown: stop (SIGTERM, then SIGKILL) without raising."""
        try:
            self.stop(timeout_s=T(10))
        except AssertionError:
            pass
        self._kill_and_reap()

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, lines=STDERR_TAIL_LINES):
        return "\n".join(self.stderr_text().splitlines()[-lines:])


class ExternalBroker:
    """A Kafka given with --bootstrap: never started, stopped or restarted by the tests."""

    external = True
    stderr_path = "(external)"

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.data_dir = None
        self.settings = {}

    def running(self):
        return True

    def stderr_tail(self, lines=STDERR_TAIL_LINES):
        return ""

    def close(self):
        pass

    def _unsupported(self, *a, **kw):
        pytest.skip("external broker: cannot start, stop, restart or kill it")

    start = stop = restart = kill9 = _unsupported


@pytest.fixture
def make_broker(request, tmp_path):
    """make_broker(settings=None, name="broker", required=True, start=True, config_file=None,
    data_dir=None) -> Broker (started unless start=False). Each name gets its own data dir,
    ready file and stderr file in tmp_path; all are stopped at teardown.

    With --bootstrap: returns the external broker, or skips the test when settings were
    given and required (the test depends on them)."""
    started = []
    request.node._sluice_brokers = started
    external = request.config.getoption("--bootstrap")

    def make(settings=None, name="broker", required=True, start=True, config_file=None,
             data_dir=None):
        if external:
            if (settings and required) or config_file or data_dir or not start:
                pytest.skip("needs its own broker with %s; --bootstrap given"
                            % (settings or config_file or data_dir or "control of it"))
            return ExternalBroker(external)
        b = Broker(tmp_path, settings, name, config_file=config_file, data_dir=data_dir)
        started.append(b)
        if start:
            b.start()
        return b
    yield make
    for b in started:
        b.close()


@pytest.fixture
def broker(make_broker):
    """A broker with the default settings."""
    return make_broker()


# ---- client helpers ---------------------------------------------------------------------------

def unique_topic(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


# AdminClient futures fail with _DESTROY once their client is freed, so a client made for a
# one-line call (admin_client(b).describe_configs(...)) is kept alive until the test ends. One
# client per bootstrap and settings is reused within a test: wait_for loops over
# topic_partitions once made a client every 0.1 s, and librdkafka 2.0.2 can hang in destroy
# (seen once under load: rdk:main spinning while the test thread waited on it).
_LIVE_ADMIN_CLIENTS = {}


@pytest.fixture(autouse=True)
def _release_admin_clients():
    yield
    _LIVE_ADMIN_CLIENTS.clear()


def admin_client(bootstrap, **extra):
    from confluent_kafka.admin import AdminClient
    key = (bootstrap, tuple(sorted((k, repr(v)) for k, v in extra.items())))
    adm = _LIVE_ADMIN_CLIENTS.get(key)
    if adm is None:
        conf = {"bootstrap.servers": bootstrap, "socket.timeout.ms": int(T(10) * 1000)}
        conf.update(extra)
        adm = _LIVE_ADMIN_CLIENTS[key] = AdminClient(conf)
    return adm


def producer(bootstrap, **extra):
    from confluent_kafka import Producer
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
            "message.timeout.ms": int(T(30) * 1000), "socket.timeout.ms": int(T(10) * 1000)}
    conf.update(extra)
    return Producer(conf)


def consumer(bootstrap, **extra):
    from confluent_kafka import Consumer
    conf = {"bootstrap.servers": bootstrap, "group.id": "sluice-tests-unused",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest", "socket.timeout.ms": int(T(10) * 1000),
            "api.version.request": True}
    conf.update(extra)
    return Consumer(conf)


def future_error_code(fut, timeout_s):
    """Waits for an admin future; returns None on success or the KafkaError code."""
    from confluent_kafka import KafkaException
    try:
        fut.result(timeout=timeout_s)
        return None
    except KafkaException as e:
        return e.args[0].code()


def thread_stacks(pid):
    """Every thread's stack of a running process (gdb), to tell where it hangs."""
    try:
        out = subprocess.run(["gdb", "-batch", "-nx", "-p", str(pid), "-ex",
                              "thread apply all bt 30"], capture_output=True, text=True,
                             timeout=T(60))
        return "threads of pid %d:\n%s" % (pid, out.stdout[-20000:])
    except (OSError, subprocess.TimeoutExpired) as e:
        return "no stacks of pid %d: %s" % (pid, e)


def cpu_seconds(pid):
    """User plus system CPU time of process pid so far (clock ticks, 10 ms here)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(pred, timeout_s, what, interval_s=0.1):
    """Polls pred() until truthy (returns its value) or fails after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # the condition may raise while the state settles
            last_exc = e
        time.sleep(interval_s)
    raise AssertionError("timed out after %.1f s waiting for %s%s"
                         % (timeout_s, what, " (last error: %r)" % last_exc if last_exc else ""))


def topic_partitions(bootstrap, topic, timeout_s=None):
    """Partition count of topic in metadata, or None when absent/in error."""
    md = admin_client(bootstrap).list_topics(topic=topic, timeout=timeout_s or T(10))
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return len(t.partitions)


def create_topic(bootstrap, topic, partitions=1, config=None, timeout_s=None):
    """Creates topic through AdminClient and waits until metadata shows all its partitions."""
    from confluent_kafka.admin import NewTopic
    timeout_s = timeout_s or T(20)
    adm = admin_client(bootstrap)
    futs = adm.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                       config=dict(config or {}))],
                             request_timeout=timeout_s)
    futs[topic].result(timeout=timeout_s)
    wait_for(lambda: topic_partitions(bootstrap, topic) == partitions, timeout_s,
             "topic %s with %d partitions in metadata" % (topic, partitions))
    return topic


def produce_all(prod, topic, records, timeout_s=None, partition=None):
    """records: list of dicts with value, and optional key, headers, timestamp, partition.
    Produces them in order, flushes, and returns the delivered messages in the same order
    (fails on any delivery error)."""
    timeout_s = timeout_s or T(60)
    delivered = [None] * len(records)

    def cb_for(i):
        def cb(err, msg):
            delivered[i] = (err, msg)
        return cb
    for i, r in enumerate(records):
        kw = {k: r[k] for k in ("key", "headers", "timestamp") if k in r}
        p = r.get("partition", partition)
        if p is not None:
            kw["partition"] = p
        for _ in range(1000):
            try:
                prod.produce(topic, r.get("value"), on_delivery=cb_for(i), **kw)
                break
            except BufferError:
                prod.poll(0.05)
        else:
            raise AssertionError("producer queue stayed full")
    left = prod.flush(timeout_s)
    assert left == 0, "%d messages not delivered within %.1f s" % (left, timeout_s)
    errors = [(i, d[0]) for i, d in enumerate(delivered) if d is None or d[0] is not None]
    assert not errors, "delivery failed for %d records, first: %r" % (len(errors), errors[:3])
    return [d[1] for d in delivered]


def consume_range(cons, want, timeout_s=None):
    """Polls until `want` messages arrived or timeout; returns them (fails on message errors
    other than partition EOF)."""
    from confluent_kafka import KafkaError
    timeout_s = timeout_s or T(30)
    out = []
    deadline = time.monotonic() + timeout_s
    while len(out) < want and time.monotonic() < deadline:
        msgs = cons.consume(num_messages=min(10000, want - len(out)), timeout=0.5)
        for m in msgs:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError("consumer error: %s" % m.error())
            out.append(m)
    return out


def read_partition(bootstrap, topic, partition, count, timeout_s=None, **extra):
    """Reads `count` messages of one partition from the beginning with manual assign."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition
    c = consumer(bootstrap, **extra)
    try:
        c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        return consume_range(c, count, timeout_s)
    finally:
        c.close()


def stored_codecs(broker, topic, partition=0):
    """The codec (attributes & 7) of every batch in the partition's segment files, as stored."""
    codecs = []
    for path in sorted(glob.glob(os.path.join(broker.data_dir, "topics", topic, str(partition),
                                              "*.log"))):
        try:
            data = open(path, "rb").read()
        except FileNotFoundError:  # a cleaner swapped the segment meanwhile
            continue
        pos = 0
        while pos + 61 <= len(data):
            length = struct.unpack(">i", data[pos + 8:pos + 12])[0]
            if length <= 0:  # the zeroed space after the active segment's last batch
                break
            codecs.append(struct.unpack(">h", data[pos + 21:pos + 23])[0] & 7)
            pos += 12 + length
    return codecs


def watermarks(bootstrap, topic, partition, timeout_s=None):
    from confluent_kafka import TopicPartition
    c = consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition),
                                       timeout=timeout_s or T(10), cached=False)
    finally:
        c.close()


def run_tool(args, timeout_s, input_bytes=None, check=True):
    """Runs a command-line tool with a bounded time; returns CompletedProcess (text)."""
    p = subprocess.run(args, input=input_bytes, capture_output=True, timeout=timeout_s)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(args), p.returncode, p.stdout.decode(errors="replace"),
                                p.stderr.decode(errors="replace")))
    return p
