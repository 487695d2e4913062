/* The cleaner's private parts, shared by cleaner.c (the job: map and rewrite, on a cleaner
 * thread) and clean_swap.c (the checkpoint, the swap on the loop, and its recovery at open). */
#ifndef SLOG_CLEAN_H
#define SLOG_CLEAN_H

#include "sl_buf.h"
#include "sl_siphash.h"
#include "slog_internal.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Producers remembered per pass (the last batch of each keeps an empty header). */
#define SLOG_CLEAN_PRODUCERS_MAX 4096

/* ---- offset map ---- */

typedef struct {
    uint64_t h1, h2;
    int64_t offset; /* -1: empty slot */
} slog_omap_slot_t;

typedef struct {
    slog_omap_slot_t *slots;
    size_t cap;
    size_t used;
    size_t max_used;
    sl_siphash_key_t key1, key2; /* fresh for every cleaning pass */
} slog_omap_t;

/* ---- the job ---- */

typedef struct {
    int64_t base, next, size;
    slog_file_t *file; /* referenced */
} slog_clean_in_t;

typedef struct {
    int64_t base;  /* = the first input's base */
    int64_t end;   /* base of the segment after the group */
    size_t first, n; /* inputs */
    int64_t size;  /* bytes written */
    bool written;  /* .cleaned files exist */
} slog_clean_group_t;

typedef struct {
    int64_t pid;
    int64_t last_base;
} slog_clean_producer_t;

struct slog_clean_job {
    char *dir;
    slog_conf_t conf;
    slog_clean_opts_t opts;
    int64_t now_ms;
    atomic_bool cancel;
    slog_clean_in_t *in;
    size_t nin;
    int64_t cleaned_to;  /* the checkpoint when the job began */
    int64_t dirty_end;   /* the first uncleanable offset (a segment base) */
    slog_clean_mark_t marks[SLOG_CLEAN_MARKS_MAX];
    int nmarks;
    int64_t map_end;     /* the map covers [cleaned_to, map_end): the new checkpoint */
    slog_clean_group_t *groups;
    size_t ngroups;
    slog_omap_t map;
    slog_clean_producer_t producers[SLOG_CLEAN_PRODUCERS_MAX];
    size_t nproducers;
    bool producers_full;
    sl_buf_t batch, inflated, kept, deflated; /* scratch */
    int64_t io_start_ms, io_bytes;
    slog_clean_stats_t stats;
};

/* <dir>/<base as 20 digits>.<ext><state>: a cleaned file (".cleaned"), a committed one
 * (".swap") or a final name (""). */
void slog__clean_path(const char *dir, int64_t base, const char *ext, const char *state,
                      char *buf, size_t len);

#endif
