/* Review of timestamp.h: mu_timestamp_add_seconds promises "a result past
 * int64's range saturates (a huge delay is the far future, never the past)".
 * It clamped the delay to int64 first and then added with an overflow check,
 * so a delay beyond int64 added to a timestamp of the other sign did not
 * overflow and was not saturated: INT64_MIN + 1e300 s gave -1 us (the past,
 * for a huge delay), INT64_MAX - 1e19 s gave -1, and now - 1e300 s gave
 * INT64_MIN + now. Sums that land back inside the range must stay exact. */
#include "cmuduo/cmuduo.h"
#include "test_util.h"

static void check_add(int64_t t, double seconds, int64_t want) {
  int64_t got = mu_timestamp_add_seconds(mu_timestamp_from_us(t), seconds).us;
  printf("  %" PRId64 " us + %g s = %" PRId64 " (want %" PRId64 ")\n", t, seconds, got,
         want);
  CHECK_EQ(got, want);
}

int main(void) {
  test_time_limit(30);
  /* Huge delays, either sign, from either extreme or from an ordinary time. */
  check_add(INT64_MIN, 1e300, INT64_MAX);
  check_add(INT64_MIN, 1e19, INT64_MAX);
  check_add(INT64_MAX, -1e300, INT64_MIN);
  check_add(INT64_MAX, -1e19, INT64_MIN);
  check_add(1000, -1e300, INT64_MIN);
  check_add(-1000, 1e300, INT64_MAX);
  check_add(INT64_C(1764042259123456), 1.0 / 0.0, INT64_MAX);
  check_add(INT64_C(1764042259123456), -1.0 / 0.0, INT64_MIN);
  /* In range again: t = 2^62, delay -2^63 us (exact in double) is -2^62. */
  check_add(INT64_C(1) << 62, -9223372036854.775808, -(INT64_C(1) << 62));
  check_add(-(INT64_C(1) << 62), 9223372036854.775808, INT64_C(1) << 62);
  /* Ordinary sums and ordinary overflow, as before. */
  check_add(INT64_MAX - 5, 1.0, INT64_MAX);
  check_add(INT64_MIN + 5, -1.0, INT64_MIN);
  check_add(INT64_C(1764042259123456), -0.000001, INT64_C(1764042259123455));
  check_add(0, 0.0000005, 1); /* rounded to the nearest microsecond */
  TEST_PASS("base_review_timestamp_add_saturation");
}
