/* kit_prom: see kit_prom.h. */
#include "kit_prom.h"

#include "sl_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define KIT_TEXT_BYTES_INIT 8192

void kit_text_init(kit_text_t *t)
{
    t->p = sl_xmalloc(KIT_TEXT_BYTES_INIT);
    t->p[0] = '\0';
    t->len = 0;
    t->cap = KIT_TEXT_BYTES_INIT;
}

void kit_text_put(kit_text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        SL_ASSERT(n >= 0);
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)n;
        t->p = sl_xrealloc(t->p, t->cap);
    }
}

void kit_prom_metric(kit_text_t *t, const char *type, const char *name, const char *help,
                     const char *labels, uint64_t v)
{
    kit_text_put(t, "# HELP %s %s\n# TYPE %s %s\n%s%s %llu\n", name, help, name, type, name,
                 labels, (unsigned long long)v);
}

void kit_hist_observe(kit_hist_t *h, const double *bounds, int n, int64_t us)
{
    SL_ASSERT(n >= 1 && n <= KIT_HIST_BUCKETS_MAX);
    int i = 0;
    while (i < n && (double)us / 1e6 > bounds[i]) {
        i++;
    }
    atomic_fetch_add(&h->le[i], 1);
    atomic_fetch_add(&h->sum_us, (uint64_t)SL_MAX(us, 0));
}

void kit_prom_hist(kit_text_t *t, const char *name, const char *help, kit_hist_t *h,
                   const double *bounds, int n)
{
    SL_ASSERT(n >= 1 && n <= KIT_HIST_BUCKETS_MAX);
    kit_text_put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i <= n; i++) {
        cum += atomic_load(&h->le[i]);
        if (i < n) {
            kit_text_put(t, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                         (unsigned long long)cum);
        } else {
            kit_text_put(t, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        }
    }
    kit_text_put(t, "%s_sum %.6f\n%s_count %llu\n", name, (double)atomic_load(&h->sum_us) / 1e6,
                 name, (unsigned long long)cum);
}
