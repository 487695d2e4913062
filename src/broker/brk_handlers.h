/* Handlers of the APIs whose modules have no header of their own (dispatch.c's table). */
#ifndef BRK_HANDLERS_H
#define BRK_HANDLERS_H

#include "brk_req.h"

/* Each takes ownership of req and completes it exactly once. */
void brk_handle_api_versions(brk_req_t *req);
void brk_handle_metadata(brk_req_t *req);
void brk_handle_produce(brk_req_t *req);
void brk_handle_list_offsets(brk_req_t *req);
void brk_handle_delete_records(brk_req_t *req);
void brk_handle_create_topics(brk_req_t *req);
void brk_handle_delete_topics(brk_req_t *req);
void brk_handle_create_partitions(brk_req_t *req);
void brk_handle_describe_configs(brk_req_t *req);
void brk_handle_incremental_alter_configs(brk_req_t *req);
void brk_handle_alter_configs(brk_req_t *req);
void brk_handle_init_producer_id(brk_req_t *req);
void brk_handle_describe_producers(brk_req_t *req);

#endif
