/* jnbatch: the batch cut of `sluice join` (jnbatch.h; the rule is in docs/join.md, "Memory"). */
#include "jnbatch.h"

#include "sl_common.h"

void jn_cut_init(jn_cut_t *cut, size_t records_max, uint64_t bytes_max)
{
    SL_ASSERT(records_max > 0 && bytes_max > 0);
    *cut = (jn_cut_t){.records_max = records_max, .bytes_max = bytes_max};
}

void jn_cut_add(jn_cut_t *cut, size_t record_bytes)
{
    cut->records++;
    cut->bytes += record_bytes;
    cut->largest = SL_MAX(cut->largest, record_bytes);
}

bool jn_cut_full(const jn_cut_t *cut)
{
    return cut->records >= cut->records_max || cut->bytes >= cut->bytes_max;
}

size_t jn_cut_next(const jn_cut_t *cut)
{
    if (jn_cut_full(cut)) {
        return 0;
    }
    size_t left = cut->records_max - cut->records;
    if (cut->largest == 0) {
        return 1; /* nothing known about the records' size yet (or only empty ones) */
    }
    uint64_t bytes_left = cut->bytes_max - cut->bytes;
    uint64_t fit = (bytes_left + cut->largest - 1) / cut->largest; /* >= 1 */
    return fit < left ? (size_t)fit : left;
}
