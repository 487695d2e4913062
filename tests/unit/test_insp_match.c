/* Unit tests of the inspection worker's rules, normalisation and matching (insp_match.h). */
#include <errno.h>
#include <locale.h>
#include <stdlib.h>

#include "insp_match.h"
#include "sl_common.h"
#include "sl_test.h"
#include "sl_time.h"

static char *norm(const char *s)
{
    char *out = NULL;
    size_t len = 0;
    return insp_norm(s, strlen(s), &out, &len) == 0 ? out : NULL;
}

/* Words from a space-separated string; boxes 10 px apart on one line. */
static size_t words_of(const char *text, insp_word_t *w, size_t cap)
{
    char *copy = sl_xstrdup(text);
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(copy, " ", &save); t && n < cap;
         t = strtok_r(NULL, " ", &save)) {
        w[n] = (insp_word_t){.text = sl_xstrdup(t), .conf = 90.0f - (float)n,
                             .box = {.x = (int)n * 10, .y = 5, .w = 8, .h = 12}};
        n++;
    }
    free(copy);
    return n;
}

static void words_free(insp_word_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(w[i].text);
    }
}

static insp_rules_t *rules_of(const char *text)
{
    insp_rules_t *rules = NULL;
    char err[256];
    return insp_rules_parse(text, strlen(text), &rules, err, sizeof(err)) == 0 ? rules : NULL;
}

TEST(test_norm_folds_width_case_spaces_and_punctuation)
{
    char *a = norm("ＦＲＥＥ Shipping!"), *b = norm("완치-보장 !!"), *c = norm("ﾃｽﾄ ①");
    ASSERT_STREQ(a, "freeshipping");
    ASSERT_STREQ(b, "완치보장");
    ASSERT_STREQ(c, "テスト1");
    free(a), free(b), free(c);
    char *out = NULL;
    size_t len = 0;
    ASSERT_EQ(insp_norm("\xff\xfe", 2, &out, &len), SL_EINVAL);
}

TEST(test_rules_skip_comments_and_blanks_and_keep_source)
{
    insp_rules_t *rules = rules_of("# header\n\n  완치 보장  \r\nre:lose[0-9]+kg\n");
    ASSERT_TRUE(rules != NULL);
    ASSERT_EQ(insp_rules_count(rules), 2);
    ASSERT_STREQ(insp_rules_source(rules, 0), "완치 보장");
    ASSERT_STREQ(insp_rules_source(rules, 1), "re:lose[0-9]+kg");
    insp_rules_free(rules);
}

TEST(test_rules_refuse_bad_lines_by_number)
{
    insp_rules_t *rules = NULL;
    char err[256] = "";
    const char *bad_re = "ok\nre:([a\n";
    ASSERT_EQ(insp_rules_parse(bad_re, strlen(bad_re), &rules, err, sizeof(err)), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "line 2") != NULL);
    const char *empty = "ok\n\n!!! ...\n";
    ASSERT_EQ(insp_rules_parse(empty, strlen(empty), &rules, err, sizeof(err)), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "line 3") != NULL);
}

TEST(test_rule_length_limit_at_n_and_n_plus_one)
{
    char line[INSP_RULE_BYTES_MAX + 2];
    memset(line, 'a', sizeof(line));
    line[INSP_RULE_BYTES_MAX] = 0;
    insp_rules_t *rules = rules_of(line);
    ASSERT_TRUE(rules != NULL);
    insp_rules_free(rules);
    line[INSP_RULE_BYTES_MAX] = 'a';
    line[INSP_RULE_BYTES_MAX + 1] = 0;
    char err[256];
    ASSERT_EQ(insp_rules_parse(line, strlen(line), &rules, err, sizeof(err)), SL_ELIMIT);
}

/* Runs the rules over the words of text; copies up to cap matches to out; returns the count. */
static size_t match_text(const char *text, const char *rule_text, insp_match_t *out, size_t cap)
{
    insp_word_t w[16];
    size_t n = words_of(text, w, 16);
    insp_rules_t *rules = rules_of(rule_text);
    insp_match_t *m = NULL;
    size_t nm = 0;
    insp_match_run(rules, w, n, INSP_MATCH_BUDGET_MS_DEFAULT, &m, &nm);
    for (size_t i = 0; i < nm && i < cap; i++) {
        out[i] = m[i];
    }
    free(m);
    insp_rules_free(rules);
    words_free(w, n);
    return nm;
}

TEST(test_phrase_split_over_words_matches_with_their_boxes)
{
    insp_match_t m[4];
    ASSERT_EQ(match_text("피부 질환 완치 보장! 100% Guaranteed.", "완치 보장\n100% guaranteed\n", m, 4),
              2);
    ASSERT_EQ(m[0].rule, 0);
    ASSERT_EQ(m[0].first, 2);
    ASSERT_EQ(m[0].last, 3);
    ASSERT_EQ(m[1].rule, 1);
    ASSERT_EQ(m[1].first, 4);
    ASSERT_EQ(m[1].last, 5);
}

