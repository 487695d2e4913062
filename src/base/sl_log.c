/* Line-at-a-time logger to stderr; level is process-wide. */
#include "sl_common.h"
#include "sl_log.h"

#include <stdarg.h>
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
