#include "cmuduo/base/timestamp.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

static mu_timestamp_t read_clock(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (mu_timestamp_t){(int64_t)ts.tv_sec * MU_MICROS_PER_SECOND + ts.tv_nsec / 1000};
}

mu_timestamp_t mu_timestamp_now(void) {
  return read_clock(CLOCK_REALTIME);
}

mu_timestamp_t mu_timestamp_mono_now(void) {
  return read_clock(CLOCK_MONOTONIC);
}

/* Converting a double outside int64's range is undefined (x86 gives
 * INT64_MIN: a huge delay became a time in the far past), and so is an
 * overflowing sum: both saturate instead. A delay beyond int64 is added in
 * double, since clamping it first would let a timestamp of the other sign
 * pull the sum back into range (INT64_MIN + 1e300 s would be -1 us). */
mu_timestamp_t mu_timestamp_add_seconds(mu_timestamp_t t, double seconds) {
  double us = seconds * (double)MU_MICROS_PER_SECOND;
  if (isnan(us))
    return t;
  const double two63 = 9223372036854775808.0;
  if (us >= two63 || us <= -two63) {
    double sum = (double)t.us + us;
    if (sum >= two63)
      return (mu_timestamp_t){INT64_MAX};
    if (sum <= -two63)
      return (mu_timestamp_t){INT64_MIN};
    return (mu_timestamp_t){(int64_t)llround(sum)};
  }
  int64_t d = (int64_t)llround(us);
  int64_t sum;
  if (__builtin_add_overflow(t.us, d, &sum))
    sum = d > 0 ? INT64_MAX : INT64_MIN;
  return (mu_timestamp_t){sum};
}

char *mu_timestamp_to_string(mu_timestamp_t t, char *buf, size_t len) {
  int64_t sec = t.us / MU_MICROS_PER_SECOND;
  int64_t frac = t.us % MU_MICROS_PER_SECOND;
  if (frac < 0) { /* keep the fraction positive for times before the epoch */
    frac += MU_MICROS_PER_SECOND;
    sec -= 1;
  }
  snprintf(buf, len, "%" PRId64 ".%06" PRId64, sec, frac);
  return buf;
}

char *mu_timestamp_to_formatted_string(mu_timestamp_t t, bool show_micros, char *buf,
                                       size_t len) {
  time_t sec = (time_t)(t.us / MU_MICROS_PER_SECOND);
  int micros = (int)(t.us % MU_MICROS_PER_SECOND);
  if (micros < 0) { /* before the epoch: the second below, a positive fraction */
    micros += (int)MU_MICROS_PER_SECOND;
    sec -= 1;
  }
  struct tm tm;
  gmtime_r(&sec, &tm);
  if (show_micros) {
    snprintf(buf, len, "%4d%02d%02d %02d:%02d:%02d.%06d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  } else {
    snprintf(buf, len, "%4d%02d%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return buf;
}
