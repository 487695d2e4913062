/* The transaction coordinator (Kafka's TransactionCoordinator, KIP-98) of a single broker:
 * transactional id -> producer id and epoch, the transaction's state (Empty, Ongoing,
 * PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort), its partitions and its pending
 * offsets. EndTxn (and a fencing InitProducerId, and a timeout) writes COMMIT/ABORT markers
 * straight into each partition log (no WriteTxnMarkers between brokers), commits the pending
 * offsets to the group, and answers once all of it is durable under flush policy always.
 * State is kept in <data>/transactions, rewritten atomically (and fsync'd) at each change:
 *   T <id hex> <producer id> <epoch> <timeout ms> <state> <group hex or ->
 *   P <topic> <partition>                                   (its partitions, after its T)
 *   O <topic> <partition> <offset> <leader epoch> <metadata hex or ->   (pending offsets)
 * A start completes PrepareCommit/PrepareAbort (markers again: a second marker is harmless)
 * and lets Ongoing ones time out. Thread: loop. */
#include "brk_acl.h"
#include "brk_authz.h"
#include "brk_conf.h"
#include "brk_flush.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_offsets.h"
#include "brk_part.h"
#include "brk_req.h"
#include "brk_topics.h"
#include "brk_txn.h"
#include "kerr.h"
#include "sl_buf.h"
#include "sl_fs.h"
#include "sl_hset.h"
#include "sl_log.h"
#include "sl_time.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRK_TXN_FILE "transactions"

typedef enum {
    TXN_EMPTY,
    TXN_ONGOING,
    TXN_PREPARE_COMMIT,
    TXN_PREPARE_ABORT,
    TXN_COMPLETE_COMMIT,
    TXN_COMPLETE_ABORT,
} brk_txn_state_t;

static const char *const brk__txn_state_names[] = {"Empty", "Ongoing", "PrepareCommit",
                                                   "PrepareAbort", "CompleteCommit",
                                                   "CompleteAbort"};

typedef struct {
    char *topic;
    int32_t partition;
} brk_txn_part_t;

typedef struct brk_txn {
    struct brk_txn *next;
    char *tid;
    int64_t pid;
    int16_t epoch;
    int16_t last_epoch; /* the epoch before the coordinator's last own bump (a fencing abort
                           or a timeout), so a producer naming it may retry (KIP-360); -1 */
    int32_t timeout_ms;
    brk_txn_state_t state;
    int64_t start_ms; /* when it became Ongoing (or when the broker started) */
    brk_txn_part_t *parts;
    int32_t nparts, parts_cap;
    sl_hset_t *parts_idx; /* topic-partition -> index in parts, or NULL while empty */
    char *group; /* AddOffsetsToTxn's group, or NULL */
    brk_otab_t offs; /* TxnOffsetCommit's pending offsets */
} brk_txn_t;

struct brk_txns {
    brk_txn_t *list;
    int32_t n;
    snet_timer_t *timer;
};

/* ---- ACL hook: the lead wires TRANSACTIONAL_ID checks here (one call per API). ---- */
static kerr_t brk__txn_authorize(brk_req_t *req, const char *api, kproto_str_t tid)
{
    if (brk_authz(req, BRK_ACL_OP_WRITE, BRK_ACL_RES_TRANSACTIONAL_ID, tid)) {
        return KERR_NONE;
    }
    static sl_log_rate_t rl;
    sl_esc_t esc;
    sl_log_rl(&rl, SL_LOG_WARN, "txn", "%s: %s of transactional id '%s' denied (WRITE on "
              "TRANSACTIONAL_ID)", req->peer, api, sl_esc(&esc, tid.ptr, tid.len));
    return KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
}

/* Whether the C string s equals the protocol string k (a null k equals nothing). */
static bool brk__txn_str_is(const char *s, kproto_str_t k)
{
    return k.len >= 0 && (int32_t)strlen(s) == k.len && memcmp(s, k.ptr, (size_t)k.len) == 0;
}

static brk_txn_t *brk__txn_find(brk_t *brk, kproto_str_t tid)
{
    for (brk_txn_t *txn = brk->txns->list; txn; txn = txn->next) {
        if (brk__txn_str_is(txn->tid, tid)) {
            return txn;
        }
    }
    return NULL;
}

static void brk__txn_clear(brk_txn_t *txn)
{
    for (int32_t i = 0; i < txn->nparts; i++) {
        free(txn->parts[i].topic);
    }
    txn->nparts = 0;
    sl_hset_free(txn->parts_idx);
    txn->parts_idx = NULL;
    free(txn->group);
    txn->group = NULL;
    brk_otab_clear(&txn->offs);
}

/* Whether the transaction holds topic-partition: O(1) through the index. */
static bool brk__txn_has_part(const brk_txn_t *txn, kproto_str_t topic, int32_t partition)
{
    return topic.len >= 0 && txn->parts_idx &&
           sl_hset_get(txn->parts_idx, topic.ptr, (size_t)topic.len, partition, NULL);
}

static void brk__txn_add_part(brk_txn_t *txn, kproto_str_t topic, int32_t partition)
{
    if (topic.len < 0 || brk__txn_has_part(txn, topic, partition)) {
        return;
    }
    if (txn->nparts == txn->parts_cap) {
        txn->parts_cap = txn->parts_cap ? txn->parts_cap * 2 : 8;
        txn->parts = sl_xrealloc(txn->parts, (size_t)txn->parts_cap * sizeof *txn->parts);
    }
    char *name = sl_xstrndup(topic.ptr, (size_t)topic.len);
    txn->parts[txn->nparts++] = (brk_txn_part_t){name, partition};
    if (!txn->parts_idx) {
        txn->parts_idx = sl_hset_new(16);
    }
    sl_hset_put(txn->parts_idx, name, (size_t)topic.len, partition, txn->nparts - 1, NULL);
}

