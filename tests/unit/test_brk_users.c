/* Unit tests of the SASL credential store (src/broker/users.c): save and read back, no
 * password in the file, mode 0600, a damaged line skipped at open and a damaged file ignored
 * (previous users kept) at refresh, changes picked up by refresh, a large file loaded with one
 * sort; removing one mechanism, reloading after a failed change, the lock taken without
 * waiting, and a credential from a client's SaltedPassword. */
#include "brk_users.h"
#include "sl_buf.h"
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char test_dir[256];

static void test_dir_new(void)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/sluice-test-users-XXXXXX");
    if (!mkdtemp(test_dir)) {
        abort();
    }
}

static void test_dir_rm(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", test_dir);
    }
}

static const char *creds_path(void)
{
    static char path[300];
    snprintf(path, sizeof path, "%s/credentials", test_dir);
    return path;
}

static void write_file(const char *name, const char *text)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", test_dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

TEST(test_users_saved_are_read_back_without_the_password)
{
    test_dir_new();
    char err[512];
    brk_users_t *users;
    ASSERT_EQ(brk_users_open(test_dir, &users, err, sizeof err), 0);
    ASSERT_EQ(brk_users_count(users), 0);
    snet_scram_cred_t cred, got;
    ASSERT_EQ(snet_scram_cred_new(SNET_MECH_SCRAM_SHA_512, "hunter2-password", 16, 4096, &cred), 0);
    brk_users_set(users, "zed", SNET_MECH_SCRAM_SHA_512, &cred);
    brk_users_set(users, "amy", SNET_MECH_SCRAM_SHA_512, &cred);
    ASSERT_EQ(brk_users_save(users), 0);
    brk_users_free(users);

    struct stat st;
    ASSERT_EQ(stat(creds_path(), &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0600);
    const char *text;
    FILE *f = fopen(creds_path(), "r");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    text = buf;
    ASSERT_TRUE(strstr(text, "hunter2") == NULL);
    ASSERT_TRUE(strstr(text, "amy SCRAM-SHA-512 salt=") != NULL);

    ASSERT_EQ(brk_users_open(test_dir, &users, err, sizeof err), 0);
    ASSERT_EQ(brk_users_count(users), 2);
    const char *name;
    snet_mech_t mech;
    int32_t iters;
    brk_users_at(users, 0, &name, &mech, &iters);
    ASSERT_STREQ(name, "amy");
    ASSERT_EQ(iters, 4096);
    ASSERT_EQ(brk_users_lookup(users, SNET_MECH_SCRAM_SHA_512, "zed", &got), 0);
    ASSERT_TRUE(snet_scram_cred_check(SNET_MECH_SCRAM_SHA_512, &got, "hunter2-password", 16));
    ASSERT_EQ(brk_users_lookup(users, SNET_MECH_SCRAM_SHA_256, "zed", &got), SL_ENOTFOUND);
    ASSERT_EQ(brk_users_remove(users, "zed"), 1);
    ASSERT_EQ(brk_users_remove(users, "zed"), 0);
    brk_users_free(users);
    test_dir_rm();
}

TEST(test_a_damaged_line_is_skipped_at_open_and_ignored_at_refresh)
{
    test_dir_new();
    char err[512];
    brk_users_t *users, *writer;
    ASSERT_EQ(brk_users_open(test_dir, &writer, err, sizeof err), 0);
    snet_scram_cred_t cred;
    snet_scram_cred_new(SNET_MECH_SCRAM_SHA_256, "pw", 2, 4096, &cred);
    brk_users_set(writer, "bob", SNET_MECH_SCRAM_SHA_256, &cred);
    ASSERT_EQ(brk_users_save(writer), 0);
    ASSERT_EQ(brk_users_open(test_dir, &users, err, sizeof err), 0);
    ASSERT_EQ(brk_users_count(users), 1);

    const char *bad[] = {"bob SCRAM-SHA-256 salt=AAAA,stored_key=AAAA,server_key=AAAA,iterations=4096\n",
                         "bob PLAIN salt=AAAA\n", "bob SCRAM-SHA-256\n",
                         "bob SCRAM-SHA-256 salt=!!!!,iterations=4096\n"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        write_file("credentials", bad[i]);
        brk_users_t *other;
        ASSERT_EQ(brk_users_open(test_dir, &other, err, sizeof err), 0); /* never refused */
        ASSERT_EQ(brk_users_count(other), 0);
        brk_users_free(other);
        usleep(2000); /* a new mtime */
        brk_users_refresh(users);
        ASSERT_EQ(brk_users_count(users), 1); /* the previous users stay */
    }
    /* a good file again is picked up */
    brk_users_set(writer, "carl", SNET_MECH_SCRAM_SHA_256, &cred);
    ASSERT_EQ(brk_users_save(writer), 0);
    brk_users_refresh(users);
    ASSERT_EQ(brk_users_count(users), 2);
    brk_users_free(writer);
    brk_users_free(users);
    test_dir_rm();
}

TEST(test_forty_thousand_users_load_in_well_under_a_second)
{
    test_dir_new();
    snet_scram_cred_t cred;
    snet_scram_cred_new(SNET_MECH_SCRAM_SHA_256, "pw", 2, 4096, &cred);
    char err[512];
    brk_users_t *writer;
    ASSERT_EQ(brk_users_open(test_dir, &writer, err, sizeof err), 0);
    brk_users_set(writer, "x", SNET_MECH_SCRAM_SHA_256, &cred);
    ASSERT_EQ(brk_users_save(writer), 0);
    char *one = NULL;
    size_t one_len;
    ASSERT_EQ(sl_fs_read_all(creds_path(), 1 << 20, &one, &one_len), 0);
    const char *line = strstr(one, "\nx ") + 2; /* "SCRAM-SHA-256 salt=...\n" after the name */
    /* 40,000 lines written out of order, as a file built by hand or by other tools may be */
    sl_buf_t text;
    sl_buf_init(&text);
    for (int i = 0; i < 40000; i++) {
        char name[32];
        int n = snprintf(name, sizeof name, "user%05d ", (i * 7919) % 40000);
        sl_buf_append(&text, name, (size_t)n);
        sl_buf_append(&text, line, strlen(line));
    }
    brk_users_set(writer, "user00042", SNET_MECH_SCRAM_SHA_512, &cred);
    ASSERT_EQ(brk_users_save(writer), 0);
    char *two = NULL;
    size_t two_len;
    ASSERT_EQ(sl_fs_read_all(creds_path(), 1 << 20, &two, &two_len), 0);
    const char *sha512 = strstr(two, "user00042 SCRAM-SHA-512");
    ASSERT_TRUE(sha512 != NULL);
    sl_buf_append(&text, sha512, strcspn(sha512, "\n") + 1);
    ASSERT_EQ(sl_fs_write_atomic(creds_path(), text.data, text.len), 0);
    sl_buf_deinit(&text);
    free(one);
    free(two);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    brk_users_t *users;
    ASSERT_EQ(brk_users_open(test_dir, &users, err, sizeof err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "  40,001 credentials loaded in %.3f s\n", s);
    ASSERT_EQ(brk_users_count(users), 40001);
    ASSERT_TRUE(s < 5.0); /* was 46 s: a sort after every line */
    snet_scram_cred_t got;
    ASSERT_EQ(brk_users_lookup(users, SNET_MECH_SCRAM_SHA_256, "user39999", &got), 0);
    ASSERT_EQ(brk_users_lookup(users, SNET_MECH_SCRAM_SHA_512, "user00042", &got), 0);
    ASSERT_EQ(brk_users_lookup(users, SNET_MECH_SCRAM_SHA_512, "user00043", &got), SL_ENOTFOUND);
    const char *name;
    snet_mech_t mech;
    int32_t iters;
    brk_users_at(users, 0, &name, &mech, &iters);
    ASSERT_STREQ(name, "user00000");
    brk_users_free(users);
    brk_users_free(writer);
    test_dir_rm();
}

TEST(test_the_later_of_two_lines_for_a_user_wins)
{
    test_dir_new();
    snet_scram_cred_t a, b;
    snet_scram_cred_new(SNET_MECH_SCRAM_SHA_256, "first", 5, 4096, &a);
    snet_scram_cred_new(SNET_MECH_SCRAM_SHA_256, "second", 6, 4096, &b);
    char err[512];
    brk_users_t *w1, *w2;
    ASSERT_EQ(brk_users_open(test_dir, &w1, err, sizeof err), 0);
    brk_users_set(w1, "bob", SNET_MECH_SCRAM_SHA_256, &a);
    ASSERT_EQ(brk_users_save(w1), 0);
    char *one = NULL;
    size_t len1;
    ASSERT_EQ(sl_fs_read_all(creds_path(), 1 << 20, &one, &len1), 0);
    brk_users_set(w1, "bob", SNET_MECH_SCRAM_SHA_256, &b);
    ASSERT_EQ(brk_users_save(w1), 0);
    char *two = NULL;
    size_t len2;
    ASSERT_EQ(sl_fs_read_all(creds_path(), 1 << 20, &two, &len2), 0);
    char *both = sl_xmalloc(len1 + len2 + 1);
    snprintf(both, len1 + len2 + 1, "%s%s", one, two);
    write_file("credentials", both);
    ASSERT_EQ(brk_users_open(test_dir, &w2, err, sizeof err), 0);
    ASSERT_EQ(brk_users_count(w2), 1);
    snet_scram_cred_t got;
    ASSERT_EQ(brk_users_lookup(w2, SNET_MECH_SCRAM_SHA_256, "bob", &got), 0);
    ASSERT_TRUE(snet_scram_cred_check(SNET_MECH_SCRAM_SHA_256, &got, "second", 6));
    free(one);
    free(two);
    free(both);
    brk_users_free(w1);
    brk_users_free(w2);
    test_dir_rm();
}

TEST(test_user_names_are_printable_without_spaces)
{
    ASSERT_TRUE(brk_users_name_valid("alice"));
    ASSERT_TRUE(brk_users_name_valid("a=b,c@example.com"));
    ASSERT_TRUE(!brk_users_name_valid(""));
    ASSERT_TRUE(!brk_users_name_valid("a b"));
    ASSERT_TRUE(!brk_users_name_valid("#x"));
    ASSERT_TRUE(!brk_users_name_valid("tab\there"));
}

TEST(test_a_credential_from_a_clients_salted_password_logs_in_with_the_password)
{
    static const uint8_t salt[] = "0123456789abcdef";
    uint8_t salted[64];
    snet_scram_cred_t from_pw, from_salted;
    ASSERT_EQ(snet_scram_pbkdf2(SNET_MECH_SCRAM_SHA_256, "pw", 2, salt, 16, 4096, salted), 0);
    ASSERT_EQ(snet_scram_cred_from_salted(SNET_MECH_SCRAM_SHA_256, salted, 32, salt, 16, 4096,
                                          &from_salted), 0);
    ASSERT_EQ(
        snet_scram_cred_derive(SNET_MECH_SCRAM_SHA_256, "pw", 2, salt, 16, 4096, &from_pw), 0);
    ASSERT_EQ(memcmp(&from_pw, &from_salted, sizeof from_pw), 0);
    ASSERT_TRUE(snet_scram_cred_check(SNET_MECH_SCRAM_SHA_256, &from_salted, "pw", 2));
    /* the bounds: iterations, an empty salt, a SaltedPassword beyond the longest digest */
    ASSERT_EQ(snet_scram_cred_from_salted(SNET_MECH_SCRAM_SHA_256, salted, 32, salt, 16, 16384,
                                          &from_salted), 0);
    ASSERT_EQ(snet_scram_cred_from_salted(SNET_MECH_SCRAM_SHA_256, salted, 32, salt, 16, 16385,
                                          &from_salted), SL_EINVAL);
    ASSERT_EQ(snet_scram_cred_from_salted(SNET_MECH_SCRAM_SHA_256, salted, 32, salt, 16, 4095,
                                          &from_salted), SL_EINVAL);
    ASSERT_EQ(snet_scram_cred_from_salted(SNET_MECH_SCRAM_SHA_256, salted, 32, salt, 0, 4096,
                                          &from_salted), SL_EINVAL);
    ASSERT_EQ(snet_scram_cred_from_salted(SNET_MECH_SCRAM_SHA_512, salted,
                                          SNET_SCRAM_SALTED_BYTES_MAX, salt, 16, 4096,
                                          &from_salted), 0);
    ASSERT_EQ(snet_scram_cred_from_salted(SNET_MECH_SCRAM_SHA_512, salted,
                                          SNET_SCRAM_SALTED_BYTES_MAX + 1, salt, 16, 4096,
                                          &from_salted), SL_EINVAL);
    ASSERT_EQ(snet_scram_cred_from_salted(SNET_MECH_PLAIN, salted, 32, salt, 16, 4096,
                                          &from_salted), SL_EINVAL);
}

TEST(test_one_mechanism_is_removed_and_a_failed_change_is_undone_by_reload)
{
    test_dir_new();
    char err[512];
    brk_users_t *users;
    snet_scram_cred_t cred, got;
    ASSERT_EQ(brk_users_open(test_dir, &users, err, sizeof err), 0);
    ASSERT_EQ(snet_scram_cred_new(SNET_MECH_SCRAM_SHA_256, "pw", 2, 4096, &cred), 0);
    brk_users_set(users, "amy", SNET_MECH_SCRAM_SHA_256, &cred);
    brk_users_set(users, "amy", SNET_MECH_SCRAM_SHA_512, &cred);
    brk_users_set(users, "bob", SNET_MECH_SCRAM_SHA_256, &cred);
    ASSERT_EQ(brk_users_save(users), 0);
    ASSERT_TRUE(brk_users_remove_mech(users, "amy", SNET_MECH_SCRAM_SHA_256));
    ASSERT_TRUE(!brk_users_remove_mech(users, "amy", SNET_MECH_SCRAM_SHA_256));
    ASSERT_TRUE(!brk_users_remove_mech(users, "nobody", SNET_MECH_SCRAM_SHA_256));
    ASSERT_EQ(brk_users_count(users), 2);
    ASSERT_EQ(brk_users_lookup(users, SNET_MECH_SCRAM_SHA_512, "amy", &got), 0);
    ASSERT_EQ(brk_users_lookup(users, SNET_MECH_SCRAM_SHA_256, "amy", &got), SL_ENOTFOUND);
    brk_users_reload(users); /* back to the file: amy has both again */
    ASSERT_EQ(brk_users_count(users), 3);
    ASSERT_EQ(brk_users_lookup(users, SNET_MECH_SCRAM_SHA_256, "amy", &got), 0);
    brk_users_free(users);
    test_dir_rm();
}

TEST(test_the_lock_of_sluice_users_is_taken_without_waiting)
{
    test_dir_new();
    char err[512];
    brk_users_t *users;
    ASSERT_EQ(brk_users_open(test_dir, &users, err, sizeof err), 0);
    int fd = brk_users_lock(users);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(brk_users_lock(users), -EWOULDBLOCK); /* another open file description */
    brk_users_unlock(fd);
    fd = brk_users_lock(users);
    ASSERT_TRUE(fd >= 0);
    brk_users_unlock(fd);
    brk_users_free(users);
    test_dir_rm();
}

int main(void)
{
    RUN(test_users_saved_are_read_back_without_the_password);
    RUN(test_forty_thousand_users_load_in_well_under_a_second);
    RUN(test_the_later_of_two_lines_for_a_user_wins);
    RUN(test_a_damaged_line_is_skipped_at_open_and_ignored_at_refresh);
    RUN(test_user_names_are_printable_without_spaces);
    RUN(test_a_credential_from_a_clients_salted_password_logs_in_with_the_password);
    RUN(test_one_mechanism_is_removed_and_a_failed_change_is_undone_by_reload);
    RUN(test_the_lock_of_sluice_users_is_taken_without_waiting);
    TEST_MAIN_END();
}
