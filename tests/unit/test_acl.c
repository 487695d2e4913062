/* The ACL store (brk_acl): Kafka's matching and decision rules, filters, the capacity limit at
 * N and N+1, and acls.txt: a round trip and every kind of damage refused at open. */
#include "brk_acl.h"
#include "brk_limits.h"
#include "kerr.h"
#include "sl_common.h"
#include "sl_crc32c.h"
#include "sl_fs.h"
#include "sl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) kproto_str(x)
#define NUL_STR ((kproto_str_t){NULL, -1})

static brk_acl_binding_t bind(int8_t type, int8_t pat, const char *name, const char *principal,
                              const char *host, int8_t op, int8_t perm)
{
    brk_acl_binding_t b = {type, pat, S(name), S(principal), S(host), op, perm};
    return b;
}

static brk_acl_t *store(void)
{
    brk_acl_t *acl;
    char err[256];
    SL_ASSERT(brk_acl_new(NULL, BRK_ACLS_MAX, &acl, err, sizeof err) == 0);
    return acl;
}

static void add(brk_acl_t *acl, brk_acl_binding_t b)
{
    const char *msg;
    bool added;
    SL_ASSERT(brk_acl_binding_check(&b, &msg) == KERR_NONE);
    SL_ASSERT(brk_acl_add(acl, &b, &added) == 0);
}

static bool can(brk_acl_t *acl, const char *who, const char *host, int op, int type,
                const char *name)
{
    return brk_acl_authorize(acl, who, host, (brk_acl_op_t)op, (brk_acl_res_t)type, S(name));
}

#define ALICE "User:alice"
#define BOB "User:bob"
#define IP "10.0.0.1"

TEST(test_literal_allow_grants_only_its_principal_topic_and_operation)
{
    brk_acl_t *acl = store();
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_LITERAL, "orders", ALICE, "*", BRK_ACL_OP_READ,
                  BRK_ACL_PERM_ALLOW));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "orders"));
    ASSERT_TRUE(!can(acl, BOB, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "orders"));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_WRITE, BRK_ACL_RES_TOPIC, "orders"));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "orders2"));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_GROUP, "orders"));
    brk_acl_free(acl);
}

TEST(test_wildcard_principal_and_wildcard_resource_match_everyone_and_everything)
{
    brk_acl_t *acl = store();
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_LITERAL, "*", "User:*", "*", BRK_ACL_OP_WRITE,
                  BRK_ACL_PERM_ALLOW));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_WRITE, BRK_ACL_RES_TOPIC, "anything"));
    ASSERT_TRUE(can(acl, "User:ANONYMOUS", IP, BRK_ACL_OP_WRITE, BRK_ACL_RES_TOPIC, "x"));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "anything"));
    /* "*" is a wildcard only as a whole name: a principal named like it is not special. */
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_WRITE, BRK_ACL_RES_GROUP, "g"));
    brk_acl_free(acl);
}

TEST(test_prefixed_pattern_matches_names_that_start_with_it)
{
    brk_acl_t *acl = store();
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_PREFIXED, "sales-", ALICE, "*", BRK_ACL_OP_READ,
                  BRK_ACL_PERM_ALLOW));
    add(acl, bind(BRK_ACL_RES_GROUP, BRK_ACL_PAT_PREFIXED, "app", ALICE, "*", BRK_ACL_OP_READ,
                  BRK_ACL_PERM_ALLOW));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "sales-eu"));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "sales-"));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "sales"));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "xsales-eu"));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_GROUP, "app-1"));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_GROUP, "ap"));
    /* A literal binding with the prefix's name is not a prefix. */
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_LITERAL, "logs", BOB, "*", BRK_ACL_OP_READ,
                  BRK_ACL_PERM_ALLOW));
    ASSERT_TRUE(!can(acl, BOB, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "logs-1"));
    brk_acl_free(acl);
}

TEST(test_deny_wins_over_allow_from_any_matching_binding)
{
    brk_acl_t *acl = store();
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_LITERAL, "orders", ALICE, "*", BRK_ACL_OP_ALL,
                  BRK_ACL_PERM_ALLOW));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_WRITE, BRK_ACL_RES_TOPIC, "orders"));
    /* A prefixed DENY for everyone beats a literal ALLOW for alice. */
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_PREFIXED, "ord", "User:*", "*",
                  BRK_ACL_OP_WRITE, BRK_ACL_PERM_DENY));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_WRITE, BRK_ACL_RES_TOPIC, "orders"));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "orders"));
    /* DENY of ALL denies every operation, from one host only. */
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_LITERAL, "*", ALICE, "10.0.0.9",
                  BRK_ACL_OP_ALL, BRK_ACL_PERM_DENY));
    ASSERT_TRUE(!can(acl, ALICE, "10.0.0.9", BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "orders"));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "orders"));
    brk_acl_free(acl);
}

