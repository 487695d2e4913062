"""Minimal Kafka wire encoding for tests that must send bytes no real client would send.

Covers what the raw-socket tests need and nothing more: CRC32C (pure Python), magic v2 record
batches, request headers v1/v2, ApiVersions v0/v3, Metadata v0, Produce v3,
IncrementalAlterConfigs v0, DeleteRecords v0-2 (the installed confluent-kafka 1.7 has neither
incremental_alter_configs nor delete_records, kafka-python 2.0 no DeleteRecords), and the leader
epoch, cluster-describing and transaction-listing APIs no installed client sends
(OffsetForLeaderEpoch, ListOffsets v4, Fetch v11-12, DescribeCluster, DescribeLogDirs,
DescribeTopicPartitions, ElectLeaders, ListTransactions, DescribeTransactions,
DescribeUserScramCredentials, AlterUserScramCredentials).
Layouts follow the Kafka protocol guide (kafka.apache.org/protocol) and the JSON message schemas
in shared/kafka-protocol/.
"""

import socket
import struct
import time

# ---- Kafka API keys and error codes used by the tests --------------------------------------

API_PRODUCE = 0
API_METADATA = 3
API_API_VERSIONS = 18
API_INCREMENTAL_ALTER_CONFIGS = 44
API_DELETE_RECORDS = 21
API_INIT_PRODUCER_ID = 22
API_DESCRIBE_PRODUCERS = 61
API_ADD_PARTITIONS_TO_TXN = 24
API_ADD_OFFSETS_TO_TXN = 25
API_END_TXN = 26
ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20

ERR_NONE = 0
ERR_OFFSET_OUT_OF_RANGE = 1
ERR_CORRUPT_MESSAGE = 2
ERR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERR_INVALID_TOPIC_EXCEPTION = 17
ERR_UNSUPPORTED_VERSION = 35
ERR_INVALID_CONFIG = 40
ERR_POLICY_VIOLATION = 44
ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45
ERR_INVALID_PRODUCER_EPOCH = 47
ERR_INVALID_TXN_STATE = 48
ERR_INVALID_PRODUCER_ID_MAPPING = 49
ERR_INVALID_TRANSACTION_TIMEOUT = 50
ERR_CONCURRENT_TRANSACTIONS = 51
ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
ERR_PRODUCER_FENCED = 90

RESOURCE_TOPIC = 2
OP_SET = 0
OP_DELETE = 1
OP_APPEND = 2
OP_SUBTRACT = 3


# ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) ----------------------------------

def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    """CRC32C of data (bytes), continuing from crc; crc32c(b"123456789") == 0xE3069283."""
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---- primitive encoders ----------------------------------------------------------------------

def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def uvarint(v):
    if v < 0:
        raise ValueError("uvarint of a negative number")
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v):
    """Zigzag varint (record fields): works for 32- and 64-bit values alike."""
    return uvarint((v << 1) ^ (v >> 63))


def string(s):
    """STRING / NULLABLE_STRING (None -> length -1)."""
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


def nbytes(b):
    """BYTES / NULLABLE_BYTES with an int32 length (None -> -1)."""
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items, enc):
    return i32(len(items)) + b"".join(enc(x) for x in items)


# ---- bounds-checked reader -------------------------------------------------------------------

