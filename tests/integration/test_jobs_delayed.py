"""`sluice jobs` delayed jobs (issue 24): `delay_ms` or `run_at` at submit; the job waits in the
store as `scheduled` (not in a consumer, not in a timer per job), survives kill -9 and restarts,
and starts when due. Real broker, service binary, HTTP and worker processes."""

import datetime
import time

import pytest

from conftest import T, wait_for
from jobs_harness import JobsService

pytestmark = pytest.mark.own_broker


@pytest.fixture
def make_jobs(tmp_path):
    started = []

    def make(broker, settings=None, name="jobs"):
        svc = JobsService(tmp_path, broker.bootstrap, settings, name)
        started.append(svc)
        return svc.start()
    yield make
    for svc in started:
        svc.kill9()


@pytest.fixture
def jobs(broker, make_jobs):
    return make_jobs(broker)


def rfc3339(epoch_ms, offset_min=0):
    tz = datetime.timezone(datetime.timedelta(minutes=offset_min))
    t = datetime.datetime.fromtimestamp(epoch_ms // 1000, tz)
    return t.replace(microsecond=epoch_ms % 1000 * 1000).isoformat(timespec="milliseconds")


def starts(jobs, jid):
    """Start times (epoch s, as the worker saw them) of every run of job jid."""
    return [float(r[3]) for r in jobs.runs() if r[0] == jid and r[2] == "start"]


def scheduled_ids(jobs):
    status, body = jobs.request("GET", "/jobs?state=scheduled&limit=1000")
    assert status == 200, body
    return {j["id"]: j for j in body["jobs"]}


def test_delayed_jobs_wait_as_scheduled_and_start_when_due(jobs):
    due_ms = int(time.time() * 1000) + 2000
    by_delay = jobs.submit({"type": "pecho", "payload": {"n": 1}, "delay_ms": 1500})
    by_time = jobs.submit({"type": "pecho", "payload": {"n": 2},
                           "run_at": rfc3339(due_ms, offset_min=90)})
    at_once = jobs.submit({"type": "echo", "payload": {"n": 3}, "delay_ms": 0})
    past = jobs.submit({"type": "echo", "payload": {"n": 4}, "run_at": "2001-02-03T04:05:06Z"})
    wait_for(lambda: len(scheduled_ids(jobs)) == 2, T(10), "two jobs scheduled")
    listed = scheduled_ids(jobs)
    assert set(listed) == {by_delay, by_time}, listed
    job = jobs.job(by_time)
    assert job["state"] == "scheduled" and job["run_at_ms"] == due_ms, job
    assert job["next_attempt_at_ms"] == job["run_at_ms"], job
    assert listed[by_time]["next_attempt_at_ms"] == job["run_at_ms"]
    assert not starts(jobs, by_delay) and not starts(jobs, by_time), "started before due"
    for jid in (at_once, past):
        jobs.wait_state(jid, "succeeded")
    for jid, due in ((by_delay, jobs.job(by_delay)["run_at_ms"] / 1000.0),
                     (by_time, due_ms / 1000.0)):
        done = jobs.wait_state(jid, "succeeded")
        (start,) = starts(jobs, jid)
        assert start >= due - 0.005, "job %s started %.3f s before it was due" % (jid, due - start)
        print("job %s started %.3f s after it was due" % (jid, start - due))
        assert done["run_at_ms"] and "next_attempt_at_ms" not in done, done
    assert scheduled_ids(jobs) == {}


@pytest.mark.parametrize("extra,field", [
    ({"delay_ms": -1}, "delay_ms"),
    ({"delay_ms": "5"}, "delay_ms"),
    ({"delay_ms": 1.5}, "delay_ms"),
    ({"delay_ms": 366 * 86400 * 1000 + 1}, "delay_ms"),
    ({"run_at": "tomorrow"}, "run_at"),
    ({"run_at": "2030-01-01T00:00:00"}, "run_at"),      # no zone
    ({"run_at": "2030-02-30T00:00:00Z"}, "run_at"),     # no such day
    ({"run_at": "2030-01-01T24:00:00Z"}, "run_at"),
    ({"run_at": "2030-01-01T00:00:00+25:00"}, "run_at"),
    ({"run_at": "9999-01-01T00:00:00Z"}, "run_at"),     # more than a year ahead
    ({"run_at": 1893456000000}, "run_at"),
    ({"delay_ms": 10, "run_at": "2030-01-01T00:00:00Z"}, "run_at"),
])
def test_malformed_or_out_of_range_delays_are_refused(jobs, extra, field):
    status, body = jobs.request("POST", "/jobs", dict({"type": "echo", "payload": 1}, **extra))
    assert status == 400 and body["field"] == field, body
    assert field in body["error"], body


def test_the_longest_delay_is_accepted(jobs):
    jid = jobs.submit({"type": "echo", "payload": 1, "delay_ms": 366 * 86400 * 1000})
    wait_for(lambda: jid in scheduled_ids(jobs), T(10), "scheduled a year ahead")


def test_a_cancelled_scheduled_job_never_runs(jobs):
    jid = jobs.submit({"type": "pecho", "payload": 1, "delay_ms": 1000})
    wait_for(lambda: jid in scheduled_ids(jobs), T(10), "scheduled")
    status, body = jobs.request("DELETE", "/jobs/" + jid)
    assert status == 200, body
    assert jobs.job(jid)["state"] == "cancelled"
    marker = jobs.submit({"type": "echo", "payload": 2, "delay_ms": 1500})
    jobs.wait_state(marker, "succeeded")
    assert jobs.job(jid)["state"] == "cancelled" and not starts(jobs, jid)


def test_delayed_jobs_survive_kill9_and_a_restart_and_run_once(broker, make_jobs):
    jobs = make_jobs(broker)
    ids = jobs.submit([{"type": "pecho", "payload": {"n": i}, "delay_ms": 2500 + 100 * i}
                       for i in range(20)])
    wait_for(lambda: len(scheduled_ids(jobs)) == 20, T(10), "all 20 scheduled")
    due = {jid: jobs.job(jid)["run_at_ms"] / 1000.0 for jid in ids}
    jobs.kill9()
    time.sleep(0.5)
    jobs.start()
    wait_for(lambda: jobs.count("succeeded") == 20, T(60), "all 20 ran after kill -9")
    for jid in ids:
        runs = starts(jobs, jid)
        assert len(runs) == 1, "job %s ran %d times" % (jid, len(runs))
        assert runs[0] >= due[jid] - 0.005, "job %s started before it was due" % jid
    # and again while they wait: a clean stop and start keeps them too
    more = jobs.submit({"type": "echo", "payload": 1, "delay_ms": 1500})
    wait_for(lambda: more in scheduled_ids(jobs), T(10), "scheduled")
    assert jobs.stop() == 0
    jobs.start()
    jobs.wait_state(more, "succeeded")