TEST(test_implied_operations_follow_kafka)
{
    brk_acl_t *acl = store();
    static const int granting[] = {BRK_ACL_OP_READ, BRK_ACL_OP_WRITE, BRK_ACL_OP_DELETE,
                                   BRK_ACL_OP_ALTER};
    for (size_t i = 0; i < SL_ARRAY_LEN(granting); i++) {
        char name[16];
        snprintf(name, sizeof name, "t%zu", i);
        add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_LITERAL, name, ALICE, "*",
                      (int8_t)granting[i], BRK_ACL_PERM_ALLOW));
        ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_DESCRIBE, BRK_ACL_RES_TOPIC, name));
        ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_DESCRIBE_CONFIGS, BRK_ACL_RES_TOPIC, name));
    }
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_LITERAL, "cfg", ALICE, "*",
                  BRK_ACL_OP_ALTER_CONFIGS, BRK_ACL_PERM_ALLOW));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_DESCRIBE_CONFIGS, BRK_ACL_RES_TOPIC, "cfg"));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_DESCRIBE, BRK_ACL_RES_TOPIC, "cfg"));
    /* DESCRIBE implies nothing upwards; and a DENY of READ does not deny DESCRIBE. */
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_LITERAL, "d", ALICE, "*", BRK_ACL_OP_DESCRIBE,
                  BRK_ACL_PERM_ALLOW));
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_LITERAL, "d", ALICE, "*", BRK_ACL_OP_READ,
                  BRK_ACL_PERM_DENY));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "d"));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_DESCRIBE, BRK_ACL_RES_TOPIC, "d"));
    brk_acl_free(acl);
}

TEST(test_a_resource_without_bindings_follows_allow_everyone_if_no_acl_found)
{
    brk_acl_t *acl = store();
    char err[256];
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "free"));
    ASSERT_EQ(brk_acl_set_policy(acl, "", true, err, sizeof err), 0);
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "free"));
    /* Any binding on the resource, even for someone else, turns the default off for it. */
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_PREFIXED, "fr", BOB, "*", BRK_ACL_OP_READ,
                  BRK_ACL_PERM_ALLOW));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "free"));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "other"));
    brk_acl_free(acl);
}

TEST(test_super_users_may_do_anything_even_when_denied)
{
    brk_acl_t *acl = store();
    char err[256];
    ASSERT_EQ(brk_acl_set_policy(acl, " User:admin ;User:ops;", false, err, sizeof err), 0);
    add(acl, bind(BRK_ACL_RES_TOPIC, BRK_ACL_PAT_LITERAL, "*", "User:*", "*", BRK_ACL_OP_ALL,
                  BRK_ACL_PERM_DENY));
    ASSERT_TRUE(can(acl, "User:admin", IP, BRK_ACL_OP_WRITE, BRK_ACL_RES_TOPIC, "t"));
    ASSERT_TRUE(can(acl, "User:ops", IP, BRK_ACL_OP_ALTER, BRK_ACL_RES_CLUSTER, "kafka-cluster"));
    ASSERT_TRUE(!can(acl, ALICE, IP, BRK_ACL_OP_WRITE, BRK_ACL_RES_TOPIC, "t"));
    ASSERT_TRUE(!can(acl, "User:admi", IP, BRK_ACL_OP_WRITE, BRK_ACL_RES_TOPIC, "t"));
    ASSERT_EQ(brk_acl_set_policy(acl, "admin", false, err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "super.users") != NULL);
    brk_acl_free(acl);
}

