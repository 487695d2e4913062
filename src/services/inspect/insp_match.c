/* Rules, normalisation (utf8proc: NFKC + case fold, then only letters, marks and digits kept)
 * and matching over the normalised word stream; see insp_match.h for the rule syntax. */
#include "insp_match.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "sl_common.h"
#include "sl_fs.h"
#include "sl_time.h"

typedef struct {
    char *source;  /* as written */
    char *literal; /* normalised phrase; NULL for a pattern */
    size_t literal_len;
    bool is_re;
    regex_t re;
} insp__rule_t;

struct insp_rules {
    insp__rule_t *rule;
    size_t n;
};

static bool insp__keep(utf8proc_int32_t cp)
{
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

int insp_norm(const char *s, size_t len, char **out, size_t *out_len)
{
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
                                      &mapped, UTF8PROC_STABLE | UTF8PROC_COMPAT |
                                      UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
    if (n < 0) {
        return n == UTF8PROC_ERROR_NOMEM ? SL_ENOMEM : SL_EINVAL;
    }
    /* Filtering only removes code points, so the result fits in place. */
    size_t w = 0;
    for (utf8proc_ssize_t r = 0; r < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate(mapped + r, n - r, &cp);
        SL_ASSERT(step > 0);
        if (insp__keep(cp)) {
            memmove(mapped + w, mapped + r, (size_t)step);
            w += (size_t)step;
        }
        r += step;
    }
    mapped[w] = 0;
    *out = (char *)mapped;
    *out_len = w;
    return 0;
}

/* Refuses what makes a pattern costly beyond its length: back-references (exponential
 * search in glibc) and large or many bounded repetitions (a large automaton). */
static int insp__re_cost_ok(const char *re, char *err, size_t errlen)
{
    int bounds = 0;
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1] >= '1' && p[1] <= '9') {
            snprintf(err, errlen, "back-references (\\%c) are not allowed", p[1]);
            return SL_EINVAL;
        }
        if (*p == '\\' && p[1]) {
            p++;
            continue;
        }
        if (*p == '{' && p[1] >= '0' && p[1] <= '9') {
            char *end = NULL;
            long lo = strtol(p + 1, &end, 10), hi = lo;
            if (*end == ',' && end[1] >= '0' && end[1] <= '9') {
                hi = strtol(end + 1, &end, 10);
            }
            if (++bounds > INSP_RE_BOUNDS_MAX || lo > INSP_RE_BOUND_MAX || hi > INSP_RE_BOUND_MAX) {
                snprintf(err, errlen, "at most %d bounded repetitions of at most {%d}",
                         INSP_RE_BOUNDS_MAX, INSP_RE_BOUND_MAX);
                return SL_ELIMIT;
            }
        }
    }
    return 0;
}

static int insp__rule_init(insp__rule_t *rule, const char *line, size_t len, char *err,
                           size_t errlen)
{
    memset(rule, 0, sizeof(*rule));
    rule->source = sl_xstrndup(line, len);
    if (len > 3 && memcmp(line, "re:", 3) == 0) {
        int rc = insp__re_cost_ok(rule->source + 3, err, errlen);
        if (rc != 0) {
            free(rule->source);
            return rc;
        }
        rc = regcomp(&rule->re, rule->source + 3, REG_EXTENDED | REG_ICASE);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &rule->re, msg, sizeof(msg));
            snprintf(err, errlen, "bad pattern: %s", msg);
            free(rule->source);
            return SL_EINVAL;
        }
        rule->is_re = true;
        return 0;
    }
    int rc = insp_norm(line, len, &rule->literal, &rule->literal_len);
    if (rc == 0 && rule->literal_len == 0) {
        free(rule->literal);
        rc = SL_EINVAL;
    }
    if (rc != 0) {
        snprintf(err, errlen, "phrase is empty after normalisation or not UTF-8");
        free(rule->source);
        return SL_EINVAL;
    }
    return 0;
}

static void insp__rule_deinit(insp__rule_t *rule)
{
    free(rule->source);
    free(rule->literal);
    if (rule->is_re) {
        regfree(&rule->re);
    }
}

