/* Timestamps: the two clocks, arithmetic and rounding, and the string forms. */
#include <stdint.h>
#include <time.h>

#include "cmuduo/base/timestamp.h"
#include "test_util.h"

/* 2020-01-01 00:00:00 UTC: any wall clock reading today is later. */
#define K_YEAR_2020_US (INT64_C(1577836800) * MU_MICROS_PER_SECOND)

static void test_clocks(void) {
  mu_timestamp_t wall = mu_timestamp_now();
  CHECK(mu_timestamp_valid(wall));
  CHECK(wall.us > K_YEAR_2020_US);

  /* Many reads: a monotonic clock never steps back, whatever the wall does. */
  mu_timestamp_t prev = mu_timestamp_mono_now();
  CHECK(mu_timestamp_valid(prev));
  for (int i = 0; i < 200000; ++i) {
    mu_timestamp_t t = mu_timestamp_mono_now();
    if (t.us < prev.us) {
      fprintf(stderr, "mono went back at read %d: %" PRId64 " < %" PRId64 "\n", i, t.us,
              prev.us);
      abort();
    }
    prev = t;
  }

  /* The monotonic clock really advances (a constant would pass the loop above). */
  mu_timestamp_t before = mu_timestamp_mono_now();
  usleep(20000);
  mu_timestamp_t after = mu_timestamp_mono_now();
  CHECK(after.us - before.us >= 20000);
  CHECK(after.us - before.us < 60 * MU_MICROS_PER_SECOND);
}

static void test_add_seconds(void) {
  mu_timestamp_t base = mu_timestamp_from_us(1000000);
  CHECK_EQ(mu_timestamp_add_seconds(base, 1.5).us, 2500000);
  CHECK_EQ(mu_timestamp_add_seconds(base, 0.0).us, 1000000);
  CHECK_EQ(mu_timestamp_add_seconds(base, -0.25).us, 750000);
  /* Rounded to the nearest microsecond, not truncated. */
  CHECK_EQ(mu_timestamp_add_seconds(base, 1.0000004).us, 2000000);
  CHECK_EQ(mu_timestamp_add_seconds(base, 1.0000006).us, 2000001);
  CHECK_EQ(mu_timestamp_add_seconds(base, 0.0000009).us, 1000001);
  CHECK_EQ(mu_timestamp_add_seconds(base, -0.0000016).us, 999998);
  CHECK_EQ(mu_timestamp_add_seconds(base, -0.0000014).us, 999999);
  /* Large offsets keep microsecond precision. */
  mu_timestamp_t big = mu_timestamp_from_us(INT64_C(1764042259123456));
  CHECK_EQ(mu_timestamp_add_seconds(big, 86400.000001).us, INT64_C(1764128659123457));
}

static void test_diff_seconds(void) {
  mu_timestamp_t a = mu_timestamp_from_us(3500000);
  mu_timestamp_t b = mu_timestamp_from_us(1000000);
  CHECK(mu_timestamp_diff_seconds(a, b) == 2.5);
  CHECK(mu_timestamp_diff_seconds(b, a) == -2.5);
  CHECK(mu_timestamp_diff_seconds(a, a) == 0.0);
  CHECK(mu_timestamp_diff_seconds(mu_timestamp_from_us(1000001), b) == 0.000001);
  /* add then diff round-trips. */
  mu_timestamp_t c = mu_timestamp_add_seconds(b, 12.345678);
  CHECK(mu_timestamp_diff_seconds(c, b) == 12.345678);
}

static void test_to_string(void) {
  char buf[MU_TIMESTAMP_STRLEN];
  CHECK_STREQ(mu_timestamp_to_string(mu_timestamp_from_us(INT64_C(1764042259123456)), buf,
                                     sizeof buf),
              "1764042259.123456");
  CHECK_STREQ(mu_timestamp_to_string(mu_timestamp_from_us(5), buf, sizeof buf),
              "0.000005");
  CHECK_STREQ(mu_timestamp_to_string(mu_timestamp_from_us(0), buf, sizeof buf),
              "0.000000");
  CHECK_STREQ(mu_timestamp_to_string(mu_timestamp_from_us(2000000), buf, sizeof buf),
              "2.000000");
  /* Before the epoch the fraction stays positive: -1 us is -1 s + 999999 us. */
  CHECK_STREQ(mu_timestamp_to_string(mu_timestamp_from_us(-1), buf, sizeof buf),
              "-1.999999");
  CHECK_STREQ(mu_timestamp_to_string(mu_timestamp_from_us(-1500000), buf, sizeof buf),
              "-2.500000");
  CHECK_STREQ(mu_timestamp_to_string(mu_timestamp_from_us(-2000000), buf, sizeof buf),
              "-2.000000");
  /* The extremes fit the documented buffer size. */
  CHECK_STREQ(mu_timestamp_to_string(mu_timestamp_from_us(INT64_MAX), buf, sizeof buf),
              "9223372036854.775807");
  CHECK_STREQ(mu_timestamp_to_string(mu_timestamp_from_us(INT64_MIN), buf, sizeof buf),
              "-9223372036855.224192");
  /* A short buffer is truncated and still terminated; the return value is buf. */
  char small[5];
  memset(small, 'x', sizeof small);
  CHECK(mu_timestamp_to_string(mu_timestamp_from_us(INT64_C(1764042259123456)), small,
                               sizeof small) == small);
  CHECK_STREQ(small, "1764");
}

