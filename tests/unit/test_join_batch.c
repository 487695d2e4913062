/* The join's batch cut (jnbatch): a batch ends at batch.max.records or once its input bytes
 * reach batch.max.bytes; chunks taken from the consumer queue never cross the byte bound by
 * more than the record that reaches it while records are no larger than those seen. */
#include "jnbatch.h"
#include "sl_test.h"

#include <stddef.h>

/* Takes records of the given sizes the way jnproc does (one chunk per jn_cut_next), and
 * returns how many the batch took; *calls counts the chunks. */
static size_t take(jn_cut_t *cut, const size_t *sizes, size_t n, size_t *calls)
{
    size_t i = 0;
    *calls = 0;
    for (size_t want = jn_cut_next(cut); want > 0 && i < n; want = jn_cut_next(cut)) {
        (*calls)++;
        for (size_t k = 0; k < want && i < n; k++) {
            jn_cut_add(cut, sizes[i++]);
        }
    }
    return i;
}

TEST(test_batch_cut_by_bytes_ends_at_the_record_that_reaches_the_bound)
{
    static size_t sizes[1000];
    for (size_t i = 0; i < 1000; i++) {
        sizes[i] = 2048;
    }
    jn_cut_t cut;
    size_t calls;
    jn_cut_init(&cut, 50000, 64 * 1024);
    ASSERT_EQ(take(&cut, sizes, 1000, &calls), 32); /* 32 x 2 KiB = 64 KiB exactly */
    ASSERT_EQ(cut.bytes, 64 * 1024);
    ASSERT_TRUE(jn_cut_full(&cut));
    ASSERT_EQ(jn_cut_next(&cut), 0);
    ASSERT_TRUE(calls <= 3); /* one record, then chunks sized by what was seen */
    jn_cut_init(&cut, 50000, 64 * 1024 + 1);
    ASSERT_EQ(take(&cut, sizes, 1000, &calls), 33); /* the 33rd crosses the bound: last */
    ASSERT_EQ(cut.bytes, 33 * 2048);
}

TEST(test_batch_cut_by_records_when_they_come_first)
{
    static size_t sizes[300];
    for (size_t i = 0; i < 300; i++) {
        sizes[i] = 10;
    }
    jn_cut_t cut;
    size_t calls;
    jn_cut_init(&cut, 200, 1u << 20);
    ASSERT_EQ(take(&cut, sizes, 300, &calls), 200);
    ASSERT_EQ(cut.bytes, 2000);
    ASSERT_TRUE(jn_cut_full(&cut));
    jn_cut_init(&cut, 1, 1u << 20);
    ASSERT_EQ(take(&cut, sizes, 300, &calls), 1);
}

TEST(test_batch_cut_overshoots_by_less_than_one_record_of_known_size)
{
    /* Mixed sizes, each no larger than the first: never more than one record over. */
    static size_t sizes[5000];
    for (size_t i = 0; i < 5000; i++) {
        sizes[i] = i == 0 ? 3000 : 1 + (i * 7919) % 3000;
    }
    for (uint64_t bound = 1024; bound < 4u << 20; bound = bound * 3 + 1) {
        jn_cut_t cut;
        size_t calls;
        jn_cut_init(&cut, 50000, bound);
        size_t n = take(&cut, sizes, 5000, &calls);
        if (n < 5000) {
            ASSERT_TRUE(cut.bytes >= bound);
            ASSERT_TRUE(cut.bytes - sizes[n - 1] < bound); /* the last one crossed it */
        }
    }
}

TEST(test_batch_cut_takes_one_record_at_a_time_while_sizes_are_unknown)
{
    jn_cut_t cut;
    jn_cut_init(&cut, 100, 1024);
    ASSERT_EQ(jn_cut_next(&cut), 1);
    jn_cut_add(&cut, 0); /* a record without key or value tells nothing */
    ASSERT_EQ(jn_cut_next(&cut), 1);
    jn_cut_add(&cut, 100);
    ASSERT_EQ(jn_cut_next(&cut), 10); /* 924 bytes left, records of up to 100 */
    jn_cut_add(&cut, 1000);           /* a larger one reaches the bound at once */
    ASSERT_TRUE(jn_cut_full(&cut));
    ASSERT_EQ(jn_cut_next(&cut), 0);
}

int main(void)
{
    RUN(test_batch_cut_by_bytes_ends_at_the_record_that_reaches_the_bound);
    RUN(test_batch_cut_by_records_when_they_come_first);
    RUN(test_batch_cut_overshoots_by_less_than_one_record_of_known_size);
    RUN(test_batch_cut_takes_one_record_at_a_time_while_sizes_are_unknown);
    TEST_MAIN_END();
}
