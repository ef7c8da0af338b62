/* Timestamps in microseconds.
 *
 * Two clocks, never mixed:
 *  - mu_timestamp_now(): the wall clock (CLOCK_REALTIME), microseconds since the
 *    Unix epoch. For log lines and for showing a time to a person.
 *  - mu_timestamp_mono_now(): CLOCK_MONOTONIC, microseconds since an unspecified
 *    start. For deadlines, timers, timeouts and the loop's poll return time: it
 *    never jumps when the wall clock is set.
 *
 * A value type; every function is thread-safe.
 */
#ifndef CMUDUO_BASE_TIMESTAMP_H
#define CMUDUO_BASE_TIMESTAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_timestamp {
  int64_t us; /* microseconds; 0 or negative means invalid */
} mu_timestamp_t;

#define MU_MICROS_PER_SECOND INT64_C(1000000)

/* Buffer size that always fits the formatted strings below. */
#define MU_TIMESTAMP_STRLEN 32

mu_timestamp_t mu_timestamp_now(void);
mu_timestamp_t mu_timestamp_mono_now(void);

static inline mu_timestamp_t mu_timestamp_from_us(int64_t us) {
  return (mu_timestamp_t){us};
}
static inline mu_timestamp_t mu_timestamp_invalid(void) {
  return (mu_timestamp_t){0};
}
static inline bool mu_timestamp_valid(mu_timestamp_t t) {
  return t.us > 0;
}
/* Adds `seconds` (may be fractional or negative), rounded to the microsecond.
 * A result past int64's range saturates (a huge delay is the far future, never
 * the past); NaN adds nothing. */
mu_timestamp_t mu_timestamp_add_seconds(mu_timestamp_t t, double seconds);
/* high - low, in seconds; exact to the microsecond while the difference fits
 * int64, and of the right sign and size beyond (saturated timestamps). */
static inline double mu_timestamp_diff_seconds(mu_timestamp_t high, mu_timestamp_t low) {
  int64_t d;
  /* The int64 subtraction would overflow: the doubles' cannot. */
  if (__builtin_sub_overflow(high.us, low.us, &d))
    return ((double)high.us - (double)low.us) / (double)MU_MICROS_PER_SECOND;
  return (double)d / (double)MU_MICROS_PER_SECOND;
}
static inline int mu_timestamp_compare(mu_timestamp_t a, mu_timestamp_t b) {
  return (a.us > b.us) - (a.us < b.us);
}

/* "seconds.micros", e.g. "1764042259.123456" (muduo's Timestamp::toString).
 * Writes at most `len` bytes including the NUL; returns `buf`. */
char *mu_timestamp_to_string(mu_timestamp_t t, char *buf, size_t len);
/* Wall-clock UTC "20261125 03:44:19.123456" (or without ".micros" when
 * show_micros is false), muduo's Timestamp::toFormattedString. Only meaningful
 * for wall-clock timestamps. Returns `buf`. */
char *mu_timestamp_to_formatted_string(mu_timestamp_t t, bool show_micros, char *buf,
                                       size_t len);

#ifdef __cplusplus
}
#endif
#endif