TEST(test_binding_check_refuses_what_kafka_refuses)
{
    struct {
        brk_acl_binding_t b;
        bool ok;
    } cases[] = {
        {bind(2, 3, "t", ALICE, "*", BRK_ACL_OP_READ, BRK_ACL_PERM_ALLOW), true},
        {bind(2, 4, "t", ALICE, "::1", BRK_ACL_OP_READ, BRK_ACL_PERM_DENY), true},
        {bind(4, 3, "kafka-cluster", ALICE, "*", BRK_ACL_OP_IDEMPOTENT_WRITE, 3), true},
        {bind(5, 3, "tx", ALICE, "*", BRK_ACL_OP_WRITE, BRK_ACL_PERM_ALLOW), true},
        {bind(1, 3, "t", ALICE, "*", BRK_ACL_OP_READ, BRK_ACL_PERM_ALLOW), false}, /* ANY */
        {bind(7, 3, "t", ALICE, "*", BRK_ACL_OP_READ, BRK_ACL_PERM_ALLOW), false}, /* USER */
        {bind(2, 2, "t", ALICE, "*", BRK_ACL_OP_READ, BRK_ACL_PERM_ALLOW), false}, /* MATCH */
        {bind(2, 3, "", ALICE, "*", BRK_ACL_OP_READ, BRK_ACL_PERM_ALLOW), false},
        {bind(4, 3, "other", ALICE, "*", BRK_ACL_OP_ALTER, BRK_ACL_PERM_ALLOW), false},
        {bind(2, 3, "t", "alice", "*", BRK_ACL_OP_READ, BRK_ACL_PERM_ALLOW), false},
        {bind(2, 3, "t", "User:", "*", BRK_ACL_OP_READ, BRK_ACL_PERM_ALLOW), false},
        {bind(2, 3, "t", ALICE, "host.example", BRK_ACL_OP_READ, BRK_ACL_PERM_ALLOW), false},
        {bind(2, 3, "t", ALICE, "*", BRK_ACL_OP_ANY, BRK_ACL_PERM_ALLOW), false},
        {bind(2, 3, "t", ALICE, "*", BRK_ACL_OP_CLUSTER_ACTION, BRK_ACL_PERM_ALLOW), false},
        {bind(3, 3, "g", ALICE, "*", BRK_ACL_OP_WRITE, BRK_ACL_PERM_ALLOW), false},
        {bind(2, 3, "t", ALICE, "*", 99, BRK_ACL_PERM_ALLOW), false},
        {bind(2, 3, "t", ALICE, "*", BRK_ACL_OP_READ, BRK_ACL_PERM_ANY), false},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        const char *msg;
        kerr_t e = brk_acl_binding_check(&cases[i].b, &msg);
        if ((e == KERR_NONE) != cases[i].ok) {
            SL_TEST_FAIL_("case %zu: got %d (%s)", i, (int)e, msg ? msg : "");
        }
        ASSERT_TRUE(cases[i].ok ? msg == NULL : e == KERR_INVALID_REQUEST && msg != NULL);
    }
    /* An embedded NUL would be cut when stored as a C string: refused. */
    brk_acl_binding_t b = bind(2, 3, "t", ALICE, "*", BRK_ACL_OP_READ, BRK_ACL_PERM_ALLOW);
    b.name = (kproto_str_t){"a\0b", 3};
    const char *msg;
    ASSERT_EQ(brk_acl_binding_check(&b, &msg), KERR_INVALID_REQUEST);
    char big[BRK_ACL_FIELD_BYTES_MAX + 2];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    b.name = (kproto_str_t){big, BRK_ACL_FIELD_BYTES_MAX};
    ASSERT_EQ(brk_acl_binding_check(&b, &msg), KERR_NONE);
    b.name = (kproto_str_t){big, BRK_ACL_FIELD_BYTES_MAX + 1};
    ASSERT_EQ(brk_acl_binding_check(&b, &msg), KERR_INVALID_REQUEST);
}

static void count_visit(void *ctx, const brk_acl_binding_t *b)
{
    (void)b;
    (*(int *)ctx)++;
}

static int find_count(brk_acl_t *acl, brk_acl_binding_t f)
{
    int n = 0;
    brk_acl_find(acl, &f, count_visit, &n);
    return n;
}

