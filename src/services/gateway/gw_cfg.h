/* Configuration of `sluice gateway`: one .properties file (plus --set overrides), every key
 * documented in docs/gateway.md ("Configuration"). Unknown keys are errors.
 *   route.<name>.path|topic|fields|key|token|send   an HTTP path (and STOMP SEND destination)
 *                                                   mapped onto a topic with a shape check
 *   dest.<name>.prefix|topics|filter                STOMP destinations <prefix><value> over
 *                                                   topics, records filtered by key or a JSON
 *                                                   field equal to <value>
 *   dest.<name>.tokens|public                       who may subscribe: token holders, and
 *                                                   anyone (public=live) or anyone with history
 *                                                   (public=all)
 * Nothing is open by default: a destination nobody may read, or POST /topics/ enabled without
 * http.topics.allow, is a configuration error. */
#ifndef GW_CFG_H
#define GW_CFG_H

#include "kit_auth.h"
#include "kit_kconf.h"
#include "sl_props.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_ROUTES_MAX 16        /* route.<name> entries */
#define GW_DESTS_MAX 8          /* dest.<name> entries */
#define GW_DEST_TOPICS_MAX 4    /* topics behind one destination */
#define GW_FIELDS_MAX 16        /* fields in a route's shape check */
#define GW_NAME_BUF 64          /* route, destination, field names (63 bytes) */
#define GW_TOPIC_BUF 250        /* Kafka's topic name limit is 249 */
#define GW_STR_BUF 1024         /* brokers, paths, tokens */

typedef enum { GW_JSON_ANY, GW_JSON_STRING, GW_JSON_NUMBER, GW_JSON_INTEGER, GW_JSON_BOOLEAN,
               GW_JSON_OBJECT, GW_JSON_ARRAY } gw_json_type_t;

typedef struct {
    char name[GW_NAME_BUF];
    gw_json_type_t type;
    bool optional;
} gw_field_t;

typedef struct {
    char name[GW_NAME_BUF];
    char path[GW_STR_BUF];  /* "/alert" */
    char topic[GW_TOPIC_BUF];
    gw_field_t fields[GW_FIELDS_MAX]; /* none: any JSON object */
    int nfields;
    char key_field[GW_NAME_BUF]; /* record key taken from this field; "" = no key */
    kit_tokens_t tokens;         /* bearer tokens (also STOMP passcodes for SEND); none = open */
    bool send;                   /* STOMP SEND to path allowed */
} gw_route_t;

typedef struct {
    char name[GW_NAME_BUF];
    char prefix[GW_STR_BUF]; /* "/sub/line/" */
    char topics[GW_DEST_TOPICS_MAX][GW_TOPIC_BUF];
    int ntopics;
    char field[GW_NAME_BUF]; /* JSON field compared with the value; "" = the record key */
    kit_tokens_t tokens;     /* CONNECT passcodes that may read it */
    bool public_live;        /* anyone may subscribe to live records (public=live|all) */
    bool public_replay;      /* anyone may also read history: x-from-*, parks (public=all) */
} gw_dest_cfg_t;

typedef struct {
    char brokers[GW_STR_BUF];
    kit_kconf_t kafka; /* kafka.* settings: passed to every librdkafka client */
    char http_listen[64];        /* host:port; port 0 picks one */
    char ws_path[GW_STR_BUF];    /* WebSocket (STOMP) endpoint */
    char static_dir[GW_STR_BUF]; /* "" = no static files */
    char static_path[GW_NAME_BUF]; /* URL prefix of the static files */
    bool topics_api;             /* POST /topics/{topic} (off by default) */
    kit_tokens_t topics_tokens;
    char topics_allow[GW_STR_BUF]; /* comma-separated globs of the topics it may write */
    uint8_t jwt_secret[KIT_AUTH_SECRET_BYTES_MAX]; /* HS256 key for STOMP CONNECT passcodes */
    size_t jwt_secret_len;         /* 0: JWTs are not accepted */
    int64_t idle_ms;               /* nothing received this long closes a session */
    int conns_per_ip_max;
    bool auto_create;            /* produce to unknown topics (else 404) */
    int partitions;              /* topics this service creates */
    size_t request_bytes_max;    /* HTTP body (413 past it) */
    int64_t broker_timeout_ms;   /* produce acks wait before 503 */
    size_t frame_bytes_max;      /* STOMP frame (ERROR and close past it) */
    int64_t hb_send_ms, hb_recv_ms; /* our heart-beat offer: send every, want every */
    size_t send_bytes_max;       /* per connection outgoing queue */
    int64_t send_time_ms;        /* oldest queued frame may wait this long */
    int unacked_max;             /* in flight per subscription in client ack modes (prefetch) */
    int64_t park_ms;             /* un-acked positions kept for a client-id after it left */
    int connections_max;
    gw_route_t routes[GW_ROUTES_MAX];
    int nroutes;
    gw_dest_cfg_t dests[GW_DESTS_MAX];
    int ndests;
} gw_cfg_t;

/* Fills defaults, then applies props. On a bad or unknown key returns SL_EINVAL with
 * "key: reason" in err. */
int gw_cfg_load(gw_cfg_t *cfg, const sl_props_t *props, char *err, size_t err_len);

#endif
