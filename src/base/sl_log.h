/* Logging: one line per event to stderr, "2026-11-23T00:00:00.000Z LEVEL [module] message".
 * Thread: any (each line is written with a single write(2)). */
#ifndef SL_LOG_H
#define SL_LOG_H

typedef enum { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR } sl_log_level_t;

void sl_log_set_level(sl_log_level_t level);
/* Parses "debug|info|warn|error"; returns false on an unknown name. */
bool sl_log_parse_level(const char *name, sl_log_level_t *out);
void sl_log(sl_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SL_LOGD(mod, ...) sl_log(SL_LOG_DEBUG, mod, __VA_ARGS__)
#define SL_LOGI(mod, ...) sl_log(SL_LOG_INFO, mod, __VA_ARGS__)
#define SL_LOGW(mod, ...) sl_log(SL_LOG_WARN, mod, __VA_ARGS__)
#define SL_LOGE(mod, ...) sl_log(SL_LOG_ERROR, mod, __VA_ARGS__)

#endif