TEST(test_filters_match_as_kafka_filters_do)
{
    brk_acl_t *acl = store();
    add(acl, bind(2, BRK_ACL_PAT_LITERAL, "sales-eu", ALICE, "*", BRK_ACL_OP_READ, 3));
    add(acl, bind(2, BRK_ACL_PAT_LITERAL, "*", BOB, "*", BRK_ACL_OP_WRITE, 3));
    add(acl, bind(2, BRK_ACL_PAT_PREFIXED, "sales-", ALICE, IP, BRK_ACL_OP_READ, 2));
    add(acl, bind(3, BRK_ACL_PAT_LITERAL, "sales-eu", ALICE, "*", BRK_ACL_OP_READ, 3));
    brk_acl_binding_t f = {BRK_ACL_RES_ANY, BRK_ACL_PAT_ANY, NUL_STR, NUL_STR, NUL_STR,
                           BRK_ACL_OP_ANY, BRK_ACL_PERM_ANY};
    ASSERT_EQ(find_count(acl, f), 4);
    f.res_type = BRK_ACL_RES_TOPIC;
    ASSERT_EQ(find_count(acl, f), 3);
    f.name = S("sales-eu");
    ASSERT_EQ(find_count(acl, f), 1); /* ANY: exact name, any pattern type */
    f.pattern = BRK_ACL_PAT_MATCH;
    ASSERT_EQ(find_count(acl, f), 3); /* literal, wildcard and prefix that apply */
    f.pattern = BRK_ACL_PAT_PREFIXED;
    ASSERT_EQ(find_count(acl, f), 0);
    f.name = S("sales-");
    ASSERT_EQ(find_count(acl, f), 1);
    f = (brk_acl_binding_t){BRK_ACL_RES_ANY, BRK_ACL_PAT_ANY, NUL_STR, S(ALICE), NUL_STR,
                            BRK_ACL_OP_ANY, BRK_ACL_PERM_DENY};
    ASSERT_EQ(find_count(acl, f), 1);
    f.perm = BRK_ACL_PERM_ANY;
    f.host = S("*");
    ASSERT_EQ(find_count(acl, f), 2);
    const char *msg;
    f.op = BRK_ACL_OP_UNKNOWN;
    ASSERT_EQ(brk_acl_filter_check(&f, &msg), KERR_INVALID_REQUEST);
    f.op = BRK_ACL_OP_ANY;
    f.pattern = BRK_ACL_PAT_UNKNOWN;
    ASSERT_EQ(brk_acl_filter_check(&f, &msg), KERR_INVALID_REQUEST);
    f.pattern = BRK_ACL_PAT_MATCH;
    ASSERT_EQ(brk_acl_filter_check(&f, &msg), KERR_NONE);
    /* Removing by filter takes exactly what it matches. */
    f = (brk_acl_binding_t){BRK_ACL_RES_TOPIC, BRK_ACL_PAT_MATCH, S("sales-eu"), NUL_STR,
                            NUL_STR, BRK_ACL_OP_ANY, BRK_ACL_PERM_ANY};
    ASSERT_EQ(brk_acl_remove(acl, &f, NULL, NULL), 3);
    ASSERT_EQ(brk_acl_count(acl), 1);
    ASSERT_TRUE(!can(acl, BOB, IP, BRK_ACL_OP_WRITE, BRK_ACL_RES_TOPIC, "x"));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_GROUP, "sales-eu"));
    brk_acl_free(acl);
}

TEST(test_adding_a_binding_twice_keeps_one)
{
    brk_acl_t *acl = store();
    brk_acl_binding_t b = bind(2, 3, "t", ALICE, "*", BRK_ACL_OP_READ, 3);
    bool added;
    ASSERT_EQ(brk_acl_add(acl, &b, &added), 0);
    ASSERT_TRUE(added);
    ASSERT_EQ(brk_acl_add(acl, &b, &added), 0);
    ASSERT_TRUE(!added);
    ASSERT_EQ(brk_acl_count(acl), 1);
    brk_acl_free(acl);
}

TEST(test_store_holds_BRK_ACLS_MAX_bindings_and_refuses_one_more)
{
    brk_acl_t *acl = store();
    char name[32];
    for (int i = 0; i < BRK_ACLS_MAX; i++) {
        snprintf(name, sizeof name, "topic-%d", i);
        brk_acl_binding_t b = bind(2, i % 2 ? 3 : 4, name, ALICE, "*", BRK_ACL_OP_READ, 3);
        bool added;
        if (brk_acl_add(acl, &b, &added) != 0 || !added) {
            SL_TEST_FAIL_("binding %d refused", i);
        }
    }
    ASSERT_EQ(brk_acl_count(acl), BRK_ACLS_MAX);
    brk_acl_binding_t b = bind(2, 3, "one-more", ALICE, "*", BRK_ACL_OP_READ, 3);
    bool added;
    ASSERT_EQ(brk_acl_add(acl, &b, &added), SL_ELIMIT);
    ASSERT_TRUE(!added);
    /* A duplicate is still fine when full (nothing is added). */
    b = bind(2, 3, "topic-1", ALICE, "*", BRK_ACL_OP_READ, 3);
    ASSERT_EQ(brk_acl_add(acl, &b, &added), 0);
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "topic-99999"));
    ASSERT_TRUE(can(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "topic-9998x"));
    brk_acl_free(acl);
}

