/* jpool: the worker pool of `sluice jobs`. One poll thread owns the consumer of the assigned
 * topic and all bookkeeping; N slot threads run jobs (jrun). The poll thread takes at most as
 * many events as there are free slots and pauses its partitions while all are taken, so memory
 * holds at most N jobs (never an unbounded queue), and it keeps polling so the consumer stays in
 * its group however long a job runs.
 *
 * A job is leased in the store (jstore_mark_running) before its offset is marked done and
 * before it starts; the poll thread renews the leases of every job it holds every lease/3. A
 * lease found lost (operator cancel, or it expired) stops the job. A finished attempt is
 * recorded in the store (with its webhook delivery) in the same transaction that leases the
 * next jobs, then published to the completed topic, whose consumer schedules retries; a crash
 * before the record is repaired by the lease reaper, one after it by the scheduler's re-drive
 * of failed jobs.
 * Per-type and per-key concurrency limits hold jobs back in the pending list (still leased).
 * Thread: poll thread (jpool_main) and slot threads; `mu` guards slot hand-offs and `done`. */
#include "jsvc_int.h"

#include "sl_log.h"
#include "sl_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JPOOL_LOG "jobs"
#define JPOOL_HANDBACK_EXTRA_MS 3000 /* at shutdown, stopped workers' slots get the kill grace
                                       * plus this long to return their jobs */
#define JPOOL_START_TIMEOUT_MS 10000 /* a persistent worker's engine start-up allowance */
#define JPOOL_PAUSE_AFTER_MS 500     /* all slots busy this long: pause the partitions */

typedef struct jpool_job jpool_job_t;
struct jpool_job {
    jpool_job_t *next;      /* in held (poll thread) */
    jpool_job_t *done_next; /* in done (under mu) */
    char id[JSTORE_ID_BUF];
    char *type, *key, *payload;
    size_t payload_len;
    int attempt, timeout_s, type_idx; /* type_idx -1: no worker for the type */
    int64_t created_ms;
    int32_t partition;
    int64_t offset;
    int slot; /* -1 while pending */
    bool lease_lost;
    bool released; /* handed back at shutdown (jstore_release): no outcome to report */
    jrun_result_t res;
};

typedef struct {
    jpool_t *pool;
    int idx;
    pthread_t th;
    jrun_ctl_t *ctl;
    jrun_worker_t *workers[JCFG_TYPES_MAX]; /* persistent workers of this slot, by type */
    jpool_job_t *job;                       /* handed over under mu; NULL when idle */
} jpool_slot_t;

struct jpool {
    jsvc_t *svc;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* slots wait for a job */
    pthread_cond_t done_cv; /* the poll thread waits for a finished job */
    bool quit;
    jpool_slot_t slots[JCFG_SLOTS_MAX];
    int nslots;
    jpool_job_t *done; /* finished by slots, not yet recorded (under mu) */
    /* Poll thread only: */
    jpool_job_t *held; /* pending and running jobs */
    int nheld;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    jstore_t *st;
    bool paused;
    bool handing_back;  /* shutdown: a cancelled run is released, not failed */
    int released;       /* jobs handed back at shutdown */
    int64_t full_since; /* mono ms since every slot is taken; 0 when not full */
    char owner[JSTORE_OWNER_BUF];
};

/* ---- slots ---- */

