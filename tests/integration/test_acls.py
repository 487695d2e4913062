"""ACLs: Kafka's authorization model with real clients. kafka-python's KafkaAdminClient manages
ACLs (confluent-kafka 1.7 has no ACL API); confluent-kafka and kcat produce, consume and join
groups; DescribeAcls/CreateAcls/DeleteAcls v0-3 also go over the raw wire (kwire) for exact
error codes.

Until SASL exists every connection is User:ANONYMOUS, so rules are written for User:ANONYMOUS
and User:*, and super.users=User:ANONYMOUS sets a broker up before a restart without it."""

import os
import subprocess
import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType,
                         ACLResourcePatternType, KafkaAdminClient, ResourcePattern,
                         ResourcePatternFilter, ResourceType)

import kwire
from conftest import (T, BrokerStartError, consumer, create_topic, produce_all, producer,
                      sluice_bin, unique_topic)

ME = "User:ANONYMOUS"
AUTHZ = {"authorizer.class.name": "sluice"}
SETUP = dict(AUTHZ, **{"super.users": ME})

TOPIC_AUTHORIZATION_FAILED = 29
GROUP_AUTHORIZATION_FAILED = 30
CLUSTER_AUTHORIZATION_FAILED = 31
INVALID_REQUEST = 42
SECURITY_DISABLED = 54

LIT = ACLResourcePatternType.LITERAL
PRE = ACLResourcePatternType.PREFIXED


def kadmin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(T(10) * 1000),
                            api_version_auto_timeout_ms=int(T(10) * 1000))


def acl(op, rtype, name, perm=ACLPermissionType.ALLOW, pattern=LIT, principal=ME, host="*"):
    return ACL(principal=principal, host=host, operation=op, permission_type=perm,
               resource_pattern=ResourcePattern(rtype, name, pattern))


def cluster_acl(op, perm=ACLPermissionType.ALLOW, principal=ME):
    return acl(op, ResourceType.CLUSTER, "kafka-cluster", perm=perm, principal=principal)


def add_acls(bootstrap, acls):
    adm = kadmin(bootstrap)
    try:
        res = adm.create_acls(acls)
    finally:
        adm.close()
    assert not res["failed"], res["failed"]
    return res


ANY_FILTER = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                       permission_type=ACLPermissionType.ANY,
                       resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                              ACLResourcePatternType.ANY))


def list_acls(bootstrap, flt=ANY_FILTER):
    adm = kadmin(bootstrap)
    try:
        acls, err = adm.describe_acls(flt)
    finally:
        adm.close()
    return {(a.resource_pattern.resource_type, a.resource_pattern.resource_name,
             a.resource_pattern.pattern_type, a.principal, a.host, a.operation,
             a.permission_type) for a in acls}


def secured(make_broker, topics=(), acls=(), settings=None):
    """A broker with the authorizer on: topics and ACLs are made by the super user, then the
    broker restarts without super.users so only the ACLs speak for User:ANONYMOUS."""
    b = make_broker(settings=SETUP)
    for t in topics:
        create_topic(b.bootstrap, t)
    if acls:
        add_acls(b.bootstrap, list(acls))
    b.stop()
    b.settings = dict(AUTHZ, **(settings or {}))
    b.start()
    return b


def delivery_errors(bootstrap, topic, n=3, **extra):
    """Produces n records; returns the set of delivery error codes (empty: all delivered)."""
    prod = producer(bootstrap, **extra)
    errors = set()

    def cb(err, msg):
        if err is not None:
            errors.add(err.code())
    try:
        for i in range(n):
            prod.produce(topic, value=b"v%d" % i, on_delivery=cb)
        assert prod.flush(T(30)) == 0
    except KafkaException as e:  # a fatal error (InitProducerId refused) raised by produce or flush
        errors.add(e.args[0].code())
    return errors


def consume_some(bootstrap, topic, group, want, timeout_s):
    """Subscribes with a group; returns (values, first error code) within timeout_s."""
    c = consumer(bootstrap, **{"group.id": group, "session.timeout.ms": 6000})
    c.subscribe([topic])
    got, err = [], None
    end = time.monotonic() + T(timeout_s)
    try:
        while time.monotonic() < end and len(got) < want and err is None:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    err = m.error().code()
                continue
            got.append(m.value())
    finally:
        c.close()
    return got, err


# ---- raw wire: the three ACL APIs in every version ------------------------------------------

API_DESCRIBE_ACLS, API_CREATE_ACLS, API_DELETE_ACLS = 29, 30, 31


def _s(v, flex):
    return kwire.compact_string(v) if flex else kwire.string(v)


def _arr(items, enc, flex):
    if flex:
        return kwire.uvarint(len(items) + 1) + b"".join(enc(x) for x in items)
    return kwire.array(items, enc)


