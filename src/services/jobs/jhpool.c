/* jhpool: concurrent webhook deliveries with a bound per destination host (issue 20). Before,
 * one thread delivered serially with a 10 s timeout, so a few unreachable URLs delayed every
 * customer's webhooks. Now the dispatcher (jpipe.c) queues claimed deliveries here; each of
 * webhook.concurrency sender threads takes the oldest queued delivery whose destination has
 * fewer than webhook.per.host in flight, sends it with its own jhook_t (one curl handle, kept
 * alive per thread) and records the try with its own store connection. A destination is the
 * URL's scheme://host:port, lower-cased. The connection of one delivery is set up in one place,
 * jhook_send (jhook.c), where an outbound-address policy belongs. */
#include "jhook.h"
#include "jsvc_int.h"

#include "sl_log.h"
#include "sl_time.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JHPOOL_LOG "jobs"
#define JHPOOL_HOST_BYTES_MAX 300 /* destination key; longer hosts are cut (still distinct) */
SL_STATIC_ASSERT(JHPOOL_QUEUE_MAX >= JHPOOL_HOST_QUEUE_MAX, "a host's queue fits the queue");

typedef struct jhpool_item jhpool_item_t;
struct jhpool_item {
    jhpool_item_t *next;
    jstore_delivery_t d;
    char host[JHPOOL_HOST_BYTES_MAX + 1];
};

typedef struct {
    jhpool_t *hp;
    pthread_t th;
    bool started;
    jhpool_item_t *cur; /* in flight (under mu) */
} jhpool_sender_t;

struct jhpool {
    jsvc_t *svc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;
    jhpool_item_t *head, *tail; /* queued, oldest first */
    size_t nqueued;
    jhook_sched_t sched;
    int per_host;
    int nsenders;
    jhpool_sender_t senders[JHPOOL_THREADS_MAX];
};

