/* Clocks. Thread: any. */
#ifndef SL_TIME_H
#define SL_TIME_H
#include <stdint.h>

/* Wall clock in milliseconds since the epoch (Kafka timestamps). */
int64_t sl_time_wall_ms(void);
/* Monotonic clock in milliseconds / microseconds (timeouts, latencies). */
int64_t sl_time_mono_ms(void);
int64_t sl_time_mono_us(void);

#endif