def _filter_bytes(f, version):
    """f: (rtype, name, pattern, principal, host, op, perm)."""
    flex = version >= 2
    b = kwire.i8(f[0]) + _s(f[1], flex)
    if version >= 1:
        b += kwire.i8(f[2])
    b += _s(f[3], flex) + _s(f[4], flex) + kwire.i8(f[5]) + kwire.i8(f[6])
    return b


def _request(api, version, cid, body):
    flex = version >= 2
    hdr = (kwire.request_header_v2 if flex else kwire.request_header_v1)(api, version, cid)
    return kwire.frame(hdr + body + (kwire.uvarint(0) if flex else b""))


def _rd(r, flex):
    return r.compact_string() if flex else r.string()


def _rarr(r, dec, flex):
    return r.compact_array(dec) if flex else r.array(dec)


def _call(bootstrap, api, version, body):
    with kwire.Conn(bootstrap, T(10)) as conn:
        cid = conn.cid()
        payload = conn.call(_request(api, version, cid, body), cid)
    r = kwire.Reader(payload)
    if version >= 2:
        r.skip_tags()  # response header v1
    return r


def wire_create(bootstrap, version, creations):
    flex = version >= 2
    body = _arr(creations, lambda f: _filter_bytes(f, version) + (kwire.uvarint(0) if flex else b""),
                flex)
    r = _call(bootstrap, API_CREATE_ACLS, version, body)
    r.i32()

    def dec(x):
        e, m = x.i16(), _rd(x, flex)
        if flex:
            x.skip_tags()
        return (e, m)
    return _rarr(r, dec, flex)


def wire_describe(bootstrap, version, f):
    flex = version >= 2
    r = _call(bootstrap, API_DESCRIBE_ACLS, version, _filter_bytes(f, version))
    r.i32()
    err, msg = r.i16(), _rd(r, flex)

    def dec_acl(x):
        a = (_rd(x, flex), _rd(x, flex), x.i8(), x.i8())
        if flex:
            x.skip_tags()
        return a

    def dec_res(x):
        rtype, name = x.i8(), _rd(x, flex)
        pat = x.i8() if version >= 1 else 3
        acls = _rarr(x, dec_acl, flex)
        if flex:
            x.skip_tags()
        return [(rtype, name, pat) + a for a in acls]
    res = _rarr(r, dec_res, flex) or []
    return err, msg, {a for group in res for a in group}


def wire_delete(bootstrap, version, filters):
    flex = version >= 2
    body = _arr(filters, lambda f: _filter_bytes(f, version) + (kwire.uvarint(0) if flex else b""),
                flex)
    r = _call(bootstrap, API_DELETE_ACLS, version, body)
    r.i32()

    def dec_match(x):
        e = x.i16()
        _rd(x, flex)  # error message
        rtype, name = x.i8(), _rd(x, flex)
        pat = x.i8() if version >= 1 else 3
        a = (e, rtype, name, pat, _rd(x, flex), _rd(x, flex), x.i8(), x.i8())
        if flex:
            x.skip_tags()
        return a

    def dec(x):
        e, m = x.i16(), _rd(x, flex)
        matches = _rarr(x, dec_match, flex)
        if flex:
            x.skip_tags()
        return (e, m, matches)
    return _rarr(r, dec, flex)


ALL_FILTER = (1, None, 1, None, None, 1, 1)


# ---- tests -----------------------------------------------------------------------------------

def test_acl_apis_answer_security_disabled_without_an_authorizer(broker):
    for v in range(4):
        assert wire_create(broker.bootstrap, v, [(2, "t", 3, ME, "*", 3, 3)])[0][0] == \
            SECURITY_DISABLED
        err, msg, _ = wire_describe(broker.bootstrap, v, ALL_FILTER)
        assert err == SECURITY_DISABLED and "Authorizer" in msg
        assert wire_delete(broker.bootstrap, v, [ALL_FILTER])[0][0] == SECURITY_DISABLED
    # ... and without an authorizer everyone may do everything, as before.
    topic = unique_topic("acl-open")
    assert delivery_errors(broker.bootstrap, topic) == set()


def test_acl_apis_work_in_every_version_and_answer_what_matched(make_broker):
    b = make_broker(settings=SETUP)
    for v in range(4):
        name = "wire-v%d" % v
        pat = 4 if v >= 1 else 3
        res = wire_create(b.bootstrap, v, [(2, name, pat, ME, "*", 3, 3),
                                           (3, name, pat, "User:*", "127.0.0.1", 8, 2)])
        assert [e for e, _ in res] == [0, 0]
        err, _, acls = wire_describe(b.bootstrap, v, (1, name, 1, None, None, 1, 1))
        assert err == 0
        assert acls == {(2, name, pat, ME, "*", 3, 3), (3, name, pat, "User:*", "127.0.0.1", 8, 2)}
        out = wire_delete(b.bootstrap, v, [(2, name, 1, None, None, 1, 1),
                                           (3, None, 1, "User:*", None, 1, 2)])
        assert out[0][0] == 0 and [m[2] for m in out[0][2]] == [name]
        assert out[1][0] == 0 and [m[2] for m in out[1][2]] == [name]
        assert wire_describe(b.bootstrap, v, (1, name, 1, None, None, 1, 1))[2] == set()


