/* Line-at-a-time logger to stderr; level is process-wide. */
#include "sl_common.h"
#include "sl_log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sl_log_level_t sl__log_level = SL_LOG_INFO;

void sl_log_set_level(sl_log_level_t level)
{
    sl__log_level = level;
}

bool sl_log_parse_level(const char *name, sl_log_level_t *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (sl_log_level_t)i;
            return true;
        }
    }
    return false;
}

void sl_log(sl_log_level_t level, const char *module, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < sl__log_level) {
        return;
    }
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, tags[level], module);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : SL_MIN((size_t)m, sizeof line - (size_t)n - 2));
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    SL_UNUSED(w);
}

const char *sl_esc(sl_esc_t *e, const char *p, long len)
{
    static const char hex[] = "0123456789abcdef";
    if (len < 0 || !p) {
        snprintf(e->s, sizeof e->s, "(null)");
        return e->s;
    }
    size_t o = 0;
    long shown = SL_MIN(len, (long)SL_LOG_ESC_BYTES_MAX);
    for (long i = 0; i < shown; i++) {
        uint8_t c = (uint8_t)p[i];
        if (c < 0x20 || c > 0x7e || c == '\\' || c == '"') {
            e->s[o++] = '\\';
            e->s[o++] = 'x';
            e->s[o++] = hex[c >> 4];
            e->s[o++] = hex[c & 15];
        } else {
            e->s[o++] = (char)c;
        }
    }
    e->s[o] = '\0';
    if (shown < len) {
        snprintf(e->s + o, sizeof e->s - o, "...(%ld bytes)", len);
    }
    return e->s;
}

static long long sl__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sl_log_rl(sl_log_rate_t *rl, sl_log_level_t level, const char *module, const char *fmt, ...)
{
    if (level < sl__log_level) {
        return;
    }
    long long now = sl__mono_ms();
    if (now < rl->next_ms) {
        rl->suppressed++;
        return;
    }
    rl->next_ms = now + SL_LOG_RATE_INTERVAL_MS;
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rl->suppressed > 0) {
        sl_log(level, module, "%s (%llu similar suppressed)", msg, rl->suppressed);
    } else {
        sl_log(level, module, "%s", msg);
    }
    rl->suppressed = 0;
}

void sl_load_skip(sl_load_t *ld, long lineno, const char *why)
{
    if (ld->skipped++ < SL_LOAD_SKIP_LOG_MAX) {
        sl_log(SL_LOG_WARN, "state", "%s: %s %ld skipped: %s", ld->path,
               ld->unit ? ld->unit : "line", lineno, why);
    }
}

void sl_load_done(const sl_load_t *ld)
{
    if (ld->skipped > 0) {
        sl_log(SL_LOG_WARN, "state", "%s: %ld damaged %s(s) skipped; the rest is loaded",
               ld->path, ld->skipped, ld->unit ? ld->unit : "line");
    }
}

const char *sl_esc_str(sl_esc_t *e, const char *s)
{
    return sl_esc(e, s, s ? (long)strlen(s) : -1);
}