static void jpool__run(jpool_slot_t *slot, jpool_job_t *job)
{
    const jcfg_t *cfg = slot->pool->svc->cfg;
    if (job->type_idx < 0) {
        memset(&job->res, 0, sizeof job->res);
        job->res.status = JRUN_START;
        job->res.log = sl_xstrndup("", 0);
        snprintf(job->res.reason, sizeof job->res.reason,
                 "no worker for job type '%s' (configure type.%s.command)", job->type,
                 job->type);
        return;
    }
    const jcfg_type_t *t = &cfg->types[job->type_idx];
    jrun_cmd_t cmd = {.argv = (const char *const *)t->argv,
                      .hooks = jproc_hooks(slot->pool->svc->procs),
                      .grace_ms = cfg->grace_ms,
                      .start_timeout_ms = JPOOL_START_TIMEOUT_MS};
    int64_t tmo = (int64_t)job->timeout_s * 1000;
    int rc;
    if (t->mode == JCFG_ONESHOT) {
        rc = jrun_oneshot(&cmd, job->payload, job->payload_len, tmo, slot->ctl, &job->res);
    } else {
        jrun_worker_t **w = &slot->workers[job->type_idx];
        rc = *w ? 0 : jrun_worker_new(&cmd, w);
        if (rc == 0) {
            rc = jrun_worker_run(*w, job->id, job->attempt, job->payload, job->payload_len, tmo,
                                 slot->ctl, &job->res);
        }
    }
    if (rc != 0) {
        memset(&job->res, 0, sizeof job->res);
        job->res.status = JRUN_START;
        job->res.log = sl_xstrndup("", 0);
        snprintf(job->res.reason, sizeof job->res.reason, "could not run: %s",
                 sl_strerror(rc));
    }
}

static void *jpool__slot_main(void *arg)
{
    jpool_slot_t *slot = arg;
    jpool_t *pool = slot->pool;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!slot->job && !pool->quit) {
            pthread_cond_wait(&pool->cv, &pool->mu);
        }
        if (!slot->job) {
            break;
        }
        jpool_job_t *job = slot->job;
        pthread_mutex_unlock(&pool->mu);
        jpool__run(slot, job);
        pthread_mutex_lock(&pool->mu);
        slot->job = NULL;
        job->done_next = pool->done;
        pool->done = job;
        pthread_cond_signal(&pool->done_cv); /* wake the poll thread */
    }
    pthread_mutex_unlock(&pool->mu);
    for (int t = 0; t < JCFG_TYPES_MAX; t++) {
        jrun_worker_free(slot->workers[t]); /* here: they die with this thread (pdeathsig) */
        slot->workers[t] = NULL;
    }
    return NULL;
}

int jpool_new(jsvc_t *svc, jpool_t **out)
{
    jpool_t *pool = calloc(1, sizeof *pool);
    SL_ASSERT(pool);
    pool->svc = svc;
    pool->nslots = svc->cfg->slots;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    snprintf(pool->owner, sizeof pool->owner, "%s", svc->cfg->worker_id);
    pool->rk = jsvc_consumer_new(svc, "workers", svc->t_assigned);
    pool->q = rd_kafka_queue_get_consumer(pool->rk);
    for (int i = 0; i < pool->nslots; i++) {
        jpool_slot_t *slot = &pool->slots[i];
        slot->pool = pool;
        slot->idx = i;
        if (jrun_ctl_new(&slot->ctl) != 0 ||
            pthread_create(&slot->th, NULL, jpool__slot_main, slot) != 0) {
            SL_LOGE(JPOOL_LOG, "starting worker slot %d failed", i);
            pool->nslots = i;
            jpool_free(pool);
            return SL_ENOMEM;
        }
    }
    *out = pool;
    return 0;
}

static void jpool__job_free(jpool_job_t *job)
{
    jrun_result_deinit(&job->res);
    free(job->type);
    free(job->key);
    free(job->payload);
    free(job);
}