int insp_rules_parse(const char *text, size_t len, insp_rules_t **out, char *err, size_t errlen)
{
    insp_rules_t *rules = sl_xcalloc(1, sizeof(*rules));
    const char *p = text, *end = text + len;
    size_t nre = 0;
    for (int lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *s = p;
        p = nl ? nl + 1 : end;
        while (s < e && (*s == ' ' || *s == '\t')) {
            s++;
        }
        while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        if (s == e || *s == '#') {
            continue;
        }
        char why[160] = "";
        int rc = 0;
        bool is_re = e - s > 3 && memcmp(s, "re:", 3) == 0;
        if ((size_t)(e - s) > INSP_RULE_BYTES_MAX || rules->n == INSP_RULES_MAX ||
            (is_re && nre == INSP_RE_RULES_MAX)) {
            rc = SL_ELIMIT;
            snprintf(why, sizeof(why), "over the limit (%d rules, %d of them patterns, of %d "
                     "bytes)", INSP_RULES_MAX, INSP_RE_RULES_MAX, INSP_RULE_BYTES_MAX);
        } else {
            nre += is_re;
            rules->rule = sl_xrealloc(rules->rule, (rules->n + 1) * sizeof(*rules->rule));
            rc = insp__rule_init(&rules->rule[rules->n], s, (size_t)(e - s), why, sizeof(why));
        }
        if (rc != 0) {
            snprintf(err, errlen, "line %d: %s", lineno, why);
            insp_rules_free(rules);
            return rc;
        }
        rules->n++;
    }
    *out = rules;
    return 0;
}

int insp_rules_load(const char *path, insp_rules_t **out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = sl_fs_read_all(path, (size_t)INSP_RULES_MAX * (INSP_RULE_BYTES_MAX + 2), &text, &len);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, sl_strerror(rc));
        return rc;
    }
    rc = insp_rules_parse(text, len, out, err, errlen);
    free(text);
    return rc;
}

void insp_rules_free(insp_rules_t *rules)
{
    if (!rules) {
        return;
    }
    for (size_t i = 0; i < rules->n; i++) {
        insp__rule_deinit(&rules->rule[i]);
    }
    free(rules->rule);
    free(rules);
}

size_t insp_rules_count(const insp_rules_t *rules)
{
    return rules->n;
}

const char *insp_rules_source(const insp_rules_t *rules, size_t idx)
{
    SL_ASSERT(idx < rules->n);
    return rules->rule[idx].source;
}

/* The normalised stream and, per byte, the word it came from. */
typedef struct {
    char *text;
    size_t len;
    size_t *word_of;
} insp__stream_t;

static void insp__stream_build(const insp_word_t *words, size_t nwords, insp__stream_t *st)
{
    size_t cap = 64;
    st->text = sl_xmalloc(cap);
    st->word_of = sl_xmalloc(cap * sizeof(size_t));
    st->len = 0;
    for (size_t i = 0; i < nwords; i++) {
        char *norm = NULL;
        size_t n = 0;
        if (insp_norm(words[i].text, strlen(words[i].text), &norm, &n) != 0) {
            continue; /* OCR gave bytes that are not UTF-8: the word cannot match */
        }
        while (st->len + n + 1 > cap) {
            cap *= 2;
            st->text = sl_xrealloc(st->text, cap);
            st->word_of = sl_xrealloc(st->word_of, cap * sizeof(size_t));
        }
        memcpy(st->text + st->len, norm, n);
        for (size_t k = 0; k < n; k++) {
            st->word_of[st->len + k] = i;
        }
        st->len += n;
        free(norm);
    }
    st->text[st->len] = 0;
}

static bool insp__match_add(insp_match_t *m, size_t *n, size_t rule, const insp__stream_t *st,
                            size_t off, size_t len)
{
    if (*n == INSP_MATCHES_MAX) {
        return false;
    }
    m[*n] = (insp_match_t){.rule = rule, .first = st->word_of[off],
                           .last = st->word_of[off + len - 1]};
    (*n)++;
    return true;
}

static int insp__rule_scan(const insp__rule_t *rule, size_t idx, const insp__stream_t *st,
                           int64_t deadline_ms, insp_match_t *m, size_t *n)
{
    size_t off = 0;
    while (off < st->len) {
        if (rule->is_re && sl_time_mono_ms() > deadline_ms) {
            return -ETIMEDOUT;
        }
        size_t at, len;
        if (rule->is_re) {
            regmatch_t rm;
            if (regexec(&rule->re, st->text + off, 1, &rm, off ? REG_NOTBOL : 0) != 0) {
                return 0;
            }
            at = off + (size_t)rm.rm_so;
            len = (size_t)(rm.rm_eo - rm.rm_so);
        } else {
            const char *hit = memmem(st->text + off, st->len - off, rule->literal,
                                     rule->literal_len);
            if (!hit) {
                return 0;
            }
            at = (size_t)(hit - st->text);
            len = rule->literal_len;
        }
        if (len == 0) { /* a pattern that matches nothing: step one byte on */
            off = at + 1;
            continue;
        }
        if (!insp__match_add(m, n, idx, st, at, len)) {
            return 0;
        }
        off = at + len;
    }
    return 0;
}