static void brk__txn_add_offset(brk_txn_t *txn, kproto_str_t topic, int32_t partition,
                                int64_t offset, int32_t leader_epoch, kproto_str_t meta)
{
    brk_otab_set(&txn->offs, topic, partition, offset, leader_epoch, meta, 0);
}

/* ---- the state file ---- */

/* Writes len bytes of s in hex (any bytes, NULs included); "-" for NULL, "=" for empty. */
static void brk__hex_putn(sl_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (!s) {
        sl_buf_append(b, "-", 1);
        return;
    }
    if (len == 0) {
        sl_buf_append(b, "=", 1); /* the empty string */
        return;
    }
    for (size_t i = 0; i < len; i++) {
        char two[2] = {hex[(uint8_t)s[i] >> 4], hex[(uint8_t)s[i] & 15]};
        sl_buf_append(b, two, 2);
    }
}

static void brk__hex_put(sl_buf_t *b, const char *s)
{
    brk__hex_putn(b, s, s ? strlen(s) : 0);
}

/* Decodes hex into a new NUL-terminated string of *len bytes (which may hold NULs); NULL for
 * "-"; false (and *out NULL) when malformed. */
static bool brk__hex_getn(char *s, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (strcmp(s, "-") == 0) {
        *out = NULL;
        return true;
    }
    if (strcmp(s, "=") == 0) {
        *out = sl_xstrdup("");
        return true;
    }
    size_t n = strlen(s);
    if (n % 2 != 0) {
        return false;
    }
    char *d = sl_xmalloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            free(d);
            return false;
        }
        d[i] = (char)v;
    }
    d[n / 2] = '\0';
    *out = d;
    *len = n / 2;
    return true;
}

/* A C string's hex (tids, group ids: no NULs; one inside ends the name as before). */
static bool brk__hex_get(char *s, char **out)
{
    size_t len;
    return brk__hex_getn(s, out, &len);
}

static void brk__txn_put_int(sl_buf_t *b, const char *fmt, long long v)
{
    char num[32];
    int n = snprintf(num, sizeof num, fmt, v);
    sl_buf_append(b, num, (size_t)n); /* a number always fits */
}

/* Topics are written as they are: only names that pass brk_topic_name_valid (no space, no
 * newline) reach a transaction. Every other string is hex. No fixed-size buffer: any
 * length is written whole. */
static void brk__txn_encode(const brk_txn_t *txn, sl_buf_t *b)
{
    sl_buf_append(b, "T ", 2);
    brk__hex_put(b, txn->tid);
    brk__txn_put_int(b, " %lld", txn->pid);
    brk__txn_put_int(b, " %lld", txn->epoch);
    brk__txn_put_int(b, " %lld", txn->timeout_ms);
    brk__txn_put_int(b, " %lld ", (long long)txn->state);
    brk__hex_put(b, txn->group);
    sl_buf_append(b, "\n", 1);
    for (int32_t i = 0; i < txn->nparts; i++) {
        sl_buf_append(b, "P ", 2);
        sl_buf_append(b, txn->parts[i].topic, strlen(txn->parts[i].topic));
        brk__txn_put_int(b, " %lld\n", txn->parts[i].partition);
    }
    for (int32_t i = 0; i < txn->offs.n; i++) {
        const brk_offset_t *o = &txn->offs.items[i];
        sl_buf_append(b, "O ", 2);
        sl_buf_append(b, o->topic, strlen(o->topic));
        brk__txn_put_int(b, " %lld", o->partition);
        brk__txn_put_int(b, " %lld", o->offset);
        brk__txn_put_int(b, " %lld ", o->leader_epoch);
        brk__hex_putn(b, o->metadata, (size_t)o->metadata_len);
        sl_buf_append(b, "\n", 1);
    }
}

/* Rewrites the state file (atomic, durable). A failure is logged: the coordinator then
 * answers COORDINATOR_NOT_AVAILABLE where it matters (the caller checks the result). */
static int brk__txn_save(brk_t *brk)
{
    sl_buf_t b;
    sl_buf_init(&b);
    for (brk_txn_t *txn = brk->txns->list; txn; txn = txn->next) {
        brk__txn_encode(txn, &b);
    }
    char path[BRK_PATH_BUF];
    snprintf(path, sizeof path, "%s/" BRK_TXN_FILE, brk->conf.data_dir);
    int rc = sl_fs_write_atomic(path, b.data ? (const char *)b.data : "", b.len);
    sl_buf_deinit(&b);
    if (rc != 0) {
        SL_LOGE("txn", "cannot write %s: %s", path, sl_strerror(rc));
    }
    return rc;
}

static brk_txn_t *brk__txn_new(brk_t *brk, const char *tid)
{
    brk_txn_t *txn = sl_xcalloc(1, sizeof *txn);
    txn->tid = sl_xstrdup(tid);
    txn->last_epoch = -1;
    txn->next = brk->txns->list;
    brk->txns->list = txn;
    brk->txns->n++;
    return txn;
}

/* Splits line at spaces into at most max fields; returns how many (max + 1: too many). */
static int brk__txn_fields(char *line, char **f, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == max) {
            return max + 1;
        }
        f[n++] = t;
    }
    return n;
}

