/* The topic registry and topic configs (topics.c). Thread: loop unless a comment says otherwise. */
#ifndef BRK_TOPICS_H
#define BRK_TOPICS_H

#include <stdbool.h>
#include <stdint.h>

#include "brk.h"
#include "brk_part.h"
#include "kerr.h"
#include "kproto.h"
#include "sl_props.h"
#include "slog.h"

struct brk_topic {
    char *name;
    kproto_uuid_t id;
    int32_t npart;
    brk_part_t **parts;
    sl_props_t *overrides; /* topic-level configs set by users */
    slog_conf_t log;       /* effective log settings */
    char cleanup_policy[32];
    bool adding;           /* partitions are being created for it off the loop (create.c) */
    brk_topic_t *next;
};

int brk_topics_load(brk_t *brk, char *err, size_t err_len);
void brk_topics_close(brk_t *brk);
brk_topic_t *brk_topic_find(brk_t *brk, kproto_str_t name);
brk_topic_t *brk_topic_find_id(brk_t *brk, kproto_uuid_t id);
/* Kafka's topic-name rules: 1-249 chars of [a-zA-Z0-9._-], not "." or "..". */
bool brk_topic_name_valid(kproto_str_t name, const char **why);
/* Creation in two halves (create.c): the files off the loop (a worker thread), the registry
 * on it. Validates topic config overrides: KERR_NONE or INVALID_CONFIG with msg. */
kerr_t brk_topic_check_overrides(const sl_props_t *overrides, const char **msg);
/* Creates topic name's directory, npart partition logs and topic.properties (last): a topic
 * not yet in the registry; NULL with *rc on failure (nothing left on disk). Thread: any. */
brk_topic_t *brk_topic_build(brk_t *brk, const char *name, int32_t npart,
                             const sl_props_t *overrides, int *rc);
/* Adds a built topic to the registry (log: one INFO line for it). */
void brk_topic_install(brk_t *brk, brk_topic_t *topic, bool log);
kerr_t brk_topic_delete(brk_t *brk, brk_topic_t *topic);
/* Checks growing topic to count partitions (not while partitions are being added to it). */
kerr_t brk_topic_check_partitions(const brk_topic_t *topic, int32_t count, const char **msg);
/* Opens (creates) partitions [from, to) of topic with log settings conf into parts. Reads only
 * topic->name. Returns 0 or an error (nothing left open). Thread: any. */
int brk_parts_build(brk_t *brk, brk_topic_t *topic, const slog_conf_t *conf, int32_t from,
                    int32_t to, brk_part_t **parts);
/* Appends the built partitions [npart, count) and saves topic.properties; on a storage error
 * closes them and leaves the topic as it was. */
kerr_t brk_topic_install_parts(brk_t *brk, brk_topic_t *topic, brk_part_t **parts, int32_t count,
                               const char **msg);
/* Validates and applies a set of topic config overrides (full replacement). */
kerr_t brk_topic_set_configs(brk_t *brk, brk_topic_t *topic, sl_props_t *overrides,
                             bool validate_only, const char **msg);
/* Topic-level config definitions, for validation and DescribeConfigs. */
typedef struct {
    const char *name;
    int8_t type; /* Kafka ConfigType: 1 BOOLEAN 2 STRING 3 INT 4 SHORT 5 LONG 6 DOUBLE 7 LIST */
    const char *doc;
    /* Accepted and shown as Kafka 3.7 does, with no effect here (deprecated in Kafka, or about
     * a conversion Sluice never makes): setting it logs one line saying so. */
    bool no_effect;
} brk_tconf_def_t;
const brk_tconf_def_t *brk_tconf_defs(size_t *n);
/* Effective value of a topic config as a string, and whether it is a topic override. */
void brk_tconf_value(brk_t *brk, const brk_topic_t *topic, const char *name, char *buf,
                     size_t len, bool *is_override);
/* Logs one line naming the overrides in next that have no effect and that old (NULL: none)
 * did not have with the same value, for topic; what names the change ("created",
 * "altered"). Nothing when there are none. */
void brk_tconf_log_no_effect(const char *topic, const char *what, const sl_props_t *old,
                             const sl_props_t *next);
/* Validates name=value for topics: KERR_NONE or KERR_INVALID_CONFIG with msg. */
kerr_t brk_tconf_check(const char *name, const char *value, const char **msg);

#endif
