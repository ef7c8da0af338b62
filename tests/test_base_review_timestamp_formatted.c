/* Review of timestamp.h: mu_timestamp_to_formatted_string of a time before
 * the epoch printed a negative microsecond field ("...00:00:00.-00001") and the
 * second after the right one, where mu_timestamp_to_string keeps the fraction
 * positive ("-1.999999"). A wall-clock time of -1 us is 23:59:59.999999 on
 * 1969-12-31; the extremes must still fit MU_TIMESTAMP_STRLEN with a 6-digit
 * fraction. */
#include "cmuduo/cmuduo.h"
#include "test_util.h"

static void check_formatted(int64_t us, const char *with, const char *without) {
  char buf[MU_TIMESTAMP_STRLEN];
  mu_timestamp_to_formatted_string(mu_timestamp_from_us(us), true, buf, sizeof buf);
  printf("  formatted(%" PRId64 ") = \"%s\"\n", us, buf);
  CHECK_STREQ(buf, with);
  mu_timestamp_to_formatted_string(mu_timestamp_from_us(us), false, buf, sizeof buf);
  CHECK_STREQ(buf, without);
}

static void test_formatted_before_epoch(void) {
  check_formatted(-1, "19691231 23:59:59.999999", "19691231 23:59:59");
  check_formatted(-1500000, "19691231 23:59:58.500000", "19691231 23:59:58");
  check_formatted(-2000000, "19691231 23:59:58.000000", "19691231 23:59:58");
  check_formatted(-86400 * MU_MICROS_PER_SECOND, "19691231 00:00:00.000000",
                  "19691231 00:00:00");
  /* The extremes: whatever the text, a positive fraction of 6 digits, and it
   * fits the documented size without being cut. */
  int64_t ext[] = {INT64_MIN, INT64_MIN + 1, INT64_MAX};
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; ++i) {
    char buf[MU_TIMESTAMP_STRLEN + 8];
    mu_timestamp_to_formatted_string(mu_timestamp_from_us(ext[i]), true, buf, sizeof buf);
    printf("  formatted(%" PRId64 ") = \"%s\"\n", ext[i], buf);
    CHECK(strlen(buf) < MU_TIMESTAMP_STRLEN);
    const char *dot = strrchr(buf, '.');
    CHECK(dot != NULL && strlen(dot + 1) == 6);
    CHECK(strspn(dot + 1, "0123456789") == 6);
  }
}

int main(void) {
  test_time_limit(30);
  test_formatted_before_epoch();
  TEST_PASS("base_review_timestamp_formatted");
}