static bool brk__txn_num(const char *s, int64_t min, int64_t max, int64_t *out)
{
    return sl_parse_i64(s, min, max, out);
}

/* "T <id hex> <pid> <epoch> <timeout> <state> <group hex or ->": a new transactional id. */
static const char *brk__txn_load_t(brk_t *brk, char **f, brk_txn_t **cur)
{
    int64_t pid, epoch, timeout, state;
    char *tid = NULL, *group = NULL;
    if (!brk__txn_num(f[1], -1, INT64_MAX, &pid) || !brk__txn_num(f[2], -1, INT16_MAX, &epoch) ||
        !brk__txn_num(f[3], 0, INT32_MAX, &timeout) ||
        !brk__txn_num(f[4], TXN_EMPTY, TXN_COMPLETE_ABORT, &state)) {
        return "a number is out of range";
    }
    if (!brk__hex_get(f[0], &tid) || !tid || !*tid || strlen(tid) > BRK_TXN_ID_BYTES_MAX ||
        !brk__hex_get(f[5], &group) || (group && strlen(group) > BRK_TXN_GROUP_ID_BYTES_MAX)) {
        free(tid);
        free(group);
        return "a transactional id or group is not valid hex of a valid length";
    }
    if (brk__txn_find(brk, kproto_str(tid)) || brk->txns->n >= BRK_TXN_IDS_MAX) {
        free(tid);
        free(group);
        return "a transactional id twice, or too many";
    }
    brk_txn_t *txn = brk__txn_new(brk, tid);
    free(tid);
    txn->pid = pid;
    txn->epoch = (int16_t)epoch;
    txn->timeout_ms = (int32_t)timeout;
    txn->state = (brk_txn_state_t)state;
    txn->group = group;
    txn->start_ms = sl_time_wall_ms();
    *cur = txn;
    return NULL;
}

/* One line of the state file into the state; NULL, or why it does not parse. A damaged T
 * line leaves *cur NULL, so the P and O lines after it are skipped too. */
static const char *brk__txn_load_line(brk_t *brk, char *line, brk_txn_t **cur)
{
    char *f[8];
    char kind = line[0];
    int n = brk__txn_fields(line, f, 7);
    if (kind == 'T' && n == 7 && strcmp(f[0], "T") == 0) {
        *cur = NULL;
        return brk__txn_load_t(brk, f + 1, cur);
    }
    if (kind == 'T') {
        *cur = NULL;
        return "not a transaction line";
    }
    if (!*cur) {
        return "no valid transaction line before it";
    }
    int64_t part, off, lepoch;
    kproto_str_t topic = kproto_str(n >= 2 ? f[1] : "");
    const char *why;
    if (n >= 2 && !brk_topic_name_valid(topic, &why)) {
        return "not a valid topic name";
    }
    if (kind == 'P' && n == 3 && strcmp(f[0], "P") == 0 &&
        brk__txn_num(f[2], 0, INT32_MAX, &part) && (*cur)->nparts < BRK_TXN_PARTITIONS_MAX) {
        brk__txn_add_part(*cur, topic, (int32_t)part);
        return NULL;
    }
    char *meta = NULL;
    size_t mlen = 0;
    if (kind == 'O' && n == 6 && strcmp(f[0], "O") == 0 &&
        brk__txn_num(f[2], 0, INT32_MAX, &part) && brk__txn_num(f[3], -1, INT64_MAX, &off) &&
        brk__txn_num(f[4], -1, INT32_MAX, &lepoch) && brk__hex_getn(f[5], &meta, &mlen) &&
        mlen <= INT32_MAX && (*cur)->offs.n < BRK_TXN_PARTITIONS_MAX) {
        brk__txn_add_offset(*cur, topic, (int32_t)part, off, (int32_t)lepoch,
                            (kproto_str_t){meta, meta ? (int32_t)mlen : -1});
        free(meta);
        return NULL;
    }
    free(meta);
    return "does not parse";
}

/* Loads the state file. A damaged line is skipped with one log line naming the file and the
 * line (never a refusal to start); only an unreadable file is an error. */
static int brk__txn_load(brk_t *brk, char *err, size_t err_len)
{
    char path[BRK_PATH_BUF];
    snprintf(path, sizeof path, "%s/" BRK_TXN_FILE, brk->conf.data_dir);
    char *text = NULL;
    size_t len = 0;
    int rc = sl_fs_read_all(path, BRK_TXN_FILE_BYTES_MAX, &text, &len);
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc != 0) {
        snprintf(err, err_len, "%s: %s (move it away to start without the transactions it "
                 "holds)", path, sl_strerror(rc));
        return rc;
    }
    return brk__txn_load_text(brk, path, text, len);
}

int brk__txn_load_text(brk_t *brk, const char *path, char *text, size_t len)
{
    sl_load_t ld = {.path = path};
    brk_txn_t *cur = NULL;
    long lineno = 0;
    for (char *line = text, *nl; line && line < text + len; line = nl ? nl + 1 : NULL) {
        nl = memchr(line, '\n', (size_t)(text + len - line));
        if (nl) {
            *nl = '\0';
        }
        lineno++;
        if (strlen(line) != (size_t)((nl ? nl : text + len) - line)) {
            cur = line[0] == 'T' ? NULL : cur;
            sl_load_skip(&ld, lineno, "a NUL byte");
            continue;
        }
        const char *why = line[0] ? brk__txn_load_line(brk, line, &cur) : NULL;
        if (why) {
            sl_load_skip(&ld, lineno, why);
        }
    }
    sl_load_done(&ld);
    free(text);
    return 0;
}