def test_bad_acls_and_bad_filters_get_invalid_request(make_broker):
    b = make_broker(settings=SETUP)
    bad = [(2, "t", 2, ME, "*", 3, 3),              # MATCH is a filter, not a pattern
           (4, "other", 3, ME, "*", 7, 3),          # the cluster is named kafka-cluster
           (2, "t", 3, "alice", "*", 3, 3),         # principal without a type
           (3, "g", 3, ME, "*", 4, 3),              # WRITE is no group operation
           (2, "t", 3, ME, "*", 3, 1),              # permission ANY
           (2, "", 3, ME, "*", 3, 3),               # empty name
           (9, "t", 3, ME, "*", 3, 3)]              # unknown resource type
    res = wire_create(b.bootstrap, 1, bad + [(2, "good", 3, ME, "*", 3, 3)])
    assert [e for e, _ in res] == [INVALID_REQUEST] * len(bad) + [0]
    assert all(m for _, m in res[:-1])
    assert wire_describe(b.bootstrap, 1, (0, None, 1, None, None, 1, 1))[0] == INVALID_REQUEST
    assert wire_describe(b.bootstrap, 1, (1, None, 1, None, None, 0, 1))[0] == INVALID_REQUEST
    out = wire_delete(b.bootstrap, 1, [(1, None, 0, None, None, 1, 1), ALL_FILTER])
    assert out[0][0] == INVALID_REQUEST and out[0][2] == []
    assert out[1][0] == 0 and len(out[1][2]) == 1
    assert b.running()


def test_without_acls_nobody_but_a_super_user_may_do_anything(make_broker):
    b = make_broker(settings=AUTHZ)
    topic = unique_topic("acl-none")
    # Not even managing ACLs: that needs ALTER / DESCRIBE on the cluster.
    assert wire_create(b.bootstrap, 1, [(2, "t", 3, ME, "*", 3, 3)])[0][0] == \
        CLUSTER_AUTHORIZATION_FAILED
    assert wire_describe(b.bootstrap, 1, ALL_FILTER)[0] == CLUSTER_AUTHORIZATION_FAILED
    assert wire_delete(b.bootstrap, 1, [ALL_FILTER])[0][0] == CLUSTER_AUTHORIZATION_FAILED
    md = kwire.metadata_v0(b.bootstrap, [topic], T(10))
    assert md["topics"][topic]["error_code"] == TOPIC_AUTHORIZATION_FAILED
    assert delivery_errors(b.bootstrap, topic, n=1) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}
    # The same broker with ANONYMOUS as super user: everything.
    b.stop()
    b.settings = SETUP
    b.start()
    assert delivery_errors(b.bootstrap, topic) == set()
    assert wire_describe(b.bootstrap, 3, ALL_FILTER)[0] == 0


def test_allow_everyone_if_no_acl_found_opens_resources_without_bindings(make_broker):
    closed, open_ = unique_topic("acl-closed"), unique_topic("acl-open")
    b = secured(make_broker, topics=[closed, open_],
                acls=[acl(ACLOperation.READ, ResourceType.TOPIC, closed,
                          principal="User:someone-else")],
                settings={"allow.everyone.if.no.acl.found": "true"})
    assert delivery_errors(b.bootstrap, open_) == set()
    assert delivery_errors(b.bootstrap, closed, n=1) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}


def test_produce_and_consume_are_allowed_and_denied_by_topic_and_group_acls(make_broker):
    ok, no = unique_topic("acl-ok"), unique_topic("acl-no")
    b = secured(make_broker, topics=[ok, no], acls=[
        acl(ACLOperation.WRITE, ResourceType.TOPIC, ok),
        acl(ACLOperation.READ, ResourceType.TOPIC, ok),
        acl(ACLOperation.READ, ResourceType.GROUP, "g-ok"),
        acl(ACLOperation.READ, ResourceType.TOPIC, no),   # may read but not write
    ])
    assert delivery_errors(b.bootstrap, ok, n=5) == set()
    assert delivery_errors(b.bootstrap, no, n=1) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}
    got, err = consume_some(b.bootstrap, ok, "g-ok", 5, 30)
    assert err is None and len(got) == 5
    got, err = consume_some(b.bootstrap, ok, "g-denied", 1, 30)
    assert got == [] and err == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_kcat_is_denied_and_allowed_by_acls(make_broker):
    ok, no = unique_topic("acl-kc-ok"), unique_topic("acl-kc-no")
    b = secured(make_broker, topics=[ok, no], acls=[
        acl(ACLOperation.ALL, ResourceType.TOPIC, ok)])
    run = lambda args, data=None: subprocess.run(  # noqa: E731
        ["kcat", "-b", b.bootstrap] + args, input=data, capture_output=True,
        timeout=T(60))
    assert run(["-P", "-t", ok], b"one\ntwo\n").returncode == 0
    r = run(["-C", "-t", ok, "-o", "beginning", "-e", "-q"])
    assert r.returncode == 0 and r.stdout.split() == [b"one", b"two"]
    r = run(["-P", "-t", no], b"x\n")
    assert r.returncode != 0 or b"authoriz" in r.stderr.lower()
    assert b"authoriz" in (r.stderr + r.stdout).lower()
    r = run(["-C", "-t", no, "-o", "beginning", "-e"])
    assert r.returncode != 0 and b"authoriz" in (r.stderr + r.stdout).lower()


