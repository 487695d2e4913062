/* placeholder until the layer has sources */
typedef int sl_net_placeholder_t;
