#include "cmuduo/base/logging.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
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
  if (text == NULL)
    return -1;
  for (int i = 0; i < MU_LOG_LEVEL_COUNT; ++i) {
    size_t n = strcspn(k_level_names[i], " ");
    if (strlen(text) == n && strncasecmp(text, k_level_names[i], n) == 0)
      return i;
  }
  if (text[0] >= '0' && text[0] < '0' + MU_LOG_LEVEL_COUNT && text[1] == '\0') {
    return text[0] - '0';
  }
  return -1;
}

__attribute__((constructor)) static void read_level_from_env(void) {
  int level = mu_log_level_parse(getenv("MU_LOG_LEVEL"));
  if (level >= 0)
    atomic_store(&g_level, level);
}

mu_log_level_t mu_log_level(void) {
  return (mu_log_level_t)atomic_load_explicit(&g_level, memory_order_relaxed);
}

void mu_log_set_level(mu_log_level_t level) {
  if ((int)level >= 0 && level < MU_LOG_LEVEL_COUNT)
    atomic_store(&g_level, (int)level);
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
  if (*n + 1 >= cap)
    return;
  int w = vsnprintf(buf + *n, cap - *n, fmt, ap);
  if (w > 0)
    *n += (size_t)w < cap - *n ? (size_t)w : cap - *n - 1;
}

__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t *n, size_t cap,
                                                         const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  append_v(buf, n, cap, fmt, ap);
  va_end(ap);
}

/* ---- the fast path of the message format ---------------------------------
 * vsnprintf costs more than everything else a log call does, so the common
 * conversions are done here, with vsnprintf's output and truncation: %d %i %u
 * %x %s %c %p %% with the length modifiers l, ll, z and j. Anything else (flags,
 * width, precision, floating point, %n) makes format_fast give up, and the
 * caller formats the message again with vsnprintf. */

static const char k_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits of v, written backwards ending at `end`; returns the start. */
static char *u64_to_dec(char *end, uint64_t v) {
  while (v >= 100) {
    unsigned r = (unsigned)(v % 100);
    v /= 100;
    end -= 2;
    memcpy(end, k_digit_pairs + 2 * r, 2);
  }
  if (v >= 10) {
    end -= 2;
    memcpy(end, k_digit_pairs + 2 * v, 2);
  } else {
    *--end = (char)('0' + v);
  }
  return end;
}

