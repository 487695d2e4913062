/* Forbidden-phrase rules and matching for the OCR inspection worker (issue 5). A rule file has
 * one rule a line: a literal phrase, or "re:" and a POSIX extended regular expression; blank
 * lines and lines starting with '#' are ignored. Text is normalised (Unicode NFKC, case folded,
 * everything but letters, marks and digits removed) and phrases are matched over the
 * concatenated word stream, so a phrase split over words or broken by punctuation still
 * matches; each match maps back to the words it covers. */
#ifndef INSP_MATCH_H
#define INSP_MATCH_H

#include <stdbool.h>
#include <stddef.h>

/* Rules in one set; more is SL_ELIMIT. */
#define INSP_RULES_MAX 4096
/* Bytes of one rule line. */
#define INSP_RULE_BYTES_MAX 512
/* Matches reported per page; later ones are dropped (the verdict is already "flagged"). */
#define INSP_MATCHES_MAX 256

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

/* Matches every rule against the word stream. *out (caller frees) holds up to
 * INSP_MATCHES_MAX matches ordered by rule, then position. */
void insp_match_run(const insp_rules_t *rules, const insp_word_t *words, size_t nwords,
                   insp_match_t **out, size_t *nout);

#endif
