/* Review of timestamp.h at the edges of int64: mu_timestamp_diff_seconds(high,
 * low) is "high - low, in seconds". It subtracted the int64 microsecond counts
 * first, which overflows (undefined; in practice it wraps and flips the sign)
 * once the two are more than 2^63 us apart, exactly what
 * mu_timestamp_add_seconds produces when it saturates: now + (-1e300 s) is
 * INT64_MIN, and "now minus that" came out hugely negative. The difference
 * must keep its sign and size, and ordinary differences stay exact. */
#include <math.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

static void check_diff(int64_t high, int64_t low, double want) {
  double got =
      mu_timestamp_diff_seconds(mu_timestamp_from_us(high), mu_timestamp_from_us(low));
  printf("  diff(%" PRId64 ", %" PRId64 ") = %.6g s (want %.6g)\n", high, low, got, want);
  /* Doubles: exact is not the point at 2^63, the sign and the size are. */
  CHECK((got > 0) == (want > 0) && (got < 0) == (want < 0));
  CHECK(fabs(got - want) <= fabs(want) * 1e-12);
}

static void test_diff_extremes(void) {
  const double max_s = 9223372036854.775807; /* INT64_MAX us in seconds */
  check_diff(INT64_MAX, -1, max_s + 0.000001);
  check_diff(-1, INT64_MAX, -(max_s + 0.000001));
  check_diff(1, INT64_MIN, max_s + 0.000002);
  check_diff(INT64_MAX, INT64_MIN, 2 * max_s + 0.000001);
  check_diff(INT64_MIN, INT64_MAX, -(2 * max_s + 0.000001));
  /* What saturation makes: a deadline in the far past, seen from now. */
  mu_timestamp_t now = mu_timestamp_mono_now();
  mu_timestamp_t past = mu_timestamp_add_seconds(now, -1e300);
  CHECK(past.us < -9 * INT64_C(1000000000000000000)); /* far past, whether exact or not */
  CHECK(mu_timestamp_diff_seconds(now, past) > 9e12);
  CHECK(mu_timestamp_diff_seconds(past, now) < -9e12);
  /* Ordinary values stay exact to the microsecond. */
  CHECK(mu_timestamp_diff_seconds(mu_timestamp_from_us(INT64_C(1764042259123457)),
                                  mu_timestamp_from_us(INT64_C(1764042259123456))) ==
        0.000001);
  CHECK(mu_timestamp_diff_seconds(mu_timestamp_from_us(-3), mu_timestamp_from_us(2)) ==
        -0.000005);
}

int main(void) {
  test_time_limit(30);
  test_diff_extremes();
  TEST_PASS("base_review_timestamp_diff");
}