def test_prefixed_acls_cover_every_topic_and_group_with_the_prefix(make_broker):
    base = unique_topic("acl-pre")
    inside, outside = base + "-sales-eu", base + "x-sales"
    b = secured(make_broker, topics=[inside, outside], acls=[
        acl(ACLOperation.ALL, ResourceType.TOPIC, base + "-sales", pattern=PRE),
        acl(ACLOperation.READ, ResourceType.GROUP, "team-", pattern=PRE)])
    assert delivery_errors(b.bootstrap, inside) == set()
    assert delivery_errors(b.bootstrap, outside, n=1) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}
    got, err = consume_some(b.bootstrap, inside, "team-a", 3, 30)
    assert err is None and len(got) == 3
    _, err = consume_some(b.bootstrap, inside, "other-team", 1, 30)
    assert err == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_deny_for_everyone_wins_over_an_allow(make_broker):
    topic = unique_topic("acl-deny")
    b = secured(make_broker, topics=[topic], acls=[
        acl(ACLOperation.WRITE, ResourceType.TOPIC, topic),
        acl(ACLOperation.WRITE, ResourceType.TOPIC, topic, perm=ACLPermissionType.DENY,
            principal="User:*")])
    assert delivery_errors(b.bootstrap, topic, n=1) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}


def test_metadata_lists_only_describable_topics_and_hides_unknown_ones(make_broker):
    seen, hidden = unique_topic("acl-seen"), unique_topic("acl-hidden")
    b = secured(make_broker, topics=[seen, hidden],
                acls=[acl(ACLOperation.READ, ResourceType.TOPIC, seen)])  # READ implies DESCRIBE
    md = kwire.metadata_v0(b.bootstrap, [], T(10))
    assert seen in md["topics"] and hidden not in md["topics"]
    md = kwire.metadata_v0(b.bootstrap, [seen, hidden, "never-created"], T(10))
    assert md["topics"][seen]["error_code"] == 0
    # Existing and missing look the same to a principal that may not describe them.
    assert md["topics"][hidden]["error_code"] == TOPIC_AUTHORIZATION_FAILED
    assert md["topics"]["never-created"]["error_code"] == TOPIC_AUTHORIZATION_FAILED
    assert md["topics"][hidden]["partitions"] == md["topics"]["never-created"]["partitions"] == []
    # Auto-creation needs CREATE: DESCRIBE alone does not create the topic.
    b.stop()
    b.settings = SETUP
    b.start()
    add_acls(b.bootstrap, [acl(ACLOperation.DESCRIBE, ResourceType.TOPIC, "auto-", pattern=PRE)])
    b.stop()
    b.settings = AUTHZ
    b.start()
    md = kwire.metadata_v0(b.bootstrap, ["auto-x"], T(10))
    assert md["topics"]["auto-x"]["error_code"] == TOPIC_AUTHORIZATION_FAILED
    assert "auto-x" not in os.listdir(b.data_dir)


def test_acls_survive_restart_and_kill(make_broker):
    topic = unique_topic("acl-durable")
    b = make_broker(settings=SETUP)
    create_topic(b.bootstrap, topic)
    want = [acl(ACLOperation.WRITE, ResourceType.TOPIC, topic),
            acl(ACLOperation.READ, ResourceType.GROUP, "g", pattern=PRE, host="127.0.0.1"),
            cluster_acl(ACLOperation.ALTER), cluster_acl(ACLOperation.DESCRIBE)]
    add_acls(b.bootstrap, want)
    before = list_acls(b.bootstrap)
    assert len(before) == 4
    b.kill9()
    b.settings = AUTHZ
    b.start()
    assert list_acls(b.bootstrap) == before   # ALTER/DESCRIBE on the cluster: may list
    assert delivery_errors(b.bootstrap, topic) == set()
    # A removal is durable too.
    adm = kadmin(b.bootstrap)
    adm.delete_acls([ACLFilter(principal=ME, host="*", operation=ACLOperation.WRITE,
                               permission_type=ACLPermissionType.ALLOW,
                               resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, topic,
                                                                      LIT))])
    adm.close()
    b.stop()
    b.start()
    assert len(list_acls(b.bootstrap)) == 3
    assert delivery_errors(b.bootstrap, topic, n=1) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}


