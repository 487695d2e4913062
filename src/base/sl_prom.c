/* sl_prom: see sl_prom.h. */
#include "sl_prom.h"

#include "sl_common.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define SL_TEXT_BYTES_INIT 8192

void sl_text_init(sl_text_t *t)
{
    t->p = sl_xmalloc(SL_TEXT_BYTES_INIT);
    t->p[0] = '\0';
    t->len = 0;
    t->cap = SL_TEXT_BYTES_INIT;
}

void sl_text_put(sl_text_t *t, const char *fmt, ...)
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

void sl_prom_metric(sl_text_t *t, const char *type, const char *name, const char *help,
                     const char *labels, uint64_t v)
{
    sl_text_put(t, "# HELP %s %s\n# TYPE %s %s\n%s%s %llu\n", name, help, name, type, name,
                 labels, (unsigned long long)v);
}

void sl_hist_observe(sl_hist_t *h, const double *bounds, int n, int64_t us)
{
    SL_ASSERT(n >= 1 && n <= SL_HIST_BUCKETS_MAX);
    int i = 0;
    while (i < n && (double)us / 1e6 > bounds[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&h->le[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)SL_MAX(us, 0), memory_order_relaxed);
}

void sl_prom_hist(sl_text_t *t, const char *name, const char *help, sl_hist_t *h,
                   const double *bounds, int n)
{
    SL_ASSERT(n >= 1 && n <= SL_HIST_BUCKETS_MAX);
    sl_text_put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i <= n; i++) {
        cum += atomic_load(&h->le[i]);
        if (i < n) {
            sl_text_put(t, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                         (unsigned long long)cum);
        } else {
            sl_text_put(t, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        }
    }
    sl_text_put(t, "%s_sum %.6f\n%s_count %llu\n", name, (double)atomic_load(&h->sum_us) / 1e6,
                 name, (unsigned long long)cum);
}

void sl_prom_head(sl_text_t *t, const char *type, const char *name, const char *help)
{
    sl_text_put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void sl_prom_u64(sl_text_t *t, const char *name, const char *labels, uint64_t v)
{
    sl_text_put(t, "%s%s %llu\n", name, labels, (unsigned long long)v);
}

void sl_prom_f64(sl_text_t *t, const char *name, const char *labels, double v)
{
    if (isnan(v)) {
        sl_text_put(t, "%s%s NaN\n", name, labels);
    } else if (isinf(v)) {
        sl_text_put(t, "%s%s %sInf\n", name, labels, v > 0 ? "+" : "-");
    } else {
        sl_text_put(t, "%s%s %.15g\n", name, labels, v);
    }
}

const char *sl_prom_esc(char *buf, size_t len, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < len; i++) {
        char c = s[i];
        const char *rep = c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == '\n' ? "\\n" : NULL;
        if (rep) {
            if (o + 3 > len) {
                break;
            }
            buf[o++] = rep[0];
            buf[o++] = rep[1];
        } else {
            buf[o++] = c;
        }
    }
    buf[o] = '\0';
    return buf;
}

void sl_prom_hist_series(sl_text_t *t, const char *name, const char *labels, sl_hist_t *h,
                         const double *bounds, int n)
{
    SL_ASSERT(n >= 1 && n <= SL_HIST_BUCKETS_MAX);
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (int i = 0; i <= n; i++) {
        cum += atomic_load_explicit(&h->le[i], memory_order_relaxed);
        if (i < n) {
            sl_text_put(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i],
                        (unsigned long long)cum);
        } else {
            sl_text_put(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                        (unsigned long long)cum);
        }
    }
    const char *lb = labels[0] ? "{" : "", *rb = labels[0] ? "}" : "";
    sl_text_put(t, "%s_sum%s%s%s %.6f\n%s_count%s%s%s %llu\n", name, lb, labels, rb,
                (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6, name, lb,
                labels, rb, (unsigned long long)cum);
}

bool sl_hist_any(sl_hist_t *h, int n)
{
    for (int i = 0; i <= n; i++) {
        if (atomic_load_explicit(&h->le[i], memory_order_relaxed) != 0) {
            return true;
        }
    }
    return false;
}
