/* HTTP dates: IMF-fixdate formatting of known instants (epoch, leap days,
 * 2038, before 1970, the clamped ends), parsing of all three forms of RFC 9110
 * §5.6.7 with the RFC 850 century rule, strict rejection of everything else,
 * and round trips over random instants checked against gmtime_r/timegm. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "cmuduo/http/http_response.h"
#include "http/http_date_internal.h"
#include "test_util.h"

static void check_format(int64_t t, const char *want) {
  char buf[64];
  memset(buf, 'x', sizeof buf);
  CHECK_EQ(mu_http_format_date(t, buf, sizeof buf), 29);
  CHECK_STREQ(buf, want);
}

static void test_format_known(void) {
  check_format(784111777, "Sun, 06 Nov 1994 08:49:37 GMT");
  check_format(0, "Thu, 01 Jan 1970 00:00:00 GMT");
  check_format(-1, "Wed, 31 Dec 1969 23:59:59 GMT");
  check_format(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
  check_format(951782400 + 86400, "Wed, 01 Mar 2000 00:00:00 GMT");
  check_format(2147483647, "Tue, 19 Jan 2038 03:14:07 GMT");
  check_format(2147483648LL, "Tue, 19 Jan 2038 03:14:08 GMT");
  check_format(-2208988800LL, "Mon, 01 Jan 1900 00:00:00 GMT");
  /* 1900 is not a leap year: 28 Feb is followed by 1 Mar. */
  check_format(-2203891200LL - 1, "Wed, 28 Feb 1900 23:59:59 GMT");
  check_format(-2203891200LL, "Thu, 01 Mar 1900 00:00:00 GMT");
  /* 2100 is not a leap year either; 2400 is. */
  check_format(4107542400LL, "Mon, 01 Mar 2100 00:00:00 GMT");
  check_format(253402300799LL, "Fri, 31 Dec 9999 23:59:59 GMT");
  /* Past four-digit years the instant is clamped to the ends. */
  check_format(253402300800LL, "Fri, 31 Dec 9999 23:59:59 GMT");
  check_format(INT64_MAX, "Fri, 31 Dec 9999 23:59:59 GMT");
  check_format(-62167219200LL, "Sat, 01 Jan 0000 00:00:00 GMT");
  check_format(INT64_MIN, "Sat, 01 Jan 0000 00:00:00 GMT");
}