int insp_match_run(const insp_rules_t *rules, const insp_word_t *words, size_t nwords,
                   int64_t budget_ms, insp_match_t **out, size_t *nout)
{
    insp__stream_t st;
    insp__stream_build(words, nwords, &st);
    int rc = 0;
    if (st.len > INSP_MATCH_TEXT_BYTES_MAX) {
        size_t cut = INSP_MATCH_TEXT_BYTES_MAX;
        while (cut > 0 && ((unsigned char)st.text[cut] & 0xc0) == 0x80) {
            cut--; /* never inside a character */
        }
        st.len = cut;
        st.text[cut] = 0;
        rc = SL_ELIMIT;
    }
    insp_match_t *m = sl_xmalloc(INSP_MATCHES_MAX * sizeof(*m));
    size_t n = 0;
    int64_t deadline = sl_time_mono_ms() + budget_ms;
    for (size_t i = 0; i < rules->n && st.len > 0; i++) {
        if (insp__rule_scan(&rules->rule[i], i, &st, deadline, m, &n) != 0) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    free(st.text);
    free(st.word_of);
    *out = m;
    *nout = n;
    return rc;
}

/* The child's answer on the pipe: rc, count, then count matches. */
static void insp__match_child(const insp_rules_t *rules, const insp_word_t *words, size_t nwords,
                              int64_t budget_ms, int fd)
{
    insp_match_t *m = NULL;
    size_t n = 0;
    int rc = insp_match_run(rules, words, nwords, budget_ms, &m, &n);
    size_t len = sizeof(rc) + sizeof(n) + n * sizeof(*m);
    char *buf = malloc(len);
    if (!buf) {
        _exit(1);
    }
    memcpy(buf, &rc, sizeof(rc));
    memcpy(buf + sizeof(rc), &n, sizeof(n));
    memcpy(buf + sizeof(rc) + sizeof(n), m, n * sizeof(*m));
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w <= 0) {
            _exit(1);
        }
        off += (size_t)w;
    }
    _exit(0);
}

/* Reads the child's answer until deadline_ms; 0, -ETIMEDOUT or SL_ECORRUPT. */
static int insp__match_read(int fd, int64_t deadline_ms, char *buf, size_t cap, size_t *len)
{
    for (;;) {
        int64_t left = deadline_ms - sl_time_mono_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0) {
            return -ETIMEDOUT;
        }
        int pr = poll(&pfd, 1, (int)SL_MIN(left, 1000));
        if (pr < 0 && errno != EINTR) {
            return -errno;
        }
        if (pr <= 0) {
            continue;
        }
        ssize_t r = read(fd, buf + *len, cap - *len);
        if (r == 0) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            return -errno;
        }
        *len += r > 0 ? (size_t)r : 0;
        if (*len == cap) {
            return 0;
        }
    }
}

int insp_match_run_bounded(const insp_rules_t *rules, const insp_word_t *words, size_t nwords,
                           int64_t budget_ms, insp_match_t **out, size_t *nout)
{
    int64_t deadline = sl_time_mono_ms() + budget_ms;
    int p[2];
    *out = sl_xmalloc(INSP_MATCHES_MAX * sizeof(**out));
    *nout = 0;
    if (pipe2(p, O_CLOEXEC) != 0) {
        return -errno;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        insp__match_child(rules, words, nwords, budget_ms, p[1]);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return -errno;
    }
    size_t cap = sizeof(int) + sizeof(size_t) + INSP_MATCHES_MAX * sizeof(insp_match_t), len = 0;
    char *buf = sl_xmalloc(cap);
    int rc = insp__match_read(p[0], deadline, buf, cap, &len);
    close(p[0]);
    kill(pid, SIGKILL); /* done or over budget: either way it goes */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    size_t n = 0;
    int child_rc = 0;
    if (rc == 0 && len >= sizeof(int) + sizeof(size_t)) {
        memcpy(&child_rc, buf, sizeof(int));
        memcpy(&n, buf + sizeof(int), sizeof(size_t));
    }
    if (rc == 0 && (len < sizeof(int) + sizeof(size_t) || n > INSP_MATCHES_MAX ||
                    len != sizeof(int) + sizeof(size_t) + n * sizeof(insp_match_t))) {
        rc = SL_ECORRUPT; /* the child died before it answered */
    }
    if (rc == 0) {
        memcpy(*out, buf + sizeof(int) + sizeof(size_t), n * sizeof(insp_match_t));
        *nout = n;
        rc = child_rc;
    }
    free(buf);
    return rc;
}