int brk__txn_check_text(const char *text, size_t len, sl_buf_t *out)
{
    brk_t *brk = sl_xcalloc(1, sizeof *brk);
    brk->txns = sl_xcalloc(1, sizeof *brk->txns);
    char *copy = sl_xmalloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    int rc = brk__txn_load_text(brk, "transactions", copy, len);
    for (brk_txn_t *txn = brk->txns->list; txn; txn = txn->next) {
        brk__txn_encode(txn, out);
    }
    brk_txns_close(brk);
    free(brk);
    return rc;
}

/* ---- completing a transaction: markers, offsets, durability ---- */

typedef struct brk_txn_end {
    brk_t *brk;
    brk_txn_t *txn;
    brk_req_t *req; /* EndTxn to answer, or NULL */
    bool commit;
    int pending;
    int err;
} brk_txn_end_t;

typedef struct {
    brk_wait_t wait; /* first */
    brk_txn_end_t *end;
} brk_txn_wait_t;

static void brk__txn_end_finish(brk_txn_end_t *end)
{
    brk_txn_t *txn = end->txn;
    if (end->err == 0) {
        brk__txn_clear(txn);
        txn->state = end->commit ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT;
        end->err = brk__txn_save(end->brk);
    }
    if (end->err != 0) {
        sl_esc_t esc;
        SL_LOGW("txn", "transaction of '%s' stays in %s: %s (completed at the next start)",
                sl_esc(&esc, txn->tid, (long)strlen(txn->tid)), brk__txn_state_names[txn->state],
                sl_strerror(end->err));
    }
    if (end->req) {
        kmsg_end_txn_resp_t resp;
        kmsg_end_txn_resp_init(&resp);
        resp.error_code = end->err == 0 ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE;
        resp.producer_id = txn->pid;
        resp.producer_epoch = txn->epoch;
        brk_respond(end->req, &resp);
    }
    free(end);
}

static void brk__txn_end_durable(brk_wait_t *w, int err)
{
    brk_txn_wait_t *tw = (brk_txn_wait_t *)w;
    brk_txn_end_t *end = tw->end;
    if (err != 0 && end->err == 0) {
        end->err = err;
    }
    free(tw);
    if (--end->pending == 0) {
        brk__txn_end_finish(end);
    }
}

/* Waits (flush policy always) for part's log to be durable up to target. */
static void brk__txn_end_wait(brk_txn_end_t *end, brk_part_t *part, int64_t target)
{
    brk_t *brk = end->brk;
    if (brk->conf.flush_policy != BRK_FLUSH_ALWAYS || target <= slog_part_durable_offset(part->log)) {
        brk_flush_kick(brk, part);
        return;
    }
    brk_txn_wait_t *tw = sl_xcalloc(1, sizeof *tw);
    tw->wait.target = target;
    tw->wait.done = brk__txn_end_durable;
    tw->end = end;
    end->pending++;
    brk_part_wait(brk, part, &tw->wait);
}

/* Writes a marker into every partition of txn. */
static void brk__txn_markers(brk_txn_end_t *end)
{
    brk_txn_t *txn = end->txn;
    for (int32_t i = 0; i < txn->nparts; i++) {
        brk_part_t *part = brk_part_find(end->brk, kproto_str(txn->parts[i].topic),
                                         txn->parts[i].partition);
        if (!part) {
            continue; /* deleted meanwhile: nothing to end there */
        }
        slog_append_t info;
        int rc = slog_part_append_marker(part->log, txn->pid, txn->epoch, end->commit, 0,
                                         sl_time_wall_ms(), &info);
        if (rc != 0) {
            sl_esc_t esc;
            SL_LOGE("txn", "%s-%d: cannot write the %s marker of '%s': %s", txn->parts[i].topic,
                    (int)txn->parts[i].partition, end->commit ? "COMMIT" : "ABORT",
                    sl_esc(&esc, txn->tid, (long)strlen(txn->tid)), sl_strerror(rc));
            end->err = rc;
            continue;
        }
        brk_part_hw_moved(end->brk, part);
        brk__txn_end_wait(end, part, info.last_offset + 1);
    }
}

/* Commits txn's pending offsets to its group through the store: written, applied to memory
 * at once (as Kafka's coordinator does on the commit marker), waited for when durability
 * matters. Returns 0 or the store's error. */
static int brk__txn_commit_offsets(brk_t *brk, brk_txn_t *txn, brk_txn_end_t *end)
{
    int32_t n = txn->offs.n;
    brk_oput_t *puts = sl_xcalloc((size_t)n, sizeof *puts);
    for (int32_t i = 0; i < n; i++) {
        const brk_offset_t *o = &txn->offs.items[i];
        puts[i] = (brk_oput_t){kproto_str(o->topic), o->partition, o->offset, o->leader_epoch,
                               brk_offset_metadata(o)};
    }
    int64_t now = sl_time_wall_ms(), target;
    int rc = brk_offsets_write(brk, kproto_str(txn->group), n, puts, now, &target);
    if (rc == 0) {
        brk_offsets_apply(brk, kproto_str(txn->group), n, puts, now);
        brk__txn_end_wait(end, brk_offsets_log(brk), target);
    } else if (rc != SL_ELIMIT) {
        SL_LOGE("offsets", "cannot write transactional offsets of group %s: %s", txn->group,
                sl_strerror(rc));
    }
    free(puts);
    return rc;
}

