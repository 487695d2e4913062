/* Unit tests for the hardening helpers of src/base: SipHash-2-4 against the paper's vectors,
 * escaping of client strings, rate-limited log lines, damaged-line reports of state files, and
 * atomic writes that never follow or reuse a temp file. */
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_siphash.h"
#include "sl_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(test_siphash_matches_the_reference_vectors)
{
    uint8_t kb[16], msg[64];
    for (int i = 0; i < 16; i++) {
        kb[i] = (uint8_t)i;
    }
    for (int i = 0; i < 64; i++) {
        msg[i] = (uint8_t)i;
    }
    sl_siphash_key_t key = sl_siphash_key(kb);
    /* vectors_sip64[0], [8] and [15] of the reference implementation */
    ASSERT_EQ(sl_siphash(&key, msg, 0), (long long)0x726fdb47dd0e0e31ULL);
    ASSERT_EQ(sl_siphash(&key, msg, 8), (long long)0x93f5f5799a932462ULL);
    ASSERT_EQ(sl_siphash(&key, msg, 15), (long long)0xa129ca6149be45e5ULL);
}

TEST(test_siphash_random_keys_differ)
{
    sl_siphash_key_t a = sl_siphash_key_random(), b = sl_siphash_key_random();
    ASSERT_TRUE(a.k0 != b.k0 || a.k1 != b.k1);
    ASSERT_TRUE(sl_siphash(&a, "key", 3) != sl_siphash(&b, "key", 3));
}

TEST(test_esc_hides_newlines_and_bounds_length)
{
    sl_esc_t e;
    ASSERT_STREQ(sl_esc(&e, "a\nb\"c\\", 6), "a\\x0ab\\x22c\\x5c");
    ASSERT_STREQ(sl_esc(&e, NULL, -1), "(null)");
    char big[1000];
    memset(big, '\n', sizeof big);
    const char *s = sl_esc(&e, big, (long)sizeof big);
    ASSERT_TRUE(strchr(s, '\n') == NULL);
    ASSERT_TRUE(strstr(s, "...(1000 bytes)") != NULL);
    ASSERT_TRUE(strlen(s) < sizeof e.s);
}

/* Runs fn with stderr sent to a temp file; returns how many lines it wrote (and the text). */
static int count_lines(void (*fn)(void), char *text, size_t cap)
{
    char path[] = "/tmp/sl_log_XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, text, cap - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    int lines = 0;
    for (const char *p = text; *p; p++) {
        lines += *p == '\n';
    }
    return lines;
}

static void log_many(void)
{
    static sl_log_rate_t rl;
    for (int i = 0; i < 1000; i++) {
        sl_log_rl(&rl, SL_LOG_WARN, "test", "failure %d", i);
    }
}

TEST(test_rate_limited_log_writes_one_line_per_interval)
{
    char text[4096];
    ASSERT_EQ(count_lines(log_many, text, sizeof text), 1);
    ASSERT_TRUE(strstr(text, "failure 0") != NULL);
}

static void load_many(void)
{
    sl_load_t ld = {.path = "/data/transactions"};
    for (int i = 1; i <= 25; i++) {
        sl_load_skip(&ld, i, "does not parse");
    }
    sl_load_done(&ld);
}

TEST(test_load_skip_names_file_and_line_and_is_bounded)
{
    char text[8192];
    ASSERT_EQ(count_lines(load_many, text, sizeof text), SL_LOAD_SKIP_LOG_MAX + 1);
    ASSERT_TRUE(strstr(text, "/data/transactions: line 3 skipped: does not parse") != NULL);
    ASSERT_TRUE(strstr(text, "25 damaged line(s) skipped") != NULL);
}

TEST(test_atomic_write_ignores_a_planted_tmp_symlink)
{
    char dir[] = "/tmp/sl_fs_XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    char path[128], tmp[140], victim[140];
    snprintf(path, sizeof path, "%s/state", dir);
    snprintf(tmp, sizeof tmp, "%s/state.tmp", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    int fd = open(victim, O_WRONLY | O_CREAT, 0600);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, "keep", 4), 4);
    close(fd);
    ASSERT_EQ(symlink(victim, tmp), 0); /* the old fixed temp name, planted */
    ASSERT_EQ(sl_fs_write_atomic(path, "new", 3), 0);
    char *text = NULL;
    size_t len = 0;
    ASSERT_EQ(sl_fs_read_all(victim, 100, &text, &len), 0);
    ASSERT_STREQ(text, "keep");
    free(text);
    ASSERT_EQ(sl_fs_read_all(path, 100, &text, &len), 0);
    ASSERT_STREQ(text, "new");
    free(text);
    struct stat st;
    ASSERT_EQ(lstat(path, &st), 0);
    ASSERT_TRUE(S_ISREG(st.st_mode));
    ASSERT_EQ(sl_fs_rmtree(dir), 0);
}

int main(void)
{
    RUN(test_siphash_matches_the_reference_vectors);
    RUN(test_siphash_random_keys_differ);
    RUN(test_esc_hides_newlines_and_bounds_length);
    RUN(test_rate_limited_log_writes_one_line_per_interval);
    RUN(test_load_skip_names_file_and_line_and_is_bounded);
    RUN(test_atomic_write_ignores_a_planted_tmp_symlink);
    TEST_MAIN_END();
}