TEST(test_write_on_any_topic_counts_unless_a_deny_covers_it)
{
    brk_acl_t *acl = store();
    const int W = BRK_ACL_OP_WRITE;
    ASSERT_TRUE(!brk_acl_authorize_any(acl, ALICE, IP, W, BRK_ACL_RES_TOPIC));
    add(acl, bind(2, BRK_ACL_PAT_PREFIXED, "logs-", ALICE, "*", W, BRK_ACL_PERM_ALLOW));
    ASSERT_TRUE(brk_acl_authorize_any(acl, ALICE, IP, W, BRK_ACL_RES_TOPIC));
    ASSERT_TRUE(!brk_acl_authorize_any(acl, BOB, IP, W, BRK_ACL_RES_TOPIC));
    ASSERT_TRUE(!brk_acl_authorize_any(acl, ALICE, IP, BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC));
    /* A DENY on a shorter prefix cancels the ALLOW; one on another name does not. */
    add(acl, bind(2, BRK_ACL_PAT_LITERAL, "other", ALICE, "*", W, BRK_ACL_PERM_DENY));
    ASSERT_TRUE(brk_acl_authorize_any(acl, ALICE, IP, W, BRK_ACL_RES_TOPIC));
    add(acl, bind(2, BRK_ACL_PAT_PREFIXED, "log", "User:*", "*", BRK_ACL_OP_ALL,
                  BRK_ACL_PERM_DENY));
    ASSERT_TRUE(!brk_acl_authorize_any(acl, ALICE, IP, W, BRK_ACL_RES_TOPIC));
    char err[256];
    ASSERT_EQ(brk_acl_set_policy(acl, "User:alice", false, err, sizeof err), 0);
    ASSERT_TRUE(brk_acl_authorize_any(acl, ALICE, IP, W, BRK_ACL_RES_TOPIC));
    brk_acl_free(acl);
}

static char tmpdir[64];

static const char *acl_path(void)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/acls.txt", tmpdir);
    return path;
}

static void mk_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sl_acl_XXXXXX");
    SL_ASSERT(mkdtemp(tmpdir));
}

TEST(test_bindings_survive_save_and_load_with_odd_names)
{
    mk_tmpdir();
    brk_acl_t *acl;
    char err[256];
    ASSERT_EQ(brk_acl_new(acl_path(), BRK_ACLS_MAX, &acl, err, sizeof err), 0);
    add(acl, bind(3, 3, "group with spaces %20 and\nnewline", "User:CN=a b,O=c", "*",
                  BRK_ACL_OP_READ, 3));
    add(acl, bind(2, 4, "caf\xc3\xa9-", ALICE, "fe80::1", BRK_ACL_OP_ALL, 2));
    add(acl, bind(4, 3, "kafka-cluster", "User:*", "10.1.2.3", BRK_ACL_OP_ALTER, 3));
    ASSERT_EQ(brk_acl_save(acl), 0);
    brk_acl_free(acl);
    ASSERT_EQ(brk_acl_new(acl_path(), BRK_ACLS_MAX, &acl, err, sizeof err), 0);
    ASSERT_EQ(brk_acl_count(acl), 3);
    ASSERT_TRUE(can(acl, "User:CN=a b,O=c", IP, BRK_ACL_OP_READ, BRK_ACL_RES_GROUP,
                    "group with spaces %20 and\nnewline"));
    ASSERT_TRUE(!can(acl, ALICE, "fe80::1", BRK_ACL_OP_READ, BRK_ACL_RES_TOPIC, "caf\xc3\xa9-x"));
    ASSERT_TRUE(can(acl, BOB, "10.1.2.3", BRK_ACL_OP_DESCRIBE, BRK_ACL_RES_CLUSTER,
                    "kafka-cluster"));
    ASSERT_TRUE(!can(acl, BOB, IP, BRK_ACL_OP_DESCRIBE, BRK_ACL_RES_CLUSTER, "kafka-cluster"));
    /* Empty store: the file says so, and loads as empty. */
    brk_acl_binding_t all = {1, 1, NUL_STR, NUL_STR, NUL_STR, 1, 1};
    ASSERT_EQ(brk_acl_remove(acl, &all, NULL, NULL), 3);
    ASSERT_EQ(brk_acl_save(acl), 0);
    brk_acl_free(acl);
    ASSERT_EQ(brk_acl_new(acl_path(), BRK_ACLS_MAX, &acl, err, sizeof err), 0);
    ASSERT_EQ(brk_acl_count(acl), 0);
    brk_acl_free(acl);
    sl_fs_rmtree(tmpdir);
}

