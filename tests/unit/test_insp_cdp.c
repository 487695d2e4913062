/* Unit tests of the CDP pipe client (insp_cdp.h): NUL framing, replies matched by id, events
 * queued while a call waits, time-outs and a closed browser. The "browser" is a pair of pipes. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "insp_cdp.h"
#include "sl_common.h"
#include "sl_time.h"
#include "sl_test.h"

typedef struct {
    insp_cdp_t *cdp;
    int to_client; /* we write what the browser would send */
    int from_client; /* we read what the client sent */
} fake_t;

static void fake_open(fake_t *f)
{
    int a[2], b[2];
    SL_ASSERT(pipe2(a, O_CLOEXEC) == 0 && pipe2(b, O_CLOEXEC) == 0);
    f->cdp = insp_cdp_open_fds(a[1], b[0]);
    f->from_client = a[0];
    f->to_client = b[1];
}

static void fake_close(fake_t *f)
{
    insp_cdp_free(f->cdp);
    close(f->from_client);
    if (f->to_client >= 0) {
        close(f->to_client);
    }
}

static void fake_send(fake_t *f, const char *json)
{
    SL_ASSERT(write(f->to_client, json, strlen(json) + 1) == (ssize_t)strlen(json) + 1);
}

TEST(test_frame_len_finds_the_nul)
{
    ASSERT_EQ(insp_cdp_frame_len("{}\0{", 4), 2);
    ASSERT_EQ(insp_cdp_frame_len("{\"a\":1}", 7), -1);
    ASSERT_EQ(insp_cdp_frame_len("\0", 1), 0);
}

TEST(test_call_sends_one_frame_and_gets_its_reply_queueing_events)
{
    fake_t f;
    fake_open(&f);
    /* The reply to id 1 arrives after an event and a stale reply, split across writes. */
    fake_send(&f, "{\"method\":\"Page.loadEventFired\",\"sessionId\":\"S\",\"params\":{}}");
    fake_send(&f, "{\"id\":99,\"result\":{}}");
    fake_send(&f, "{\"id\":1,\"result\":{\"product\":\"Chrome\"}}");
    json_t *res = NULL;
    char err[INSP_CDP_ERR_BYTES];
    int rc = insp_cdp_call(f.cdp, "S", "Browser.getVersion", json_object(),
                           sl_time_mono_ms() + 2000, &res, err, sizeof(err));
    ASSERT_EQ(rc, 0);
    ASSERT_STREQ(json_string_value(json_object_get(res, "product")), "Chrome");
    json_decref(res);
    char sent[512] = {0};
    ssize_t n = read(f.from_client, sent, sizeof(sent) - 1);
    ASSERT_TRUE(n > 0 && sent[n - 1] == 0);
    json_t *req = json_loads(sent, 0, NULL);
    ASSERT_EQ(json_integer_value(json_object_get(req, "id")), 1);
    ASSERT_STREQ(json_string_value(json_object_get(req, "method")), "Browser.getVersion");
    ASSERT_STREQ(json_string_value(json_object_get(req, "sessionId")), "S");
    json_decref(req);
    json_t *ev = NULL;
    ASSERT_EQ(insp_cdp_event(f.cdp, sl_time_mono_ms() + 100, &ev), 0);
    ASSERT_STREQ(json_string_value(json_object_get(ev, "method")), "Page.loadEventFired");
    json_decref(ev);
    fake_close(&f);
}

TEST(test_protocol_error_is_reported_with_its_message)
{
    fake_t f;
    fake_open(&f);
    fake_send(&f, "{\"id\":1,\"error\":{\"code\":-32000,\"message\":\"No target\"}}");
    json_t *res = NULL;
    char err[INSP_CDP_ERR_BYTES] = "";
    ASSERT_EQ(insp_cdp_call(f.cdp, NULL, "Target.closeTarget", NULL, sl_time_mono_ms() + 2000,
                            &res, err, sizeof(err)),
              SL_EINVAL);
    ASSERT_STREQ(err, "Target.closeTarget: No target");
    fake_close(&f);
}

TEST(test_silent_browser_times_out_and_closed_one_is_closed)
{
    fake_t f;
    fake_open(&f);
    json_t *res = NULL, *ev = NULL;
    char err[INSP_CDP_ERR_BYTES];
    int64_t t0 = sl_time_mono_ms();
    ASSERT_EQ(insp_cdp_call(f.cdp, NULL, "Page.enable", NULL, t0 + 100, &res, err, sizeof(err)),
              -ETIMEDOUT);
    ASSERT_TRUE(sl_time_mono_ms() - t0 >= 100);
    ASSERT_EQ(insp_cdp_event(f.cdp, sl_time_mono_ms() + 50, &ev), -ETIMEDOUT);
    close(f.to_client);
    f.to_client = -1;
    ASSERT_EQ(insp_cdp_event(f.cdp, sl_time_mono_ms() + 1000, &ev), SL_ECLOSED);
    fake_close(&f);
}

int main(void)
{
    RUN(test_frame_len_finds_the_nul);
    RUN(test_call_sends_one_frame_and_gets_its_reply_queueing_events);
    RUN(test_protocol_error_is_reported_with_its_message);
    RUN(test_silent_browser_times_out_and_closed_one_is_closed);
    TEST_MAIN_END();
}
