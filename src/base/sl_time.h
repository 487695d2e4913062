/* Clocks. Thread: any. */
#ifndef SL_TIME_H
#define SL_TIME_H
#include <stdbool.h>
#include <stdint.h>

/* Wall clock in milliseconds since the epoch (Kafka timestamps). */
int64_t sl_time_wall_ms(void);
/* Monotonic clock in milliseconds / microseconds (timeouts, latencies). */
int64_t sl_time_mono_ms(void);
int64_t sl_time_mono_us(void);

/* Parses an RFC 3339 date-time (`2026-12-08T09:30:00Z`, `...T09:30:00.250+01:00`; `T` and `Z`
 * in either case, a fraction of 1..9 digits cut to milliseconds, seconds up to 60 for a leap
 * second) into ms since the epoch. False for anything else: other syntax, a field out of range
 * (month 13, February 30, hour 24, an offset past 23:59) or a year outside 1970..9999. */
bool sl_time_parse_rfc3339(const char *s, int64_t *ms_out);

#endif