static char *u64_to_hex(char *end, uint64_t v) {
  do {
    *--end = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  return end;
}

/* Copies what fits of src[0..len) so that *n stays below cap. */
static inline void put(char *buf, size_t *n, size_t cap, const char *src, size_t len) {
  size_t room = cap - 1 - *n;
  if (len > room)
    len = room;
  memcpy(buf + *n, src, len);
  *n += len;
}

enum { LEN_INT, LEN_LONG, LEN_LLONG, LEN_SIZE, LEN_MAX };

static int64_t signed_arg(int len, va_list *ap) {
  switch (len) {
    case LEN_LONG:
      return va_arg(*ap, long);
    case LEN_LLONG:
      return va_arg(*ap, long long);
    case LEN_SIZE:
      return va_arg(*ap, ssize_t);
    case LEN_MAX:
      return va_arg(*ap, intmax_t);
    default:
      return va_arg(*ap, int);
  }
}

static uint64_t unsigned_arg(int len, va_list *ap) {
  switch (len) {
    case LEN_LONG:
      return va_arg(*ap, unsigned long);
    case LEN_LLONG:
      return va_arg(*ap, unsigned long long);
    case LEN_SIZE:
      return va_arg(*ap, size_t);
    case LEN_MAX:
      return va_arg(*ap, uintmax_t);
    default:
      return va_arg(*ap, unsigned);
  }
}

/* Reads a length modifier at *p; advances past it. */
static int length_modifier(const char **p) {
  const char *s = *p;
  int len = LEN_INT;
  if (s[0] == 'l' && s[1] == 'l') {
    len = LEN_LLONG;
    s += 2;
  } else if (s[0] == 'l') {
    len = LEN_LONG;
    s++;
  } else if (s[0] == 'z') {
    len = LEN_SIZE;
    s++;
  } else if (s[0] == 'j') {
    len = LEN_MAX;
    s++;
  }
  *p = s;
  return len;
}

/* One conversion `c` (after its length modifier); false if not handled here. */
static bool convert(char *buf, size_t *n, size_t cap, char c, int len, va_list *ap) {
  char num[32];
  char *end = num + sizeof num, *start;
  switch (c) {
    case 'd':
    case 'i': {
      int64_t v = signed_arg(len, ap);
      start = u64_to_dec(end, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
      if (v < 0)
        *--start = '-';
      break;
    }
    case 'u':
      start = u64_to_dec(end, unsigned_arg(len, ap));
      break;
    case 'x':
      start = u64_to_hex(end, unsigned_arg(len, ap));
      break;
    case 's': {
      if (len != LEN_INT)
        return false; /* %ls: wide characters */
      const char *str = va_arg(*ap, const char *);
      if (str == NULL)
        str = "(null)";
      put(buf, n, cap, str, strlen(str));
      return true;
    }
    case 'c':
      if (len != LEN_INT)
        return false;
      num[0] = (char)va_arg(*ap, int);
      put(buf, n, cap, num, 1);
      return true;
    case 'p': {
      if (len != LEN_INT)
        return false;
      void *ptr = va_arg(*ap, void *);
      if (ptr == NULL) {
        put(buf, n, cap, "(nil)", 5);
        return true;
      }
      start = u64_to_hex(end, (uint64_t)(uintptr_t)ptr);
      *--start = 'x';
      *--start = '0';
      break;
    }
    case '%':
      if (len != LEN_INT)
        return false;
      put(buf, n, cap, "%", 1);
      return true;
    default:
      return false;
  }
  put(buf, n, cap, start, (size_t)(end - start));
  return true;
}

/* The message at buf[*n]; false (with *n unchanged) if the format needs
 * vsnprintf. Consumes `ap`: the caller passes a copy. */
static bool format_fast(char *buf, size_t *np, size_t cap, const char *fmt, va_list ap) {
  size_t n = *np;
  va_list args;
  va_copy(args, ap);
  bool ok = true;
  for (const char *p = fmt;;) {
    const char *pct = strchrnul(p, '%');
    put(buf, &n, cap, p, (size_t)(pct - p));
    if (*pct == '\0')
      break;
    p = pct + 1;
    int len = length_modifier(&p);
    if (!convert(buf, &n, cap, *p, len, &args)) {
      ok = false;
      break;
    }
    p++;
  }
  va_end(args);
  if (ok)
    *np = n;
  return ok;
}

static void format_message(char *buf, size_t *n, size_t cap, const char *fmt,
                           va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  bool ok = format_fast(buf, n, cap, fmt, copy);
  va_end(copy);
  if (!ok)
    append_v(buf, n, cap, fmt, ap);
}

/* " - file:line\n"; the caller leaves at least 64 bytes for it. */
static size_t put_location(char *out, const char *file, int line) {
  size_t n = 0;
  memcpy(out, " - ", 3);
  n += 3;
  size_t flen = strnlen(file, 40);
  memcpy(out + n, file, flen);
  n += flen;
  out[n++] = ':';
  char num[16];
  char *end = num + sizeof num;
  char *start = u64_to_dec(end, line < 0 ? (uint64_t)0 - (uint64_t)line : (uint64_t)line);
  if (line < 0)
    *--start = '-';
  memcpy(out + n, start, (size_t)(end - start));
  n += (size_t)(end - start);
  out[n++] = '\n';
  return n;
}

static size_t format_line(char *buf, mu_log_level_t level, const char *file, int line,
                          const char *func, int errnum, const char *fmt, va_list ap) {
  /* A line keeps at most keep - 1 bytes before the " - file:line\n" tail. It
   * is formatted with one byte more, so that filling that byte, not merely
   * reaching the limit (a message that fits exactly), is what says "cut". */
  const size_t keep = MU_LOG_LINE_MAX - 64;
  const size_t cap = keep + 1;
  size_t n = format_time(buf);
  /* Width 6, wider for a tid past 999999 (pid_max may be 4194304). */
  const char *tid = mu_current_thread_tid_string();
  size_t tid_len = strlen(tid);
  memcpy(buf + n, tid, tid_len);
  n += tid_len;
  buf[n++] = ' ';
  /* A level outside the enum (a bad call) must not index past the table. */
  bool known = (unsigned)level < MU_LOG_LEVEL_COUNT;
  memcpy(buf + n, known ? k_level_names[level] : "?     ", 6);
  n += 6;
  if ((unsigned)level <= MU_LOG_LEVEL_DEBUG) {
    put(buf, &n, cap, func, strlen(func));
    put(buf, &n, cap, " ", 1);
  }
  format_message(buf, &n, cap, fmt, ap);
  if (errnum != 0)
    append(buf, &n, cap, ": %s (errno=%d)", mu_strerror_tl(errnum), errnum);
  if (n >= keep) { /* cut: say so */
    n = keep - 1;
    memcpy(buf + n - 3, "...", 3);
  }
  return n + put_location(buf + n, file, line);
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
