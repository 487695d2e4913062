/* sluice jobs: run the job pipeline service (serve) or operate it over its HTTP API
 * (list, show, retry, cancel). Exit codes: 0 ok, 1 failure (service error, HTTP error), 2 usage. */
#include "cli.h"
#include "jauth.h"
#include "jsvc.h"
#include "sl_common.h"
#include "sl_log.h"
#include "tool_svc.h"

#include "kit_curl.h"
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOBS_URL_DEFAULT "http://127.0.0.1:8080"
#define JOBS_RESPONSE_MAX (64u << 20)
#define JOBS_TOKEN_ENV "SLUICE_JOBS_TOKEN"

static const char *jobs__token; /* --token or $SLUICE_JOBS_TOKEN: sent as a bearer token */

/* Usage of each subcommand (what `sluice jobs CMD --help` prints) and of them all. */
static const struct {
    const char *cmd, *text;
} jobs__usages[] = {
    {"serve", "usage: sluice jobs serve [--config FILE.properties] [--set key=value]...\n"
              "                         [--brokers HOST:PORT] [--http HOST:PORT] [--store FILE]\n"},
    {"list", "       sluice jobs list   [--url URL] [--token T] [--state STATE] [--type TYPE]\n"
             "                          [--limit N] [--after CURSOR] [--json]\n"},
    {"show", "       sluice jobs show   [--url URL] [--token T] ID [--log] [--json]\n"},
    {"retry", "       sluice jobs retry  [--url URL] [--token T] ID\n"
              "                          | --all [--state STATE] [--type TYPE]\n"},
    {"cancel", "       sluice jobs cancel [--url URL] [--token T] ID\n"},
};

static const char *jobs__notes[] = {
    [0] = "The service's settings are listed in docs/jobs.md.\n",
    [1] = ("list: ATTEMPT is the attempt of the current run over its budget (max_attempts);\n"
           "an operator retry starts a new run, and the attempts of the job's whole life are\n"
           "then shown too (\"1/3 (6 in all)\"). A full page ends with \"(more: --after CURSOR)\":\n"
           "pass that --after CURSOR to get the next page. --json prints the API's JSON.\n"),
    [2] = ("show: times in UTC (ISO 8601, ms); --json prints the API's JSON (times as epoch\n"
           "ms); --log prints the tail of the worker's log.\n"),
};

/* Prints the usage of cmd (NULL: every subcommand). */
static void jobs__usage_of(FILE *f, const char *cmd)
{
    bool first = true;
    for (size_t i = 0; i < SL_ARRAY_LEN(jobs__usages); i++) {
        if (cmd && strcmp(cmd, jobs__usages[i].cmd) != 0) {
            continue;
        }
        const char *t = jobs__usages[i].text;
        if (first && strncmp(t, "usage:", 6) != 0) {
            fputs("usage:", f);
            t += 6; /* the continuation's indent has the width of "usage:" */
        }
        fputs(t, f);
        first = false;
    }
    if (!cmd || strcmp(cmd, "serve") == 0) {
        fputs(jobs__notes[0], f);
    }
    if (!cmd || strcmp(cmd, "list") == 0) {
        fputs(jobs__notes[1], f);
    }
    if (!cmd || strcmp(cmd, "show") == 0) {
        fputs(jobs__notes[2], f);
    }
    if (!cmd || strcmp(cmd, "serve") != 0) {
        fputs("--url defaults to " JOBS_URL_DEFAULT "; the token (an operator.token of the\n"
              "service) defaults to $" JOBS_TOKEN_ENV " (prefer it: --token shows in the\n"
              "process list). Security settings: docs/jobs-security.md.\n",
              f);
    }
}

static void jobs__usage(FILE *f)
{
    jobs__usage_of(f, NULL);
}

/* True when --help or -h is among the arguments (whatever precedes it). */
static bool jobs__wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
    }
    return false;
}

/* ---- serve ---- */

static void jobs__serve_usage(FILE *f)
{
    jobs__usage_of(f, "serve");
}

static const tool_svc_flag_t jobs__serve_flags[] = {
    {"--brokers", "brokers"},
    {"--bootstrap-server", "brokers"},
    {"--http", "http.listen"},
    {"--store", "store.path"},
};

