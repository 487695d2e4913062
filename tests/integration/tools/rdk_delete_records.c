/* rd_kafka_DeleteRecords (librdkafka's admin API, what kafka-delete-records.sh and Kafka
 * Streams' repartition purging send) against a broker, for test_kafka_compat.py:
 *   rdk_delete_records BOOTSTRAP TOPIC PARTITION OFFSET
 * prints "<partition> <offset> <error name>" per partition of the result and exits 0, or
 * prints the request's error and exits 1. Bounded: 20 s for the request. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    char err[512];
    if (argc != 5) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC PARTITION OFFSET\n", argv[0]);
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, argv[2], atoi(argv[3]))->offset =
        strtoll(argv[4], NULL, 10);
    rd_kafka_DeleteRecords_t *del = rd_kafka_DeleteRecords_new(offsets);
    rd_kafka_topic_partition_list_destroy(offsets);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETERECORDS);
    rd_kafka_AdminOptions_set_request_timeout(opts, 20000, err, sizeof err);
    rd_kafka_DeleteRecords(rk, &del, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = 1;
    if (!ev) {
        printf("no result within 30 s\n");
    } else if (rd_kafka_event_error(ev)) {
        printf("request error: %s\n", rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_topic_partition_list_t *res =
            rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
        for (int i = 0; res && i < res->cnt; i++) {
            printf("%d %lld %s\n", (int)res->elems[i].partition,
                   (long long)res->elems[i].offset, rd_kafka_err2name(res->elems[i].err));
        }
        rc = 0;
    }
    if (ev) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_DeleteRecords_destroy(del);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