TEST(test_punctuation_inside_a_korean_word_is_ignored)
{
    insp_match_t m[4];
    ASSERT_EQ(match_text("부·작·용 없음", "부작용 없음\n", m, 4), 1);
    ASSERT_EQ(m[0].first, 0);
    ASSERT_EQ(m[0].last, 1);
}

TEST(test_near_misses_do_not_match)
{
    insp_match_t m[4];
    ASSERT_EQ(match_text("정품 보장 서비스 Guaranteed delivery 완치율",
                         "완치 보장\n100% guaranteed\nre:최저가(격)?보장\n", m, 4),
              0);
}

TEST(test_pattern_matches_korean_and_english)
{
    insp_match_t m[4];
    ASSERT_EQ(match_text("오늘만 최저가격 보장 LOSE 10 kg", "re:최저가(격)?보장\nre:lose[0-9]+kg\n", m,
                         4),
              2);
    ASSERT_EQ(m[0].first, 1);
    ASSERT_EQ(m[0].last, 2);
    ASSERT_EQ(m[1].first, 3);
    ASSERT_EQ(m[1].last, 5);
}

TEST(test_matches_are_capped_at_the_limit)
{
    size_t n = INSP_MATCHES_MAX + 1;
    insp_word_t *w = sl_xcalloc(n, sizeof(*w));
    for (size_t i = 0; i < n; i++) {
        w[i].text = sl_xstrdup("miracle");
    }
    insp_rules_t *rules = rules_of("miracle\n");
    insp_match_t *m = NULL;
    size_t nm = 0;
    insp_match_run(rules, w, n - 1, INSP_MATCH_BUDGET_MS_DEFAULT, &m, &nm);
    ASSERT_EQ(nm, INSP_MATCHES_MAX);
    free(m);
    insp_match_run(rules, w, n, INSP_MATCH_BUDGET_MS_DEFAULT, &m, &nm);
    ASSERT_EQ(nm, INSP_MATCHES_MAX);
    ASSERT_EQ(m[nm - 1].first, INSP_MATCHES_MAX - 1);
    free(m);
    insp_rules_free(rules);
    words_free(w, n);
    free(w);
}

TEST(test_costly_patterns_are_refused_by_name)
{
    char err[256];
    insp_rules_t *rules = NULL;
    ASSERT_EQ(insp_rules_parse("re:(a+)\\1\n", 10, &rules, err, sizeof(err)), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "line 1: back-references") != NULL);
    const char *ok = "re:a{64}b{1,64}\n";
    ASSERT_EQ(insp_rules_parse(ok, strlen(ok), &rules, err, sizeof(err)), 0);
    insp_rules_free(rules);
    const char *big = "re:a{65}\n", *many = "re:a{2}b{2}c{2}\n", *range = "re:a{1,65}\n";
    ASSERT_EQ(insp_rules_parse(big, strlen(big), &rules, err, sizeof(err)), SL_ELIMIT);
    ASSERT_EQ(insp_rules_parse(many, strlen(many), &rules, err, sizeof(err)), SL_ELIMIT);
    ASSERT_EQ(insp_rules_parse(range, strlen(range), &rules, err, sizeof(err)), SL_ELIMIT);
    /* An escaped brace or backslash is not a bound or a back-reference. */
    const char *esc = "re:a\\{99\\}\\\\1\n";
    ASSERT_EQ(insp_rules_parse(esc, strlen(esc), &rules, err, sizeof(err)), 0);
    insp_rules_free(rules);
}

TEST(test_pattern_rules_limit_at_n_and_n_plus_one)
{
    size_t cap = (INSP_RE_RULES_MAX + 2) * 16, len = 0;
    char *text = sl_xmalloc(cap), err[256];
    for (int i = 0; i < INSP_RE_RULES_MAX; i++) {
        len += (size_t)snprintf(text + len, cap - len, "re:x%dy\n", i);
    }
    len += (size_t)snprintf(text + len, cap - len, "a literal\n"); /* literals do not count */
    insp_rules_t *rules = NULL;
    ASSERT_EQ(insp_rules_parse(text, len, &rules, err, sizeof(err)), 0);
    insp_rules_free(rules);
    len += (size_t)snprintf(text + len, cap - len, "re:one more\n");
    ASSERT_EQ(insp_rules_parse(text, len, &rules, err, sizeof(err)), SL_ELIMIT);
    free(text);
}

