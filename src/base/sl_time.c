/* Clock helpers over clock_gettime. */
#include "sl_time.h"

#include <stddef.h>
#include <time.h>

int64_t sl_time_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sl_time_mono_ms(void)
{
    return sl_time_mono_us() / 1000;
}

int64_t sl_time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reads exactly n decimal digits at *p into *v, moving *p past them. */
static bool sl_time__digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        *v = *v * 10 + (c - '0');
    }
    *p += n;
    return true;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static int64_t sl_time__days(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int sl_time__month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* The zone of a date-time: Z, or +HH:MM / -HH:MM as seconds east of UTC. */
static bool sl_time__zone(const char *p, int64_t *off_s)
{
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        *off_s = 0;
        return true;
    }
    int oh = 0, om = 0;
    char sign = *p++;
    if ((sign != '+' && sign != '-') || !sl_time__digits(&p, 2, &oh) || *p++ != ':' ||
        !sl_time__digits(&p, 2, &om) || *p != '\0' || oh > 23 || om > 59) {
        return false;
    }
    *off_s = (sign == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
    return true;
}

bool sl_time_parse_rfc3339(const char *s, int64_t *ms_out)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, frac_ms = 0;
    if (!p || !sl_time__digits(&p, 4, &y) || *p++ != '-' || !sl_time__digits(&p, 2, &mo) ||
        *p++ != '-' || !sl_time__digits(&p, 2, &d) || (*p != 'T' && *p != 't') ||
        !(++p, sl_time__digits(&p, 2, &h)) || *p++ != ':' || !sl_time__digits(&p, 2, &mi) ||
        *p++ != ':' || !sl_time__digits(&p, 2, &sec)) {
        return false;
    }
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            frac_ms = n < 3 ? frac_ms * 10 + (*p - '0') : frac_ms;
        }
        if (n < 1 || n > 9) {
            return false;
        }
        for (; n < 3; n++) {
            frac_ms *= 10;
        }
    }
    int64_t off_s = 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > sl_time__month_days(y, mo) || h > 23 ||
        mi > 59 || sec > 60 || !sl_time__zone(p, &off_s)) {
        return false;
    }
    int64_t t = sl_time__days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_s;
    *ms_out = t * 1000 + frac_ms;
    return true;
}