class WireError(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise WireError("truncated: want %d bytes at %d of %d" % (n, self.pos, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        v, shift = 0, 0
        for _ in range(10):
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
        raise WireError("varint too long")

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def array(self, dec):
        n = self.i32()
        if n < 0:
            return None
        if n > len(self.data) - self.pos:
            raise WireError("array count %d exceeds remaining bytes" % n)
        return [dec(self) for _ in range(n)]

    def compact_array(self, dec):
        n = self.uvarint()
        if n == 0:
            return None
        if n - 1 > len(self.data) - self.pos:
            raise WireError("array count %d exceeds remaining bytes" % (n - 1))
        return [dec(self) for _ in range(n - 1)]

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def remaining(self):
        return len(self.data) - self.pos


# ---- record batch v2 -------------------------------------------------------------------------

def record_v2(offset_delta, key, value, headers=(), timestamp_delta=0):
    body = (i8(0) + varint(timestamp_delta) + varint(offset_delta)
            + (varint(-1) if key is None else varint(len(key)) + key)
            + (varint(-1) if value is None else varint(len(value)) + value)
            + varint(len(headers)))
    for hk, hv in headers:
        hkb = hk.encode()
        body += varint(len(hkb)) + hkb
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + body


def record_batch_v2(records, base_timestamp_ms=None, corrupt_crc=False, producer_id=-1,
                    producer_epoch=-1, base_sequence=-1, attributes=0):
    """records: list of (key bytes|None, value bytes|None). Uncompressed; no producer id unless
    given (an idempotent producer's id, epoch and first sequence).
    corrupt_crc=True stores a CRC that does not match (the content itself is intact)."""
    if base_timestamp_ms is None:
        base_timestamp_ms = int(time.time() * 1000)
    recs = b"".join(record_v2(i, k, v) for i, (k, v) in enumerate(records))
    after_crc = (i16(attributes)                   # 0: no compression, CreateTime
                 + i32(len(records) - 1)           # lastOffsetDelta
                 + i64(base_timestamp_ms)          # baseTimestamp
                 + i64(base_timestamp_ms)          # maxTimestamp
                 + i64(producer_id) + i16(producer_epoch) + i32(base_sequence)
                 + i32(len(records)) + recs)
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0x5A5A5A5A
    after_len = i32(0) + i8(2) + struct.pack(">I", crc) + after_crc  # leaderEpoch, magic, crc
    return i64(0) + i32(len(after_len)) + after_len


# ---- requests --------------------------------------------------------------------------------

CLIENT_ID = "sluice-kwire"


def request_header_v1(api_key, api_version, correlation_id, client_id=CLIENT_ID):
    return i16(api_key) + i16(api_version) + i32(correlation_id) + string(client_id)


def request_header_v2(api_key, api_version, correlation_id, client_id=CLIENT_ID):
    return request_header_v1(api_key, api_version, correlation_id, client_id) + uvarint(0)


def frame(payload):
    return i32(len(payload)) + payload


def api_versions_request(version, correlation_id):
    if version >= 3:
        body = compact_string("sluice-tests") + compact_string("1.0") + uvarint(0)
        return frame(request_header_v2(API_API_VERSIONS, version, correlation_id) + body)
    return frame(request_header_v1(API_API_VERSIONS, version, correlation_id))


def metadata_v0_request(topics, correlation_id):
    """Metadata v0: an empty list asks for every topic; v0 auto-creates when the broker allows."""
    return frame(request_header_v1(API_METADATA, 0, correlation_id) + array(topics, string))


def produce_v3_request(topic, partition, batch, correlation_id, acks=-1, timeout_ms=10000,
                       transactional_id=None):
    part = i32(partition) + nbytes(batch)
    topic_data = string(topic) + array([part], lambda x: x)
    body = string(transactional_id) + i16(acks) + i32(timeout_ms) + array([topic_data], lambda x: x)
    return frame(request_header_v1(API_PRODUCE, 3, correlation_id) + body)


def init_producer_id_request(version, correlation_id, transactional_id=None,
                             transaction_timeout_ms=60000, producer_id=-1, producer_epoch=-1):
    """InitProducerId v0-4 (flexible from v2; producer id and epoch from v3)."""
    if version >= 2:
        body = compact_string(transactional_id) + i32(transaction_timeout_ms)
        if version >= 3:
            body += i64(producer_id) + i16(producer_epoch)
        body += uvarint(0)
        return frame(request_header_v2(API_INIT_PRODUCER_ID, version, correlation_id) + body)
    body = string(transactional_id) + i32(transaction_timeout_ms)
    return frame(request_header_v1(API_INIT_PRODUCER_ID, version, correlation_id) + body)


def parse_init_producer_id(payload, version):
    """Returns {"error_code", "producer_id", "producer_epoch"}."""
    r = Reader(payload)
    if version >= 2:
        r.skip_tags()  # response header v1
    r.i32()  # throttle_time_ms
    out = {"error_code": r.i16(), "producer_id": r.i64(), "producer_epoch": r.i16()}
    if version >= 2:
        r.skip_tags()
    if r.remaining():
        raise WireError("%d bytes left after InitProducerId v%d" % (r.remaining(), version))
    return out


def compact_array(items, enc):
    return uvarint(len(items) + 1) + b"".join(enc(x) for x in items)


def _txn_header(api_key, version, flex_from, correlation_id):
    flex = version >= flex_from
    hdr = (request_header_v2 if flex else request_header_v1)(api_key, version, correlation_id)
    return flex, hdr


def add_partitions_to_txn_request(version, correlation_id, tid, pid, epoch, partitions_by_topic):
    """AddPartitionsToTxn v0-3 (flexible from v3)."""
    flex, hdr = _txn_header(API_ADD_PARTITIONS_TO_TXN, version, 3, correlation_id)
    st, arr = (compact_string, compact_array) if flex else (string, array)
    tag = uvarint(0) if flex else b""
    topics = [st(t) + arr(ps, i32) + tag for t, ps in sorted(partitions_by_topic.items())]
    body = st(tid) + i64(pid) + i16(epoch) + arr(topics, lambda x: x) + tag
    return frame(hdr + body)


def delete_records_request(version, correlation_id, offsets, timeout_ms=10000):
    """DeleteRecords v0-2 (flexible from v2): offsets {(topic, partition): offset}."""
    flex, hdr = _txn_header(API_DELETE_RECORDS, version, 2, correlation_id)
    st, arr = (compact_string, compact_array) if flex else (string, array)
    tag = uvarint(0) if flex else b""
    by_topic = {}
    for (t, p), off in offsets.items():
        by_topic.setdefault(t, []).append((p, off))
    topics = [st(t) + arr(ps, lambda x: i32(x[0]) + i64(x[1]) + tag) + tag
              for t, ps in sorted(by_topic.items())]
    return frame(hdr + arr(topics, lambda x: x) + i32(timeout_ms) + tag)


def _topic_partition_results(r, flex, dec_part):
    """Reads a response's [topic [partition ...]] array: {(topic, partition): dec_part(reader)},
    dec_part reading what follows the partition index (the tagged fields after it are skipped
    when flex)."""
    out = {}

    def dec_topic(rr):
        name = rr.compact_string() if flex else rr.string()

        def dec(x):
            part = x.i32()  # read in wire order: a dict display is evaluated before its key
            out[(name, part)] = dec_part(x)
            if flex:
                x.skip_tags()
        (rr.compact_array if flex else rr.array)(dec)
        if flex:
            rr.skip_tags()
    (r.compact_array if flex else r.array)(dec_topic)
    return out


def parse_delete_records(payload, version):
    """Returns {(topic, partition): (error_code, low_watermark)}."""
    flex = version >= 2
    r = Reader(payload)
    if flex:
        r.skip_tags()
    r.i32()  # throttle_time_ms

    def dec_part(x):
        low = x.i64()
        return (x.i16(), low)
    out = _topic_partition_results(r, flex, dec_part)
    if flex:
        r.skip_tags()
    if r.remaining():
        raise WireError("%d bytes left after DeleteRecords v%d" % (r.remaining(), version))
    return out


def parse_add_partitions_to_txn(payload, version):
    """Returns {(topic, partition): error_code}."""
    flex = version >= 3
    r = Reader(payload)
    if flex:
        r.skip_tags()
    r.i32()  # throttle_time_ms
    return _topic_partition_results(r, flex, lambda x: x.i16())


def end_txn_request(version, correlation_id, tid, pid, epoch, commit):
    """EndTxn v0-3 (flexible from v3)."""
    flex, hdr = _txn_header(API_END_TXN, version, 3, correlation_id)
    body = ((compact_string if flex else string)(tid) + i64(pid) + i16(epoch)
            + i8(1 if commit else 0) + (uvarint(0) if flex else b""))
    return frame(hdr + body)


def add_offsets_to_txn_request(version, correlation_id, tid, pid, epoch, group):
    """AddOffsetsToTxn v0-3 (flexible from v3)."""
    flex, hdr = _txn_header(API_ADD_OFFSETS_TO_TXN, version, 3, correlation_id)
    st = compact_string if flex else string
    body = st(tid) + i64(pid) + i16(epoch) + st(group) + (uvarint(0) if flex else b"")
    return frame(hdr + body)


def parse_error_only(payload, version, flex_from=3):
    """EndTxn / AddOffsetsToTxn: the error code after throttle_time_ms."""
    r = Reader(payload)
    if version >= flex_from:
        r.skip_tags()
    r.i32()
    return r.i16()


def describe_producers_v0_request(partitions_by_topic, correlation_id):
    """DescribeProducers v0 (flexible): {topic: [partition, ...]}."""
    def enc_topic(item):
        name, parts = item
        return compact_string(name) + compact_array(parts, i32) + uvarint(0)
    body = compact_array(list(partitions_by_topic.items()), enc_topic) + uvarint(0)
    return frame(request_header_v2(API_DESCRIBE_PRODUCERS, 0, correlation_id) + body)


def parse_describe_producers_v0(payload):
    """Returns {(topic, partition): {"error_code", "producers": [dict per producer]}}."""
    r = Reader(payload)
    r.skip_tags()  # response header v1
    r.i32()        # throttle_time_ms

    def dec_producer(x):
        p = {"producer_id": x.i64(), "producer_epoch": x.i32(), "last_sequence": x.i32(),
             "last_timestamp": x.i64(), "coordinator_epoch": x.i32(),
             "current_txn_start_offset": x.i64()}
        x.skip_tags()
        return p

    def dec_part(x):
        err = x.i16()
        x.compact_string()  # error_message
        return {"error_code": err, "producers": x.compact_array(dec_producer)}
    out = _topic_partition_results(r, True, dec_part)
    r.skip_tags()
    return out


def incremental_alter_configs_v0_request(resources, correlation_id, validate_only=False):
    """resources: list of (resource_type, name, [(config_name, op, value|None), ...])."""
    def enc_cfg(c):
        return string(c[0]) + i8(c[1]) + string(c[2])

    def enc_res(r):
        return i8(r[0]) + string(r[1]) + array(r[2], enc_cfg)
    body = array(resources, enc_res) + i8(1 if validate_only else 0)
    return frame(request_header_v1(API_INCREMENTAL_ALTER_CONFIGS, 0, correlation_id) + body)


# ---- responses (payloads exclude the correlation id) -----------------------------------------

def parse_api_versions(payload, version):
    """ApiVersions responses always use header v0. A broker answers an unsupported version in
    the v0 format, so parse those with version=0."""
    r = Reader(payload)
    err = r.i16()
    if version >= 3:
        def dec(rr):
            k, lo, hi = rr.i16(), rr.i16(), rr.i16()
            rr.skip_tags()
            return (k, lo, hi)
        apis = r.compact_array(dec)
        throttle = r.i32()
        r.skip_tags()
    else:
        apis = r.array(lambda rr: (rr.i16(), rr.i16(), rr.i16()))
        throttle = r.i32() if version >= 1 else 0
    return {"error_code": err, "apis": {k: (lo, hi) for k, lo, hi in apis or []},
            "throttle_time_ms": throttle, "trailing_bytes": r.remaining()}


def parse_metadata_v0(payload):
    r = Reader(payload)
    brokers = r.array(lambda rr: {"node_id": rr.i32(), "host": rr.string(), "port": rr.i32()})

    def dec_part(rr):
        return {"error_code": rr.i16(), "partition": rr.i32(), "leader": rr.i32(),
                "replicas": rr.array(lambda x: x.i32()), "isr": rr.array(lambda x: x.i32())}

    def dec_topic(rr):
        return {"error_code": rr.i16(), "name": rr.string(), "partitions": rr.array(dec_part)}
    topics = r.array(dec_topic)
    return {"brokers": brokers, "topics": {t["name"]: t for t in topics}}


def parse_produce_v3(payload):
    """Returns {(topic, partition): {"error_code", "base_offset", "log_append_time_ms"}}."""
    r = Reader(payload)
    out = _topic_partition_results(r, False, lambda x: {
        "error_code": x.i16(), "base_offset": x.i64(), "log_append_time_ms": x.i64()})
    r.i32()  # throttle_time_ms
    return out


def parse_incremental_alter_configs_v0(payload):
    """Returns {(resource_type, name): (error_code, error_message)}."""
    r = Reader(payload)
    r.i32()  # throttle_time_ms
    out = {}

    def dec(rr):
        err, msg, rtype, name = rr.i16(), rr.string(), rr.i8(), rr.string()
        out[(rtype, name)] = (err, msg)
    r.array(dec)
    return out


# ---- connection ------------------------------------------------------------------------------

class Closed(Exception):
    """The peer closed the connection."""


FRAME_BYTES_MAX = 64 * 1024 * 1024  # largest response a test accepts


class Conn:
    """One blocking TCP connection; every operation is bounded by timeout_s."""

    def __init__(self, bootstrap, timeout_s):
        host, port = bootstrap.rsplit(":", 1)
        self.timeout_s = timeout_s
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.next_cid = 1

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def cid(self):
        c = self.next_cid
        self.next_cid += 1
        return c

    def send(self, data):
        self.sock.settimeout(self.timeout_s)
        self.sock.sendall(data)

    def _recv_exact(self, n, deadline):
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out reading %d bytes (got %d)" % (n, len(buf)))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            except ConnectionResetError:
                raise Closed("connection reset by peer")
            if not chunk:
                raise Closed("peer closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv_frame(self):
        """Returns (correlation_id, payload after the correlation id)."""
        deadline = time.monotonic() + self.timeout_s
        (n,) = struct.unpack(">i", self._recv_exact(4, deadline))
        if n < 4 or n > FRAME_BYTES_MAX:
            raise WireError("bad response frame length %d" % n)
        data = self._recv_exact(n, deadline)
        return struct.unpack(">i", data[:4])[0], data[4:]

    def call(self, request_bytes, correlation_id):
        """Sends one request and returns the payload of its response (header v0)."""
        self.send(request_bytes)
        cid, payload = self.recv_frame()
        if cid != correlation_id:
            raise WireError("correlation id %d, expected %d" % (cid, correlation_id))
        return payload

    def wait_closed(self, timeout_s):
        """True if the peer closes (EOF or reset) within timeout_s, discarding what it sends."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True


def api_versions(bootstrap, version, timeout_s):
    """One ApiVersions round trip on a fresh connection; returns the parsed response."""
    with Conn(bootstrap, timeout_s) as conn:
        cid = conn.cid()
        return parse_api_versions(conn.call(api_versions_request(version, cid), cid), version)


def metadata_v0(bootstrap, topics, timeout_s):
    with Conn(bootstrap, timeout_s) as conn:
        cid = conn.cid()
        return parse_metadata_v0(conn.call(metadata_v0_request(topics, cid), cid))


def produce_v3(bootstrap, topic, partition, batch, timeout_s, acks=-1, transactional_id=None):
    with Conn(bootstrap, timeout_s) as conn:
        cid = conn.cid()
        req = produce_v3_request(topic, partition, batch, cid, acks=acks,
                                 timeout_ms=int(timeout_s * 1000),
                                 transactional_id=transactional_id)
        return parse_produce_v3(conn.call(req, cid))[(topic, partition)]


def txn_call(bootstrap, req_fn, parse_fn, version, timeout_s, *args):
    with Conn(bootstrap, timeout_s) as conn:
        cid = conn.cid()
        return parse_fn(conn.call(req_fn(version, cid, *args), cid), version)


def init_producer_id(bootstrap, version, timeout_s, **kw):
    with Conn(bootstrap, timeout_s) as conn:
        cid = conn.cid()
        return parse_init_producer_id(conn.call(init_producer_id_request(version, cid, **kw), cid),
                                      version)


def describe_producers(bootstrap, partitions_by_topic, timeout_s):
    with Conn(bootstrap, timeout_s) as conn:
        cid = conn.cid()
        req = describe_producers_v0_request(partitions_by_topic, cid)
        return parse_describe_producers_v0(conn.call(req, cid))


def incremental_alter_topic_configs(bootstrap, topic, configs, timeout_s):
    """configs: [(name, OP_SET|OP_DELETE|OP_APPEND|OP_SUBTRACT, value|None)]; returns
    (error_code, error_message)."""
    with Conn(bootstrap, timeout_s) as conn:
        cid = conn.cid()
        req = incremental_alter_configs_v0_request([(RESOURCE_TOPIC, topic, configs)], cid)
        return parse_incremental_alter_configs_v0(conn.call(req, cid))[(RESOURCE_TOPIC, topic)]


def delete_records(bootstrap, version, offsets, timeout_s):
    """One DeleteRecords; returns {(topic, partition): (error_code, low_watermark)}."""
    with Conn(bootstrap, timeout_s) as conn:
        cid = conn.cid()
        return parse_delete_records(conn.call(delete_records_request(version, cid, offsets), cid),
                                    version)


# ---- leader epochs and the cluster-describing admin APIs (issue 21) -------------------------
# OffsetForLeaderEpoch v0-4, ListOffsets v4, Fetch v11-12, DescribeCluster v0-1,
# DescribeLogDirs v0-4, DescribeTopicPartitions v0, ElectLeaders v0-2, ListTransactions v0 and
# DescribeTransactions v0: none of them is sent by the installed clients.

API_FETCH = 1
API_LIST_OFFSETS = 2
API_OFFSET_FOR_LEADER_EPOCH = 23
API_DESCRIBE_LOG_DIRS = 35
API_ELECT_LEADERS = 43
API_DESCRIBE_CLUSTER = 60
API_DESCRIBE_TRANSACTIONS = 65
API_LIST_TRANSACTIONS = 66
API_DESCRIBE_TOPIC_PARTITIONS = 75
API_DESCRIBE_USER_SCRAM_CREDENTIALS = 50
API_ALTER_USER_SCRAM_CREDENTIALS = 51

ERR_CLUSTER_AUTHORIZATION_FAILED = 31
ERR_INVALID_REQUEST = 42
ERR_FENCED_LEADER_EPOCH = 74
ERR_UNKNOWN_LEADER_EPOCH = 75
ERR_ELECTION_NOT_NEEDED = 84
ERR_TRANSACTIONAL_ID_NOT_FOUND = 105
ERR_UNSUPPORTED_SASL_MECHANISM = 33
ERR_RESOURCE_NOT_FOUND = 91
ERR_DUPLICATE_RESOURCE = 92
ERR_UNACCEPTABLE_CREDENTIAL = 93
SCRAM_SHA_256 = 1
SCRAM_SHA_512 = 2
ERR_UNSUPPORTED_ENDPOINT_TYPE = 119


class Enc:
    """Field encoders of one request version: compact forms and tag sections when flexible."""

    def __init__(self, flex):
        self.flex = flex

    def s(self, v):
        return compact_string(v) if self.flex else string(v)

    def arr(self, items, enc=lambda x: x):
        """An array; None is the null array."""
        if items is None:
            return uvarint(0) if self.flex else i32(-1)
        return (compact_array if self.flex else array)(items, enc)

    def tag(self):
        return uvarint(0) if self.flex else b""


class Dec:
    """The matching reader: r.s(), r.arr(dec), r.tag() over a Reader."""

    def __init__(self, payload, flex):
        self.r = Reader(payload)
        self.flex = flex

    def s(self):
        return self.r.compact_string() if self.flex else self.r.string()

    def arr(self, dec):
        return (self.r.compact_array if self.flex else self.r.array)(lambda _: dec())

    def tag(self):
        if self.flex:
            self.r.skip_tags()

    def tags(self):
        """The tag section as {tag: bytes} (flexible versions only)."""
        out = {}
        for _ in range(self.r.uvarint()):
            t = self.r.uvarint()
            out[t] = self.r.take(self.r.uvarint())
        return out

    def end(self, what):
        if self.r.remaining():
            raise WireError("%d bytes left after %s" % (self.r.remaining(), what))


def _request(api_key, version, flex_from, cid, body_fn):
    flex = version >= flex_from
    hdr = (request_header_v2 if flex else request_header_v1)(api_key, version, cid)
    return frame(hdr + body_fn(Enc(flex)))


def _by_topic(items):
    """{(topic, partition): v} -> [(topic, [(partition, v), ...])] sorted."""
    out = {}
    for (t, p), v in items.items():
        out.setdefault(t, []).append((p, v))
    return sorted(out.items())


def offset_for_leader_epoch_request(version, cid, epochs, replica_id=-2):
    """epochs {(topic, partition): (current_leader_epoch, leader_epoch)}."""
    def body(e):
        def part(pv):
            p, (cur, ep) = pv
            return i32(p) + (i32(cur) if version >= 2 else b"") + i32(ep) + e.tag()
        topics = [e.s(t) + e.arr(ps, part) + e.tag() for t, ps in _by_topic(epochs)]
        return (i32(replica_id) if version >= 3 else b"") + e.arr(topics) + e.tag()
    return _request(API_OFFSET_FOR_LEADER_EPOCH, version, 4, cid, body)


def parse_offset_for_leader_epoch(payload, version):
    """{(topic, partition): (error_code, leader_epoch (None before v1), end_offset)}."""
    d = Dec(payload, version >= 4)
    d.tag()
    if version >= 2:
        d.r.i32()
    out = {}

    def topic():
        name = d.s()

        def part():
            err, p = d.r.i16(), d.r.i32()
            ep = d.r.i32() if version >= 1 else None
            out[(name, p)] = (err, ep, d.r.i64())
            d.tag()
        d.arr(part)
        d.tag()
    d.arr(topic)
    d.tag()
    d.end("OffsetForLeaderEpoch v%d" % version)
    return out


def list_offsets_v4_request(version, cid, parts):
    """ListOffsets v4: parts {(topic, partition): (current_leader_epoch, timestamp)}."""
    def body(e):
        def part(pv):
            p, (cur, ts) = pv
            return i32(p) + i32(cur) + i64(ts)
        topics = [string(t) + array(ps, part) for t, ps in _by_topic(parts)]
        return i32(-1) + i8(0) + array(topics, lambda x: x)
    return _request(API_LIST_OFFSETS, version, 6, cid, body)


def parse_list_offsets_v4(payload, version):
    """{(topic, partition): (error_code, timestamp, offset, leader_epoch)}."""
    r = Reader(payload)
    r.i32()
    return _topic_partition_results(r, False, lambda x: (x.i16(), x.i64(), x.i64(), x.i32()))


def fetch_request(version, cid, parts, max_wait_ms=0):
    """Fetch v11 or v12 by topic name: parts {(topic, partition): (fetch_offset,
    current_leader_epoch, last_fetched_epoch)} (last_fetched_epoch only from v12)."""
    def body(e):
        def part(pv):
            p, (off, cur, last) = pv
            return (i32(p) + i32(cur) + i64(off) + (i32(last) if version >= 12 else b"")
                    + i64(-1) + i32(1 << 20) + e.tag())
        topics = [e.s(t) + e.arr(ps, part) + e.tag() for t, ps in _by_topic(parts)]
        return (i32(-1) + i32(max_wait_ms) + i32(1) + i32(1 << 20) + i8(0) + i32(0) + i32(-1)
                + e.arr(topics) + e.arr([]) + e.s("") + e.tag())
    return _request(API_FETCH, version, 12, cid, body)


def parse_fetch(payload, version):
    """{(topic, partition): {"error_code", "high_watermark", "records" (bytes), and from v12
    "diverging_epoch" (epoch, end_offset) and "current_leader" (id, epoch) when sent}}."""
    d = Dec(payload, version >= 12)
    d.tag()
    d.r.i32()
    d.r.i16()
    d.r.i32()
    out = {}

    def topic():
        name = d.s()

        def part():
            p = d.r.i32()
            res = {"error_code": d.r.i16(), "high_watermark": d.r.i64()}
            d.r.i64()
            d.r.i64()
            d.arr(lambda: (d.r.i64(), d.r.i64(), d.tag()))
            d.r.i32()
            n = d.r.uvarint() - 1 if d.flex else d.r.i32()
            res["records"] = d.r.take(n) if n > 0 else b""
            if d.flex:
                tags = d.tags()
                if 0 in tags:
                    t = Reader(tags[0])
                    res["diverging_epoch"] = (t.i32(), t.i64())
                if 1 in tags:
                    t = Reader(tags[1])
                    res["current_leader"] = (t.i32(), t.i32())
            out[(name, p)] = res
        d.arr(part)
        d.tag()
    d.arr(topic)
    return out


def batch_headers(records):
    """(base offset, next offset, partitionLeaderEpoch, bytes) of each whole record batch in a
    Fetch's records."""
    out, pos = [], 0
    while pos + 27 <= len(records):
        base, length, epoch = struct.unpack(">qii", records[pos:pos + 16])
        if pos + 12 + length > len(records):
            break  # a partial batch at the end of a fetch
        (last_delta,) = struct.unpack(">i", records[pos + 23:pos + 27])
        out.append((base, base + last_delta + 1, epoch, 12 + length))
        pos += 12 + length
    return out


def describe_cluster_request(version, cid, include_ops=False, endpoint_type=1):
    return _request(API_DESCRIBE_CLUSTER, version, 0, cid, lambda e: (
        i8(1 if include_ops else 0) + (i8(endpoint_type) if version >= 1 else b"") + e.tag()))


def parse_describe_cluster(payload, version):
    d = Dec(payload, True)
    d.tag()
    out = {"throttle_time_ms": d.r.i32(), "error_code": d.r.i16(), "error_message": d.s()}
    if version >= 1:
        out["endpoint_type"] = d.r.i8()
    out["cluster_id"] = d.s()
    out["controller_id"] = d.r.i32()

    def broker():
        b = (d.r.i32(), d.s(), d.r.i32(), d.s())
        d.tag()
        return b
    out["brokers"] = d.arr(broker)
    out["cluster_authorized_operations"] = d.r.i32()
    d.tag()
    d.end("DescribeCluster v%d" % version)
    return out


def describe_log_dirs_request(version, cid, topics):
    """topics {topic: [partitions]} or None (every partition)."""
    def body(e):
        items = None if topics is None else [
            e.s(t) + e.arr(ps, i32) + e.tag() for t, ps in sorted(topics.items())]
        return e.arr(items) + e.tag()
    return _request(API_DESCRIBE_LOG_DIRS, version, 2, cid, body)


def parse_describe_log_dirs(payload, version):
    """{"error_code", "dirs": [{"error_code", "log_dir", "partitions": {(t, p): size},
    "entries" (partition entries, repeats included), "total_bytes", "usable_bytes"}]}."""
    d = Dec(payload, version >= 2)
    d.tag()
    d.r.i32()
    out = {"error_code": d.r.i16() if version >= 3 else 0}

    def result():
        res = {"error_code": d.r.i16(), "log_dir": d.s(), "partitions": {}, "entries": 0}

        def topic():
            name = d.s()

            def part():
                p, size, _lag, _future = d.r.i32(), d.r.i64(), d.r.i64(), d.r.i8()
                res["partitions"][(name, p)] = size
                res["entries"] += 1
                d.tag()
            d.arr(part)
            d.tag()
        d.arr(topic)
        if version >= 4:
            res["total_bytes"], res["usable_bytes"] = d.r.i64(), d.r.i64()
        d.tag()
        return res
    out["dirs"] = d.arr(result)
    d.tag()
    d.end("DescribeLogDirs v%d" % version)
    return out


def describe_topic_partitions_request(version, cid, topics, limit=2000, cursor=None):
    """topics [names]; cursor None or (topic, partition)."""
    def body(e):
        cur = i8(-1) if cursor is None else (i8(1) + e.s(cursor[0]) + i32(cursor[1]) + e.tag())
        return e.arr([e.s(t) + e.tag() for t in topics]) + i32(limit) + cur + e.tag()
    return _request(API_DESCRIBE_TOPIC_PARTITIONS, version, 0, cid, body)


def parse_describe_topic_partitions(payload, version):
    """{"topics": [(error_code, name, [(partition, leader, leader_epoch, replicas, isr)])],
    "next_cursor": None or (topic, partition)}."""
    d = Dec(payload, True)
    d.tag()
    d.r.i32()

    def topic():
        err, name = d.r.i16(), d.s()
        d.r.take(16)
        d.r.i8()

        def part():
            d.r.i16()
            p = (d.r.i32(), d.r.i32(), d.r.i32(), d.arr(d.r.i32), d.arr(d.r.i32))
            d.arr(d.r.i32)
            d.arr(d.r.i32)
            d.arr(d.r.i32)
            d.tag()
            return p
        parts = d.arr(part)
        d.r.i32()
        d.tag()
        return (err, name, parts)
    out = {"topics": d.arr(topic)}
    if d.r.i8() < 0:
        out["next_cursor"] = None
    else:
        out["next_cursor"] = (d.s(), d.r.i32())
        d.tag()
    d.tag()
    d.end("DescribeTopicPartitions v%d" % version)
    return out


def elect_leaders_request(version, cid, partitions, election_type=0):
    """partitions {topic: [partitions]} or None (all)."""
    def body(e):
        items = None if partitions is None else [
            e.s(t) + e.arr(ps, i32) + e.tag() for t, ps in sorted(partitions.items())]
        return ((i8(election_type) if version >= 1 else b"") + e.arr(items) + i32(10000)
                + e.tag())
    return _request(API_ELECT_LEADERS, version, 2, cid, body)


def parse_elect_leaders(payload, version):
    """{"error_code", "topics": [names], "partitions": {(topic, partition): (error_code,
    error_message)}}."""
    d = Dec(payload, version >= 2)
    d.tag()
    d.r.i32()
    out = {"error_code": d.r.i16() if version >= 1 else 0, "topics": [], "partitions": {}}

    def topic():
        name = d.s()
        out["topics"].append(name)

        def part():
            p, err, msg = d.r.i32(), d.r.i16(), d.s()
            out["partitions"][(name, p)] = (err, msg)
            d.tag()
        d.arr(part)
        d.tag()
    d.arr(topic)
    d.tag()
    d.end("ElectLeaders v%d" % version)
    return out


def list_transactions_request(version, cid, states=(), pids=()):
    return _request(API_LIST_TRANSACTIONS, version, 0, cid, lambda e: (
        e.arr(list(states), e.s) + e.arr(list(pids), i64) + e.tag()))


def parse_list_transactions(payload, version):
    """{"error_code", "unknown_state_filters", "transactions": {tid: (pid, state)}}."""
    d = Dec(payload, True)
    d.tag()
    d.r.i32()
    out = {"error_code": d.r.i16(), "unknown_state_filters": d.arr(d.s), "transactions": {}}

    def st():
        tid, pid, state = d.s(), d.r.i64(), d.s()
        out["transactions"][tid] = (pid, state)
        d.tag()
    d.arr(st)
    d.tag()
    d.end("ListTransactions v%d" % version)
    return out


def describe_transactions_request(version, cid, tids):
    return _request(API_DESCRIBE_TRANSACTIONS, version, 0, cid,
                    lambda e: e.arr(list(tids), e.s) + e.tag())


def parse_describe_transactions(payload, version, as_list=False):
    """{tid: {"error_code", "state", "timeout_ms", "start_ms", "producer_id", "producer_epoch",
    "topics": {topic: [partitions]}}}; as_list: [(tid, that)] in answer order, repeats kept."""
    d = Dec(payload, True)
    d.tag()
    d.r.i32()

    def st():
        err, tid, state = d.r.i16(), d.s(), d.s()
        res = {"error_code": err, "state": state, "timeout_ms": d.r.i32(),
               "start_ms": d.r.i64(), "producer_id": d.r.i64(), "producer_epoch": d.r.i16(),
               "topics": {}}

        def topic():
            name = d.s()
            res["topics"][name] = d.arr(d.r.i32)
            d.tag()
        d.arr(topic)
        d.tag()
        listed.append((tid, res))
    listed = []
    d.arr(st)
    d.tag()
    d.end("DescribeTransactions v%d" % version)
    return listed if as_list else dict(listed)


def describe_user_scram_credentials_request(version, cid, users):
    """users: names, or None for every user (the null array)."""
    return _request(API_DESCRIBE_USER_SCRAM_CREDENTIALS, version, 0, cid, lambda e: (
        e.arr(None if users is None else [e.s(u) + e.tag() for u in users]) + e.tag()))


def parse_describe_user_scram_credentials(payload, version):
    """{"error_code", "error_message", "results": [(user, error_code, error_message,
    [(mechanism, iterations)])]} in the broker's order."""
    d = Dec(payload, True)
    d.tag()
    d.r.i32()
    out = {"error_code": d.r.i16(), "error_message": d.s(), "results": []}

    def info():
        mech, iters = d.r.i8(), d.r.i32()
        d.tag()
        return (mech, iters)

    def res():
        user, err, msg = d.s(), d.r.i16(), d.s()
        out["results"].append((user, err, msg, d.arr(info)))
        d.tag()
    d.arr(res)
    d.tag()
    d.end("DescribeUserScramCredentials v%d" % version)
    return out


def alter_user_scram_credentials_request(version, cid, deletions=(), upsertions=()):
    """deletions [(name, mechanism)]; upsertions [(name, mechanism, iterations, salt,
    salted_password)] (bytes computed by the caller, as a client does)."""
    def dele(x):
        return compact_string(x[0]) + i8(x[1]) + uvarint(0)

    def ups(x):
        name, mech, iters, salt, salted = x
        return (compact_string(name) + i8(mech) + i32(iters) + uvarint(len(salt) + 1) + salt +
                uvarint(len(salted) + 1) + salted + uvarint(0))
    return _request(API_ALTER_USER_SCRAM_CREDENTIALS, version, 0, cid, lambda e: (
        e.arr(list(deletions), dele) + e.arr(list(upsertions), ups) + e.tag()))


def parse_alter_user_scram_credentials(payload, version):
    """[(user, error_code, error_message)] in the broker's order."""
    d = Dec(payload, True)
    d.tag()
    d.r.i32()

    def res():
        r = (d.s(), d.r.i16(), d.s())
        d.tag()
        return r
    out = d.arr(res)
    d.tag()
    d.end("AlterUserScramCredentials v%d" % version)
    return out


def scram_salted_password(mechanism, password, salt, iterations):
    """SaltedPassword of RFC 5802 (Hi(): PBKDF2 with the mechanism's HMAC), as clients send it."""
    import hashlib
    name = "sha256" if mechanism == SCRAM_SHA_256 else "sha512"
    return hashlib.pbkdf2_hmac(name, password.encode(), salt, iterations)


def call(bootstrap, req_fn, parse_fn, version, timeout_s, *args, **kw):
    """One request on a fresh connection: parse_fn(payload, version) of req_fn's answer."""
    with Conn(bootstrap, timeout_s) as conn:
        cid = conn.cid()
        return parse_fn(conn.call(req_fn(version, cid, *args, **kw), cid), version)
