/* Logging: one line per event to stderr, "2026-11-23T00:00:00.000Z LEVEL [module] message".
 * Thread: any (each line is written with a single write(2)). */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdbool.h>

typedef enum { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR } sl_log_level_t;

void sl_log_set_level(sl_log_level_t level);
/* Parses "debug|info|warn|error"; returns false on an unknown name. */
bool sl_log_parse_level(const char *name, sl_log_level_t *out);
void sl_log(sl_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SL_LOGD(mod, ...) sl_log(SL_LOG_DEBUG, mod, __VA_ARGS__)
#define SL_LOGI(mod, ...) sl_log(SL_LOG_INFO, mod, __VA_ARGS__)
#define SL_LOGW(mod, ...) sl_log(SL_LOG_WARN, mod, __VA_ARGS__)
#define SL_LOGE(mod, ...) sl_log(SL_LOG_ERROR, mod, __VA_ARGS__)

/* ---- client strings in log lines ----
 * A string a client sent (client id, user, mechanism, topic, group, transactional id) is
 * logged through sl_esc: bytes outside printable ASCII, '\\' and '"' become \xNN, and only
 * the first SL_LOG_ESC_BYTES_MAX bytes are shown (then "...(N bytes)"), so no client can
 * forge a log line or flood one. */
#define SL_LOG_ESC_BYTES_MAX 200
typedef struct {
    char s[SL_LOG_ESC_BYTES_MAX * 4 + 32];
} sl_esc_t;
/* Escapes p[0..len) (len < 0: a null string, shown as "(null)") into e; returns e->s. */
const char *sl_esc(sl_esc_t *e, const char *p, long len);
/* As sl_esc for a C string (NULL: "(null)"). */
const char *sl_esc_str(sl_esc_t *e, const char *s);

/* ---- rate-limited lines: one line per cause per interval ----
 * A limiter is one cause (a static in the caller). The first line of an interval is written;
 * the others are counted, and the next written line ends with "(N similar suppressed)".
 * Thread: one thread per limiter (the loop, as a rule). */
#define SL_LOG_RATE_INTERVAL_MS 10000
typedef struct {
    long long next_ms;       /* monotonic ms before which lines are suppressed */
    unsigned long long suppressed;
} sl_log_rate_t;
void sl_log_rl(sl_log_rate_t *rl, sl_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- damaged lines of state files ----
 * A loader that skips a line it cannot parse reports it here: the first
 * SL_LOAD_SKIP_LOG_MAX of a file are logged (WARN, naming the file, the line and why), the
 * rest only counted, and sl_load_done writes one summary line when any were skipped. */
#define SL_LOAD_SKIP_LOG_MAX 10
typedef struct {
    const char *path;
    long skipped;
    const char *unit; /* what the number names: NULL is "line" ("offset" for a log) */
} sl_load_t;
void sl_load_skip(sl_load_t *ld, long lineno, const char *why);
void sl_load_done(const sl_load_t *ld);

#endif
