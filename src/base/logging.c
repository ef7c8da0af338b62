#include "cmuduo/base/logging.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmuduo/base/current_thread.h"
#include "cmuduo/base/timestamp.h"

#define MU_LOG_LINE_MAX 4096

/* Process-wide configuration (see logging.h). Atomics so that changing the
 * level while other threads log is well defined. */
static _Atomic int g_level = MU_LOG_LEVEL_INFO;
static _Atomic(mu_log_output_fn) g_output;
static _Atomic(void *) g_output_arg;
static _Atomic(mu_log_flush_fn) g_flush;
static _Atomic(void *) g_flush_arg;

/* Per-thread caches: the formatted second, and the strerror text. */
static __thread int64_t t_cached_second = -1;
static __thread char t_time_prefix[32];
static __thread char t_errbuf[128];

static const char *const k_level_names[MU_LOG_LEVEL_COUNT] = {
    "TRACE ", "DEBUG ", "INFO  ", "WARN  ", "ERROR ", "FATAL ",
};

int mu_log_level_parse(const char *text) {
  if (text == NULL) return -1;
  for (int i = 0; i < MU_LOG_LEVEL_COUNT; ++i) {
    size_t n = strcspn(k_level_names[i], " ");
    if (strlen(text) == n && strncasecmp(text, k_level_names[i], n) == 0) return i;
  }
  if (text[0] >= '0' && text[0] < '0' + MU_LOG_LEVEL_COUNT && text[1] == '\0') {
    return text[0] - '0';
  }
  return -1;
}

__attribute__((constructor)) static void read_level_from_env(void) {
  int level = mu_log_level_parse(getenv("MU_LOG_LEVEL"));
  if (level >= 0) atomic_store(&g_level, level);
}

mu_log_level_t mu_log_level(void) {
  return (mu_log_level_t)atomic_load_explicit(&g_level, memory_order_relaxed);
}

void mu_log_set_level(mu_log_level_t level) {
  if ((int)level >= 0 && level < MU_LOG_LEVEL_COUNT) atomic_store(&g_level, (int)level);
}

void mu_log_set_output(mu_log_output_fn fn, void *arg) {
  atomic_store(&g_output_arg, arg);
  atomic_store(&g_output, fn);
}

void mu_log_set_flush(mu_log_flush_fn fn, void *arg) {
  atomic_store(&g_flush_arg, arg);
  atomic_store(&g_flush, fn);
}

void mu_log_flush(void) {
  mu_log_flush_fn fn = atomic_load(&g_flush);
  if (fn) {
    fn(atomic_load(&g_flush_arg));
  } else {
    fflush(stdout);
  }
}

const char *mu_strerror_tl(int errnum) {
  return strerror_r(errnum, t_errbuf, sizeof t_errbuf);
}

/* Writes `value` as exactly `width` decimal digits (zero padded). */
static void put_digits(char *out, int value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = (char)('0' + value % 10);
    value /= 10;
  }
}

/* Writes "YYYYmmdd HH:MM:SS.uuuuuuZ " into out (26 bytes), reformatting the
 * date part only when the second changes. */
static size_t format_time(char *out) {
  mu_timestamp_t now = mu_timestamp_now();
  int64_t sec = now.us / MU_MICROS_PER_SECOND;
  int micros = (int)(now.us % MU_MICROS_PER_SECOND);
  if (sec != t_cached_second) {
    t_cached_second = sec;
    time_t s = (time_t)sec;
    struct tm tm;
    gmtime_r(&s, &tm);
    put_digits(t_time_prefix, tm.tm_year + 1900, 4);
    put_digits(t_time_prefix + 4, tm.tm_mon + 1, 2);
    put_digits(t_time_prefix + 6, tm.tm_mday, 2);
    t_time_prefix[8] = ' ';
    put_digits(t_time_prefix + 9, tm.tm_hour, 2);
    t_time_prefix[11] = ':';
    put_digits(t_time_prefix + 12, tm.tm_min, 2);
    t_time_prefix[14] = ':';
    put_digits(t_time_prefix + 15, tm.tm_sec, 2);
  }
  memcpy(out, t_time_prefix, 17);
  out[17] = '.';
  put_digits(out + 18, micros, 6);
  out[24] = 'Z';
  out[25] = ' ';
  return 26;
}

static void deliver(const char *line, size_t len) {
  mu_log_output_fn fn = atomic_load_explicit(&g_output, memory_order_acquire);
  if (fn) {
    fn(line, len, atomic_load(&g_output_arg));
  } else {
    /* Flushed per line: a server killed by a signal must not lose buffered
     * lines. The async back end is the fast path. */
    fwrite(line, 1, len, stdout);
    fflush(stdout);
  }
}

/* vsnprintf at buf[*n], clamped so *n never passes cap - 1. */
static void append_v(char *buf, size_t *n, size_t cap, const char *fmt, va_list ap) {
  if (*n + 1 >= cap) return;
  int w = vsnprintf(buf + *n, cap - *n, fmt, ap);
  if (w > 0) *n += (size_t)w < cap - *n ? (size_t)w : cap - *n - 1;
}

__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t *n, size_t cap,
                                                          const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  append_v(buf, n, cap, fmt, ap);
  va_end(ap);
}

static size_t format_line(char *buf, mu_log_level_t level, const char *file, int line,
                          const char *func, int errnum, const char *fmt, va_list ap) {
  const size_t cap = MU_LOG_LINE_MAX - 64; /* room for the " - file:line\n" tail */
  size_t n = format_time(buf);
  memcpy(buf + n, mu_current_thread_tid_string(), 6);
  n += 6;
  buf[n++] = ' ';
  memcpy(buf + n, k_level_names[level], 6);
  n += 6;
  if (level <= MU_LOG_LEVEL_DEBUG) append(buf, &n, cap, "%s ", func);
  append_v(buf, &n, cap, fmt, ap);
  if (errnum != 0) append(buf, &n, cap, ": %s (errno=%d)", mu_strerror_tl(errnum), errnum);
  if (n >= cap - 1) memcpy(buf + cap - 4, "...", 3); /* cut: say so */
  append(buf, &n, MU_LOG_LINE_MAX, " - %.40s:%d\n", file, line);
  return n;
}

void mu_log_write(mu_log_level_t level, const char *file, int line, const char *func,
                  int errnum, const char *fmt, ...) {
  char buf[MU_LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  size_t len = format_line(buf, level, file, line, func, errnum, fmt, ap);
  va_end(ap);
  deliver(buf, len);
  if (level == MU_LOG_LEVEL_FATAL) {
    mu_log_flush();
    abort();
  }
}

void mu_log_fatal(const char *file, int line, const char *func, int errnum,
                  const char *fmt, ...) {
  char buf[MU_LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  size_t len = format_line(buf, MU_LOG_LEVEL_FATAL, file, line, func, errnum, fmt, ap);
  va_end(ap);
  deliver(buf, len);
  mu_log_flush();
  abort();
}
