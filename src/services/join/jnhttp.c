/* jnhttp: GET /health (200 or 503 with the state, lag and last error as JSON) and GET /metrics
 * (Prometheus text) of `sluice join`, served by kit_http on its own thread. Requests have no
 * body; anything else is 404 or 405. Thread: the kit_http service thread. */
#include "jnsvc_int.h"
#include "kit_http.h"

static char *jnhttp__health(void *user, int *status)
{
    return jnsvc_health_json(user, status);
}

static char *jnhttp__metrics(void *user)
{
    return jnsvc_metrics_text(user);
}

int jnhttp_start(jnsvc_t *svc, jnhttp_t **out, char *err, size_t err_len)
{
    kit_http_cfg_t cfg = {
        .name = "join",
        .listen = svc->cfg->http_listen,
        .methods = KIT_HTTP_GET | KIT_HTTP_POST | KIT_HTTP_DELETE, /* 404 on other paths */
        .user = svc,
        .health = jnhttp__health,
        .metrics = jnhttp__metrics,
    };
    return kit_http_start(&cfg, out, err, err_len);
}

int jnhttp_port(const jnhttp_t *http)
{
    return kit_http_port(http);
}

void jnhttp_stop(jnhttp_t *http)
{
    kit_http_stop(http);
}
