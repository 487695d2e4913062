/* Forbidden-phrase rules and matching for the OCR inspection worker (issue 5). A rule file has
 * one rule a line: a literal phrase, or "re:" and a POSIX extended regular expression (no
 * back-references, at most INSP_RE_BOUNDS_MAX bounded repetitions up to INSP_RE_BOUND_MAX); blank
 * lines and lines starting with '#' are ignored. Text is normalised (Unicode NFKC, case folded,
 * everything but letters, marks and digits removed) and phrases are matched over the
 * concatenated word stream, so a phrase split over words or broken by punctuation still
 * matches; each match maps back to the words it covers. */
#ifndef INSP_MATCH_H
#define INSP_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Rules in one set; more is SL_ELIMIT. */
#define INSP_RULES_MAX 4096
/* Bytes of one rule line. */
#define INSP_RULE_BYTES_MAX 512
/* Matches reported per page; later ones are dropped (the verdict is already "flagged"). */
#define INSP_MATCHES_MAX 256
/* Pattern ("re:") rules in one set: each costs a pass over the whole text. */
#define INSP_RE_RULES_MAX 256
/* Bounded repetitions ("{n}", "{n,m}") in one pattern, and the largest bound: nested bounds
 * multiply the compiled automaton (glibc expands them). */
#define INSP_RE_BOUNDS_MAX 2
#define INSP_RE_BOUND_MAX 64
/* Bytes of normalised page text matched; the rest is not (insp_match_run says so). */
#define INSP_MATCH_TEXT_BYTES_MAX (1u << 20)
/* Default time budget of one page's matching. */
#define INSP_MATCH_BUDGET_MS_DEFAULT 2000
#define INSP_MATCH_BUDGET_MS_MAX 600000

typedef struct {
    int x, y, w, h;
} insp_box_t;

/* One OCR word (caller's storage; text is UTF-8, NUL-terminated). */
typedef struct {
    char *text;
    float conf; /* 0..100 */
    insp_box_t box;
} insp_word_t;

/* A match: rule index and the inclusive range of words it covers. */
typedef struct {
    size_t rule;
    size_t first, last;
} insp_match_t;

typedef struct insp_rules insp_rules_t;

/* Parses rule text. On a bad line returns SL_EINVAL/SL_ELIMIT with "line N: reason" in err. */
int insp_rules_parse(const char *text, size_t len, insp_rules_t **out, char *err, size_t errlen);
/* Loads a rule file (at most INSP_RULES_MAX lines). Errors as insp_rules_parse or -errno. */
int insp_rules_load(const char *path, insp_rules_t **out, char *err, size_t errlen);
void insp_rules_free(insp_rules_t *rules);
size_t insp_rules_count(const insp_rules_t *rules);
/* The rule as written (without a trailing newline). */
const char *insp_rules_source(const insp_rules_t *rules, size_t idx);

/* Normalises UTF-8 text into a new NUL-terminated string (*out, caller frees). Returns 0,
 * SL_EINVAL for invalid UTF-8. */
int insp_norm(const char *s, size_t len, char **out, size_t *out_len);

/* Matches every rule against the word stream (its first INSP_MATCH_TEXT_BYTES_MAX normalised
 * bytes). *out (caller frees) holds up to INSP_MATCHES_MAX matches ordered by rule, then
 * position. Returns 0; SL_ELIMIT when the text was longer than the bound (the matches of the
 * part matched are in *out); or -ETIMEDOUT when matching passed budget_ms (checked between
 * pattern searches; patterns without back-references make each search polynomial), the
 * matches so far in *out: the verdict is then unknown. */
int insp_match_run(const insp_rules_t *rules, const insp_word_t *words, size_t nwords,
                   int64_t budget_ms, insp_match_t **out, size_t *nout);
/* insp_match_run with a hard budget: one pattern search can itself take seconds on a long
 * text (glibc's regexec tries every start), so the matching runs in a forked child that is
 * killed at budget_ms. Same results; -ETIMEDOUT (*out empty) when killed; -errno when the
 * child could not run. Thread: the caller's; the child only matches and exits. */
int insp_match_run_bounded(const insp_rules_t *rules, const insp_word_t *words, size_t nwords,
                           int64_t budget_ms, insp_match_t **out, size_t *nout);

#endif
