/* The transaction coordinator (txn.c) and producer ids (pid.c). Thread: loop. */
#ifndef BRK_TXN_H
#define BRK_TXN_H

#include <stdbool.h>
#include <stdint.h>

#include "brk_req.h"
#include "kerr.h"
#include "sl_buf.h"

/* Loads <data>/transactions and completes transactions left in PrepareCommit/PrepareAbort. */
int brk_txns_open(brk_t *brk, char *err, size_t err_len);
void brk_txns_start(brk_t *brk); /* starts the timeout timer (Thread: loop, in brk_run) */
/* Transactions Ongoing or being completed (PrepareCommit/PrepareAbort), for monitoring. */
int64_t brk_txns_open_count(brk_t *brk);
void brk_txns_close(brk_t *brk);
/* InitProducerId with a transactional id (pid.c hands the request over). */
void brk_txn_init_producer_id(brk_req_t *req);
/* Produce: KERR_NONE when a transactional batch of producer_id/epoch may go to topic-partition
 * (its transaction is ongoing and holds the partition). */
kerr_t brk_txn_check_produce(brk_t *brk, int64_t producer_id, int16_t epoch, kproto_str_t topic,
                             int32_t partition);
/* pid.c: a new producer id, or a negative error. */
int64_t brk_pid_next(brk_t *brk);
void brk_handle_add_partitions_to_txn(brk_req_t *req);
void brk_handle_add_offsets_to_txn(brk_req_t *req);
void brk_handle_end_txn(brk_req_t *req);
void brk_handle_txn_offset_commit(brk_req_t *req);
/* ListTransactions and DescribeTransactions (KIP-664): the coordinator's state, as it is on
 * the loop; DESCRIBE on each transactional id (and on each topic a description names). */
void brk_handle_list_transactions(brk_req_t *req);
void brk_handle_describe_transactions(brk_req_t *req);
/* Loads the text of a transactions file into the state (damaged lines skipped and logged
 * naming path and line). Takes ownership of text (len bytes, NUL-terminated). Returns 0. */
int brk__txn_load_text(brk_t *brk, const char *path, char *text, size_t len);
/* Tests and fuzzing only: loads text (len bytes, anything) into a fresh coordinator state and
 * appends the state file it would write to out (sl_buf_t). Returns 0. */
int brk__txn_check_text(const char *text, size_t len, sl_buf_t *out);

#endif
