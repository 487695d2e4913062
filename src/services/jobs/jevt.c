/* jevt: the JSON events of the jobs pipeline (assigned; requests and completions are built
 * where they are produced). */
#include "jsvc_int.h"

#include <stdlib.h>
#include <string.h>

char *jevt_assigned(const jstore_job_t *job)
{
    json_error_t jerr;
    json_t *payload = json_loads(job->payload ? job->payload : "null", JSON_DECODE_ANY, &jerr);
    json_t *o = json_pack("{s:s, s:i, s:s, s:o, s:i, s:I}", "id", job->id, "attempt",
                          job->attempt, "type", job->type, "payload",
                          payload ? payload : json_null(), "timeout_s", job->timeout_s,
                          "created_ms", (json_int_t)job->created_ms);
    SL_ASSERT(o);
    if (job->key) {
        json_object_set_new(o, "key", json_string(job->key));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    SL_ASSERT(text);
    return text;
}

int jevt_assigned_parse(const void *p, size_t len, jevt_assigned_t *out)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(p, len, 0, &jerr);
    if (!root) {
        return SL_ECORRUPT;
    }
    json_int_t attempt = 0, timeout_s = 0, created = 0;
    const char *key = NULL;
    if (json_unpack(root, "{s:s, s:I, s:s, s:o, s:I, s?I, s?s}", "id", &out->id, "attempt",
                    &attempt, "type", &out->type, "payload", &out->payload, "timeout_s",
                    &timeout_s, "created_ms", &created, "key", &key) != 0 ||
        attempt < 1 || attempt > JSTORE_ATTEMPT_NO_MAX || timeout_s < 1 ||
        timeout_s > JSTORE_TIMEOUT_S_MAX) {
        json_decref(root);
        return SL_ECORRUPT;
    }
    out->root = root;
    out->key = key;
    out->attempt = (int)attempt;
    out->timeout_s = (int)timeout_s;
    out->created_ms = (int64_t)created;
    return 0;
}
