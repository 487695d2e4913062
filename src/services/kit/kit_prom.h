/* kit_prom: Prometheus text exposition for the services' /metrics: a growable text buffer,
 * single-value metrics, and fixed-bucket histograms of durations (observed in microseconds,
 * exposed in seconds). The bucket bounds belong to the caller and are the same for every call
 * on one histogram. */
#ifndef KIT_PROM_H
#define KIT_PROM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define KIT_HIST_BUCKETS_MAX 16

typedef struct {
    char *p; /* NUL-terminated text; the caller frees it when done */
    size_t len, cap;
} kit_text_t;

void kit_text_init(kit_text_t *t);
/* Appends printf-style text, growing the buffer as needed. */
void kit_text_put(kit_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP name help", "# TYPE name type", then "name{labels} v" (labels "" or "{a=\"b\"}"). */
void kit_prom_metric(kit_text_t *t, const char *type, const char *name, const char *help,
                     const char *labels, uint64_t v);

typedef struct {
    atomic_uint_fast64_t le[KIT_HIST_BUCKETS_MAX + 1]; /* per bucket; the last is +Inf */
    atomic_uint_fast64_t sum_us;
} kit_hist_t;

/* bounds: n ascending upper bounds in seconds, 1 <= n <= KIT_HIST_BUCKETS_MAX. Thread: any. */
void kit_hist_observe(kit_hist_t *h, const double *bounds, int n, int64_t us);
/* The histogram in Prometheus form: cumulative _bucket lines, _sum (seconds) and _count. */
void kit_prom_hist(kit_text_t *t, const char *name, const char *help, kit_hist_t *h,
                   const double *bounds, int n);

#endif
