/* Asynchronous logging back end (muduo's AsyncLogging): a log call never waits
 * for the disk.
 *
 *   // One call at start-up: MU_LOG_* lines now go to /var/log/app/echo.*.log
 *   mu_async_logging_t *al = mu_async_logging_setup("/var/log/app/echo", NULL);
 *   ...
 *   mu_async_logging_free(al);   // at the end (stops, flushes, restores stdout)
 *
 * How it works. The front end appends each line to the current buffer under a
 * short lock (a memcpy). A full buffer joins a queue and wakes the back-end
 * thread, which also wakes every flush_interval. The back end swaps the whole
 * queue (and the current buffer) out under the lock and writes it without the
 * lock, to a rolling mu_log_file or to a sink of your own. Written buffers are
 * recycled, so a logger in a steady state allocates nothing.
 *
 * Overload. When max_queued_buffers full buffers are already waiting, further
 * lines are dropped until the back end catches up, and the back end then
 * writes, in their place, one ERROR line saying how many lines and bytes were
 * dropped (also printed on stderr). Nothing is dropped silently; memory stays
 * bounded.
 *
 * Running or not. Between mu_async_logging_start and mu_async_logging_stop,
 * lines are buffered. Before start and after stop (the fallback), append writes
 * each line straight to the sink and flushes it, under the lock: slower, but
 * nothing is lost, so stop is safe while other threads still log.
 *
 * Nothing lost at the end:
 *  - stop writes and flushes every line appended before it returns;
 *  - mu_async_logging_flush (the front end's flush hook, which FATAL calls
 *    before abort()) waits until every line appended before it is written and
 *    flushed, for at most 10 seconds. Called from the back-end thread itself
 *    (a sink that logs FATAL) it does not wait for itself but writes everything
 *    not yet written directly; called from inside the logger's own locked
 *    section (a sink that logs FATAL while it writes under the lock: in the
 *    fallback, or in stop's final pass) it does not lock again. So a FATAL
 *    cannot deadlock the logger. A line logged from inside that locked section
 *    cannot enter the busy logger and goes to stderr;
 *  - at normal process exit (exit() or return from main), the logger installed
 *    in the front end is stopped by an atexit handler, even if the program never
 *    called stop; lines other threads log after that go through the fallback.
 *
 * Process-wide state: mu_async_logging_install makes the logger the front end's
 * output and flush (mu_log_set_output / mu_log_set_flush) and the one the atexit
 * handler stops. There is no other global state.
 *
 * fork: a child process must not use its parent's logger (its back-end thread
 * does not exist in the child); the atexit handler does nothing in a child.
 *
 * Thread-safety: append, flush, stop and the statistics are thread-safe; start
 * and install once, from one thread. free must not run while another thread
 * may still call into the logger (for the installed logger: while another
 * thread may still log); a server frees its loops and threads first.
 */
#ifndef CMUDUO_BASE_ASYNC_LOGGING_H
#define CMUDUO_BASE_ASYNC_LOGGING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_async_logging mu_async_logging_t;

/* A sink other than a log file: receives whole lines, many at a time, from one
 * thread at a time (the back end's, or an appender's under the fallback). */
typedef void (*mu_async_logging_write_fn)(const char *data, size_t len, void *arg);
typedef void (*mu_async_logging_flush_fn)(void *arg);

typedef struct mu_async_logging_options {
  size_t buffer_size;        /* bytes per buffer; default 4 MiB, at least 8 KiB */
  double flush_interval;     /* seconds the back end sleeps at most; default 3 */
  size_t max_queued_buffers; /* full buffers waiting before lines drop; default 16 */
  size_t roll_size;          /* the log file's roll size; default 1 GiB */
  /* Optional: write here instead of a log file (the basename is then unused). */
  mu_async_logging_write_fn sink_write;
  mu_async_logging_flush_fn sink_flush; /* may be NULL */
  void *sink_arg;
} mu_async_logging_options_t;

/* Fills `o` with the defaults. */
void mu_async_logging_options_init(mu_async_logging_options_t *o);

/* A stopped logger writing to a mu_log_file named after `basename` (see
 * log_file.h), or to opts->sink_write. `opts` may be NULL. Returns NULL and sets
 * errno if the file cannot be created or memory is short. */
mu_async_logging_t *mu_async_logging_new(const char *basename,
                                         const mu_async_logging_options_t *opts);

/* Starts the back-end thread. Returns 0, -EALREADY if it was started before
 * (a stopped logger does not restart), or a negative errno from pthread_create. */
int mu_async_logging_start(mu_async_logging_t *al);

/* Appends one or more whole lines (`len` bytes; cut to buffer_size if longer).
 * Never waits for I/O while running. Thread-safe. */
void mu_async_logging_append(mu_async_logging_t *al, const char *data, size_t len);

/* Waits until every line appended before the call is written and flushed.
 * Returns 0, or -ETIMEDOUT after 10 s (a back end stuck in a write). */
int mu_async_logging_flush(mu_async_logging_t *al);

/* Writes everything, flushes and joins the back-end thread; later appends take
 * the fallback. Idempotent; thread-safe. */
void mu_async_logging_stop(mu_async_logging_t *al);

/* Uninstalls the logger if installed, stops it, closes its file, frees it.
 * NULL is ignored. */
void mu_async_logging_free(mu_async_logging_t *al);

/* Makes `al` the front end's output and flush, and the logger stopped at exit.
 * A later install replaces it. */
void mu_async_logging_install(mu_async_logging_t *al);

/* new + start + install: the one call at start-up. Returns NULL (errno set) on
 * failure, leaving the front end as it was. */
mu_async_logging_t *mu_async_logging_setup(const char *basename,
                                           const mu_async_logging_options_t *opts);

/* Lines and bytes dropped so far because the back end fell behind. */
uint64_t mu_async_logging_dropped_lines(mu_async_logging_t *al);
uint64_t mu_async_logging_dropped_bytes(mu_async_logging_t *al);

/* The front-end hooks themselves, for programs that manage the hooks: `arg` is
 * the logger. A NULL arg writes to stdout (the front end's default). */
void mu_async_logging_output(const char *line, size_t len, void *arg);
void mu_async_logging_flush_output(void *arg);

#ifdef __cplusplus
}
#endif
#endif
