/* HTTP date parsing with the current time as a parameter, so the RFC 850
 * two-digit-year rule can be tested without depending on today's date. Never
 * leaves src/. */
#ifndef CMUDUO_SRC_HTTP_HTTP_DATE_INTERNAL_H
#define CMUDUO_SRC_HTTP_HTTP_DATE_INTERNAL_H

#include <stdint.h>

/* As mu_http_parse_date, with `now` (seconds since the epoch) deciding the
 * century of an RFC 850 date's two-digit year. */
int mu_http_parse_date_at(const char *s, int64_t now, int64_t *t);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12). */
int64_t mu_http_days_from_civil(int64_t y, int m, int d);

#endif