/* scheme://[user@]host[:port]/... -> "scheme://host:port" lower-cased (port as written). */
static void jhpool__host(const char *url, char out[JHPOOL_HOST_BYTES_MAX + 1])
{
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    while (at && memchr(at + 1, '@', alen - (size_t)(at + 1 - auth))) {
        at = memchr(at + 1, '@', alen - (size_t)(at + 1 - auth));
    }
    size_t slen = sep ? (size_t)(sep + 3 - url) : 0, n = 0;
    for (size_t i = 0; i < slen && n < JHPOOL_HOST_BYTES_MAX; i++) {
        out[n++] = (char)tolower((unsigned char)url[i]);
    }
    const char *h = at ? at + 1 : auth;
    for (const char *p = h; p < auth + alen && n < JHPOOL_HOST_BYTES_MAX; p++) {
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
}

static bool jhpool__same(const jstore_delivery_t *a, const jstore_delivery_t *b)
{
    return a->attempt == b->attempt && strcmp(a->job_id, b->job_id) == 0;
}

static int jhpool__in_flight(const jhpool_t *hp, const char *host) /* under mu */
{
    int n = 0;
    for (int i = 0; i < hp->nsenders; i++) {
        n += hp->senders[i].cur && strcmp(hp->senders[i].cur->host, host) == 0;
    }
    return n;
}

/* The oldest queued item whose host has room, unlinked; NULL when none. Under mu. */
static jhpool_item_t *jhpool__take(jhpool_t *hp)
{
    for (jhpool_item_t **pp = &hp->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        jhpool_item_t *it = *pp;
        if (jhpool__in_flight(hp, it->host) < hp->per_host) {
            *pp = it->next;
            if (hp->tail == it) {
                hp->tail = prev;
            }
            hp->nqueued--;
            return it;
        }
    }
    return NULL;
}

static char *jhpool__body(const jstore_job_t *job)
{
    json_error_t jerr;
    json_t *result = job->result ? json_loads(job->result, JSON_DECODE_ANY, &jerr) : NULL;
    char type[32];
    snprintf(type, sizeof type, "job.%s", jstore_state_name(job->state));
    json_t *data = json_pack("{s:s, s:s, s:s, s:i, s:o, s:o, s:o}", "id", job->id, "type",
                             job->type, "state", jstore_state_name(job->state), "attempt",
                             job->attempt, "result", result ? result : json_null(), "error",
                             jsvc_json_text(job->last_error), "log_tail",
                             jsvc_json_text(job->log_tail));
    json_t *o = json_pack("{s:s, s:I, s:o}", "type", type, "timestamp_ms",
                          (json_int_t)sl_time_wall_ms(), "data", data);
    SL_ASSERT(o);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* One try of one delivery, recorded in the store. */
static void jhpool__deliver(jhpool_t *hp, jstore_t *st, jhook_t *hook, const jstore_delivery_t *d)
{
    jsvc_t *svc = hp->svc;
    jstore_job_t job;
    if (jstore_get(st, d->job_id, &job) != 0) {
        return;
    }
    char wid[JSTORE_ID_BUF + 16];
    snprintf(wid, sizeof wid, "%.64s_%d", d->job_id, d->attempt);
    char *body = jhpool__body(&job);
    jhook_result_t res = {0};
    int64_t now = sl_time_wall_ms();
    int rc = SL_EINVAL;
    if (svc->cfg->webhook_secret[0]) {
        rc = jhook_send(hook, d->url, svc->cfg->webhook_secret, wid, now / 1000, body,
                        strlen(body), &res);
    } else {
        snprintf(res.reason, sizeof res.reason, "webhook.secret is not configured");
    }
    int64_t next = now;
    jhook_sched_next(&hp->sched, d->tries + 1, sl_time_wall_ms(), &next); /* ELIMIT: last */
    jstore_webhook_record(st, d->job_id, d->attempt, rc == 0, res.http_status,
                          rc == 0 ? NULL : res.reason, hp->sched.retries + 1, next,
                          sl_time_wall_ms());
    atomic_fetch_add(rc == 0 ? &svc->m.webhook_ok : &svc->m.webhook_failed, 1);
    if (rc != 0) {
        SL_LOGW(JHPOOL_LOG, "webhook for job %s attempt %d, try %d: %s", d->job_id,
                d->attempt, d->tries + 1, res.reason);
    }
    free(body);
    jstore_job_deinit(&job);
}

static void *jhpool__sender_main(void *arg)
{
    jhpool_sender_t *sender = arg;
    jhpool_t *hp = sender->hp;
    jstore_t *st = jsvc_store_open(hp->svc);
    jhook_t *hook = NULL;
    jhook_config_t hc = {.timeout_ms = hp->svc->cfg->webhook_timeout_ms,
                         .egress = hp->svc->cfg->egress};
    if (!st || jhook_new(&hc, &hook) != 0) {
        SL_LOGE(JHPOOL_LOG, "webhook sender could not start (store or curl)");
        atomic_store(&hp->svc->stage_dead[JSVC_STAGE_WEBHOOK], true);
        jstore_close(st);
        return NULL;
    }
    pthread_mutex_lock(&hp->mu);
    while (!hp->quit) {
        jhpool_item_t *it = jhpool__take(hp);
        if (!it) {
            pthread_cond_wait(&hp->cv, &hp->mu);
            continue;
        }
        sender->cur = it;
        pthread_mutex_unlock(&hp->mu);
        jhpool__deliver(hp, st, hook, &it->d);
        pthread_mutex_lock(&hp->mu);
        sender->cur = NULL;
        free(it);
        pthread_cond_broadcast(&hp->cv); /* its host has room again */
    }
    pthread_mutex_unlock(&hp->mu);
    jhook_free(hook);
    jstore_close(st);
    return NULL;
}

int jhpool_new(jsvc_t *svc, jhpool_t **out)
{
    jhpool_t *hp = sl_xcalloc(1, sizeof *hp);
    hp->svc = svc;
    hp->per_host = svc->cfg->webhook_per_host;
    if (jhook_sched_parse(svc->cfg->webhook_retries, &hp->sched) != 0) {
        free(hp);
        return SL_EINVAL;
    }
    pthread_mutex_init(&hp->mu, NULL);
    pthread_cond_init(&hp->cv, NULL);
    hp->nsenders = svc->cfg->webhook_concurrency;
    for (int i = 0; i < hp->nsenders; i++) {
        jhpool_sender_t *sender = &hp->senders[i];
        sender->hp = hp;
        sender->started = pthread_create(&sender->th, NULL, jhpool__sender_main, sender) == 0;
        if (!sender->started) {
            hp->nsenders = i + 1;
            jhpool_free(hp);
            return SL_ENOMEM;
        }
    }
    *out = hp;
    return 0;
}

size_t jhpool_room(jhpool_t *hp)
{
    pthread_mutex_lock(&hp->mu);
    size_t room = JHPOOL_QUEUE_MAX - hp->nqueued;
    pthread_mutex_unlock(&hp->mu);
    return room;
}

bool jhpool_offer(jhpool_t *hp, const jstore_delivery_t *d)
{
    jhpool_item_t *it = sl_xcalloc(1, sizeof *it);
    it->d = *d;
    jhpool__host(d->url, it->host);
    pthread_mutex_lock(&hp->mu);
    bool held = false;
    size_t same_host = 0;
    for (jhpool_item_t *q = hp->head; q && !held; q = q->next) {
        held = jhpool__same(&q->d, d);
        same_host += strcmp(q->host, it->host) == 0;
    }
    for (int i = 0; i < hp->nsenders && !held; i++) {
        held = hp->senders[i].cur && jhpool__same(&hp->senders[i].cur->d, d);
    }
    bool ok = !held && same_host < JHPOOL_HOST_QUEUE_MAX && hp->nqueued < JHPOOL_QUEUE_MAX;
    if (ok) {
        if (hp->tail) {
            hp->tail->next = it;
        } else {
            hp->head = it;
        }
        hp->tail = it;
        hp->nqueued++;
        pthread_cond_broadcast(&hp->cv);
    }
    pthread_mutex_unlock(&hp->mu);
    if (!ok) {
        free(it);
    }
    return ok;
}

void jhpool_free(jhpool_t *hp)
{
    pthread_mutex_lock(&hp->mu);
    hp->quit = true;
    pthread_cond_broadcast(&hp->cv);
    pthread_mutex_unlock(&hp->mu);
    for (int i = 0; i < hp->nsenders; i++) {
        if (hp->senders[i].started) {
            pthread_join(hp->senders[i].th, NULL);
        }
    }
    for (jhpool_item_t *it = hp->head, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    pthread_cond_destroy(&hp->cv);
    pthread_mutex_destroy(&hp->mu);
    free(hp);
}
