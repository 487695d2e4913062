/* placeholder until the layer has sources */
typedef int sl_broker_placeholder_t;