static int open_text(const char *text, char *err, size_t err_len)
{
    SL_ASSERT(sl_fs_write_atomic(acl_path(), text, strlen(text)) == 0);
    brk_acl_t *acl = NULL;
    int rc = brk_acl_new(acl_path(), BRK_ACLS_MAX, &acl, err, err_len);
    brk_acl_free(acl);
    return rc;
}

TEST(test_a_damaged_acls_file_is_refused_at_open_with_the_reason)
{
    mk_tmpdir();
    brk_acl_t *acl;
    char err[256];
    ASSERT_EQ(brk_acl_new(acl_path(), BRK_ACLS_MAX, &acl, err, sizeof err), 0);
    add(acl, bind(2, 3, "orders", ALICE, "*", BRK_ACL_OP_READ, 3));
    add(acl, bind(2, 3, "orders", BOB, "*", BRK_ACL_OP_WRITE, 3));
    ASSERT_EQ(brk_acl_save(acl), 0);
    brk_acl_free(acl);
    char *good;
    size_t len;
    ASSERT_EQ(sl_fs_read_all(acl_path(), 1 << 20, &good, &len), 0);
    char text[1024];
    /* A flipped byte: the checksum. */
    snprintf(text, sizeof text, "%s", good);
    text[2] ^= 0x20;
    ASSERT_EQ(open_text(text, err, sizeof err), SL_ECORRUPT);
    ASSERT_TRUE(strstr(err, "checksum") != NULL);
    /* Cut anywhere: no trailer or a damaged one. */
    for (size_t cut = 0; cut < len; cut += 7) {
        snprintf(text, sizeof text, "%.*s", (int)cut, good);
        if (open_text(text, err, sizeof err) != SL_ECORRUPT) {
            SL_TEST_FAIL_("cut at %zu accepted", cut);
        }
    }
    /* A line that checksums but does not parse names its line. */
    const char *body = "TOPIC LITERAL t User:a * READ ALLOW\nTOPIC LITERAL t User:a * FLY ALLOW\n";
    snprintf(text, sizeof text, "%send 2 %08x\n", body, sl_crc32c(0, body, strlen(body)));
    ASSERT_EQ(open_text(text, err, sizeof err), SL_ECORRUPT);
    ASSERT_TRUE(strstr(err, "line 2") != NULL);
    /* The trailer's count must agree. */
    body = "TOPIC LITERAL t User:a * READ ALLOW\n";
    snprintf(text, sizeof text, "%send 2 %08x\n", body, sl_crc32c(0, body, strlen(body)));
    ASSERT_EQ(open_text(text, err, sizeof err), SL_ECORRUPT);
    ASSERT_TRUE(strstr(err, "counts") != NULL);
    snprintf(text, sizeof text, "%send 1 %08x\n", body, sl_crc32c(0, body, strlen(body)));
    ASSERT_EQ(open_text(text, err, sizeof err), 0);
    free(good);
    sl_fs_rmtree(tmpdir);
}

int main(void)
{
    RUN(test_literal_allow_grants_only_its_principal_topic_and_operation);
    RUN(test_wildcard_principal_and_wildcard_resource_match_everyone_and_everything);
    RUN(test_prefixed_pattern_matches_names_that_start_with_it);
    RUN(test_deny_wins_over_allow_from_any_matching_binding);
    RUN(test_implied_operations_follow_kafka);
    RUN(test_a_resource_without_bindings_follows_allow_everyone_if_no_acl_found);
    RUN(test_super_users_may_do_anything_even_when_denied);
    RUN(test_binding_check_refuses_what_kafka_refuses);
    RUN(test_filters_match_as_kafka_filters_do);
    RUN(test_adding_a_binding_twice_keeps_one);
    RUN(test_write_on_any_topic_counts_unless_a_deny_covers_it);
    RUN(test_store_holds_BRK_ACLS_MAX_bindings_and_refuses_one_more);
    RUN(test_bindings_survive_save_and_load_with_odd_names);
    RUN(test_a_damaged_acls_file_is_refused_at_open_with_the_reason);
    TEST_MAIN_END();
}
