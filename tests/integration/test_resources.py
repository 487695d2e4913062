"""Resources a broker shares with its machine: file descriptors (the soft limit raised at
start, a bounded cache of segments' fds that idle partitions' active segments join too, an
accept loop that backs off and refuses politely when none is left), disk space (produce refused under log.disk.reserve.bytes, a
partition taken offline by a full disk coming back by itself once space returns) and the
modes of what it creates (0700 dirs, 0600 files unless log.dir.mode says otherwise).

Limits on descriptors are set with prlimit(1) on the broker process alone. The full-disk
tests mount a small tmpfs and run only as root (skipped elsewhere, with the reason)."""

import os
import shutil
import stat
import subprocess
import time

import pytest

import kwire
from conftest import Broker, T, consumer, cpu_seconds, consume_range, unique_topic, wait_for

ERR_KAFKA_STORAGE_ERROR = 56

pytestmark = pytest.mark.own_broker


class LimitedBroker(Broker):
    """A broker started under prlimit --nofile=soft:hard (prlimit execs it: same pid)."""

    def __init__(self, tmp_path, nofile, settings=None, data_dir=None):
        super().__init__(tmp_path, settings, data_dir=data_dir)
        self.nofile = nofile

    def command(self, listen=None):
        prlimit = shutil.which("prlimit")
        if not prlimit:
            pytest.skip("prlimit (util-linux) is not installed")
        return [prlimit, "--nofile=%d:%d" % self.nofile, "--"] + super().command(listen)


