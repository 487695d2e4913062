"""Minimal Kafka wire encoding for tests that must send bytes no real client would send.

Covers what the raw-socket tests need and nothing more: CRC32C (pure Python), magic v2 record
batches, request headers v1/v2, ApiVersions v0/v3, Metadata v0, Produce v3,
IncrementalAlterConfigs v0 and DeleteRecords v0-2 (the installed confluent-kafka 1.7 has neither
incremental_alter_configs nor delete_records, kafka-python 2.0 no DeleteRecords).
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
