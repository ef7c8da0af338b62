/* Logging front end.
 *
 *   MU_LOG_INFO("accepted %s", peer);
 *   if (fd < 0) MU_LOG_SYSERR("socket");   // appends the errno text
 *
 * A line looks like
 *   20261125 03:44:19.123456Z  12345 INFO  accepted 127.0.0.1:5000 - acceptor.c:88
 * (UTC wall clock, kernel thread id, level, message, source file:line; TRACE and
 * DEBUG lines also name the function).
 *
 * The level comes from MU_LOG_LEVEL in the environment at start-up (TRACE, DEBUG,
 * INFO, WARN, ERROR, FATAL; default INFO) and can be changed at run time.
 * Output goes to stdout unless an output function is installed (the async back
 * end installs one). FATAL and SYSFATAL flush the output, then abort().
 *
 * Thread-safety: logging calls are thread-safe and each line is delivered to the
 * output function whole, in one call. mu_log_set_level is thread-safe. The output
 * and flush functions are process-wide configuration: install them at start-up or
 * while no other thread logs.
 */
#ifndef CMUDUO_BASE_LOGGING_H
#define CMUDUO_BASE_LOGGING_H

#include <errno.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mu_log_level {
  MU_LOG_LEVEL_TRACE,
  MU_LOG_LEVEL_DEBUG,
  MU_LOG_LEVEL_INFO,
  MU_LOG_LEVEL_WARN,
  MU_LOG_LEVEL_ERROR,
  MU_LOG_LEVEL_FATAL,
  MU_LOG_LEVEL_COUNT
} mu_log_level_t;

/* Receives one whole formatted line (ending in '\n'); `len` excludes any NUL. */
typedef void (*mu_log_output_fn)(const char *line, size_t len, void *arg);
typedef void (*mu_log_flush_fn)(void *arg);

mu_log_level_t mu_log_level(void);
void mu_log_set_level(mu_log_level_t level);
/* Parses "TRACE".."FATAL" (any case) or "0".."5"; returns -1 if not a level. */
int mu_log_level_parse(const char *text);

/* NULL restores the default (stdout / fflush(stdout)). */
void mu_log_set_output(mu_log_output_fn fn, void *arg);
void mu_log_set_flush(mu_log_flush_fn fn, void *arg);
/* Calls the installed flush function. */
void mu_log_flush(void);

/* The machinery behind the macros. errnum != 0 appends its text. A FATAL line
 * flushes and aborts. Lines longer than 4000 bytes are cut and end in "...".
 * A level outside TRACE..FATAL is written with "?" as its name (not filtered,
 * not fatal). */
void mu_log_write(mu_log_level_t level, const char *file, int line, const char *func,
                  int errnum, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
_Noreturn void mu_log_fatal(const char *file, int line, const char *func, int errnum,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* strerror that is safe from any thread (the text lives in thread-local storage
 * until the thread's next call). */
const char *mu_strerror_tl(int errnum);

#ifdef __FILE_NAME__
#define MU_LOG_FILE_ __FILE_NAME__
#else
#define MU_LOG_FILE_ __FILE__
#endif

#define MU_LOG_AT_(lvl, errnum, ...)                                                \
  do {                                                                              \
    if (mu_log_level() <= (lvl))                                                    \
      mu_log_write((lvl), MU_LOG_FILE_, __LINE__, __func__, (errnum), __VA_ARGS__); \
  } while (0)

#define MU_LOG_TRACE(...) MU_LOG_AT_(MU_LOG_LEVEL_TRACE, 0, __VA_ARGS__)
#define MU_LOG_DEBUG(...) MU_LOG_AT_(MU_LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
#define MU_LOG_INFO(...) MU_LOG_AT_(MU_LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define MU_LOG_WARN(...) MU_LOG_AT_(MU_LOG_LEVEL_WARN, 0, __VA_ARGS__)
#define MU_LOG_ERROR(...) MU_LOG_AT_(MU_LOG_LEVEL_ERROR, 0, __VA_ARGS__)
/* Error with the text of the current errno. */
#define MU_LOG_SYSERR(...) MU_LOG_AT_(MU_LOG_LEVEL_ERROR, errno, __VA_ARGS__)
#define MU_LOG_FATAL(...) mu_log_fatal(MU_LOG_FILE_, __LINE__, __func__, 0, __VA_ARGS__)
#define MU_LOG_SYSFATAL(...) \
  mu_log_fatal(MU_LOG_FILE_, __LINE__, __func__, errno, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