@pytest.fixture
def limited_broker(request, tmp_path):
    started = []

    def make(nofile, settings=None, data_dir=None):
        b = LimitedBroker(tmp_path, nofile, settings, data_dir=data_dir)
        started.append(b)
        request.node._sluice_brokers = started
        return b.start()
    yield make
    for b in started:
        b.close()


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def nofile_limits(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open files line in /proc/%d/limits" % pid)


def batch(i, size):
    value = (b"%08d:" % i) + b"v" * (size - 9)
    return kwire.record_batch_v2([(b"k%d" % i, value)])


def produce(conn, topic, i, size=600):
    cid = conn.cid()
    req = kwire.produce_v3_request(topic, 0, batch(i, size), cid, timeout_ms=int(T(10) * 1000))
    return kwire.parse_produce_v3(conn.call(req, cid))[(topic, 0)]


def create(b, topic, **cfg):
    from conftest import create_topic
    create_topic(b.bootstrap, topic, 1, config=cfg or None)


def read_values(bootstrap, topic, count):
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition
    c = consumer(bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        return consume_range(c, count, T(30))
    finally:
        c.close()


# ---- file descriptors ------------------------------------------------------------------------

def test_start_up_raises_the_soft_open_files_limit_to_the_hard_limit(limited_broker):
    b = limited_broker((256, 4096))
    assert nofile_limits(b.pid) == (4096, 4096)
    assert "open files limit 4096 (soft limit was 256)" in b.stderr_text()


def test_many_segments_stay_within_a_low_open_files_limit(limited_broker):
    """300 segments under a limit of 128 descriptors: closed segments leave the fd cache, so
    every produce succeeds and every record reads back (before: the partition went offline
    with 'Too many open files')."""
    b = limited_broker((128, 128), {"log.segment.fd.cache.max": "16"})
    topic = unique_topic()
    create(b, topic, **{"segment.bytes": "1024"})
    n = 300
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        for i in range(n):
            resp = produce(conn, topic, i)
            assert resp["error_code"] == 0, "record %d: %r\n%s" % (i, resp, b.stderr_tail())
            assert resp["base_offset"] == i
    segs = [f for f in os.listdir(os.path.join(b.data_dir, "topics", topic, "0"))
            if f.endswith(".log")]
    assert len(segs) >= n - 1
    assert open_fds(b.pid) < 100
    msgs = read_values(b.bootstrap, topic, n)
    assert [m.offset() for m in msgs] == list(range(n))
    assert [int(m.value()[:8]) for m in msgs] == list(range(n))
    assert open_fds(b.pid) < 100
    assert "Too many open files" not in b.stderr_text()


def produce_to_every_partition(bootstrap, topic, nparts, round_):
    from conftest import produce_all, producer
    prod = producer(bootstrap)
    recs = [{"value": b"%d:%d" % (round_, p), "partition": p} for p in range(nparts)]
    msgs = produce_all(prod, topic, recs, T(120))
    assert [m.partition() for m in msgs] == list(range(nparts))
    assert all(m.offset() == round_ for m in msgs)


def values_of_every_partition(bootstrap, topic, nparts, want):
    """Reads every partition from its start; returns {partition: [values]}."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition
    c = consumer(bootstrap)
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(nparts)])
        msgs = consume_range(c, want, T(120))
    finally:
        c.close()
    got = {}
    for m in msgs:
        got.setdefault(m.partition(), []).append(m.value())
    return got


def test_a_topic_with_four_times_more_partitions_than_descriptors_serves_and_restarts(
        limited_broker):
    """1,024 partitions under a limit of 256 descriptors (soft and hard): the active segments
    of idle partitions leave the fd cache (log.segment.fd.cache.max, bounded to half the
    limit) once synced, so creating the topic, a produce to and a fetch from every partition,
    a clean restart and a start after kill -9 all succeed within the limit (before: each
    partition held its active segment open, and opening the 250th or so failed with 'Too
    many open files')."""
    b = limited_broker((256, 256))
    from conftest import create_topic
    topic = unique_topic()
    n = 1024
    create_topic(b.bootstrap, topic, n, timeout_s=T(120))
    produce_to_every_partition(b.bootstrap, topic, n, 0)
    assert values_of_every_partition(b.bootstrap, topic, n, n) == \
        {p: [b"0:%d" % p] for p in range(n)}
    fds = open_fds(b.pid)
    b.restart(T(120))
    produce_to_every_partition(b.bootstrap, topic, n, 1)
    b.kill9()
    b.start(T(120))
    assert values_of_every_partition(b.bootstrap, topic, n, 2 * n) == \
        {p: [b"0:%d" % p, b"1:%d" % p] for p in range(n)}
    print("open fds %d after the first round, %d at the end (limit 256)" % (fds, open_fds(b.pid)))
    assert open_fds(b.pid) < 256
    assert "Too many open files" not in b.stderr_text(), b.stderr_tail()


def test_out_of_descriptors_the_listener_pauses_and_refuses_politely(limited_broker):
    """Connections past the descriptor limit: the accept loop does not spin (it pauses, logged
    once per episode) and waiting clients are closed rather than left hanging; once
    descriptors are free the broker accepts again."""
    b = limited_broker((64, 64))
    socks = []
    try:
        for _ in range(120):
            socks.append(kwire.Conn(b.bootstrap, T(5)))
        time.sleep(0.5)
        cpu0 = cpu_seconds(b.pid)
        time.sleep(2.0)
        cpu = cpu_seconds(b.pid) - cpu0
        assert cpu < 0.2 * T(1), "the broker used %.2f s of CPU in 2 s" % cpu
        text = b.stderr_text()
        print("broker CPU %.2f s in 2 s; %d accept lines"
              % (cpu, text.count("accept: Too many open files")))
        assert 1 <= text.count("accept: Too many open files") <= 5, b.stderr_tail()
        refused = sum(1 for s in socks[60:] if s.wait_closed(0.05))
        assert refused > 0, "no waiting connection was refused"
    finally:
        for s in socks:
            s.close()
    def accepts():
        try:
            kwire.api_versions(b.bootstrap, 0, T(2))
            return True
        except (OSError, kwire.Closed, kwire.WireError):
            return False
    wait_for(accepts, T(10), "the broker accepting again")
    wait_for(lambda: "accepting connections again" in b.stderr_text(), T(5), "the log line")


# ---- modes -----------------------------------------------------------------------------------

def modes_under(root):
    dirs, files = set(), set()
    for d, subdirs, names in os.walk(root):
        dirs.add(stat.S_IMODE(os.stat(d).st_mode))
        for n in names:
            p = os.path.join(d, n)
            if not os.path.islink(p):
                files.add(stat.S_IMODE(os.stat(p).st_mode))
    return dirs, files


@pytest.mark.parametrize("mode, want_dir, want_file", [(None, 0o700, 0o600),
                                                         ("0750", 0o750, 0o640)])
def test_data_dir_and_files_are_private_unless_log_dir_mode_says_otherwise(
        make_broker, tmp_path, mode, want_dir, want_file):
    old = os.umask(0o022)
    try:
        data = os.path.join(str(tmp_path), "fresh", "data")  # created by the broker
        b = make_broker({"log.dir.mode": mode} if mode else None, data_dir=data, start=False)
        os.rmdir(data)
        os.rmdir(os.path.dirname(data))
        b.start()
    finally:
        os.umask(old)
    topic = unique_topic()
    create(b, topic, **{"segment.bytes": "1024"})
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        for i in range(5):
            assert produce(conn, topic, i)["error_code"] == 0
    assert b.stop() == 0
    dirs, files = modes_under(data)
    assert dirs == {want_dir}, dirs
    assert files == {want_file}, files
    assert stat.S_IMODE(os.stat(os.path.dirname(data)).st_mode) == want_dir


def test_log_dir_mode_must_leave_the_broker_its_own_access(make_broker):
    b = make_broker({"log.dir.mode": "0644"}, start=False)
    with pytest.raises(Exception) as e:
        b.start()
    assert "log.dir.mode" in str(e.value)


# ---- disk space ------------------------------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """A 64 MiB tmpfs mounted for the test (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mnt = os.path.join(str(tmp_path), "mnt")
    os.makedirs(mnt)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt],
                       capture_output=True, timeout=30)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % p.stderr.decode(errors="replace").strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30)