static int jobs__serve(int argc, char **argv)
{
    sl_props_t *props = sl_props_new();
    char err[512];
    int rc = tool_svc_args("sluice jobs serve", argc, argv, jobs__serve_flags,
                           SL_ARRAY_LEN(jobs__serve_flags), jobs__serve_usage, props);
    if (rc != 0) {
        rc = rc == TOOL_SVC_HELP ? 0 : rc;
        goto out;
    }
    rc = 2;
    jcfg_t cfg;
    if (jcfg_load(&cfg, props, err, sizeof err) != 0) {
        fprintf(stderr, "sluice jobs serve: %s\n", err);
        jcfg_deinit(&cfg);
        goto out;
    }
    sigset_t set;
    tool_svc_signals(&set);
    if (kit_curl_open(err, sizeof err) != 0) {
        fprintf(stderr, "sluice jobs serve: %s\n", err);
        jcfg_deinit(&cfg);
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    jsvc_t *svc = NULL;
    if (jsvc_start(&cfg, &svc, err, sizeof err) != 0) {
        fprintf(stderr, "sluice jobs serve: %s\n", err);
        rc = 1;
    } else {
        printf("sluice jobs: listening on http://%.*s:%d\n",
               (int)(strrchr(cfg.http_listen, ':') - cfg.http_listen), cfg.http_listen,
               jsvc_http_port(svc));
        fflush(stdout);
        int sig = -1;
        while (sig < 0 && jsvc_alive(svc)) {
            sig = tool_svc_wait(&set, 200);
        }
        rc = sig < 0 ? 1 : 0;
        SL_LOGI("jobs", "%s; stopping", sig < 0 ? "a stage died" : "signal received");
        jsvc_stop(svc);
    }
    jcfg_deinit(&cfg);
    curl_global_cleanup();
out:
    sl_props_free(props);
    return rc;
}

/* ---- operator commands (HTTP) ---- */

typedef struct {
    char *p;
    size_t len;
} jobs_body_t;

static size_t jobs__collect(char *ptr, size_t size, size_t n, void *user)
{
    jobs_body_t *b = user;
    size_t add = size * n;
    if (b->len + add > JOBS_RESPONSE_MAX) {
        return 0;
    }
    char *np = realloc(b->p, b->len + add + 1);
    if (!np) {
        return 0;
    }
    b->p = np;
    memcpy(b->p + b->len, ptr, add);
    b->len += add;
    b->p[b->len] = '\0';
    return add;
}

/* Performs one request; returns the HTTP status (0: no answer, message printed) and the body. */
static long jobs__http(const char *method, const char *url, const char *body, jobs_body_t *out)
{
    CURL *c = curl_easy_init();
    SL_ASSERT(c);
    struct curl_slist *h = curl_slist_append(NULL, "content-type: application/json");
    if (jobs__token) {
        char auth[JAUTH_TOKEN_BYTES_MAX + 32];
        snprintf(auth, sizeof auth, "authorization: Bearer %s", jobs__token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, jobs__collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    long status = 0;
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fprintf(stderr, "sluice jobs: %s %s: %s\n", method, url, curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* Prints the answer: the body on success (JSON pretty-printed unless raw), the error
 * otherwise. Returns the exit code. */
static int jobs__print(long status, jobs_body_t *b, bool raw)
{
    int rc = status >= 200 && status < 300 ? 0 : 1;
    if (status == 0) {
        free(b->p);
        return 1;
    }
    json_error_t jerr;
    json_t *o = b->p && !raw ? json_loads(b->p, 0, &jerr) : NULL;
    if (rc != 0) {
        const char *msg = o ? json_string_value(json_object_get(o, "error")) : NULL;
        fprintf(stderr, "sluice jobs: HTTP %ld: %s\n", status, msg ? msg : (b->p ? b->p : ""));
    } else if (o) {
        char *text = json_dumps(o, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    } else if (b->p) {
        fputs(b->p, stdout);
    }
    json_decref(o);
    free(b->p);
    return rc;
}

static void jobs__qs(char *url, size_t cap, const char *name, const char *v)
{
    if (!v) {
        return;
    }
    char *esc = curl_easy_escape(NULL, v, 0);
    size_t len = strlen(url);
    snprintf(url + len, cap - len, "%s%s=%s", strchr(url, '?') ? "&" : "?", name, esc);
    curl_free(esc);
}

/* "2/3", or "1/3 (6 in all)" once operator retries started new runs: the attempt of the
 * current run over its budget, then the attempts over the job's life. */
static void jobs__attempt_cell(char *cell, size_t cap, const json_t *j)
{
    long long life = (long long)json_integer_value(json_object_get(j, "attempt"));
    long long max = (long long)json_integer_value(json_object_get(j, "max_attempts"));
    const json_t *run = json_object_get(j, "run_attempt");
    long long n = run ? (long long)json_integer_value(run) : life;
    if (n != life) {
        snprintf(cell, cap, "%lld/%lld (%lld in all)", n, max, life);
    } else {
        snprintf(cell, cap, "%lld/%lld", n, max);
    }
}

static void jobs__list_table(jobs_body_t *b)
{
    json_error_t jerr;
    json_t *o = json_loads(b->p ? b->p : "", 0, &jerr);
    json_t *jobs = json_object_get(o, "jobs");
    printf("%-34s %-20s %-10s %s\n", "ID", "TYPE", "STATE", "ATTEMPT");
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) {
        char cell[96];
        jobs__attempt_cell(cell, sizeof cell, j);
        printf("%-34s %-20s %-10s %s\n", json_string_value(json_object_get(j, "id")),
               json_string_value(json_object_get(j, "type")),
               json_string_value(json_object_get(j, "state")), cell);
    }
    const char *next = json_string_value(json_object_get(o, "next_after"));
    if (next) {
        printf("(more: --after %s)\n", next);
    }
    json_decref(o);
}

/* Timestamps of the job API (epoch ms), shown as ISO 8601 UTC under the name without "_ms". */
static const char *const jobs__time_keys[] = {"created_ms",  "updated_ms",  "next_attempt_at_ms",
                                              "started_ms",  "finished_ms", "at_ms",
                                              "run_at_ms"};

/* ms since the epoch as "2026-12-07T13:03:15.123Z". */
static void jobs__iso_ms(char *out, size_t cap, long long ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03lldZ", day, ms % 1000);
}

/* A copy of v in which every timestamp key holds a readable time (0: null), key order kept. */
static json_t *jobs__readable(const json_t *v)
{
    if (json_is_array(v)) {
        json_t *arr = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            json_array_append_new(arr, jobs__readable(e));
        }
        return arr;
    }
    if (!json_is_object(v)) {
        return json_deep_copy(v);
    }
    json_t *o = json_object();
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e) {
        bool is_time = false;
        for (size_t i = 0; i < SL_ARRAY_LEN(jobs__time_keys) && !is_time; i++) {
            is_time = strcmp(k, jobs__time_keys[i]) == 0 && json_is_integer(e);
        }
        if (!is_time) {
            json_object_set_new(o, k, jobs__readable(e));
            continue;
        }
        char name[64], when[48];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(k) - 3), k);
        long long ms = (long long)json_integer_value(e);
        jobs__iso_ms(when, sizeof when, ms);
        json_object_set_new(o, name, ms > 0 ? json_string(when) : json_null());
    }
    return o;
}

/* show: the job with readable times (raw: the API's JSON as it came). */
static int jobs__show_job(long status, jobs_body_t *b, bool raw)
{
    json_error_t jerr;
    json_t *o = status == 200 && !raw && b->p ? json_loads(b->p, 0, &jerr) : NULL;
    if (!o) {
        return jobs__print(status, b, false);
    }
    json_t *h = jobs__readable(o);
    char *text = json_dumps(h, JSON_INDENT(2));
    printf("%s\n", text);
    free(text);
    json_decref(h);
    json_decref(o);
    free(b->p);
    return 0;
}

typedef struct {
    const char *cmd, *url, *id, *state, *type, *limit, *after, *token;
    bool json, log, all;
} jobs_op_t;

/* Parses the options of list|show|retry|cancel; returns 0 or 2 after printing the problem. */
static int jobs__op_parse(jobs_op_t *op, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = strcmp(a, "--url") == 0     ? &op->url
                           : strcmp(a, "--state") == 0 ? &op->state
                           : strcmp(a, "--type") == 0  ? &op->type
                           : strcmp(a, "--limit") == 0 ? &op->limit
                           : strcmp(a, "--after") == 0 ? &op->after
                           : strcmp(a, "--token") == 0 ? &op->token
                                                       : NULL;
        if (dst && !v) {
            fprintf(stderr, "sluice jobs %s: missing value for %s\n", op->cmd, a);
            return 2;
        }
        if (dst) {
            *dst = v;
            i++;
        } else if (strcmp(a, "--json") == 0 || strcmp(a, "--log") == 0 ||
                   strcmp(a, "--all") == 0) {
            *(a[2] == 'j' ? &op->json : a[2] == 'l' ? &op->log : &op->all) = true;
        } else if (a[0] != '-' && !op->id) {
            op->id = a;
        } else {
            fprintf(stderr, "sluice jobs %s: unexpected argument '%s'\n", op->cmd, a);
            return 2;
        }
    }
    bool needs_id = strcmp(op->cmd, "show") == 0 || strcmp(op->cmd, "cancel") == 0 ||
                    (strcmp(op->cmd, "retry") == 0 && !op->all);
    if (needs_id != (op->id != NULL)) {
        fprintf(stderr, "sluice jobs %s: %s\n", op->cmd,
                needs_id ? "missing job id" : "no job id expected");
        return 2;
    }
    return 0;
}