/* Moves txn to PrepareCommit/PrepareAbort (saved), writes the markers and the offsets, and
 * completes when they are durable (answering req, an EndTxn, if not NULL). */
static void brk__txn_end(brk_t *brk, brk_txn_t *txn, bool commit, brk_req_t *req)
{
    brk_txn_end_t *end = sl_xcalloc(1, sizeof *end);
    *end = (brk_txn_end_t){.brk = brk, .txn = txn, .req = req, .commit = commit, .pending = 1};
    txn->state = commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT;
    end->err = brk__txn_save(brk);
    if (end->err == 0) {
        brk__txn_markers(end);
    }
    if (end->err == 0 && commit && txn->group && txn->offs.n > 0) {
        end->err = brk__txn_commit_offsets(brk, txn, end);
    }
    if (--end->pending == 0) {
        brk__txn_end_finish(end);
    }
}

/* ---- lifecycle ---- */

int brk_txns_open(brk_t *brk, char *err, size_t err_len)
{
    brk->txns = sl_xcalloc(1, sizeof *brk->txns);
    int rc = brk__txn_load(brk, err, err_len);
    for (brk_txn_t *txn = brk->txns->list; rc == 0 && txn; txn = txn->next) {
        if (txn->state == TXN_PREPARE_COMMIT || txn->state == TXN_PREPARE_ABORT) {
            sl_esc_t esc;
            SL_LOGI("txn", "completing the %s of '%s' left by the last run",
                    txn->state == TXN_PREPARE_COMMIT ? "commit" : "abort",
                    sl_esc(&esc, txn->tid, (long)strlen(txn->tid)));
            brk__txn_end(brk, txn, txn->state == TXN_PREPARE_COMMIT, NULL);
        }
    }
    if (rc == 0 && brk->txns->n > 0) {
        SL_LOGI("txn", "%d transactional id(s) loaded", (int)brk->txns->n);
    }
    return rc;
}

/* Aborts every Ongoing transaction older than its timeout, bumping the epoch (which fences
 * the producer, as Kafka does). */
static void brk__txn_tick(void *ctx)
{
    brk_t *brk = ctx;
    int64_t now = sl_time_wall_ms();
    for (brk_txn_t *txn = brk->txns->list; txn; txn = txn->next) {
        if (txn->state == TXN_ONGOING && now - txn->start_ms > txn->timeout_ms) {
            sl_esc_t esc;
            SL_LOGW("txn", "transaction of '%s' (producer %" PRId64 ") timed out after %d ms: "
                    "aborting it", sl_esc(&esc, txn->tid, (long)strlen(txn->tid)), txn->pid,
                    (int)txn->timeout_ms);
            if (txn->epoch < INT16_MAX - 1) {
                txn->last_epoch = txn->epoch;
                txn->epoch++;
            }
            brk__txn_end(brk, txn, false, NULL);
        }
    }
    brk->txns->timer = snet_timer_start(brk->loop, brk->conf.txn_abort_interval_ms,
                                        brk__txn_tick, brk);
}

void brk_txns_start(brk_t *brk)
{
    brk->txns->timer = snet_timer_start(brk->loop, brk->conf.txn_abort_interval_ms,
                                        brk__txn_tick, brk);
}

void brk_txns_close(brk_t *brk)
{
    if (!brk->txns) {
        return;
    }
    if (brk->txns->timer) {
        snet_timer_cancel(brk->loop, brk->txns->timer);
    }
    for (brk_txn_t *txn = brk->txns->list, *next; txn; txn = next) {
        next = txn->next;
        brk__txn_clear(txn);
        free(txn->parts);
        free(txn->offs.items);
        free(txn->tid);
        free(txn);
    }
    free(brk->txns);
    brk->txns = NULL;
}

/* ---- requests ---- */

/* The producer check of every transactional request: the id maps to producer_id, whose epoch
 * is current. Kafka 3.x answers PRODUCER_FENCED from version fenced_since on. */
static kerr_t brk__txn_check(brk_req_t *req, const brk_txn_t *txn, int64_t pid, int16_t epoch,
                             int16_t fenced_since)
{
    if (!txn || txn->pid != pid) {
        return KERR_INVALID_PRODUCER_ID_MAPPING;
    }
    if (epoch != txn->epoch) {
        return req->api_version >= fenced_since ? KERR_PRODUCER_FENCED
                                                : KERR_INVALID_PRODUCER_EPOCH;
    }
    if (txn->state == TXN_PREPARE_COMMIT || txn->state == TXN_PREPARE_ABORT) {
        return KERR_CONCURRENT_TRANSACTIONS;
    }
    return KERR_NONE;
}

static void brk__txn_begin(brk_txn_t *txn)
{
    if (txn->state != TXN_ONGOING) {
        txn->state = TXN_ONGOING;
        txn->start_ms = sl_time_wall_ms();
    }
}