/* One word of n letters 'a' ending in tail, as a word list. */
static insp_word_t *long_words(size_t nwords, size_t word_len, insp_word_t *w)
{
    for (size_t i = 0; i < nwords; i++) {
        w[i].text = sl_xmalloc(word_len + 1);
        memset(w[i].text, 'a' + (int)(i % 20), word_len);
        w[i].text[word_len] = 0;
        w[i].conf = 90;
        w[i].box = (insp_box_t){.x = 0, .y = (int)i, .w = 1, .h = 1};
    }
    return w;
}

TEST(test_match_text_is_bounded_and_says_so)
{
    /* 1024 words of 1024 bytes: exactly the bound, then one word more. */
    size_t n = INSP_MATCH_TEXT_BYTES_MAX / 1024;
    insp_word_t *w = long_words(n + 1, 1024, sl_xcalloc(n + 1, sizeof(*w)));
    memcpy(w[n - 1].text, "needle", 6); /* inside the bound */
    memcpy(w[n].text, "haystack", 8);   /* past it */
    insp_rules_t *rules = rules_of("needle\nhaystack\n");
    insp_match_t *m = NULL;
    size_t nm = 0;
    ASSERT_EQ(insp_match_run(rules, w, n, INSP_MATCH_BUDGET_MS_DEFAULT, &m, &nm), 0);
    ASSERT_EQ(nm, 1);
    free(m);
    ASSERT_EQ(insp_match_run(rules, w, n + 1, INSP_MATCH_BUDGET_MS_DEFAULT, &m, &nm), SL_ELIMIT);
    ASSERT_EQ(nm, 1); /* the needle; the haystack is past the bound */
    ASSERT_EQ(m[0].rule, 0);
    free(m);
    insp_rules_free(rules);
    words_free(w, n + 1);
    free(w);
}

TEST(test_match_budget_stops_costly_rules)
{
    size_t n = INSP_MATCH_TEXT_BYTES_MAX / 1024;
    insp_word_t *w = long_words(n, 1024, sl_xcalloc(n, sizeof(*w)));
    size_t cap = INSP_RE_RULES_MAX * 32, len = 0;
    char *text = sl_xmalloc(cap);
    for (int i = 0; i < INSP_RE_RULES_MAX; i++) {
        len += (size_t)snprintf(text + len, cap - len, "re:(a|b|c)*z%d\n", i);
    }
    insp_rules_t *rules = NULL;
    char err[256];
    ASSERT_EQ(insp_rules_parse(text, len, &rules, err, sizeof(err)), 0);
    insp_match_t *m = NULL;
    size_t nm = 0;
    int64_t t0 = sl_time_mono_ms();
    ASSERT_EQ(insp_match_run_bounded(rules, w, n, 50, &m, &nm), -ETIMEDOUT);
    int64_t took = sl_time_mono_ms() - t0;
    fprintf(stderr, "     %d patterns over 1 MiB, budget 50 ms: stopped after %lld ms\n",
            INSP_RE_RULES_MAX, (long long)took);
    ASSERT_EQ(nm, 0);
    ASSERT_TRUE(took < 5000); /* one search alone takes seconds: the child is killed */
    free(m);
    /* Within the budget, the bounded run gives what the plain run gives. */
    insp_rules_t *plain = rules_of("re:a+b*\naaaa\n");
    insp_match_t *m1 = NULL, *m2 = NULL;
    size_t n1 = 0, n2 = 0;
    ASSERT_EQ(insp_match_run(plain, w, 3, INSP_MATCH_BUDGET_MS_DEFAULT, &m1, &n1), 0);
    ASSERT_EQ(insp_match_run_bounded(plain, w, 3, 10000, &m2, &n2), 0);
    ASSERT_TRUE(n1 > 0);
    ASSERT_EQ(n1, n2);
    ASSERT_MEMEQ(m1, m2, n1 * sizeof(*m1));
    free(m1);
    free(m2);
    insp_rules_free(plain);
    insp_rules_free(rules);
    free(text);
    words_free(w, n);
    free(w);
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    RUN(test_norm_folds_width_case_spaces_and_punctuation);
    RUN(test_rules_skip_comments_and_blanks_and_keep_source);
    RUN(test_rules_refuse_bad_lines_by_number);
    RUN(test_rule_length_limit_at_n_and_n_plus_one);
    RUN(test_phrase_split_over_words_matches_with_their_boxes);
    RUN(test_punctuation_inside_a_korean_word_is_ignored);
    RUN(test_near_misses_do_not_match);
    RUN(test_pattern_matches_korean_and_english);
    RUN(test_matches_are_capped_at_the_limit);
    RUN(test_costly_patterns_are_refused_by_name);
    RUN(test_pattern_rules_limit_at_n_and_n_plus_one);
    RUN(test_match_text_is_bounded_and_says_so);
    RUN(test_match_budget_stops_costly_rules);
    TEST_MAIN_END();
}