void jpool_free(jpool_t *pool)
{
    if (!pool) {
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->quit = true;
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->nslots; i++) {
        jpool_slot_t *slot = &pool->slots[i];
        jrun_cancel(slot->ctl);
        pthread_join(slot->th, NULL);
        for (int t = 0; t < JCFG_TYPES_MAX; t++) {
            jrun_worker_free(slot->workers[t]);
        }
        jrun_ctl_free(slot->ctl);
    }
    for (jpool_job_t *j = pool->held, *next; j; j = next) {
        next = j->next; /* done jobs are still held */
        jpool__job_free(j);
    }
    if (pool->q) {
        rd_kafka_queue_destroy(pool->q);
        rd_kafka_destroy(pool->rk);
    }
    pthread_cond_destroy(&pool->cv);
    pthread_cond_destroy(&pool->done_cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}

/* ---- poll thread ---- */

static void jpool__unlink(jpool_t *pool, jpool_job_t *job)
{
    for (jpool_job_t **pp = &pool->held; *pp; pp = &(*pp)->next) {
        if (*pp == job) {
            *pp = job->next;
            pool->nheld--;
            return;
        }
    }
    SL_ASSERT(!"held job not found");
}

/* Builds the completion event of a finished job. */
static char *jpool__completion(const jpool_job_t *job)
{
    bool ok = job->res.status == JRUN_OK;
    json_error_t jerr;
    json_t *result = ok && job->res.result ? json_loads(job->res.result, JSON_DECODE_ANY, &jerr)
                                           : NULL;
    json_t *o = json_pack("{s:s, s:i, s:b, s:o, s:o, s:o, s:i, s:I, s:I}", "id", job->id,
                          "attempt", job->attempt, "ok", ok, "result",
                          result ? result : json_null(), "error",
                          jsvc_json_text(job->res.reason), "log_tail",
                          jsvc_json_text(job->res.log), "src_partition", job->partition,
                          "src_offset", (json_int_t)job->offset, "elapsed_ms",
                          (json_int_t)job->res.elapsed_ms);
    SL_ASSERT(o);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void jpool__free_wait(jwait_t *w)
{
    if (w->err) {
        SL_LOGW(JPOOL_LOG, "a completion event was not delivered (%s); the scheduler re-drives "
                "its follow-up from the store", rd_kafka_err2str(w->err));
    }
    jwait_deinit(w);
    free(w);
}

/* Publishes the completions of done without waiting: the store already holds each outcome
 * (and a success's webhook), so a lost event only delays a failure's retry until the
 * scheduler's re-drive. */
static void jpool__publish_done(jpool_t *pool, jpool_job_t *done)
{
    jsvc_t *svc = pool->svc;
    jwait_t *w = malloc(sizeof *w);
    SL_ASSERT(w);
    jwait_init(w, jpool__free_wait);
    jwait_hold(w);
    for (jpool_job_t *j = done; j; j = j->done_next) {
        if (j->lease_lost || j->released) {
            continue; /* cancelled, taken over or handed back: no outcome of ours to report */
        }
        char *text = jpool__completion(j);
        const char *key = j->key ? j->key : j->id;
        rd_kafka_resp_err_t err = jwait_produce(svc, w, svc->t_completed, RD_KAFKA_PARTITION_UA,
                                                key, strlen(key), text, strlen(text), NULL);
        free(text);
        if (err) {
            SL_LOGW(JPOOL_LOG, "publishing to %s: %s", svc->t_completed, rd_kafka_err2str(err));
        }
    }
    jwait_release(w);
}

/* Parses one assigned event into a held job, leased in the store; NULL when it is not ours to
 * run (already run, cancelled, stale) or malformed. Inside the poll thread's store batch. */
static jpool_job_t *jpool__take(jpool_t *pool, const rd_kafka_message_t *msg)
{
    jsvc_t *svc = pool->svc;
    jevt_assigned_t ev;
    if (jevt_assigned_parse(msg->payload, msg->len, &ev) != 0) {
        atomic_fetch_add(&svc->m.bad_events, 1);
        SL_LOGW(JPOOL_LOG, "skipping malformed assigned event at %s[%d]@%lld",
                rd_kafka_topic_name(msg->rkt), (int)msg->partition, (long long)msg->offset);
        return NULL;
    }
    int rc = jstore_mark_running(pool->st, ev.id, ev.attempt, pool->owner, svc->cfg->lease_ms,
                                 sl_time_wall_ms());
    jpool_job_t *job = NULL;
    if (rc == 0) {
        job = calloc(1, sizeof *job);
        SL_ASSERT(job);
        snprintf(job->id, sizeof job->id, "%s", ev.id);
        job->type = sl_xstrndup(ev.type, strlen(ev.type));
        job->key = ev.key ? sl_xstrndup(ev.key, strlen(ev.key)) : NULL;
        job->payload = json_dumps(ev.payload, JSON_COMPACT | JSON_ENCODE_ANY);
        job->payload_len = strlen(job->payload);
        job->attempt = ev.attempt;
        job->timeout_s = ev.timeout_s;
        job->created_ms = ev.created_ms;
        job->partition = msg->partition;
        job->offset = msg->offset;
        job->slot = -1;
        job->type_idx = -1;
        for (int i = 0; i < svc->cfg->ntypes; i++) {
            if (strcmp(svc->cfg->types[i].name, ev.type) == 0) {
                job->type_idx = i;
            }
        }
    } else if (rc != SL_EEXIST && rc != SL_EINVAL && rc != SL_ENOTFOUND && rc != SL_ERANGE) {
        SL_LOGW(JPOOL_LOG, "job %s: lease: %s", ev.id, sl_strerror(rc));
    }
    json_decref(ev.root);
    return job;
}

/* Hands job back (its run was stopped, or never started): due again at once. Inside a store
 * batch. True when released. */
static bool jpool__release(jpool_t *pool, jpool_job_t *job)
{
    char why[JSTORE_OWNER_BUF + 64];
    snprintf(why, sizeof why, "released by %s: the service stopped", pool->owner);
    int rc = jstore_release(pool->st, job->id, job->attempt, pool->owner, why,
                            sl_time_wall_ms());
    if (rc != 0 && rc != SL_ECLOSED) {
        SL_LOGW(JPOOL_LOG, "job %s attempt %d: releasing its lease: %s (it expires instead)",
                job->id, job->attempt, sl_strerror(rc));
    }
    return rc == 0;
}

/* One store transaction: record finished jobs, lease new ones. New jobs go to *taken in
 * order. Retried until it commits. */
static bool jpool__record(jpool_t *pool, jpool_job_t *done, rd_kafka_message_t **msgs,
                          ssize_t n, jpool_job_t **taken)
{
    jsvc_t *svc = pool->svc;
    while (!atomic_load(&svc->stop)) {
        int rc = jstore_batch_begin(pool->st);
        jpool_job_t *list = NULL, **tail = &list;
        for (jpool_job_t *j = done; rc == 0 && j; j = j->done_next) {
            if (!j->lease_lost && pool->handing_back && j->res.status == JRUN_CANCELLED) {
                j->released = jpool__release(pool, j);
            } else if (!j->lease_lost) {
                bool ok = j->res.status == JRUN_OK;
                int64_t now = sl_time_wall_ms();
                if (jstore_finish(pool->st, j->id, j->attempt, ok, ok ? j->res.result : NULL,
                                  ok ? NULL : j->res.reason, j->res.log, now) == 0 && ok) {
                    jstore_webhook_enqueue(pool->st, j->id, j->attempt, now); /* SL_EINVAL: none */
                }
            }
        }
        for (ssize_t i = 0; rc == 0 && i < n; i++) {
            jpool_job_t *job = msgs[i]->err ? NULL : jpool__take(pool, msgs[i]);
            if (job) {
                *tail = job;
                tail = &job->next;
            }
        }
        rc = rc ? rc : jstore_batch_end(pool->st);
        if (rc == 0) {
            *taken = list;
            return true;
        }
        for (jpool_job_t *j = list, *next; j; j = next) {
            next = j->next;
            jpool__job_free(j);
        }
        SL_LOGW(JPOOL_LOG, "store batch: %s; retrying", sl_strerror(rc));
        rd_kafka_poll(pool->rk, 500);
    }
    return false;
}

static int jpool__running_like(const jpool_t *pool, const jpool_job_t *job, bool by_key)
{
    int n = 0;
    for (const jpool_job_t *j = pool->held; j; j = j->next) {
        if (j->slot < 0) {
            continue;
        }
        if (by_key ? (j->key && job->key && strcmp(j->key, job->key) == 0)
                   : j->type_idx == job->type_idx) {
            n++;
        }
    }
    return n;
}

/* Starts pending jobs, oldest first, on idle slots within the type and key limits. */
static void jpool__dispatch(jpool_t *pool)
{
    const jcfg_t *cfg = pool->svc->cfg;
    for (jpool_job_t *job = pool->held; job; job = job->next) {
        if (job->slot >= 0) {
            continue;
        }
        int conc = job->type_idx >= 0 ? cfg->types[job->type_idx].concurrency : 0;
        if ((conc > 0 && jpool__running_like(pool, job, false) >= conc) ||
            (cfg->per_key > 0 && job->key && jpool__running_like(pool, job, true) >= cfg->per_key)) {
            continue;
        }
        pthread_mutex_lock(&pool->mu);
        for (int i = 0; i < pool->nslots; i++) {
            jpool_slot_t *slot = &pool->slots[i];
            bool busy = slot->job != NULL;
            for (const jpool_job_t *j = pool->held; j && !busy; j = j->next) {
                busy = j->slot == i; /* finished but not yet recorded */
            }
            if (!busy) {
                jrun_ctl_reset(slot->ctl);
                job->slot = i;
                slot->job = job;
                pthread_cond_broadcast(&pool->cv);
                break;
            }
        }
        pthread_mutex_unlock(&pool->mu);
    }
}

/* Renews every held lease; a lost one stops its job (running) or drops it (pending). */
static void jpool__heartbeat(jpool_t *pool)
{
    jsvc_t *svc = pool->svc;
    if (!pool->held || jstore_batch_begin(pool->st) != 0) {
        return;
    }
    int64_t now = sl_time_wall_ms();
    for (jpool_job_t *j = pool->held; j; j = j->next) {
        if (!j->lease_lost && jstore_heartbeat_lease(pool->st, j->id, j->attempt, pool->owner,
                                                     svc->cfg->lease_ms, now) == SL_ECLOSED) {
            j->lease_lost = true;
        }
    }
    if (jstore_batch_end(pool->st) != 0) {
        return;
    }
    for (jpool_job_t *j = pool->held, *next; j; j = next) {
        next = j->next;
        if (!j->lease_lost) {
            continue;
        }
        SL_LOGI(JPOOL_LOG, "job %s attempt %d: lease lost (cancelled or taken over); stopping",
                j->id, j->attempt);
        if (j->slot >= 0) {
            jrun_cancel(pool->slots[j->slot].ctl);
        } else {
            jpool__unlink(pool, j);
            jpool__job_free(j);
        }
    }
}

static void jpool__pause(jpool_t *pool, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(pool->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return;
    }
    if (pause) {
        rd_kafka_pause_partitions(pool->rk, parts);
    } else {
        rd_kafka_resume_partitions(pool->rk, parts);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    pool->paused = pause;
}

static void jpool__lag(jpool_t *pool)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(pool->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return;
    }
    rd_kafka_position(pool->rk, parts);
    int64_t lag = 0;
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (rd_kafka_get_watermark_offsets(pool->rk, p->topic, p->partition, &lo, &hi) == 0 &&
            hi >= 0) {
            lag += hi - (p->offset >= 0 ? p->offset : lo);
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    atomic_store(&pool->svc->m.queue_lag, lag);
}

/* Records finished jobs: metrics, then removal from held. */
static void jpool__retire(jpool_t *pool, jpool_job_t *done)
{
    jsvc_metrics_t *m = &pool->svc->m;
    int64_t now = sl_time_wall_ms();
    for (jpool_job_t *j = done, *next; j; j = next) {
        next = j->done_next;
        pool->released += j->released;
        if (!j->lease_lost && !j->released) {
            atomic_fetch_add(j->res.status == JRUN_OK ? &m->completed_ok : &m->completed_failed,
                             1);
            jsvc_hist_observe(&m->run, j->res.elapsed_ms * 1000);
            if (j->created_ms > 0) {
                jsvc_hist_observe(&m->e2e, (now - j->created_ms) * 1000);
            }
        }
        jpool__unlink(pool, j);
        jpool__job_free(j);
    }
}

/* Sleeps until a slot finishes a job or ms pass. */
static void jpool__wait_done(jpool_t *pool, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&pool->mu);
    if (!pool->done) {
        pthread_cond_timedwait(&pool->done_cv, &pool->mu, &ts);
    }
    pthread_mutex_unlock(&pool->mu);
}

/* Pauses fetching while the slots stay full (resumes when there is room), then takes at most
 * room fetched messages into msgs or waits a little for a job to end (any_done: some did, so
 * no waiting). Returns how many messages it took. */
static ssize_t jpool__fetch(jpool_t *pool, rd_kafka_message_t **msgs, bool any_done, int room,
                            bool draining)
{
    ssize_t n = 0;
    int wait_ms = any_done ? 0 : pool->nheld > 0 ? 5 : 100;
    int64_t now = sl_time_mono_ms();
    if (draining || room > 0) {
        pool->full_since = 0;
        if (pool->paused) {
            jpool__pause(pool, false);
        }
    } else if (pool->full_since == 0) {
        pool->full_since = now;
    } else if (!pool->paused && now - pool->full_since >= JPOOL_PAUSE_AFTER_MS) {
        jpool__pause(pool, true); /* long jobs: stop fetching, keep polling for the group */
    }
    if (!draining && room > 0) {
        /* Idle: block on Kafka (nothing can finish). Busy: take what is fetched, then wait for
         * a slot to finish (new events are picked up on the next turn). */
        n = jsvc_take(pool->rk, pool->q, pool->nheld == 0 && !any_done ? wait_ms : 0, msgs,
                      (size_t)room);
        if (n == 0 && !any_done && pool->nheld > 0) {
            jpool__wait_done(pool, wait_ms);
        }
    } else {
        if (pool->paused && !draining) {
            /* Serves group events; a paused partition's fetched messages were purged, so this
             * returns none or, racing the pause, one: at most one job over the slots. */
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(pool->rk, 0);
            if (msg) {
                msgs[n++] = msg;
            }
        }
        if (!any_done) {
            jpool__wait_done(pool, wait_ms);
        }
    }
    return n;
}

/* One turn: record what finished, take what fits, start what may start. */
static bool jpool__turn(jpool_t *pool, rd_kafka_message_t **msgs, bool draining)
{
    pthread_mutex_lock(&pool->mu);
    jpool_job_t *done = pool->done;
    pool->done = NULL;
    pthread_mutex_unlock(&pool->mu);
    int ndone = 0;
    for (jpool_job_t *j = done; j; j = j->done_next) {
        ndone++;
    }
    int room = pool->nslots - (pool->nheld - ndone);
    ssize_t n = jpool__fetch(pool, msgs, done != NULL, room, draining);
    jpool_job_t *taken = NULL;
    if ((done || n > 0) && !jpool__record(pool, done, msgs, n, &taken)) {
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_destroy(msgs[i]);
        }
        return false;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (!msgs[i]->err) {
            jsvc_offset_done(pool->rk, msgs[i]);
        }
        rd_kafka_message_destroy(msgs[i]);
    }
    if (done) {
        jpool__publish_done(pool, done);
    }
    jpool__retire(pool, done);
    jpool_job_t **tail = &pool->held;
    while (*tail) {
        tail = &(*tail)->next;
    }
    *tail = taken;
    for (jpool_job_t *j = taken; j; j = j->next) {
        pool->nheld++;
    }
    if (!draining) {
        jpool__dispatch(pool); /* a stopping pool starts nothing: pending jobs are handed back */
    }
    return true;
}

static int jpool__count_running(const jpool_t *pool)
{
    int n = 0;
    for (const jpool_job_t *j = pool->held; j; j = j->next) {
        n += j->slot >= 0;
    }
    return n;
}

/* Shutdown, once the wait is over: stops the workers of the jobs still running, records what
 * they return (a run that ended on its own keeps its outcome) and releases the leases of every
 * job still held, so they are due again at once rather than after their leases expire. */
static void jpool__hand_back(jpool_t *pool, rd_kafka_message_t **msgs)
{
    const jcfg_t *cfg = pool->svc->cfg;
    int running = jpool__count_running(pool), held = pool->nheld;
    if (held == 0) {
        return;
    }
    if (running > 0) {
        SL_LOGI(JPOOL_LOG, "stopping: %d job(s) still running; stopping their workers and "
                "releasing their leases", running);
    }
    pool->handing_back = true;
    for (const jpool_job_t *j = pool->held; j; j = j->next) {
        if (j->slot >= 0) {
            jrun_cancel(pool->slots[j->slot].ctl);
        }
    }
    int64_t until = sl_time_mono_ms() + cfg->grace_ms + JPOOL_HANDBACK_EXTRA_MS;
    while (jpool__count_running(pool) > 0 && sl_time_mono_ms() < until) {
        if (!jpool__turn(pool, msgs, true)) {
            break;
        }
    }
    if (jstore_batch_begin(pool->st) == 0) {
        int pending = 0;
        for (jpool_job_t *j = pool->held; j; j = j->next) {
            if (j->slot < 0 && !j->lease_lost) {
                pending += jpool__release(pool, j); /* leased, never started */
            }
        }
        if (jstore_batch_end(pool->st) == 0) {
            pool->released += pending;
        } else {
            SL_LOGW(JPOOL_LOG, "releasing the leases of pending jobs failed; they expire instead");
        }
    }
    SL_LOGI(JPOOL_LOG, "stopping: released the leases of %d of %d held job(s): due again at once",
            pool->released, held);
}

void *jpool_main(void *arg)
{
    jsvc_t *svc = arg;
    jpool_t *pool = svc->pool;
    pool->st = jsvc_store_open(svc);
    if (!pool->st) {
        atomic_store(&svc->stage_dead[JSVC_STAGE_POOL], true);
        return NULL;
    }
    rd_kafka_message_t **msgs = calloc((size_t)pool->nslots + 1, sizeof *msgs);
    SL_ASSERT(msgs);
    int64_t last_beat = 0, last_lag = 0, drain_until = 0;
    bool stopped = false; /* the store loop gave up: the service is stopping hard */
    for (;;) {
        jsvc_beat(svc, JSVC_STAGE_POOL);
        bool draining = atomic_load(&svc->stop_input);
        int64_t now = sl_time_mono_ms();
        if (draining && drain_until == 0) {
            drain_until = now + svc->cfg->shutdown_wait_ms;
            int running = jpool__count_running(pool);
            if (running > 0) {
                SL_LOGI(JPOOL_LOG, "stopping: waiting for %d running job(s) (up to %.1f s), "
                        "then stopping their workers and releasing their leases", running,
                        (double)svc->cfg->shutdown_wait_ms / 1000.0);
            } else {
                SL_LOGI(JPOOL_LOG, "stopping: no running jobs");
            }
        }
        if (draining && (jpool__count_running(pool) == 0 || now >= drain_until)) {
            break;
        }
        if (!jpool__turn(pool, msgs, draining)) {
            stopped = true;
            break;
        }
        if (now - last_beat >= svc->cfg->lease_ms / 3) {
            jpool__heartbeat(pool);
            last_beat = now;
        }
        if (now - last_lag >= 1000) {
            jpool__lag(pool);
            jrun_reap_orphans(false); /* orphans of finished job trees (we are subreaper) */
            last_lag = now;
        }
    }
    if (!stopped) {
        jpool__hand_back(pool, msgs);
    }
    for (int i = 0; i < pool->nslots; i++) {
        jrun_cancel(pool->slots[i].ctl); /* whatever is left: leases expire, jobs run again */
    }
    free(msgs);
    rd_kafka_consumer_close(pool->rk);
    jstore_close(pool->st);
    pool->st = NULL;
    return NULL;
}