def test_a_damaged_acls_file_stops_the_broker_at_start_with_a_clear_error(make_broker):
    b = make_broker(settings=SETUP)
    add_acls(b.bootstrap, [acl(ACLOperation.READ, ResourceType.TOPIC, "t")])
    b.stop()
    path = os.path.join(b.data_dir, "acls.txt")
    data = bytearray(open(path, "rb").read())
    data[3] ^= 0x01
    open(path, "wb").write(bytes(data))
    with pytest.raises(BrokerStartError) as exc:
        b.start(timeout_s=T(10))
    assert "acls.txt" in str(exc.value) and "checksum" in str(exc.value)


def test_unknown_authorizer_class_is_refused_at_start(make_broker):
    b = make_broker(settings={"authorizer.class.name": "com.example.Custom"}, start=False)
    with pytest.raises(BrokerStartError) as exc:
        b.start(timeout_s=T(10))
    assert "authorizer.class.name" in str(exc.value)


def test_kafka_authorizer_class_names_turn_authorization_on(make_broker):
    for name in ("kafka.security.authorizer.AclAuthorizer",
                 "org.apache.kafka.metadata.authorizer.StandardAuthorizer"):
        b = make_broker(settings={"authorizer.class.name": name}, name=name.rsplit(".", 1)[1])
        assert wire_describe(b.bootstrap, 1, ALL_FILTER)[0] == CLUSTER_AUTHORIZATION_FAILED


def test_cli_acls_add_list_remove(make_broker):
    b = make_broker(settings=SETUP)
    cli = lambda *args: subprocess.run(  # noqa: E731
        [sluice_bin(), "acls"] + list(args) + ["--bootstrap", b.bootstrap],
        capture_output=True, text=True, timeout=T(60))
    r = cli("add", "--allow-principal", "User:alice", "--operation", "Read", "--operation",
            "Describe", "--topic", "sales-", "--resource-pattern-type", "prefixed")
    assert r.returncode == 0, r.stderr
    r = cli("add", "--deny-principal", "User:*", "--host", "10.0.0.1", "--operation", "All",
            "--group", "g1")
    assert r.returncode == 0, r.stderr
    r = cli("add", "--allow-principal", "User:ops", "--operation", "Alter", "--cluster")
    assert r.returncode == 0, r.stderr
    got = list_acls(b.bootstrap)
    assert (ResourceType.TOPIC, "sales-", PRE, "User:alice", "*", ACLOperation.READ,
            ACLPermissionType.ALLOW) in got
    assert (ResourceType.GROUP, "g1", LIT, "User:*", "10.0.0.1", ACLOperation.ALL,
            ACLPermissionType.DENY) in got
    assert len(got) == 4
    r = cli("list")
    assert r.returncode == 0, r.stderr
    assert "sales-" in r.stdout and "User:alice" in r.stdout and "PREFIXED" in r.stdout
    assert "kafka-cluster" in r.stdout
    r = cli("list", "--topic", "sales-", "--resource-pattern-type", "prefixed")
    assert r.returncode == 0 and "g1" not in r.stdout and r.stdout.count("User:alice") == 2
    r = cli("remove", "--allow-principal", "User:alice", "--operation", "Read", "--topic",
            "sales-", "--resource-pattern-type", "prefixed")
    assert r.returncode == 0, r.stderr
    assert len(list_acls(b.bootstrap)) == 3
    # Bad usage and broker refusals are clear errors with non-zero exits.
    r = cli("add", "--allow-principal", "alice", "--operation", "Read", "--topic", "t")
    assert r.returncode != 0 and "principal" in r.stderr.lower()
    r = cli("add", "--allow-principal", "User:a", "--operation", "Fly", "--topic", "t")
    assert r.returncode == 2 and "operation" in r.stderr.lower()
    r = cli("add", "--allow-principal", "User:a", "--operation", "Write", "--group", "g")
    assert r.returncode != 0 and "INVALID_REQUEST" in r.stderr


