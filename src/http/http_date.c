/* HTTP dates (RFC 9110 §5.6.7) without the C library's time functions: gmtime
 * shares a static buffer, strftime follows the locale, and mktime/timegm
 * consult the time-zone state. Plain calendar arithmetic on the proleptic
 * Gregorian calendar needs none of that and is thread-safe by construction. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "cmuduo/http/http_response.h"
#include "http_date_internal.h"

#define SECONDS_PER_DAY 86400

static const char k_day_short[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const k_day_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};
static const char k_month[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The calendar repeats every 400 years (146097 days). Counting years from
 * March puts the leap day at the end of the year, so the day of the year is
 * a linear function of the month (153 days per 5 months from March on). */
int64_t mu_http_days_from_civil(int64_t y, int m, int d) {
  if (m <= 2)
    y -= 1;
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400; /* 0..399 */
  int64_t mp = m > 2 ? m - 3 : m + 9;
  int64_t doy = (153 * mp + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  /* 719468: days from 0000-03-01 to 1970-01-01. */
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097; /* 0..146096 */
  /* Remove the leap days so far to get whole years of 365 days. */
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m) {
  static const unsigned char k_days[12] = {31, 28, 31, 30, 31, 30,
                                           31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : k_days[m - 1];
}

static char *put2(char *p, int v) {
  p[0] = (char)('0' + v / 10);
  p[1] = (char)('0' + v % 10);
  return p + 2;
}

/* The four-digit years of the format bound what can be printed. */
static int64_t clamp_to_format(int64_t t) {
  const int64_t lo = mu_http_days_from_civil(0, 1, 1) * SECONDS_PER_DAY;
  const int64_t hi =
      mu_http_days_from_civil(9999, 12, 31) * SECONDS_PER_DAY + (SECONDS_PER_DAY - 1);
  return t < lo ? lo : t > hi ? hi : t;
}

size_t mu_http_format_date(int64_t t, char *buf, size_t size) {
  enum { LEN = 29 };
  if (size < LEN + 1) {
    if (size > 0)
      buf[0] = '\0';
    return 0;
  }
  t = clamp_to_format(t);
  int64_t days = floor_div(t, SECONDS_PER_DAY);
  int secs = (int)(t - days * SECONDS_PER_DAY);
  int64_t y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  int wday = (int)((days % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */

  char *p = buf;
  memcpy(p, k_day_short[wday], 3);
  p += 3;
  *p++ = ',';
  *p++ = ' ';
  p = put2(p, d);
  *p++ = ' ';
  memcpy(p, k_month[m - 1], 3);
  p += 3;
  *p++ = ' ';
  p = put2(p, (int)(y / 100));
  p = put2(p, (int)(y % 100));
  *p++ = ' ';
  p = put2(p, secs / 3600);
  *p++ = ':';
  p = put2(p, secs / 60 % 60);
  *p++ = ':';
  p = put2(p, secs % 60);
  memcpy(p, " GMT", 5);
  return LEN;
}

/* ---- parsing --------------------------------------------------------------- */

/* Each matcher consumes what it matches and returns false otherwise. The
 * names of days and months and "GMT" are case-sensitive (RFC 9110 §5.6.7). */

static bool eat(const char **p, const char *lit) {
  size_t n = strlen(lit);
  if (strncmp(*p, lit, n) != 0)
    return false;
  *p += n;
  return true;
}

static bool eat_digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return true;
}

static bool eat_month(const char **p, int *m) {
  for (int i = 0; i < 12; i++) {
    if (strncmp(*p, k_month[i], 3) == 0) {
      *p += 3;
      *m = i + 1;
      return true;
    }
  }
  return false;
}

static bool eat_day_short(const char **p) {
  for (int i = 0; i < 7; i++) {
    if (strncmp(*p, k_day_short[i], 3) == 0) {
      *p += 3;
      return true;
    }
  }
  return false;
}

static bool eat_day_long(const char **p) {
  for (int i = 0; i < 7; i++) {
    if (eat(p, k_day_long[i]))
      return true;
  }
  return false;
}

/* hour ":" minute ":" second, 00:00:00 to 23:59:60 (a leap second). */
static bool eat_time(const char **p, int *secs) {
  int h, mi, s;
  if (!eat_digits(p, 2, &h) || !eat(p, ":") || !eat_digits(p, 2, &mi) || !eat(p, ":") ||
      !eat_digits(p, 2, &s)) {
    return false;
  }
  if (h > 23 || mi > 59 || s > 60)
    return false;
  *secs = h * 3600 + mi * 60 + s;
  return true;
}

struct parsed {
  int64_t year;
  int month, day, secs;
};

/* "Sun, 06 Nov 1994 08:49:37 GMT" (the day name already eaten). */
static bool parse_imf(const char *p, struct parsed *o) {
  int y;
  return eat(&p, ", ") && eat_digits(&p, 2, &o->day) && eat(&p, " ") &&
         eat_month(&p, &o->month) && eat(&p, " ") && eat_digits(&p, 4, &y) &&
         eat(&p, " ") && eat_time(&p, &o->secs) && eat(&p, " GMT") && *p == '\0' &&
         (o->year = y, true);
}

/* "Sunday, 06-Nov-94 08:49:37 GMT". */
static bool parse_rfc850(const char *p, int64_t now, struct parsed *o) {
  int yy;
  if (!(eat_day_long(&p) && eat(&p, ", ") && eat_digits(&p, 2, &o->day) && eat(&p, "-") &&
        eat_month(&p, &o->month) && eat(&p, "-") && eat_digits(&p, 2, &yy) &&
        eat(&p, " ") && eat_time(&p, &o->secs) && eat(&p, " GMT") && *p == '\0')) {
    return false;
  }
  /* RFC 9110: a year that appears more than 50 years in the future is the
   * most recent past year with the same last two digits; so the year is the
   * latest one ending in yy that is at most 50 years ahead. */
  int64_t now_year;
  int unused_m, unused_d;
  civil_from_days(floor_div(now, SECONDS_PER_DAY), &now_year, &unused_m, &unused_d);
  int64_t limit = now_year + 50;
  o->year = limit - ((limit - yy) % 100 + 100) % 100;
  return true;
}

/* "Sun Nov  6 08:49:37 1994" (the day name already eaten). */
static bool parse_asctime(const char *p, struct parsed *o) {
  int y;
  if (!eat(&p, " ") || !eat_month(&p, &o->month) || !eat(&p, " "))
    return false;
  if (*p == ' ') {
    p++;
    if (!eat_digits(&p, 1, &o->day))
      return false;
  } else if (!eat_digits(&p, 2, &o->day)) {
    return false;
  }
  if (!(eat(&p, " ") && eat_time(&p, &o->secs) && eat(&p, " ") && eat_digits(&p, 4, &y) &&
        *p == '\0')) {
    return false;
  }
  o->year = y;
  return true;
}

/* The day name is checked for form only, not against the date: a wrong one
 * does not make the time ambiguous (as nginx and Go treat it). */
int mu_http_parse_date_at(const char *s, int64_t now, int64_t *t) {
  if (s == NULL || t == NULL)
    return -EINVAL;
  struct parsed o;
  const char *p = s;
  bool ok;
  if (eat_day_short(&p) && *p == ',') {
    ok = parse_imf(p, &o);
  } else if (p != s && *p == ' ') {
    ok = parse_asctime(p, &o);
  } else {
    ok = parse_rfc850(s, now, &o);
  }
  if (!ok || o.day < 1 || o.day > days_in_month(o.year, o.month))
    return -EINVAL;
  *t = mu_http_days_from_civil(o.year, o.month, o.day) * SECONDS_PER_DAY + o.secs;
  return 0;
}

int mu_http_parse_date(const char *s, int64_t *t) {
  return mu_http_parse_date_at(s, (int64_t)time(NULL), t);
}