/* URL of one job (+ suffix). */
static void jobs__job_url(char *u, size_t cap, const jobs_op_t *op, const char *suffix)
{
    char *esc = curl_easy_escape(NULL, op->id, 0);
    snprintf(u, cap, "%s/jobs/%s%s", op->url, esc, suffix);
    curl_free(esc);
}

static int jobs__list(const jobs_op_t *op)
{
    char u[4096];
    jobs_body_t b = {NULL, 0};
    snprintf(u, sizeof u, "%s/jobs", op->url);
    jobs__qs(u, sizeof u, "state", op->state);
    jobs__qs(u, sizeof u, "type", op->type);
    jobs__qs(u, sizeof u, "limit", op->limit);
    jobs__qs(u, sizeof u, "after", op->after);
    long status = jobs__http("GET", u, NULL, &b);
    if (status == 200 && !op->json) {
        jobs__list_table(&b);
        free(b.p);
        return 0;
    }
    return jobs__print(status, &b, false);
}

static int jobs__retry_all(const jobs_op_t *op)
{
    char u[4096];
    jobs_body_t b = {NULL, 0};
    json_t *f = json_object();
    if (op->state) {
        json_object_set_new(f, "state", json_string(op->state));
    }
    if (op->type) {
        json_object_set_new(f, "type", json_string(op->type));
    }
    char *body = json_dumps(f, JSON_COMPACT);
    json_decref(f);
    snprintf(u, sizeof u, "%s/jobs/retry", op->url);
    long status = jobs__http("POST", u, body, &b);
    free(body);
    return jobs__print(status, &b, false);
}

