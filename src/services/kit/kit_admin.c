/* kit_admin: see kit_admin.h. */
#include "kit_admin.h"

#include "sl_common.h"

#include <stdio.h>

int kit_create_topics(rd_kafka_t *rk, rd_kafka_NewTopic_t **nt, size_t n, int timeout_ms,
                      const char *brokers, char *err, size_t len)
{
    return kit_create_topics_until(rk, nt, n, timeout_ms, brokers, NULL, NULL, err, len);
}

/* Waits for the answer on q; NULL at the deadline or once give_up says so (*gave_up). */
static rd_kafka_event_t *kit__poll_until(rd_kafka_queue_t *q, int timeout_ms,
                                         bool (*give_up)(void *arg), void *arg, bool *gave_up)
{
    if (!give_up) {
        return rd_kafka_queue_poll(q, timeout_ms);
    }
    for (int waited = 0; waited < timeout_ms; waited += KIT_ADMIN_POLL_MS) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, KIT_ADMIN_POLL_MS);
        if (ev) {
            return ev;
        }
        if (give_up(arg)) {
            *gave_up = true;
            return NULL;
        }
    }
    return NULL;
}

int kit_create_topics_until(rd_kafka_t *rk, rd_kafka_NewTopic_t **nt, size_t n, int timeout_ms,
                            const char *brokers, bool (*give_up)(void *arg), void *arg,
                            char *err, size_t len)
{
    if (n == 0) {
        return 0;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(rk, nt, n, opt, q);
    bool gave_up = false;
    rd_kafka_event_t *ev = kit__poll_until(q, timeout_ms + 2000, give_up, arg, &gave_up);
    int rc = 0;
    if (gave_up) {
        snprintf(err, len, "creating topics on %s: broker unreachable", brokers);
        rc = SL_ECLOSED;
    } else if (!ev || rd_kafka_event_error(ev)) {
        snprintf(err, len, "creating topics on %s: %s", brokers,
                 ev ? rd_kafka_event_error_string(ev) : "broker unreachable (timed out)");
        rc = SL_ECLOSED;
    } else {
        size_t nres = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
        for (size_t i = 0; i < nres && rc == 0; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(err, len, "creating topic %s: %s", rd_kafka_topic_result_name(res[i]),
                         rd_kafka_err2str(e));
                rc = SL_EINVAL;
            }
        }
    }
    if (ev) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_NewTopic_destroy(nt[i]);
    }
    return rc;
}
