/* sl_prom: Prometheus text exposition (the services' and the broker's /metrics): a growable
 * text buffer, single-value metrics, labelled samples, and fixed-bucket histograms of
 * durations (observed in microseconds, exposed in seconds). The bucket bounds belong to the
 * caller and are the same for every call on one histogram. Format:
 * https://prometheus.io/docs/instrumenting/exposition_formats/ (text format 0.0.4). */
#ifndef SL_PROM_H
#define SL_PROM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_HIST_BUCKETS_MAX 16

typedef struct {
    char *p; /* NUL-terminated text; the caller frees it when done */
    size_t len, cap;
} sl_text_t;

void sl_text_init(sl_text_t *t);
/* Appends printf-style text, growing the buffer as needed. */
void sl_text_put(sl_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP name help", "# TYPE name type", then "name{labels} v" (labels "" or "{a=\"b\"}"). */
void sl_prom_metric(sl_text_t *t, const char *type, const char *name, const char *help,
                     const char *labels, uint64_t v);

/* "# HELP name help" and "# TYPE name type": once per metric family, before its samples. */
void sl_prom_head(sl_text_t *t, const char *type, const char *name, const char *help);
/* One sample line "name{labels} v" (labels "" or "{a=\"b\"}"); a double is written with
 * %.15g (NaN and infinities as Prometheus spells them). */
void sl_prom_u64(sl_text_t *t, const char *name, const char *labels, uint64_t v);
void sl_prom_f64(sl_text_t *t, const char *name, const char *labels, double v);
/* A label value escaped for the text format (backslash, double quote and newline), into buf
 * (cut to len - 1 bytes, never inside an escape); returns buf. */
const char *sl_prom_esc(char *buf, size_t len, const char *s, size_t n);

typedef struct {
    atomic_uint_fast64_t le[SL_HIST_BUCKETS_MAX + 1]; /* per bucket; the last is +Inf */
    atomic_uint_fast64_t sum_us;
} sl_hist_t;

/* bounds: n ascending upper bounds in seconds, 1 <= n <= SL_HIST_BUCKETS_MAX. Thread: any. */
void sl_hist_observe(sl_hist_t *h, const double *bounds, int n, int64_t us);
/* The histogram in Prometheus form: cumulative _bucket lines, _sum (seconds) and _count. */
void sl_prom_hist(sl_text_t *t, const char *name, const char *help, sl_hist_t *h,
                   const double *bounds, int n);
/* The samples of one labelled series of a histogram family (no HELP/TYPE: sl_prom_head once
 * first). labels: "" or "a=\"b\"" (without braces; le is added). Counts are read relaxed. */
void sl_prom_hist_series(sl_text_t *t, const char *name, const char *labels, sl_hist_t *h,
                         const double *bounds, int n);
/* Whether h has observed anything (to skip series that never happened). */
bool sl_hist_any(sl_hist_t *h, int n);

#endif