def test_cli_acls_reports_security_disabled(broker):
    r = subprocess.run([sluice_bin(), "acls", "list", "--bootstrap", broker.bootstrap],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode != 0 and "SECURITY_DISABLED" in r.stderr


def _commit_as_super(bootstrap, topic, group, offset):
    from confluent_kafka import TopicPartition
    c = consumer(bootstrap, **{"group.id": group})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        c.close()


def wire_list_offsets(bootstrap, topic):
    """ListOffsets v1 for the latest offset of partition 0: (error_code, offset)."""
    part = kwire.i32(0) + kwire.i64(-1)
    body = kwire.i32(-1) + kwire.array([kwire.string(topic) + kwire.array([part], bytes)],
                                       bytes)
    with kwire.Conn(bootstrap, T(10)) as conn:
        cid = conn.cid()
        r = kwire.Reader(conn.call(kwire.frame(kwire.request_header_v1(2, 1, cid) + body), cid))
    out = []
    r.array(lambda t: (t.string(), t.array(lambda p: out.append(
        (p.i32(), p.i16(), p.i64(), p.i64())))))
    return out[0][1], out[0][3]


def wire_offset_fetch(bootstrap, group, topic):
    """OffsetFetch v1 for partition 0: (error_code, committed offset)."""
    body = kwire.string(group) + kwire.array(
        [kwire.string(topic) + kwire.array([kwire.i32(0)], bytes)], bytes)
    with kwire.Conn(bootstrap, T(10)) as conn:
        cid = conn.cid()
        r = kwire.Reader(conn.call(kwire.frame(kwire.request_header_v1(9, 1, cid) + body), cid))
    out = []
    r.array(lambda t: (t.string(), t.array(lambda p: out.append(
        (p.i32(), p.i64(), p.string(), p.i16())))))
    return out[0][3], out[0][1]


def wire_group_errors(bootstrap, api, group):
    """DescribeGroups (15) or DeleteGroups (42) v0 for one group: its error codes."""
    body = kwire.array([kwire.string(group)], bytes)
    with kwire.Conn(bootstrap, T(10)) as conn:
        cid = conn.cid()
        r = kwire.Reader(conn.call(kwire.frame(kwire.request_header_v1(api, 0, cid) + body), cid))
    if api == 42:
        r.i32()
        return r.array(lambda g: (g.string(), g.i16())[1])

    def dec(g):
        err = g.i16()
        g.string(), g.string(), g.string(), g.string()
        g.array(lambda m: (m.string(), m.string(), m.string(), m.take(m.i32()),
                           m.take(m.i32())))
        return err
    return r.array(dec)


def _kafka_code(fn):
    """Runs fn; returns the confluent-kafka error code it raised, or None."""
    try:
        fn()
        return None
    except KafkaException as e:
        return e.args[0].code()


def test_every_api_checks_its_operation_and_answers_kafkas_error(make_broker):
    """A principal with no rights on a topic, a group and the cluster gets Kafka's error from
    each API (KafkaApis' operation per API); one with the rights gets through."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic
    from conftest import admin_client, future_error_code
    topic, group = unique_topic("acl-api"), "g-" + unique_topic("acl-api")
    b = make_broker(settings=SETUP)
    create_topic(b.bootstrap, topic)
    produce_all(producer(b.bootstrap), topic, [{"value": b"a"}, {"value": b"b"}])
    _commit_as_super(b.bootstrap, topic, group, 1)
    b.stop()
    b.settings = AUTHZ
    b.start()
    adm = admin_client(b.bootstrap)
    t = T(20)
    fut = adm.create_topics([NewTopic(topic + "-new", 1, 1)], request_timeout=T(10))
    assert future_error_code(fut[topic + "-new"], t) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    fut = adm.delete_topics([topic], request_timeout=T(10))
    assert future_error_code(fut[topic], t) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    fut = adm.create_partitions([NewPartitions(topic, 3)], request_timeout=T(10))
    assert future_error_code(fut[topic], t) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    fut = adm.describe_configs([res], request_timeout=T(10))
    assert future_error_code(fut[res], t) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    fut = adm.alter_configs([ConfigResource(ConfigResource.Type.TOPIC, topic,
                                            set_config={"retention.ms": "1000"})],
                            request_timeout=T(10))
    assert future_error_code(list(fut.values())[0], t) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    bres = ConfigResource(ConfigResource.Type.BROKER, "1")
    fut = adm.describe_configs([bres], request_timeout=T(10))
    assert future_error_code(fut[bres], t) == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # ListOffsets (DESCRIBE topic) and OffsetFetch (DESCRIBE group).
    c = consumer(b.bootstrap, **{"group.id": group})
    try:
        assert wire_list_offsets(b.bootstrap, topic) == (TOPIC_AUTHORIZATION_FAILED, -1)
    finally:
        c.close()
    assert wire_offset_fetch(b.bootstrap, group, topic) == (GROUP_AUTHORIZATION_FAILED, -1)
    # FindCoordinator (DESCRIBE group): kafka-python gives up with Kafka's error.
    kadm = kadmin(b.bootstrap)
    with pytest.raises(Exception) as exc:
        kadm.list_consumer_group_offsets(group)
    assert "GroupAuthorizationFailed" in repr(exc.value)
    kadm.close()
    # ListGroups: only groups the principal may describe (none); DescribeGroups, DeleteGroups.
    assert [g.id for g in adm.list_groups(timeout=T(10))] == []
    assert wire_group_errors(b.bootstrap, 15, group) == [GROUP_AUTHORIZATION_FAILED]  # Describe
    assert wire_group_errors(b.bootstrap, 42, group) == [GROUP_AUTHORIZATION_FAILED]  # Delete
    # The same requests with the rights: DESCRIBE on the group and the topic, DESCRIBE on the
    # cluster (lists every group).
    b.stop()
    b.settings = SETUP
    b.start()
    add_acls(b.bootstrap, [acl(ACLOperation.DESCRIBE, ResourceType.GROUP, group),
                           acl(ACLOperation.DESCRIBE, ResourceType.TOPIC, topic),
                           cluster_acl(ACLOperation.DESCRIBE)])
    b.stop()
    b.settings = AUTHZ
    b.start()
    adm = admin_client(b.bootstrap)
    assert group in [g.id for g in adm.list_groups(timeout=T(10))]
    c = consumer(b.bootstrap, **{"group.id": group})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=T(10),
                                       cached=False) == (0, 2)
        assert wire_list_offsets(b.bootstrap, topic) == (0, 2)
        assert c.committed([TopicPartition(topic, 0)], T(10))[0].offset == 1
        assert wire_offset_fetch(b.bootstrap, group, topic) == (0, 1)
        assert wire_group_errors(b.bootstrap, 15, group) == [0]
    finally:
        c.close()
    # Still no READ: committing is refused for the group.
    c = consumer(b.bootstrap, **{"group.id": group})
    try:
        assert _kafka_code(lambda: c.commit(offsets=[TopicPartition(topic, 0, 2)],
                                            asynchronous=False)) == \
            KafkaError.GROUP_AUTHORIZATION_FAILED
    finally:
        c.close()


def test_offset_commit_needs_read_on_the_topic_and_offset_fetch_hides_other_topics(make_broker):
    mine, other = unique_topic("acl-mine"), unique_topic("acl-other")
    group = "g-" + mine
    b = make_broker(settings=SETUP)
    for t in (mine, other):
        create_topic(b.bootstrap, t)
        _commit_as_super(b.bootstrap, t, group, 0)
    add_acls(b.bootstrap, [acl(ACLOperation.READ, ResourceType.GROUP, group),
                           acl(ACLOperation.READ, ResourceType.TOPIC, mine)])
    b.stop()
    b.settings = AUTHZ
    b.start()
    from confluent_kafka import TopicPartition
    c = consumer(b.bootstrap, **{"group.id": group})
    try:
        res = c.commit(offsets=[TopicPartition(mine, 0, 5)], asynchronous=False)
        assert res[0].error is None and res[0].offset == 5
        assert _kafka_code(lambda: c.commit(offsets=[TopicPartition(other, 0, 5)],
                                            asynchronous=False)) == \
            KafkaError.TOPIC_AUTHORIZATION_FAILED
        got = c.committed([TopicPartition(mine, 0), TopicPartition(other, 0)], T(10))
        assert got[0].offset == 5 and got[0].error is None
        assert got[1].error is not None and \
            got[1].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        c.close()
    # All committed offsets of the group (OffsetFetch with null topics): only the readable one.
    kadm = kadmin(b.bootstrap)
    offsets = kadm.list_consumer_group_offsets(group)
    kadm.close()
    assert {tp.topic for tp in offsets} == {mine}


def test_an_acl_change_that_cannot_be_stored_is_refused_and_undone(make_broker):
    b = make_broker(settings=SETUP)
    keep = (2, "kept", 3, ME, "*", 3, 3)
    assert wire_create(b.bootstrap, 1, [keep])[0][0] == 0
    # The atomic write renames a temp file (an unguessable name) over acls.txt: a non-empty
    # directory in its place makes the rename fail. The file's bytes are put back after.
    path = os.path.join(b.data_dir, "acls.txt")
    saved = open(path, "rb").read()
    os.remove(path)
    os.mkdir(path)
    open(os.path.join(path, "x"), "w").close()
    res = wire_create(b.bootstrap, 1, [(2, "lost", 3, ME, "*", 3, 3)])
    assert res[0][0] == -1 and "acls.txt" in res[0][1]  # UNKNOWN_SERVER_ERROR
    out = wire_delete(b.bootstrap, 1, [ALL_FILTER])
    assert out[0][0] == -1 and out[0][2] == []
    # Memory never holds what the file does not: "kept" is still there, "lost" never was.
    assert wire_describe(b.bootstrap, 1, ALL_FILTER)[2] == {keep}
    os.remove(os.path.join(path, "x"))
    os.rmdir(path)
    open(path, "wb").write(saved)
    assert not [f for f in os.listdir(b.data_dir) if f.endswith(".tmp")], "temp files left"
    b.stop()
    b.start()
    assert wire_describe(b.bootstrap, 1, ALL_FILTER)[2] == {keep}
    assert "cannot write" in b.stderr_text()


def add_acls_as_super(b, acls):
    """Restarts b with User:ANONYMOUS as super user, adds acls, restarts it without."""
    b.stop()
    b.settings = SETUP
    b.start()
    add_acls(b.bootstrap, acls)
    b.stop()
    b.settings = AUTHZ
    b.start()


def test_idempotent_producers_need_idempotent_write_or_write_on_a_topic(make_broker):
    """InitProducerId (Kafka 3, KIP-679): IDEMPOTENT_WRITE on the cluster or WRITE on any topic,
    else CLUSTER_AUTHORIZATION_FAILED; DescribeProducers needs READ on the topic."""
    topic = unique_topic("acl-idem")
    b = secured(make_broker, topics=[topic])

    def init_pid():
        with kwire.Conn(b.bootstrap, T(10)) as conn:
            cid = conn.cid()
            return kwire.parse_init_producer_id(
                conn.call(kwire.init_producer_id_request(4, cid), cid), 4)

    def describe_producers():
        with kwire.Conn(b.bootstrap, T(10)) as conn:
            cid = conn.cid()
            out = kwire.parse_describe_producers_v0(
                conn.call(kwire.describe_producers_v0_request({topic: [0]}, cid), cid))
            return out[(topic, 0)]["error_code"]

    assert init_pid()["error_code"] == CLUSTER_AUTHORIZATION_FAILED
    assert describe_producers() == TOPIC_AUTHORIZATION_FAILED
    # confluent-kafka's idempotent producer fails without the right (a fatal error).
    errors = delivery_errors(b.bootstrap, topic, n=1, **{"enable.idempotence": True,
                                                         "message.timeout.ms": 5000})
    assert errors, "an idempotent producer without rights delivered"
    add_acls_as_super(b, [acl(ACLOperation.WRITE, ResourceType.TOPIC, topic)])
    got = init_pid()
    assert got["error_code"] == 0 and got["producer_id"] >= 0
    assert delivery_errors(b.bootstrap, topic, n=3, **{"enable.idempotence": True}) == set()
    assert describe_producers() == TOPIC_AUTHORIZATION_FAILED  # WRITE does not imply READ
    add_acls_as_super(b, [acl(ACLOperation.READ, ResourceType.TOPIC, topic)])
    assert describe_producers() == 0


def test_transactional_produce_needs_write_on_its_transactional_id(make_broker):
    topic = unique_topic("acl-txn-produce")
    b = secured(make_broker, topics=[topic],
                acls=[acl(ACLOperation.WRITE, ResourceType.TOPIC, topic),
                      acl(ACLOperation.DESCRIBE, ResourceType.TOPIC, topic)])
    txnal = kwire.record_batch_v2([(b"k", b"v")], producer_id=1000, producer_epoch=0,
                                  base_sequence=0, attributes=0x10)
    for tid in (None, "tx-denied"):  # Kafka: TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53)
        r = kwire.produce_v3(b.bootstrap, topic, 0, txnal, T(10), transactional_id=tid)
        assert r["error_code"] == 53, (tid, r)
    plain = kwire.record_batch_v2([(b"k", b"v")])
    assert kwire.produce_v3(b.bootstrap, topic, 0, plain, T(10))["error_code"] == 0


def test_transactions_need_write_on_their_transactional_id(make_broker):
    from confluent_kafka import Producer
    topic = unique_topic("acl-txn")
    b = secured(make_broker, topics=[topic],
                acls=[acl(ACLOperation.WRITE, ResourceType.TOPIC, topic),
                      acl(ACLOperation.DESCRIBE, ResourceType.TOPIC, topic)])

    def run_txn(tid):
        p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid,
                      "transaction.timeout.ms": 60000})
        p.init_transactions(T(20))
        p.begin_transaction()
        p.produce(topic, b"in a transaction")
        p.commit_transaction(T(20))

    with pytest.raises(KafkaException) as e:
        run_txn("tx-denied")
    assert e.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    # kafka-python 2.0.2 has no TRANSACTIONAL_ID resource type: raw CreateAcls v1 names it
    # (resource type 5, literal pattern 3, operation WRITE 4, ALLOW 3).
    b.stop()
    b.settings = SETUP
    b.start()
    assert wire_create(b.bootstrap, 1, [(5, "tx-ok", 3, ME, "*", 4, 3)]) == [(0, None)]
    b.stop()
    b.settings = AUTHZ
    b.start()
    run_txn("tx-ok")
    # Offsets in a transaction need READ on the group (AddOffsetsToTxn).
    from confluent_kafka import Consumer, TopicPartition
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "tx-ok",
                  "transaction.timeout.ms": 60000})
    p.init_transactions(T(20))
    p.begin_transaction()
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g-denied"})
    with pytest.raises(KafkaException) as e:
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 1)],
                                      c.consumer_group_metadata(), T(20))
    assert e.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    c.close()


def test_delete_records_needs_delete_on_the_topic(make_broker):
    ok, no = unique_topic("acl-delrec-ok"), unique_topic("acl-delrec-no")
    b = secured(make_broker, topics=[ok, no], acls=[
        acl(ACLOperation.WRITE, ResourceType.TOPIC, ok),
        acl(ACLOperation.DELETE, ResourceType.TOPIC, ok),
        acl(ACLOperation.WRITE, ResourceType.TOPIC, no),  # may write, not delete records
    ])
    for t in (ok, no):
        assert delivery_errors(b.bootstrap, t, n=3) == set()
    got = kwire.delete_records(b.bootstrap, 2, {(ok, 0): 2, (no, 0): 2}, T(10))
    assert got == {(ok, 0): (0, 2), (no, 0): (TOPIC_AUTHORIZATION_FAILED, -1)}
