/* placeholder until the layer has sources */
typedef int sl_log_placeholder_t;
