/* gw_svc: lifecycle of the gateway and its Kafka threads. The producer poller serves delivery
 * reports and refreshes the topic list (which also tells whether the broker is reachable); the
 * live consumer tails every destination topic from the end it found at start (assign, no
 * group, so every gateway process sees every record); the catch-up reader serves resuming
 * subscriptions one job at a time. All three hand their results to the loop thread. */
#include "gw_int.h"
#include "kit_admin.h"
#include "kit_rk.h"

#include "sl_log.h"
#include "sl_time.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_LOG "gateway"

void gw_rec_free(gw_rec_t *rec)
{
    free(rec->key);
    free(rec->val);
    free(rec);
}

int gw_topic_index(const gw_svc_t *svc, const char *name)
{
    for (int i = 0; i < svc->ntopics; i++) {
        if (strcmp(svc->topics[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

/* ---- handoff to the loop ---- */

/* Queues rec for the loop, waiting while the handoff is full. False when stopping. */
static bool gw__handoff_put(gw_svc_t *svc, gw_rec_t *rec)
{
    pthread_mutex_lock(&svc->mu);
    while (svc->ho_count >= GW_HANDOFF_MAX && !atomic_load(&svc->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        ts.tv_sec += ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&svc->cv, &svc->mu, &ts);
    }
    if (atomic_load(&svc->stop)) {
        pthread_mutex_unlock(&svc->mu);
        gw_rec_free(rec);
        return false;
    }
    rec->next = NULL;
    if (svc->ho_tail) {
        svc->ho_tail->next = rec;
    } else {
        svc->ho_head = rec;
    }
    svc->ho_tail = rec;
    svc->ho_count++;
    pthread_mutex_unlock(&svc->mu);
    lws_cancel_service(svc->ctx);
    return true;
}

gw_rec_t *gw_handoff_take(gw_svc_t *svc, int max, bool *more)
{
    pthread_mutex_lock(&svc->mu);
    gw_rec_t *head = svc->ho_head, *last = NULL;
    int n = 0;
    for (gw_rec_t *r = head; r && n < max; r = r->next) {
        last = r;
        n++;
    }
    if (last) {
        svc->ho_head = last->next;
        if (!svc->ho_head) {
            svc->ho_tail = NULL;
        }
        last->next = NULL;
        svc->ho_count -= n;
        pthread_cond_broadcast(&svc->cv);
    } else {
        head = NULL;
    }
    *more = svc->ho_head != NULL;
    pthread_mutex_unlock(&svc->mu);
    return head;
}

static gw_rec_t *gw__rec_new(gw_svc_t *svc, const rd_kafka_message_t *m, gw_rec_kind_t kind,
                             uint64_t token)
{
    gw_rec_t *rec = sl_xcalloc(1, sizeof *rec);
    rec->kind = kind;
    rec->token = token;
    rec->topic = gw_topic_index(svc, rd_kafka_topic_name(m->rkt));
    rec->partition = m->partition;
    rec->offset = m->offset;
    rec->ts_ms = rd_kafka_message_timestamp(m, NULL);
    if (m->key_len > 0) {
        rec->key = sl_xmalloc(m->key_len);
        memcpy(rec->key, m->key, m->key_len);
        rec->key_len = m->key_len;
    }
    if (m->len > 0) {
        rec->val = sl_xmalloc(m->len);
        memcpy(rec->val, m->payload, m->len);
        rec->val_len = m->len;
    }
    return rec;
}

/* ---- clients ---- */

static void gw__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    SL_UNUSED(rk);
    if (level <= 3) {
        SL_LOGW(GW_LOG, "kafka %s: %s", fac, buf);
    }
}

static void gw__dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    SL_UNUSED(rk);
    gw_svc_t *svc = opaque;
    gw_res_t *res = msg->_private;
    gw_post_t *post = res->post;
    res->err = msg->err;
    res->partition = msg->partition;
    res->offset = msg->offset;
    res->ts_ms = rd_kafka_message_timestamp(msg, NULL);
    gw_post_seal(svc, post); /* one of the post's pending counts: this record's report */
}

/* A client of preset: its client.id and kv over the preset, and the service's settings. Every
 * client: topics are made by the operator, never by a fetch or a produce. */
static rd_kafka_t *gw__client(gw_svc_t *svc, kit_rk_preset_t preset, const char *id,
                              const char *const *kv, char *err, size_t len)
{
    static const char *const all[] = {"allow.auto.create.topics", "false", NULL};
    kit_rk_opts_t opts = {preset, svc->cfg->brokers, id, all, kv, &svc->cfg->kafka};
    rd_kafka_conf_t *conf;
    if (kit_rk_conf_new(&opts, &conf, err, len) != 0) {
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, gw__log_cb);
    if (preset == KIT_RK_PRODUCER) {
        rd_kafka_conf_set_dr_msg_cb(conf, gw__dr);
        rd_kafka_conf_set_opaque(conf, svc);
    }
    return kit_rk_new(preset, conf, err, len);
}

/* ---- produce requests ---- */

gw_post_t *gw_post_new(gw_svc_t *svc, void *owner, bool stomp, const char *topic, int n)
{
    SL_ASSERT(n > 0);
    gw_post_t *post = sl_xcalloc(1, sizeof *post + (size_t)n * sizeof(gw_res_t));
    post->owner = owner;
    post->stomp = stomp;
    post->nres = n;
    post->pending = 1; /* held until sealed */
    snprintf(post->topic, sizeof post->topic, "%s", topic);
    for (int i = 0; i < n; i++) {
        post->res[i].post = post;
        post->res[i].err = RD_KAFKA_RESP_ERR__STATE; /* not produced */
        post->res[i].offset = -1;
    }
    pthread_mutex_lock(&svc->mu);
    svc->inflight++;
    pthread_mutex_unlock(&svc->mu);
    return post;
}

rd_kafka_resp_err_t gw_post_produce(gw_svc_t *svc, gw_post_t *post, int i, int32_t partition,
                                    const void *key, size_t key_len, const void *val,
                                    size_t val_len, rd_kafka_headers_t *hdrs)
{
    SL_ASSERT(i >= 0 && i < post->nres);
    pthread_mutex_lock(&svc->mu);
    post->pending++;
    pthread_mutex_unlock(&svc->mu);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        svc->producer, RD_KAFKA_V_TOPIC(post->topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)val, val_len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&post->res[i]),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err) {
        post->res[i].err = err;
        pthread_mutex_lock(&svc->mu);
        post->pending--;
        pthread_mutex_unlock(&svc->mu);
        if (hdrs) {
            rd_kafka_headers_destroy(hdrs); /* on failure producev does not take them */
        }
    } else {
        atomic_fetch_add(&svc->st.produced, 1);
    }
    return err;
}

void gw_post_seal(gw_svc_t *svc, gw_post_t *post)
{
    pthread_mutex_lock(&svc->mu);
    SL_ASSERT(post->pending > 0);
    bool last = --post->pending == 0;
    if (last) {
        post->next = svc->done;
        svc->done = post;
    }
    pthread_mutex_unlock(&svc->mu);
    if (last) {
        lws_cancel_service(svc->ctx);
    }
}

gw_post_t *gw_post_take_done(gw_svc_t *svc)
{
    pthread_mutex_lock(&svc->mu);
    gw_post_t *list = svc->done;
    svc->done = NULL;
    pthread_mutex_unlock(&svc->mu);
    return list;
}

void gw_post_disown(gw_svc_t *svc, gw_post_t *post)
{
    pthread_mutex_lock(&svc->mu);
    post->owner = NULL;
    pthread_mutex_unlock(&svc->mu);
}

void gw_post_free(gw_svc_t *svc, gw_post_t *post)
{
    pthread_mutex_lock(&svc->mu);
    SL_ASSERT(svc->inflight > 0 && post->pending == 0);
    svc->inflight--;
    pthread_mutex_unlock(&svc->mu);
    free(post);
}

/* ---- topic list ---- */

static int gw__cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void gw__known_free(char **known, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(known[i]);
    }
    free(known);
}