static int jobs__operate(const char *cmd, int argc, char **argv)
{
    jobs_op_t op = {.cmd = cmd, .url = JOBS_URL_DEFAULT, .token = getenv(JOBS_TOKEN_ENV)};
    int rc = jobs__op_parse(&op, argc, argv);
    if (rc != 0) {
        return rc;
    }
    if (op.token && strlen(op.token) > JAUTH_TOKEN_BYTES_MAX) {
        fprintf(stderr, "sluice jobs %s: the token has over %d bytes\n", cmd,
                JAUTH_TOKEN_BYTES_MAX);
        return 2;
    }
    jobs__token = op.token && *op.token ? op.token : NULL;
    char u[4096];
    jobs_body_t b = {NULL, 0};
    if (strcmp(cmd, "list") == 0) {
        return jobs__list(&op);
    }
    if (strcmp(cmd, "show") == 0) {
        jobs__job_url(u, sizeof u, &op, op.log ? "/log" : "");
        long status = jobs__http("GET", u, NULL, &b);
        return op.log ? jobs__print(status, &b, true) : jobs__show_job(status, &b, op.json);
    }
    if (strcmp(cmd, "cancel") == 0) {
        jobs__job_url(u, sizeof u, &op, "");
        return jobs__print(jobs__http("DELETE", u, NULL, &b), &b, false);
    }
    if (op.all) {
        return jobs__retry_all(&op);
    }
    jobs__job_url(u, sizeof u, &op, "/retry");
    return jobs__print(jobs__http("POST", u, "", &b), &b, false);
}

int tool_jobs(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        jobs__usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < SL_ARRAY_LEN(jobs__usages); i++) {
        if (strcmp(cmd, jobs__usages[i].cmd) == 0 && jobs__wants_help(argc - 1, argv + 1)) {
            jobs__usage_of(stdout, cmd);
            return 0;
        }
    }
    if (strcmp(cmd, "serve") == 0) {
        return jobs__serve(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "list") == 0 || strcmp(cmd, "show") == 0 || strcmp(cmd, "retry") == 0 ||
        strcmp(cmd, "cancel") == 0) {
        char err[512];
        if (kit_curl_open(err, sizeof err) != 0) {
            fprintf(stderr, "sluice jobs %s: %s\n", cmd, err);
            return 1;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = jobs__operate(cmd, argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "sluice jobs: unknown command '%s'\n", cmd);
    jobs__usage(stderr);
    return 2;
}
