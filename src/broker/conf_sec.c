/* Security and connection settings with Kafka's names: `listeners` ("NAME://host:port,..."),
 * `listener.security.protocol.map` ("NAME:PROTOCOL,..."; by default each protocol name maps
 * to itself), `advertised.listeners` (matched by listener name), `sasl.enabled.mechanisms`,
 * the PEM keystore/truststore settings, `ssl.client.auth`, and the connection limits
 * `max.connections`, `max.connections.per.ip`, `connections.max.idle.ms`,
 * `queued.max.request.bytes` and Sluice's `connections.max.authentication.ms`. */
#include "brk_conf.h"
#include "brk_limits.h"
#include "snet_sasl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const brk__proto_names[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};

const char *brk_proto_name(brk_secproto_t proto)
{
    return brk__proto_names[proto];
}

static bool brk__proto_parse(const char *s, size_t n, brk_secproto_t *out)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(brk__proto_names); i++) {
        if (strlen(brk__proto_names[i]) == n && strncmp(brk__proto_names[i], s, n) == 0) {
            *out = (brk_secproto_t)i;
            return true;
        }
    }
    return false;
}

void brk__conf_security_defaults(brk_conf_t *conf)
{
    conf->nlisteners = 1;
    brk_listener_conf_t *l = &conf->listeners[0];
    snprintf(l->name, sizeof l->name, "PLAINTEXT");
    l->proto = BRK_PROTO_PLAINTEXT;
    snprintf(l->host, sizeof l->host, "127.0.0.1");
    l->port = 9092;
    conf->sasl_mechs = 1u << SNET_MECH_PLAIN | 1u << SNET_MECH_SCRAM_SHA_256 |
                       1u << SNET_MECH_SCRAM_SHA_512;
    conf->ssl_client_auth = SNET_CLIENT_AUTH_NONE;
    conf->max_connections = SNET_CONNS_MAX;
    conf->max_connections_per_ip = SNET_CONNS_MAX;
    conf->connections_max_idle_ms = 600000;
    conf->authn_timeout_ms = 10000;
    conf->authn_fail_delay_ms = 100;   /* Kafka's default */
    conf->authn_fail_limit = 20;
    conf->authn_fail_window_ms = 60000;
    conf->queued_max_request_bytes = BRK_QUEUED_REQUEST_BYTES_DEFAULT;
}

/* Splits "a,b,c" in place-free fashion: calls fn for each trimmed, non-empty item. */
typedef int (*brk_item_fn)(brk_conf_t *conf, const char *item, size_t n, char *err,
                           size_t err_len);
static int brk__each_item(brk_conf_t *conf, const char *v, brk_item_fn fn, char *err,
                          size_t err_len)
{
    while (*v) {
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        const char *p = v;
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        while (n > 0 && p[n - 1] == ' ') {
            n--;
        }
        if (n > 0) {
            int rc = fn(conf, p, n, err, err_len);
            if (rc != 0) {
                return rc;
            }
        }
        if (!end) {
            break;
        }
        v = end + 1;
    }
    return 0;
}

/* "NAME://host:port" ([v6]:port allowed; empty host: every address). NULL on success, else
 * what is wrong with it. */
static const char *brk__parse_endpoint(const char *s, size_t n, char *name, size_t name_cap,
                                       char *host, size_t host_cap, int *port)
{
    static const char *const shape = "expected NAME://host:port";
    const char *sep = NULL;
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memcmp(s + i, "://", 3) == 0) {
            sep = s + i;
            break;
        }
    }
    if (!sep || sep == s || (size_t)(sep - s) >= name_cap) {
        return shape;
    }
    snprintf(name, name_cap, "%.*s", (int)(sep - s), s);
    const char *p = sep + 3, *end = s + n;
    const char *colon = NULL;
    for (const char *q = p; q < end; q++) {
        colon = *q == ':' ? q : colon;
    }
    if (!colon || end - colon - 1 <= 0) {
        return shape;
    }
    char portbuf[24];
    snprintf(portbuf, sizeof portbuf, "%.*s", (int)SL_MIN(end - colon - 1, 23), colon + 1);
    int64_t port64;
    if (!sl_parse_i64(portbuf, INT64_MIN, INT64_MAX, &port64) || end - colon - 1 > 23) {
        return "expected NAME://host:port with a numeric port";
    }
    if (port64 < 0 || port64 > 65535) {
        return "the port is out of range (0 to 65535; 0 picks a free one)";
    }
    size_t hn = (size_t)(colon - p);
    if (hn > 1 && p[0] == '[' && p[hn - 1] == ']') {
        p++;
        hn -= 2;
    }
    if (hn >= host_cap) {
        return "the host name is too long";
    }
    if (hn == 0) {
        snprintf(host, host_cap, "0.0.0.0");
    } else {
        snprintf(host, host_cap, "%.*s", (int)hn, p);
    }
    *port = (int)port64;
    return NULL;
}