static bool gw__handoff_put(gw_svc_t *svc, gw_rec_t *rec);

/* Partitions added to a consumed topic after start: tells the loop first (through the
 * handoff, so the marker precedes their records), then tails them from their start, so no
 * record produced to them is missed. Thread: producer poller. */
static void gw__parts_grown(gw_svc_t *svc, gw_topic_t *topic, int now)
{
    if (now > GW_PARTS_MAX) {
        SL_LOGW(GW_LOG, "topic %s has %d partitions; only the first %d are delivered",
                topic->name, now, GW_PARTS_MAX);
        now = GW_PARTS_MAX;
    }
    if (now <= topic->nassigned) {
        return;
    }
    gw_rec_t *rec = sl_xcalloc(1, sizeof *rec);
    rec->kind = GW_REC_PARTS;
    rec->topic = (int)(topic - svc->topics);
    rec->partition = now;
    if (!gw__handoff_put(svc, rec)) {
        return; /* stopping */
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(now);
    for (int p = topic->nassigned; p < now; p++) {
        rd_kafka_topic_partition_list_add(l, topic->name, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_error_t *error = rd_kafka_incremental_assign(svc->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (error) {
        SL_LOGE(GW_LOG, "tailing new partitions of %s: %s", topic->name,
                rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return; /* tried again at the next refresh */
    }
    SL_LOGI(GW_LOG, "topic %s grew from %d to %d partitions: tailing the new ones from their start",
            topic->name, topic->nassigned, now);
    topic->nassigned = now;
}

/* Refreshes the topic list and, with tail_new, picks up partitions added to consumed topics;
 * returns whether the broker answered. Thread: producer poller (start-up: without tail_new). */
static bool gw__meta_refresh(gw_svc_t *svc, bool tail_new)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(svc->producer, 1, NULL, &md, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return false;
    }
    char **known = sl_xcalloc((size_t)md->topic_cnt + 1, sizeof *known);
    size_t n = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            known[n++] = sl_xstrdup(md->topics[i].topic);
            int t = gw_topic_index(svc, md->topics[i].topic);
            if (t >= 0 && tail_new) {
                gw__parts_grown(svc, &svc->topics[t], md->topics[i].partition_cnt);
            }
        }
    }
    rd_kafka_metadata_destroy(md);
    qsort(known, n, sizeof *known, gw__cmp_str);
    pthread_mutex_lock(&svc->mu);
    char **old = svc->known;
    size_t nold = svc->nknown;
    svc->known = known;
    svc->nknown = n;
    pthread_mutex_unlock(&svc->mu);
    gw__known_free(old, nold);
    return true;
}

bool gw_topic_known(gw_svc_t *svc, const char *name, uint64_t *gen)
{
    pthread_mutex_lock(&svc->mu);
    bool found = svc->known &&
                 bsearch(&name, svc->known, svc->nknown, sizeof *svc->known, gw__cmp_str);
    if (!found) {
        svc->meta_want = true;
        *gen = svc->meta_gen + 1;
        pthread_cond_broadcast(&svc->cv);
    }
    pthread_mutex_unlock(&svc->mu);
    return found;
}

uint64_t gw_meta_gen(gw_svc_t *svc)
{
    pthread_mutex_lock(&svc->mu);
    uint64_t gen = svc->meta_gen;
    pthread_mutex_unlock(&svc->mu);
    return gen;
}

static void *gw__producer_main(void *arg)
{
    gw_svc_t *svc = arg;
    int64_t next_meta = 0;
    while (!atomic_load(&svc->stop)) {
        rd_kafka_poll(svc->producer, 50);
        pthread_mutex_lock(&svc->mu);
        bool want = svc->meta_want;
        svc->meta_want = false;
        pthread_mutex_unlock(&svc->mu);
        if (!want && sl_time_mono_ms() < next_meta) {
            continue;
        }
        bool ok = gw__meta_refresh(svc, true);
        atomic_store(&svc->broker_ok, ok);
        next_meta = sl_time_mono_ms() + GW_META_MS;
        pthread_mutex_lock(&svc->mu);
        svc->meta_gen++;
        pthread_mutex_unlock(&svc->mu);
        lws_cancel_service(svc->ctx);
    }
    int left = kit_rk_drain(svc->producer, (int)svc->cfg->broker_timeout_ms);
    if (left > 0) { /* every post got its reports: the unacknowledged ones as failures */
        SL_LOGW(GW_LOG, "stopping: %d record(s) not acknowledged within broker.timeout.ms "
                "(%lld ms); dropped", left, (long long)svc->cfg->broker_timeout_ms);
    }
    return NULL;
}

/* ---- live consumer ---- */

static void *gw__consumer_main(void *arg)
{
    gw_svc_t *svc = arg;
    while (!atomic_load(&svc->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(svc->consumer, 100);
        if (!m) {
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                SL_LOGW(GW_LOG, "consumer: %s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        gw_rec_t *rec = gw__rec_new(svc, m, GW_REC_LIVE, 0);
        rd_kafka_message_destroy(m);
        atomic_fetch_add(&svc->st.consumed, 1);
        if (rec->topic < 0) {
            gw_rec_free(rec);
        } else {
            gw__handoff_put(svc, rec);
        }
    }
    return NULL;
}

/* ---- catch-up reader ---- */

void gw_catchup_submit(gw_svc_t *svc, gw_catchup_t *job)
{
    pthread_mutex_lock(&svc->mu);
    job->next = NULL;
    if (svc->jobs_tail) {
        svc->jobs_tail->next = job;
    } else {
        svc->jobs_head = job;
    }
    svc->jobs_tail = job;
    pthread_cond_broadcast(&svc->cv);
    pthread_mutex_unlock(&svc->mu);
}

static gw_catchup_t *gw__job_take(gw_svc_t *svc)
{
    pthread_mutex_lock(&svc->mu);
    while (!svc->jobs_head && !atomic_load(&svc->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&svc->cv, &svc->mu, &ts);
    }
    gw_catchup_t *job = svc->jobs_head;
    if (job) {
        svc->jobs_head = job->next;
        if (!svc->jobs_head) {
            svc->jobs_tail = NULL;
        }
    }
    pthread_mutex_unlock(&svc->mu);
    return job;
}

/* Resolves time-based starts; returns the partition list to assign (every start numeric or
 * BEGINNING; partitions with nothing to read are left out). */
static rd_kafka_topic_partition_list_t *gw__job_list(gw_svc_t *svc, gw_catchup_t *job)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(job->ntp);
    for (int i = 0; i < job->ntp; i++) {
        bool by_time = job->tp[i].start == RD_KAFKA_OFFSET_INVALID;
        rd_kafka_topic_partition_list_add(l, svc->topics[job->tp[i].topic].name,
                                          job->tp[i].partition)
            ->offset = by_time ? job->from_time_ms : job->tp[i].start;
    }
    if (job->from_time_ms >= 0 &&
        rd_kafka_offsets_for_times(svc->catchup, l, (int)svc->cfg->broker_timeout_ms) != 0) {
        rd_kafka_topic_partition_list_destroy(l);
        return NULL;
    }
    rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new(job->ntp);
    for (int i = 0; i < job->ntp; i++) {
        int64_t start = l->elems[i].offset;
        if (job->tp[i].start == RD_KAFKA_OFFSET_INVALID) {
            job->tp[i].start = start < 0 ? job->tp[i].target : start; /* -1: none that late */
        }
        if (job->tp[i].start == RD_KAFKA_OFFSET_BEGINNING || job->tp[i].start < job->tp[i].target) {
            rd_kafka_topic_partition_list_add(out, l->elems[i].topic, l->elems[i].partition)
                ->offset = job->tp[i].start;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return out;
}

/* Reads every listed partition up to its target. Returns false on a timeout or error. */
static bool gw__job_run(gw_svc_t *svc, gw_catchup_t *job, rd_kafka_topic_partition_list_t *l)
{
    int left = l->cnt;
    bool done[GW_TP_MAX] = {false};
    int64_t deadline = sl_time_mono_ms() + 3 * svc->cfg->broker_timeout_ms;
    rd_kafka_assign(svc->catchup, l);
    while (left > 0 && !atomic_load(&svc->stop) && sl_time_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(svc->catchup, 100);
        if (!m) {
            continue;
        }
        int t = gw_topic_index(svc, rd_kafka_topic_name(m->rkt)), k = -1;
        for (int i = 0; i < job->ntp && k < 0; i++) {
            k = job->tp[i].topic == t && job->tp[i].partition == m->partition ? i : -1;
        }
        bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (k < 0 || done[k] || (m->err && !eof)) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (!m->err && m->offset < job->tp[k].target) {
            if (!gw__handoff_put(svc, gw__rec_new(svc, m, GW_REC_CATCHUP, job->token))) {
                rd_kafka_message_destroy(m);
                break;
            }
        }
        if (eof || m->offset + 1 >= job->tp[k].target) {
            done[k] = true;
            left--;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(svc->catchup, NULL);
    return left == 0;
}

static void *gw__catchup_main(void *arg)
{
    gw_svc_t *svc = arg;
    gw_catchup_t *job;
    while ((job = gw__job_take(svc)) != NULL) {
        rd_kafka_topic_partition_list_t *l = gw__job_list(svc, job);
        bool ok = l && gw__job_run(svc, job, l);
        if (l) {
            rd_kafka_topic_partition_list_destroy(l);
        }
        gw_rec_t *rec = sl_xcalloc(1, sizeof *rec);
        rec->kind = ok ? GW_REC_CATCHUP_DONE : GW_REC_CATCHUP_FAIL;
        rec->token = job->token;
        free(job);
        gw__handoff_put(svc, rec);
    }
    return NULL;
}

/* ---- start ---- */

/* Creates every route and destination topic that is missing. */
static int gw__create_topics(gw_svc_t *svc, char *err, size_t len)
{
    const gw_cfg_t *cfg = svc->cfg;
    rd_kafka_NewTopic_t *nt[GW_ROUTES_MAX + GW_TOPICS_MAX];
    size_t n = 0;
    char errstr[256];
    for (int i = 0; i < cfg->nroutes; i++) {
        bool dup = gw_topic_index(svc, cfg->routes[i].topic) >= 0; /* listed below */
        for (int j = 0; j < i && !dup; j++) {
            dup = strcmp(cfg->routes[j].topic, cfg->routes[i].topic) == 0;
        }
        if (!dup) {
            nt[n++] = rd_kafka_NewTopic_new(cfg->routes[i].topic, cfg->partitions, 1, errstr,
                                            sizeof errstr);
        }
    }
    for (int i = 0; i < svc->ntopics; i++) {
        nt[n++] = rd_kafka_NewTopic_new(svc->topics[i].name, cfg->partitions, 1, errstr,
                                        sizeof errstr);
    }
    return kit_create_topics(svc->producer, nt, n, (int)cfg->broker_timeout_ms, cfg->brokers, err,
                             len);
}

/* Learns the partitions of every consumed topic and their end offsets; assigns the live
 * consumer there. */
static int gw__position(gw_svc_t *svc, char *err, size_t len)
{
    int tmo = (int)svc->cfg->broker_timeout_ms;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(GW_TP_MAX);
    int rc = 0;
    for (int t = 0; t < svc->ntopics && rc == 0; t++) {
        gw_topic_t *topic = &svc->topics[t];
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(svc->producer, topic->name, NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(svc->producer, 0, rkt, &md, tmo);
        rd_kafka_topic_destroy(rkt);
        if (e || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1 ||
            md->topics[0].partition_cnt > GW_PARTS_MAX) {
            snprintf(err, len, "topic %s: %s", topic->name,
                     e ? rd_kafka_err2str(e) : "missing or more than 64 partitions");
            rc = SL_EINVAL;
        } else {
            topic->nparts = md->topics[0].partition_cnt;
            topic->nassigned = topic->nparts;
        }
        if (md) {
            rd_kafka_metadata_destroy(md);
        }
        for (int p = 0; p < topic->nparts && rc == 0; p++) {
            int64_t lo = 0, hi = 0;
            e = rd_kafka_query_watermark_offsets(svc->consumer, topic->name, p, &lo, &hi, tmo);
            if (e) {
                snprintf(err, len, "topic %s [%d]: %s", topic->name, p, rd_kafka_err2str(e));
                rc = SL_ECLOSED;
            }
            topic->live_next[p] = hi;
            rd_kafka_topic_partition_list_add(l, topic->name, p)->offset = hi;
        }
    }
    rd_kafka_resp_err_t e = rc == 0 && l->cnt > 0 ? rd_kafka_assign(svc->consumer, l) : 0;
    if (e) {
        snprintf(err, len, "assigning the consumer: %s", rd_kafka_err2str(e));
        rc = SL_EINVAL;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static int gw__clients(gw_svc_t *svc, char *err, size_t len)
{
    char tmo[32];
    snprintf(tmo, sizeof tmo, "%lld", (long long)svc->cfg->broker_timeout_ms);
    /* The idempotent preset: a retried request never stores an alert twice. */
    const char *prod[] = {"linger.ms", "0", "message.timeout.ms", tmo, NULL};
    /* group.id only because librdkafka wants one for assign(); the group is never joined
     * and nothing is committed (the consumer preset). */
    const char *cons[] = {"group.id", "sluice-gateway", "enable.partition.eof", "false",
                          "fetch.wait.max.ms", "20", "queued.max.messages.kbytes", "8192", NULL};
    const char *cu[] = {"group.id", "sluice-gateway", "enable.partition.eof", "true",
                        "fetch.wait.max.ms", "20", "queued.max.messages.kbytes", "4096", NULL};
    svc->producer = gw__client(svc, KIT_RK_PRODUCER, "sluice-gateway", prod, err, len);
    if (svc->producer) {
        svc->consumer = gw__client(svc, KIT_RK_CONSUMER, "sluice-gateway-live", cons, err, len);
    }
    if (svc->consumer) {
        svc->catchup = gw__client(svc, KIT_RK_CONSUMER, "sluice-gateway-resume", cu, err, len);
    }
    return svc->catchup ? 0 : SL_EINVAL;
}

static void gw__topics_from_cfg(gw_svc_t *svc)
{
    for (int d = 0; d < svc->cfg->ndests; d++) {
        for (int i = 0; i < svc->cfg->dests[d].ntopics; i++) {
            const char *name = svc->cfg->dests[d].topics[i];
            if (gw_topic_index(svc, name) < 0) {
                SL_ASSERT(svc->ntopics < GW_TOPICS_MAX);
                snprintf(svc->topics[svc->ntopics++].name, GW_TOPIC_BUF, "%s", name);
            }
        }
    }
}

static void gw__free(gw_svc_t *svc)
{
    if (svc->catchup) {
        rd_kafka_destroy(svc->catchup);
    }
    if (svc->consumer) {
        rd_kafka_destroy(svc->consumer);
    }
    if (svc->producer) {
        rd_kafka_destroy(svc->producer);
    }
    gw_rec_t *rec = svc->ho_head;
    while (rec) {
        gw_rec_t *next = rec->next;
        gw_rec_free(rec);
        rec = next;
    }
    for (gw_catchup_t *job = svc->jobs_head, *next; job; job = next) {
        next = job->next;
        free(job);
    }
    gw__known_free(svc->known, svc->nknown);
    pthread_cond_destroy(&svc->cv);
    pthread_mutex_destroy(&svc->mu);
    free(svc);
}

int gw_start(const gw_cfg_t *cfg, gw_svc_t **out, char *err, size_t err_len)
{
    gw_svc_t *svc = sl_xcalloc(1, sizeof *svc);
    svc->cfg = cfg;
    pthread_mutex_init(&svc->mu, NULL);
    pthread_cond_init(&svc->cv, NULL);
    gw__topics_from_cfg(svc);
    int rc = gw__clients(svc, err, err_len);
    if (rc == 0) {
        rc = gw__create_topics(svc, err, err_len);
    }
    if (rc == 0) {
        rc = gw__position(svc, err, err_len);
    }
    if (rc == 0) {
        atomic_store(&svc->broker_ok, gw__meta_refresh(svc, false)); /* the first requests need it */
        rc = gw_loop_start(svc, err, err_len);
    }
    if (rc != 0) {
        gw__free(svc);
        return rc;
    }
    pthread_create(&svc->producer_th, NULL, gw__producer_main, svc);
    pthread_create(&svc->consumer_th, NULL, gw__consumer_main, svc);
    pthread_create(&svc->catchup_th, NULL, gw__catchup_main, svc);
    *out = svc;
    return 0;
}

int gw_port(const gw_svc_t *svc)
{
    return svc->port;
}

bool gw_alive(const gw_svc_t *svc)
{
    return !atomic_load(&svc->dead);
}

void gw_stop(gw_svc_t *svc)
{
    atomic_store(&svc->stop, true);
    pthread_mutex_lock(&svc->mu);
    pthread_cond_broadcast(&svc->cv);
    pthread_mutex_unlock(&svc->mu);
    pthread_join(svc->consumer_th, NULL);
    pthread_join(svc->catchup_th, NULL);
    pthread_join(svc->producer_th, NULL); /* every post has its reports now */
    gw_loop_stop(svc);
    rd_kafka_consumer_close(svc->consumer);
    rd_kafka_consumer_close(svc->catchup);
    gw__free(svc);
}
