/* A log file that rolls (muduo's LogFile).
 *
 *   mu_log_file_t *f = mu_log_file_new("/var/log/app/echo", NULL);
 *   mu_log_file_append(f, line, len);
 *
 * Files are named BASENAME.YYYYmmdd-HHMMSS.HOSTNAME.PID.log, the time being the
 * local time at which the file was opened. BASENAME may contain a directory,
 * which must exist. A new file is started:
 *  - when the current one would pass roll_size bytes: the data is cut at the
 *    last line end ('\n') that still fits, so a line written in one append never
 *    spans two files (a single line longer than roll_size gets a file of its
 *    own);
 *  - when the local calendar day changes (checked every check_every_n appends),
 *    so each file holds one local day, not one UTC day.
 * Two files cannot have the same name, so a roll that falls in the same second as
 * the previous one is postponed: the data goes on into the current file, which
 * may then pass roll_size, until a later second.
 * A roll that fails (the next file cannot be opened: a full disk, a missing
 * directory) keeps the current file, and the data goes on into it as well. The
 * file tries again in a later second of its clock, at most once a second: the
 * clock and the file names count whole seconds, and a disk that stays full
 * then costs one failing open(2) a second instead of one per line
 * (flush_interval may be 0 and check_every_n counts appends, not time, so
 * neither would bound it). mu_log_file_roll is not held back: it always tries.
 *
 * Writes are buffered in user space (64 KiB) and go out when the buffer fills,
 * on mu_log_file_flush, and every flush_interval seconds (checked every
 * check_every_n appends). Appends of 64 KiB or more bypass the buffer. There is
 * no fsync: a flushed line survives the process, not the machine.
 *
 * Errors (a full disk, a file that cannot be opened) are reported on stderr, at
 * most once per error kind in a row, never through the logging front end (which
 * may be writing to this very file); appends report them as a negative errno.
 *
 * Thread-safety: with thread_safe set, every function may be called from any
 * thread. Without it (the async back end's case: one writer thread) calls must
 * not overlap. mu_log_file_free is never concurrent with other calls.
 */
#ifndef CMUDUO_BASE_LOG_FILE_H
#define CMUDUO_BASE_LOG_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_log_file mu_log_file_t;

typedef struct mu_log_file_options {
  size_t roll_size;   /* bytes; default 1 GiB; at least 1 */
  int flush_interval; /* seconds; default 3; 0 flushes at every time check */
  int check_every_n;  /* appends between time checks; default 1024; at least 1 */
  bool thread_safe;   /* default false */
  /* Where the time comes from (seconds since the epoch); NULL means time(NULL).
   * Lets a test move the clock across a day or a second. */
  time_t (*clock)(void *arg);
  void *clock_arg;
} mu_log_file_options_t;

/* Fills `o` with the defaults. */
void mu_log_file_options_init(mu_log_file_options_t *o);

/* Opens the first file. `opts` may be NULL (defaults). Returns NULL and sets
 * errno if the file cannot be created (ENOENT for a missing directory) or
 * memory is short. */
mu_log_file_t *mu_log_file_new(const char *basename, const mu_log_file_options_t *opts);

/* Flushes, closes the file and frees `f`. NULL is ignored. */
void mu_log_file_free(mu_log_file_t *f);

/* Appends `len` bytes, rolling as described above. Returns 0 or a negative
 * errno from write(2); the data that could not be written is lost. */
int mu_log_file_append(mu_log_file_t *f, const char *data, size_t len);

/* Writes the user-space buffer to the file. Returns 0 or a negative errno. */
int mu_log_file_flush(mu_log_file_t *f);

/* Starts a new file now, even if a roll failed earlier in this second.
 * Returns 0, -EAGAIN if a file was already started in this second (the name
 * would repeat), or a negative errno from open(2) (the current file is then
 * kept). */
int mu_log_file_roll(mu_log_file_t *f);

/* The current file's path, copied into buf (NUL-terminated, cut to len).
 * Returns buf. */
char *mu_log_file_path(mu_log_file_t *f, char *buf, size_t len);

/* BASENAME.YYYYmmdd-HHMMSS.HOSTNAME.PID.log for local time `when`, into buf.
 * Returns the length it needs, like snprintf. Thread-safe. */
int mu_log_file_make_name(const char *basename, time_t when, char *buf, size_t len);

/* Hooks for mu_log_set_output / mu_log_set_flush, for synchronous logging to a
 * file: mu_log_set_output(mu_log_file_output, f). `f` should be thread_safe if
 * more than one thread logs. */
void mu_log_file_output(const char *line, size_t len, void *f);
void mu_log_file_flush_output(void *f);

#ifdef __cplusplus
}
#endif
#endif