def fill(path, leave_bytes):
    """Writes a filler file until about leave_bytes are free on path's filesystem."""
    st = os.statvfs(os.path.dirname(path))
    free = st.f_bavail * st.f_frsize
    size = max(free - leave_bytes, 0)
    with open(path, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            try:
                f.write(chunk[:min(size, len(chunk))])
            except OSError:
                break
            size -= min(size, len(chunk))
    return path


def produce_until_error(conn, topic, first, size, limit):
    acked = []
    for i in range(first, first + limit):
        resp = produce(conn, topic, i, size)
        if resp["error_code"] != 0:
            return acked, resp
        acked.append((resp["base_offset"], i))
    raise AssertionError("produce never failed after %d records" % limit)


def check_contiguous(bootstrap, topic, acked):
    msgs = read_values(bootstrap, topic, len(acked))
    assert [m.offset() for m in msgs] == list(range(len(acked)))
    assert [(m.offset(), int(m.value()[:8])) for m in msgs] == acked


@pytest.mark.time_limit(120)
def test_a_full_disk_takes_a_partition_offline_until_space_returns(make_broker, small_fs):
    """With no reserve the write fails with ENOSPC and the partition goes offline; reads go
    on; once the filler is deleted the partition comes back by itself (no restart) and every
    acknowledged record reads back contiguous."""
    data = os.path.join(small_fs, "data")
    b = make_broker({"log.disk.reserve.bytes": "0", "log.segment.bytes": str(4 << 20)},
                    data_dir=data)
    topic = unique_topic()
    create(b, topic)
    filler = fill(os.path.join(small_fs, "filler"), 6 << 20)
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        acked, resp = produce_until_error(conn, topic, 0, 100000, 1000)
        assert resp["error_code"] == ERR_KAFKA_STORAGE_ERROR, resp
        assert acked, "nothing was acknowledged before the disk filled"
        assert produce(conn, topic, 99999, 10)["error_code"] == ERR_KAFKA_STORAGE_ERROR
    assert "the partition is offline" in b.stderr_text()
    check_contiguous(b.bootstrap, topic, acked)  # reads work while offline
    os.unlink(filler)
    t0 = time.monotonic()
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        def resumed():
            resp = produce(conn, topic, len(acked), 100)
            if resp["error_code"] == 0:
                acked.append((resp["base_offset"], len(acked)))
                return True
            return False
        wait_for(resumed, T(10), "produce succeeding again", interval_s=0.2)
        took = time.monotonic() - t0
        for i in range(len(acked), len(acked) + 20):
            resp = produce(conn, topic, i, 1000)
            assert resp["error_code"] == 0, resp
            acked.append((resp["base_offset"], i))
    assert "back online" in b.stderr_text()
    check_contiguous(b.bootstrap, topic, acked)
    print("resumed %.1f s after space returned; %d records acknowledged" % (took, len(acked)))
    assert b.restart()
    check_contiguous(b.bootstrap, topic, acked)


@pytest.mark.time_limit(120)
def test_produce_is_refused_under_the_disk_reserve_and_accepted_once_space_returns(
        make_broker, small_fs):
    """Under log.disk.reserve.bytes produce gets KAFKA_STORAGE_ERROR before any write fails:
    the partition never goes offline, state files still have room, and produce is accepted
    again as soon as space returns."""
    data = os.path.join(small_fs, "data")
    b = make_broker({"log.disk.reserve.bytes": str(16 << 20)}, data_dir=data)
    topic = unique_topic()
    create(b, topic)
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        acked = []
        for i in range(10):
            resp = produce(conn, topic, i, 1000)
            assert resp["error_code"] == 0, resp
            acked.append((resp["base_offset"], i))
        filler = fill(os.path.join(small_fs, "filler"), 20 << 20)
        more, resp = produce_until_error(conn, topic, len(acked), 100000, 1000)
        acked += more
        assert resp["error_code"] == ERR_KAFKA_STORAGE_ERROR, resp
        st = os.statvfs(small_fs)
        assert st.f_bavail * st.f_frsize > (8 << 20), "the reserve was written into"
        assert "the partition is offline" not in b.stderr_text()
        assert "under log.disk.reserve.bytes" in b.stderr_text()
        os.unlink(filler)
        t0 = time.monotonic()

        def accepted():
            resp = produce(conn, topic, len(acked), 100)
            if resp["error_code"] == 0:
                acked.append((resp["base_offset"], len(acked)))
                return True
            return False
        wait_for(accepted, T(5), "produce accepted again", interval_s=0.05)
        assert time.monotonic() - t0 < T(2)
    check_contiguous(b.bootstrap, topic, acked)