/* The protocol map as given, consulted per listener name. */
static const char *brk__protocol_map;

static bool brk__map_lookup(const char *name, brk_secproto_t *out)
{
    const char *v = brk__protocol_map;
    size_t nlen = strlen(name);
    while (v && *v) {
        while (*v == ' ') {
            v++;
        }
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        const char *colon = memchr(v, ':', n);
        if (colon && (size_t)(colon - v) == nlen && strncmp(v, name, nlen) == 0) {
            size_t pn = n - nlen - 1;
            while (pn > 0 && colon[pn] == ' ') {
                pn--;
            }
            return brk__proto_parse(colon + 1, pn, out);
        }
        v = end ? end + 1 : NULL;
    }
    return brk__proto_parse(name, nlen, out);
}

static int brk__listener_item(brk_conf_t *conf, const char *item, size_t n, char *err,
                              size_t err_len)
{
    if (conf->nlisteners >= BRK_LISTENERS_MAX) {
        snprintf(err, err_len, "listeners: at most %d listeners", BRK_LISTENERS_MAX);
        return SL_EINVAL;
    }
    brk_listener_conf_t *l = &conf->listeners[conf->nlisteners];
    memset(l, 0, sizeof *l);
    const char *why = brk__parse_endpoint(item, n, l->name, sizeof l->name, l->host,
                                          sizeof l->host, &l->port);
    if (why) {
        snprintf(err, err_len, "listeners: %s, got '%.*s'", why, (int)n, item);
        return SL_EINVAL;
    }
    if (!brk__map_lookup(l->name, &l->proto)) {
        snprintf(err, err_len, "listeners: no security protocol for listener name '%s' (add it "
                 "to listener.security.protocol.map: PLAINTEXT, SSL, SASL_PLAINTEXT or "
                 "SASL_SSL)", l->name);
        return SL_EINVAL;
    }
    for (int i = 0; i < conf->nlisteners; i++) {
        if (strcmp(conf->listeners[i].name, l->name) == 0 ||
            (l->port != 0 && conf->listeners[i].port == l->port)) {
            snprintf(err, err_len, "listeners: listener names and ports must be unique "
                     "('%s')", l->name);
            return SL_EINVAL;
        }
    }
    conf->nlisteners++;
    return 0;
}

static int brk__advertised_item(brk_conf_t *conf, const char *item, size_t n, char *err,
                                size_t err_len)
{
    char name[BRK_LISTENER_NAME_BYTES_MAX + 1], host[256];
    int port;
    const char *why = brk__parse_endpoint(item, n, name, sizeof name, host, sizeof host, &port);
    if (why) {
        snprintf(err, err_len, "advertised.listeners: %s, got '%.*s'", why, (int)n, item);
        return SL_EINVAL;
    }
    for (int i = 0; i < conf->nlisteners; i++) {
        if (strcmp(conf->listeners[i].name, name) == 0) {
            snprintf(conf->listeners[i].adv_host, sizeof conf->listeners[i].adv_host, "%s", host);
            conf->listeners[i].adv_port = port;
            return 0;
        }
    }
    snprintf(err, err_len, "advertised.listeners: '%s' is not a listener name", name);
    return SL_EINVAL;
}

static int brk__mech_item(brk_conf_t *conf, const char *item, size_t n, char *err,
                          size_t err_len)
{
    snet_mech_t mech;
    if (!snet_mech_parse(item, n, &mech)) {
        snprintf(err, err_len, "sasl.enabled.mechanisms: '%.*s' is not supported (PLAIN, "
                 "SCRAM-SHA-256, SCRAM-SHA-512)", (int)n, item);
        return SL_EINVAL;
    }
    conf->sasl_mechs |= 1u << mech;
    return 0;
}

static char *brk__dup_opt(const sl_props_t *props, const char *key)
{
    const char *v = sl_props_get(props, key);
    return v && *v ? sl_xstrdup(v) : NULL;
}