static void test_format_small_buffer(void) {
  char buf[30];
  memset(buf, 'x', sizeof buf);
  CHECK_EQ(mu_http_format_date(0, buf, 29), 0);
  CHECK_EQ(buf[0], '\0');
  CHECK_EQ(mu_http_format_date(0, buf, 0), 0);
  CHECK_EQ(mu_http_format_date(0, buf, 30), 29);
  CHECK_STREQ(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
}

static int64_t parse_ok(const char *s) {
  int64_t t = 12345;
  int rc = mu_http_parse_date(s, &t);
  if (rc != 0)
    fprintf(stderr, "parse failed: \"%s\"\n", s);
  CHECK_EQ(rc, 0);
  return t;
}

static void test_parse_three_forms(void) {
  CHECK_EQ(parse_ok("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  CHECK_EQ(parse_ok("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  CHECK_EQ(parse_ok("Sun Nov  6 08:49:37 1994"), 784111777);
  CHECK_EQ(parse_ok("Sun Nov 06 08:49:37 1994"), 784111777); /* 2DIGIT is allowed */
  CHECK_EQ(parse_ok("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  CHECK_EQ(parse_ok("Wed, 31 Dec 1969 23:59:59 GMT"), -1);
  CHECK_EQ(parse_ok("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);
  CHECK_EQ(parse_ok("Tue Feb 29 00:00:00 2000"), 951782400);
  CHECK_EQ(parse_ok("Thu, 29 Feb 2024 12:00:00 GMT"),
           mu_http_days_from_civil(2024, 2, 29) * 86400 + 12 * 3600);
  CHECK_EQ(parse_ok("Sat, 29 Feb 2400 00:00:00 GMT"),
           mu_http_days_from_civil(2400, 2, 29) * 86400);
  CHECK_EQ(parse_ok("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799LL);
  CHECK_EQ(parse_ok("Sat, 01 Jan 0000 00:00:00 GMT"), -62167219200LL);
  /* A leap second is in the grammar; it reads as the next minute's start. */
  CHECK_EQ(parse_ok("Wed, 31 Dec 2008 23:59:60 GMT"), 1230768000);
  /* Every long day name. */
  const char *days[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                        "Friday", "Saturday", "Sunday"};
  for (size_t i = 0; i < 7; i++) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s, 06-Nov-94 08:49:37 GMT", days[i]);
    CHECK_EQ(parse_ok(buf), 784111777);
  }
  /* The day name is checked for form, not against the date. */
  CHECK_EQ(parse_ok("Mon, 06 Nov 1994 08:49:37 GMT"), 784111777);
}

static void test_rfc850_century(void) {
  int64_t t;
  int64_t now2026 = mu_http_days_from_civil(2026, 6, 1) * 86400;
  /* 94 -> 2094 would be 68 years ahead: it is 1994. */
  CHECK_EQ(mu_http_parse_date_at("Sunday, 06-Nov-94 08:49:37 GMT", now2026, &t), 0);
  CHECK_EQ(t, 784111777);
  /* 76 -> 2076 is exactly 50 years ahead: not "more than 50", so 2076. */
  CHECK_EQ(mu_http_parse_date_at("Sunday, 01-Mar-76 00:00:00 GMT", now2026, &t), 0);
  CHECK_EQ(t, mu_http_days_from_civil(2076, 3, 1) * 86400);
  /* 77 -> 2077 is 51 years ahead: 1977. */
  CHECK_EQ(mu_http_parse_date_at("Tuesday, 01-Mar-77 00:00:00 GMT", now2026, &t), 0);
  CHECK_EQ(t, mu_http_days_from_civil(1977, 3, 1) * 86400);
  CHECK_EQ(mu_http_parse_date_at("Monday, 01-Jan-00 00:00:00 GMT", now2026, &t), 0);
  CHECK_EQ(t, mu_http_days_from_civil(2000, 1, 1) * 86400);
  /* In 1999, "05" is 2005 (6 years ahead) and "60" is 1960 (2060 is 61 ahead). */
  int64_t now1999 = mu_http_days_from_civil(1999, 12, 31) * 86400;
  CHECK_EQ(mu_http_parse_date_at("Monday, 01-Jan-05 00:00:00 GMT", now1999, &t), 0);
  CHECK_EQ(t, mu_http_days_from_civil(2005, 1, 1) * 86400);
  CHECK_EQ(mu_http_parse_date_at("Monday, 01-Jan-60 00:00:00 GMT", now1999, &t), 0);
  CHECK_EQ(t, mu_http_days_from_civil(1960, 1, 1) * 86400);
  /* 29 Feb of a two-digit year is valid only if that century's year is leap. */
  CHECK_EQ(mu_http_parse_date_at("Tuesday, 29-Feb-00 00:00:00 GMT", now2026, &t), 0);
  /* In 1949, "00" is 1900 (2000 would be 51 years ahead), not a leap year. */
  int64_t now1949 = mu_http_days_from_civil(1949, 1, 1) * 86400;
  CHECK_EQ(mu_http_parse_date_at("Tuesday, 29-Feb-00 00:00:00 GMT", now1949, &t),
           -EINVAL); /* 1900 */
}

static void test_parse_invalid(void) {
  static const char *const bad[] = {
      "",
      "GMT",
      "784111777",
      "1994-11-06T08:49:37Z",
      "Sun, 06 Nov 1994 08:49:37 gmt",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37 +0000",
      "Sun, 06 Nov 1994 08:49:37",
      "Sun, 06 Nov 1994 08:49:37 GMT ",
      " Sun, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMTX",
      "Sun, 06 Nov 1994 08:49:37 GMT; length=12",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Sun, 06 Nov 01994 08:49:37 GMT",
      "Sun, 06 nov 1994 08:49:37 GMT",
      "Sun, 06 NOV 1994 08:49:37 GMT",
      "sun, 06 Nov 1994 08:49:37 GMT",
      "Sun,06 Nov 1994 08:49:37 GMT",
      "Sun,  06 Nov 1994 08:49:37 GMT",
      "Sun, 06  Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 8:49:37 GMT",
      "Sun, 06 Nov 1994 08:49 GMT",
      "Sun, 06 Nov 1994 08-49-37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 23:60:00 GMT",
      "Sun, 06 Nov 1994 23:59:61 GMT",
      "Sun, 00 Nov 1994 08:49:37 GMT",
      "Sun, 31 Nov 1994 08:49:37 GMT",
      "Sun, 32 Jan 1994 08:49:37 GMT",
      "Sun, 30 Feb 2000 08:49:37 GMT",
      "Sun, 29 Feb 1900 08:49:37 GMT",
      "Sun, 29 Feb 2100 08:49:37 GMT",
      "Sun, 29 Feb 2023 08:49:37 GMT",
      "Sun, -6 Nov 1994 08:49:37 GMT",
      "Sun, +6 Nov 1994 08:49:37 GMT",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sunday, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06-Nov-94 08:49:37 GMT",
      "Sunday, 06-Nov-1994 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37",
      "Sunday 06-Nov-94 08:49:37 GMT",
      "Sunday, 6-Nov-94 08:49:37 GMT",
      "Funday, 06-Nov-94 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994",
      "Sun Nov   6 08:49:37 1994",
      "Sun Nov  6 08:49:37 94",
      "Sun Nov  6 08:49:37 1994 ",
      "Sun Nov  6 08:49:37 1994 GMT",
      "Sun Nov  0 08:49:37 1994",
      "Sun Feb 30 08:49:37 1994",
      "Sun Nov 6  08:49:37 1994",
      "Sun  Nov  6 08:49:37 1994",
      "Sun",
      "Sun,",
      "Sunday",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t t = 777;
    int rc = mu_http_parse_date(bad[i], &t);
    if (rc != -EINVAL)
      fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
    CHECK_EQ(rc, -EINVAL);
    CHECK_EQ(t, 777); /* untouched on error */
  }
  int64_t t;
  CHECK_EQ(mu_http_parse_date(NULL, &t), -EINVAL);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void) {
  /* xorshift64*: deterministic across runs. */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dULL;
}

static const char *const k_days[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const k_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                      "Thursday", "Friday", "Saturday"};
static const char *const k_mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Formats with our function, compares with the fields gmtime_r gives, and
 * parses each of the three forms back to the same instant. */
static void round_trip(int64_t t) {
  time_t tt = (time_t)t;
  struct tm tm;
  CHECK(gmtime_r(&tt, &tm) != NULL);
  char want[64], got[64];
  snprintf(want, sizeof want, "%s, %02d %s %04d %02d:%02d:%02d GMT", k_days[tm.tm_wday],
           tm.tm_mday, k_mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
           tm.tm_sec);
  CHECK_EQ(mu_http_format_date(t, got, sizeof got), 29);
  CHECK_STREQ(got, want);
  CHECK_EQ(parse_ok(got), t);
  CHECK_EQ((int64_t)timegm(&tm), t);

  char asc[64];
  snprintf(asc, sizeof asc, "%s %s %2d %02d:%02d:%02d %04d", k_days[tm.tm_wday],
           k_mon[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           tm.tm_year + 1900);
  CHECK_EQ(parse_ok(asc), t);

  /* RFC 850 with "now" in the same year, so the two digits map back. */
  char r850[64];
  snprintf(r850, sizeof r850, "%s, %02d-%s-%02d %02d:%02d:%02d GMT", k_long[tm.tm_wday],
           tm.tm_mday, k_mon[tm.tm_mon], (tm.tm_year + 1900) % 100, tm.tm_hour, tm.tm_min,
           tm.tm_sec);
  int64_t back;
  CHECK_EQ(mu_http_parse_date_at(r850, t, &back), 0);
  CHECK_EQ(back, t);
}

static void test_round_trip_random(void) {
  const int64_t lo = -62135596800LL; /* 0001-01-01: gmtime_r's tm_year is an int */
  const int64_t hi = 253402300799LL; /* 9999-12-31 23:59:59 */
  for (int i = 0; i < 200000; i++) {
    round_trip(lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1)));
  }
  /* Dense around the epoch and the leap days of 2000 and 1900. */
  for (int64_t t = -200000; t <= 200000; t += 37)
    round_trip(t);
  for (int64_t t = 951782400 - 90000; t < 951782400 + 90000; t += 599)
    round_trip(t);
  for (int64_t t = -2203891200LL - 90000; t < -2203891200LL + 90000; t += 599) {
    round_trip(t);
  }
}

/* Every day from 1600 to 2500 in order: the day count must step by one and
 * agree with the parser on the calendar (catches off-by-one month tables). */
static void test_every_day(void) {
  int64_t prev = mu_http_days_from_civil(1599, 12, 31);
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (int y = 1600; y <= 2500; y++) {
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    for (int m = 1; m <= 12; m++) {
      int n = mdays[m - 1] + (m == 2 && leap);
      for (int d = 1; d <= n; d++) {
        int64_t days = mu_http_days_from_civil(y, m, d);
        CHECK_EQ(days, prev + 1);
        prev = days;
      }
    }
  }
  CHECK_EQ(mu_http_days_from_civil(1970, 1, 1), 0);
}

static void *thread_body(void *arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg;
  for (int i = 0; i < 20000; i++) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t t = (int64_t)(seed >> 30) % 253402300799LL;
    char buf[32];
    CHECK_EQ(mu_http_format_date(t, buf, sizeof buf), 29);
    int64_t back;
    CHECK_EQ(mu_http_parse_date(buf, &back), 0);
    CHECK_EQ(back, t);
  }
  return NULL;
}

/* No shared state: several threads at once (TSan checks for races). */
static void test_threads(void) {
  pthread_t th[4];
  for (uintptr_t i = 0; i < 4; i++) {
    CHECK(pthread_create(&th[i], NULL, thread_body, (void *)(i + 1)) == 0);
  }
  for (int i = 0; i < 4; i++)
    CHECK(pthread_join(th[i], NULL) == 0);
}

int main(void) {
  test_time_limit(120);
  test_format_known();
  test_format_small_buffer();
  test_parse_three_forms();
  test_rfc850_century();
  test_parse_invalid();
  test_every_day();
  test_round_trip_random();
  test_threads();
  TEST_PASS("http_date");
}