/* What InitProducerId must refuse before it touches txn (NULL: the id is new). */
static kerr_t brk__txn_init_check(brk_req_t *req, const kmsg_init_producer_id_req_t *body,
                                  const brk_txn_t *txn)
{
    brk_t *brk = req->brk;
    kerr_t e = brk__txn_authorize(req, "InitProducerId", body->transactional_id);
    if (e != KERR_NONE) {
        return e;
    }
    if (body->transactional_id.len <= 0 || body->transactional_id.len > BRK_TXN_ID_BYTES_MAX) {
        return KERR_INVALID_REQUEST;
    }
    if (body->transaction_timeout_ms <= 0 ||
        body->transaction_timeout_ms > brk->conf.txn_max_timeout_ms) {
        return KERR_INVALID_TRANSACTION_TIMEOUT;
    }
    if (!txn && brk->txns->n >= BRK_TXN_IDS_MAX) {
        SL_LOGW("txn", "%s: too many transactional ids (%d)", req->peer, BRK_TXN_IDS_MAX);
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (txn && (txn->state == TXN_PREPARE_COMMIT || txn->state == TXN_PREPARE_ABORT)) {
        return KERR_CONCURRENT_TRANSACTIONS; /* being completed: ask again */
    }
    if (txn && body->producer_id >= 0 &&
        (body->producer_id != txn->pid ||
         (body->producer_epoch != txn->epoch && body->producer_epoch != txn->last_epoch))) {
        /* v3+: a producer re-initialising after an error names its id and epoch; an older
         * one is a zombie. */
        return req->api_version >= 4 ? KERR_PRODUCER_FENCED : KERR_INVALID_PRODUCER_EPOCH;
    }
    return KERR_NONE;
}

void brk_txn_init_producer_id(brk_req_t *req)
{
    kmsg_init_producer_id_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_init_producer_id_resp_t resp;
    kmsg_init_producer_id_resp_init(&resp);
    resp.producer_id = -1;
    resp.producer_epoch = -1;
    brk_txn_t *txn = brk__txn_find(brk, body->transactional_id);
    if ((resp.error_code = (int16_t)brk__txn_init_check(req, body, txn)) != KERR_NONE) {
        goto out;
    }
    bool fresh = !txn;
    if (fresh) {
        char tid[BRK_TXN_ID_BYTES_MAX + 1];
        memcpy(tid, body->transactional_id.ptr, (size_t)body->transactional_id.len);
        tid[body->transactional_id.len] = '\0';
        txn = brk__txn_new(brk, tid);
        txn->epoch = -1;
    }
    if (fresh || txn->epoch >= INT16_MAX - 1) {
        int64_t pid = brk_pid_next(brk);
        if (pid < 0) {
            resp.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
            goto out;
        }
        txn->pid = pid;
        txn->epoch = -1;
    }
    txn->last_epoch = txn->state == TXN_ONGOING ? txn->epoch : -1;
    txn->epoch++;
    txn->timeout_ms = body->transaction_timeout_ms;
    if (txn->state == TXN_ONGOING) {
        /* The previous incarnation left a transaction open: abort it with the new epoch
         * (fencing it), and have the client ask again once the markers are written. */
        sl_esc_t esc;
        SL_LOGI("txn", "'%s': a new producer fences epoch %d and aborts its transaction",
                sl_esc(&esc, txn->tid, (long)strlen(txn->tid)), (int)txn->epoch - 1);
        brk__txn_end(brk, txn, false, NULL);
        resp.error_code = KERR_CONCURRENT_TRANSACTIONS;
        goto out;
    }
    brk__txn_clear(txn);
    txn->state = TXN_EMPTY;
    if (brk__txn_save(brk) != 0) {
        resp.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
        goto out;
    }
    resp.producer_id = txn->pid;
    resp.producer_epoch = txn->epoch;
out:
    brk_respond(req, &resp);
}

kerr_t brk_txn_check_produce(brk_t *brk, int64_t producer_id, int16_t epoch, kproto_str_t topic,
                             int32_t partition)
{
    for (brk_txn_t *txn = brk->txns->list; txn; txn = txn->next) {
        if (txn->pid != producer_id) {
            continue;
        }
        if (epoch < txn->epoch) {
            return KERR_INVALID_PRODUCER_EPOCH;
        }
        if (epoch > txn->epoch || txn->state != TXN_ONGOING) {
            return KERR_INVALID_TXN_STATE;
        }
        if (brk__txn_has_part(txn, topic, partition)) {
            return KERR_NONE;
        }
        return KERR_INVALID_TXN_STATE; /* not added with AddPartitionsToTxn */
    }
    return KERR_INVALID_PRODUCER_ID_MAPPING;
}

typedef kmsg_add_partitions_to_txn_req_add_partitions_to_txn_topic_t brk_aptt_topic_t;
typedef kmsg_add_partitions_to_txn_resp_add_partitions_to_txn_topic_result_t brk_aptt_result_t;
typedef kmsg_add_partitions_to_txn_resp_add_partitions_to_txn_partition_result_t brk_aptt_part_t;

/* The whole request's error (producer, size), and in *unknown whether a topic lacks WRITE or a
 * partition does not exist: then the request fails and the others get OPERATION_NOT_ATTEMPTED
 * (Kafka's KafkaApis). */
static kerr_t brk__aptt_check(brk_req_t *req, const kmsg_add_partitions_to_txn_req_t *body,
                              const brk_txn_t *txn, bool *unknown)
{
    kerr_t e = brk__txn_authorize(req, "AddPartitionsToTxn", body->v3_and_below_transactional_id);
    if (e == KERR_NONE) {
        e = brk__txn_check(req, txn, body->v3_and_below_producer_id,
                           body->v3_and_below_producer_epoch, 2);
    }
    *unknown = false;
    int32_t ntopics = SL_MAX(body->v3_and_below_topics_count, 0);
    int32_t total = txn ? txn->nparts : 0;
    for (int32_t t = 0; t < ntopics; t++) {
        const brk_aptt_topic_t *tt = &body->v3_and_below_topics[t];
        total += SL_MAX(tt->partitions_count, 0);
        if (e != KERR_NONE) {
            continue;
        }
        *unknown |= brk_authz_topic(req, BRK_ACL_OP_WRITE, tt->name) != KERR_NONE;
        for (int32_t p = 0; p < tt->partitions_count; p++) {
            *unknown |= brk_part_find(req->brk, tt->name, tt->partitions[p]) == NULL;
        }
    }
    return e == KERR_NONE && total > BRK_TXN_PARTITIONS_MAX ? KERR_INVALID_REQUEST : e;
}

/* One topic's results; its partitions join txn when the request is accepted (e none, nothing
 * unknown). */
static void brk__aptt_topic(brk_req_t *req, brk_txn_t *txn, const brk_aptt_topic_t *tt,
                            kerr_t e, bool unknown, brk_aptt_result_t *tr)
{
    kmsg_add_partitions_to_txn_resp_add_partitions_to_txn_topic_result_init(tr);
    tr->name = tt->name;
    tr->results_by_partition_count = SL_MAX(tt->partitions_count, 0);
    tr->results_by_partition = brk_alloc(req, tr->results_by_partition_count,
                                         sizeof *tr->results_by_partition);
    kerr_t denied = e == KERR_NONE && unknown ? brk_authz_topic(req, BRK_ACL_OP_WRITE, tt->name)
                                              : KERR_NONE;
    for (int32_t p = 0; p < tr->results_by_partition_count; p++) {
        brk_aptt_part_t *pr = &tr->results_by_partition[p];
        kmsg_add_partitions_to_txn_resp_add_partitions_to_txn_partition_result_init(pr);
        pr->partition_index = tt->partitions[p];
        int16_t pe = (int16_t)e;
        if (denied != KERR_NONE) {
            pe = (int16_t)denied;
        } else if (e == KERR_NONE && unknown) {
            pe = brk_part_find(req->brk, tt->name, tt->partitions[p])
                     ? KERR_OPERATION_NOT_ATTEMPTED
                     : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        } else if (e == KERR_NONE) {
            brk__txn_add_part(txn, tt->name, tt->partitions[p]);
        }
        pr->partition_error_code = pe;
    }
}

void brk_handle_add_partitions_to_txn(brk_req_t *req)
{
    kmsg_add_partitions_to_txn_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_add_partitions_to_txn_resp_t resp;
    kmsg_add_partitions_to_txn_resp_init(&resp);
    kproto_str_t tid = body->v3_and_below_transactional_id;
    brk_txn_t *txn = brk__txn_find(brk, tid);
    bool unknown;
    kerr_t e = brk__aptt_check(req, body, txn, &unknown);
    int32_t ntopics = SL_MAX(body->v3_and_below_topics_count, 0);
    resp.results_by_topic_v3_and_below_count = ntopics;
    resp.results_by_topic_v3_and_below =
        brk_alloc(req, ntopics, sizeof *resp.results_by_topic_v3_and_below);
    for (int32_t t = 0; t < ntopics; t++) {
        brk__aptt_topic(req, txn, &body->v3_and_below_topics[t], e, unknown,
                        &resp.results_by_topic_v3_and_below[t]);
    }
    if (e == KERR_NONE && !unknown) {
        brk__txn_begin(txn);
        if (brk__txn_save(brk) != 0) {
            for (int32_t t = 0; t < ntopics; t++) {
                brk_aptt_result_t *tr = &resp.results_by_topic_v3_and_below[t];
                for (int32_t p = 0; p < tr->results_by_partition_count; p++) {
                    tr->results_by_partition[p].partition_error_code =
                        KERR_COORDINATOR_NOT_AVAILABLE;
                }
            }
        }
    }
    if (e != KERR_NONE) {
        static sl_log_rate_t rl;
        sl_esc_t esc;
        sl_log_rl(&rl, SL_LOG_WARN, "txn", "%s: AddPartitionsToTxn '%s': %s", req->peer,
                  sl_esc(&esc, tid.ptr, tid.len), kerr_name((int16_t)e));
    }
    brk_respond(req, &resp);
}

/* The checks AddOffsetsToTxn and TxnOffsetCommit share: WRITE on the transactional id, READ
 * on the group, then the producer's id and epoch (brk__txn_check). */
static kerr_t brk__txn_group_gate(brk_req_t *req, const char *api, kproto_str_t tid,
                                  kproto_str_t group, brk_txn_t *txn, int64_t pid, int16_t epoch,
                                  int16_t fenced_since)
{
    kerr_t e = brk__txn_authorize(req, api, tid);
    if (e == KERR_NONE) {
        e = brk_authz_group(req, BRK_ACL_OP_READ, group);
    }
    return e == KERR_NONE ? brk__txn_check(req, txn, pid, epoch, fenced_since) : e;
}

void brk_handle_add_offsets_to_txn(brk_req_t *req)
{
    kmsg_add_offsets_to_txn_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_add_offsets_to_txn_resp_t resp;
    kmsg_add_offsets_to_txn_resp_init(&resp);
    brk_txn_t *txn = brk__txn_find(brk, body->transactional_id);
    kerr_t e = brk__txn_group_gate(req, "AddOffsetsToTxn", body->transactional_id,
                                   body->group_id, txn, body->producer_id,
                                   body->producer_epoch, 2);
    if (e == KERR_NONE && (body->group_id.len <= 0 || body->group_id.len > BRK_TXN_GROUP_ID_BYTES_MAX)) {
        e = KERR_INVALID_GROUP_ID;
    }
    if (e == KERR_NONE && txn->group && !brk__txn_str_is(txn->group, body->group_id)) {
        e = KERR_INVALID_TXN_STATE; /* one group per transaction here */
    }
    if (e == KERR_NONE) {
        if (!txn->group) {
            txn->group = sl_xstrndup(body->group_id.ptr, (size_t)body->group_id.len);
        }
        brk__txn_begin(txn);
        if (brk__txn_save(brk) != 0) {
            e = KERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    resp.error_code = (int16_t)e;
    brk_respond(req, &resp);
}

void brk_handle_txn_offset_commit(brk_req_t *req)
{
    kmsg_txn_offset_commit_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_txn_offset_commit_resp_t resp;
    kmsg_txn_offset_commit_resp_init(&resp);
    brk_txn_t *txn = brk__txn_find(brk, body->transactional_id);
    kerr_t e = brk__txn_group_gate(req, "TxnOffsetCommit", body->transactional_id,
                                   body->group_id, txn, body->producer_id,
                                   body->producer_epoch, 3);
    if (e == KERR_NONE && (!txn->group || txn->state != TXN_ONGOING ||
                           !brk__txn_str_is(txn->group, body->group_id))) {
        e = KERR_INVALID_TXN_STATE; /* AddOffsetsToTxn first */
    }
    resp.topics_count = SL_MAX(body->topics_count, 0);
    resp.topics = brk_alloc(req, resp.topics_count, sizeof *resp.topics);
    for (int32_t t = 0; t < resp.topics_count; t++) {
        kmsg_txn_offset_commit_req_txn_offset_commit_request_topic_t *rt = &body->topics[t];
        kmsg_txn_offset_commit_resp_txn_offset_commit_response_topic_t *tr = &resp.topics[t];
        kmsg_txn_offset_commit_resp_txn_offset_commit_response_topic_init(tr);
        tr->name = rt->name;
        tr->partitions_count = SL_MAX(rt->partitions_count, 0);
        tr->partitions = brk_alloc(req, tr->partitions_count, sizeof *tr->partitions);
        for (int32_t p = 0; p < tr->partitions_count; p++) {
            kmsg_txn_offset_commit_req_txn_offset_commit_request_partition_t *rp = &rt->partitions[p];
            kmsg_txn_offset_commit_resp_txn_offset_commit_response_partition_init(&tr->partitions[p]);
            tr->partitions[p].partition_index = rp->partition_index;
            kerr_t pe = e;
            if (pe == KERR_NONE) {
                pe = brk_authz_topic(req, BRK_ACL_OP_READ, rt->name);
            }
            /* Only a partition that exists reaches the state file (Kafka answers
             * UNKNOWN_TOPIC_OR_PARTITION; a name that is not a valid topic name never exists). */
            const char *why;
            if (pe == KERR_NONE && (!brk_topic_name_valid(rt->name, &why) ||
                                    !brk_part_find(brk, rt->name, rp->partition_index))) {
                pe = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (pe == KERR_NONE && rp->committed_metadata.len > brk->conf.offset_metadata_max_bytes) {
                pe = KERR_OFFSET_METADATA_TOO_LARGE;
            } else if (pe == KERR_NONE && txn->offs.n >= BRK_TXN_PARTITIONS_MAX) {
                pe = KERR_INVALID_REQUEST;
            } else if (pe == KERR_NONE) {
                brk__txn_add_offset(txn, rt->name, rp->partition_index, rp->committed_offset,
                                    rp->committed_leader_epoch, rp->committed_metadata);
            }
            tr->partitions[p].error_code = (int16_t)pe;
        }
    }
    if (e == KERR_NONE && brk__txn_save(brk) != 0) {
        for (int32_t t = 0; t < resp.topics_count; t++) {
            for (int32_t p = 0; p < resp.topics[t].partitions_count; p++) {
                resp.topics[t].partitions[p].error_code = KERR_COORDINATOR_NOT_AVAILABLE;
            }
        }
    }
    brk_respond(req, &resp);
}

void brk_handle_end_txn(brk_req_t *req)
{
    kmsg_end_txn_req_t *body = req->body;
    brk_t *brk = req->brk;
    brk_txn_t *txn = brk__txn_find(brk, body->transactional_id);
    kerr_t e = brk__txn_authorize(req, "EndTxn", body->transactional_id);
    if (e == KERR_NONE) {
        e = brk__txn_check(req, txn, body->producer_id, body->producer_epoch, 2);
    }
    if (e == KERR_NONE) {
        switch (txn->state) {
        case TXN_ONGOING:
            brk__txn_end(brk, txn, body->committed, req); /* answers when durable */
            return;
        case TXN_COMPLETE_COMMIT: /* a retry of what was done */
            e = body->committed ? KERR_NONE : KERR_INVALID_TXN_STATE;
            break;
        case TXN_COMPLETE_ABORT:
            e = body->committed ? KERR_INVALID_TXN_STATE : KERR_NONE;
            break;
        default:
            e = KERR_INVALID_TXN_STATE;
            break;
        }
    }
    if (e != KERR_NONE) {
        static sl_log_rate_t rl;
        sl_esc_t esc;
        sl_log_rl(&rl, SL_LOG_WARN, "txn", "%s: EndTxn '%s': %s", req->peer,
                  sl_esc(&esc, body->transactional_id.ptr, body->transactional_id.len),
                  kerr_name((int16_t)e));
    }
    kmsg_end_txn_resp_t resp;
    kmsg_end_txn_resp_init(&resp);
    resp.error_code = (int16_t)e;
    resp.producer_id = txn ? txn->pid : -1;
    resp.producer_epoch = txn ? txn->epoch : -1;
    brk_respond(req, &resp);
}