static void check_formatted(int64_t us, const char *with, const char *without) {
  char buf[MU_TIMESTAMP_STRLEN];
  memset(buf, 'x', sizeof buf);
  CHECK(mu_timestamp_to_formatted_string(mu_timestamp_from_us(us), true, buf,
                                         sizeof buf) == buf);
  CHECK_STREQ(buf, with);
  CHECK_STREQ(
      mu_timestamp_to_formatted_string(mu_timestamp_from_us(us), false, buf, sizeof buf),
      without);
}

static void test_formatted(void) {
  check_formatted(0, "19700101 00:00:00.000000", "19700101 00:00:00");
  check_formatted(INT64_C(1764042259123456), "20251125 03:44:19.123456",
                  "20251125 03:44:19");
  /* A leap day, and the last second of a century's year. */
  check_formatted(INT64_C(951782400000001), "20000229 00:00:00.000001",
                  "20000229 00:00:00");
  check_formatted(INT64_C(4102444799999999), "20991231 23:59:59.999999",
                  "20991231 23:59:59");

  /* The wall clock formats as today: within a minute of what libc says. */
  char buf[MU_TIMESTAMP_STRLEN];
  time_t before = time(NULL);
  mu_timestamp_to_formatted_string(mu_timestamp_now(), true, buf, sizeof buf);
  time_t after = time(NULL);
  CHECK_EQ(strlen(buf), 24);
  struct tm tm;
  char lo[MU_TIMESTAMP_STRLEN], hi[MU_TIMESTAMP_STRLEN];
  gmtime_r(&before, &tm);
  strftime(lo, sizeof lo, "%Y%m%d %H:%M:%S", &tm);
  after += 1;
  gmtime_r(&after, &tm);
  strftime(hi, sizeof hi, "%Y%m%d %H:%M:%S", &tm);
  /* Fixed-width digits: string order is time order. */
  CHECK(strncmp(buf, lo, 17) >= 0);
  CHECK(strncmp(buf, hi, 17) <= 0);
}

static void test_valid_and_compare(void) {
  CHECK(!mu_timestamp_valid(mu_timestamp_invalid()));
  CHECK_EQ(mu_timestamp_invalid().us, 0);
  CHECK(!mu_timestamp_valid(mu_timestamp_from_us(0)));
  CHECK(!mu_timestamp_valid(mu_timestamp_from_us(-5)));
  CHECK(mu_timestamp_valid(mu_timestamp_from_us(1)));
  CHECK(mu_timestamp_valid(mu_timestamp_from_us(INT64_MAX)));

  mu_timestamp_t a = mu_timestamp_from_us(100), b = mu_timestamp_from_us(200);
  CHECK_EQ(mu_timestamp_compare(a, b), -1);
  CHECK_EQ(mu_timestamp_compare(b, a), 1);
  CHECK_EQ(mu_timestamp_compare(a, a), 0);
  /* No subtraction overflow at the extremes. */
  CHECK_EQ(mu_timestamp_compare(mu_timestamp_from_us(INT64_MIN),
                                mu_timestamp_from_us(INT64_MAX)),
           -1);
  CHECK_EQ(mu_timestamp_compare(mu_timestamp_from_us(INT64_MAX),
                                mu_timestamp_from_us(INT64_MIN)),
           1);
  CHECK_EQ(mu_timestamp_compare(mu_timestamp_from_us(-7), mu_timestamp_from_us(-8)), 1);
}

int main(void) {
  test_time_limit(60);
  test_clocks();
  test_add_seconds();
  test_diff_seconds();
  test_to_string();
  test_formatted();
  test_valid_and_compare();
  TEST_PASS("timestamp");
}