static int brk__conf_ssl(const sl_props_t *props, brk_conf_t *conf, char *err, size_t err_len)
{
    static const char *const pem_keys[] = {"ssl.keystore.type", "ssl.truststore.type"};
    for (size_t i = 0; i < SL_ARRAY_LEN(pem_keys); i++) {
        const char *v = sl_props_get(props, pem_keys[i]);
        if (v && strcmp(v, "PEM") != 0) {
            snprintf(err, err_len, "%s: only PEM is supported, got '%s'", pem_keys[i], v);
            return SL_EINVAL;
        }
    }
    const char *auth = sl_props_get(props, "ssl.client.auth");
    if (auth) {
        if (strcmp(auth, "none") == 0) {
            conf->ssl_client_auth = SNET_CLIENT_AUTH_NONE;
        } else if (strcmp(auth, "requested") == 0) {
            conf->ssl_client_auth = SNET_CLIENT_AUTH_REQUESTED;
        } else if (strcmp(auth, "required") == 0) {
            conf->ssl_client_auth = SNET_CLIENT_AUTH_REQUIRED;
        } else {
            snprintf(err, err_len, "ssl.client.auth: expected none, requested or required");
            return SL_EINVAL;
        }
    }
    conf->ssl_keystore_location = brk__dup_opt(props, "ssl.keystore.location");
    conf->ssl_keystore_chain = brk__dup_opt(props, "ssl.keystore.certificate.chain");
    conf->ssl_keystore_key = brk__dup_opt(props, "ssl.keystore.key");
    conf->ssl_key_password = brk__dup_opt(props, "ssl.key.password");
    conf->ssl_truststore = brk__dup_opt(props, "ssl.truststore.location");
    if (!conf->ssl_truststore) {
        conf->ssl_truststore = brk__dup_opt(props, "ssl.truststore.certificates");
    }
    if (conf->ssl_keystore_location && (conf->ssl_keystore_chain || conf->ssl_keystore_key)) {
        snprintf(err, err_len, "ssl.keystore.location and ssl.keystore.certificate.chain/key "
                               "are alternatives: give one");
        return SL_EINVAL;
    }
    if (!conf->ssl_keystore_chain != !conf->ssl_keystore_key) {
        snprintf(err, err_len, "ssl.keystore.certificate.chain and ssl.keystore.key go together");
        return SL_EINVAL;
    }
    return 0;
}

int brk__conf_security(const sl_props_t *props, brk_conf_t *conf, char *err, size_t err_len)
{
    brk__protocol_map = sl_props_get(props, "listener.security.protocol.map");
    const char *v = sl_props_get(props, "listeners");
    int rc = 0;
    if (v) {
        conf->nlisteners = 0;
        rc = brk__each_item(conf, v, brk__listener_item, err, err_len);
        if (rc == 0 && conf->nlisteners == 0) {
            snprintf(err, err_len, "listeners: at least one listener is needed");
            rc = SL_EINVAL;
        }
    } else if (brk__protocol_map && !brk__map_lookup("PLAINTEXT", &conf->listeners[0].proto)) {
        snprintf(err, err_len, "listener.security.protocol.map: no protocol for PLAINTEXT");
        rc = SL_EINVAL;
    }
    brk__protocol_map = NULL;
    v = sl_props_get(props, "advertised.listeners");
    if (rc == 0 && v) {
        rc = brk__each_item(conf, v, brk__advertised_item, err, err_len);
    }
    v = sl_props_get(props, "sasl.enabled.mechanisms");
    if (rc == 0 && v) {
        conf->sasl_mechs = 0;
        rc = brk__each_item(conf, v, brk__mech_item, err, err_len);
    }
    if (rc == 0) {
        rc = brk__conf_ssl(props, conf, err, err_len);
    }
    bool need_sasl = false;
    for (int i = 0; rc == 0 && i < conf->nlisteners; i++) {
        brk_secproto_t p = conf->listeners[i].proto;
        need_sasl |= p == BRK_PROTO_SASL_PLAINTEXT || p == BRK_PROTO_SASL_SSL;
        if ((p == BRK_PROTO_SSL || p == BRK_PROTO_SASL_SSL) && !conf->ssl_keystore_location &&
            !conf->ssl_keystore_chain) {
            snprintf(err, err_len, "listener %s (%s) needs ssl.keystore.location (PEM) or "
                     "ssl.keystore.certificate.chain and ssl.keystore.key",
                     conf->listeners[i].name, brk_proto_name(p));
            rc = SL_EINVAL;
        }
    }
    if (rc == 0 && need_sasl && conf->sasl_mechs == 0) {
        snprintf(err, err_len, "sasl.enabled.mechanisms: a SASL listener needs a mechanism");
        rc = SL_EINVAL;
    }
    if (rc == 0) {
        conf->max_connections = SL_MIN(conf->max_connections, (int64_t)SNET_CONNS_MAX);
        snprintf(conf->listen_host, sizeof conf->listen_host, "%s", conf->listeners[0].host);
        conf->listen_port = conf->listeners[0].port;
    }
    return rc;
}
