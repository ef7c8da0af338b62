/* Static files, the header steps: Range (RFC 9110 §14.1-14.2, one range or
 * the whole file), entity-tag lists for If-None-Match / If-Range (§8.8.3,
 * §13.1.2: weak and strong comparison, "*", malformed lists), the ETag format,
 * and media types by extension. */
#include <errno.h>
#include <stdint.h>

#include "http/http_static_internal.h"
#include "test_util.h"

/* ---- Range --------------------------------------------------------------- */

enum {
  NONE = MU_HTTP_RANGE_NONE,
  OK = MU_HTTP_RANGE_OK,
  BAD = MU_HTTP_RANGE_UNSATISFIABLE
};

typedef struct range_case {
  const char *value;
  uint64_t size;
  int result;
  uint64_t first, len; /* when OK */
} range_case_t;

static const range_case_t k_ranges[] = {
    /* the three forms */
    {"bytes=0-499", 10000, OK, 0, 500},
    {"bytes=500-999", 10000, OK, 500, 500},
    {"bytes=9500-", 10000, OK, 9500, 500},
    {"bytes=-500", 10000, OK, 9500, 500},
    {"bytes=0-0", 10000, OK, 0, 1},
    {"bytes=9999-9999", 10000, OK, 9999, 1},
    {"bytes=0-", 10000, OK, 0, 10000},
    /* the last position is clamped to the end */
    {"bytes=9000-20000", 10000, OK, 9000, 1000},
    {"bytes=0-18446744073709551615", 10, OK, 0, 10},
    {"bytes=0-99999999999999999999999", 10, OK, 0, 10},
    /* a suffix longer than the file is the whole file */
    {"bytes=-20000", 10000, OK, 0, 10000},
    {"bytes=-99999999999999999999999", 7, OK, 0, 7},
    /* unit case, spaces and empty list elements */
    {"Bytes=1-2", 10, OK, 1, 2},
    {"BYTES=1-2", 10, OK, 1, 2},
    {"  bytes=1-2  ", 10, OK, 1, 2},
    {"bytes= 1-2", 10, OK, 1, 2},
    {"bytes=1-2 ,", 10, OK, 1, 2},
    {"bytes=,1-2", 10, OK, 1, 2},
    {"bytes=, ,\t1-2\t, ,", 10, OK, 1, 2},
    /* past the end: 416 */
    {"bytes=10000-", 10000, BAD, 0, 0},
    {"bytes=10000-10001", 10000, BAD, 0, 0},
    {"bytes=99999999999999999999999-", 10000, BAD, 0, 0},
    {"bytes=-0", 10000, BAD, 0, 0},
    {"bytes=0-", 0, BAD, 0, 0},
    {"bytes=0-0", 0, BAD, 0, 0},
    {"bytes=-0", 0, BAD, 0, 0},
    /* an empty file has nothing to cut from its end: the whole (empty) file */
    {"bytes=-5", 0, NONE, 0, 0},
    /* several ranges: the whole file (RFC 9110 §14.2 lets us ignore Range) */
    {"bytes=0-1,2-3", 10, NONE, 0, 0},
    {"bytes=0-1, -2", 10, NONE, 0, 0},
    {"bytes=0-1,0-1", 10, NONE, 0, 0},
    {"bytes=20-30,40-50", 10, NONE, 0, 0},
    /* malformed: ignored */
    {"", 10, NONE, 0, 0},
    {"bytes", 10, NONE, 0, 0},
    {"bytes=", 10, NONE, 0, 0},
    {"bytes=,", 10, NONE, 0, 0},
    {"bytes=-", 10, NONE, 0, 0},
    {"bytes=a-b", 10, NONE, 0, 0},
    {"bytes=1", 10, NONE, 0, 0},
    {"bytes=1-2-3", 10, NONE, 0, 0},
    {"bytes=5-2", 10, NONE, 0, 0},
    {"bytes=--1", 10, NONE, 0, 0},
    {"bytes=+1-2", 10, NONE, 0, 0},
    {"bytes=1 -2", 10, NONE, 0, 0},
    {"bytes=1- 2", 10, NONE, 0, 0},
    {"bytes=0x1-2", 10, NONE, 0, 0},
    {"bytes=1-2;", 10, NONE, 0, 0},
    {"bytes=1-2 x", 10, NONE, 0, 0},
    {"bytes =1-2", 10, NONE, 0, 0},
    {"bytes:1-2", 10, NONE, 0, 0},
    {"items=1-2", 10, NONE, 0, 0},
    {"bytesx=1-2", 10, NONE, 0, 0},
    {"none", 10, NONE, 0, 0},
};

static void test_range_table(void) {
  for (size_t i = 0; i < sizeof k_ranges / sizeof k_ranges[0]; ++i) {
    const range_case_t *c = &k_ranges[i];
    uint64_t first = 777, len = 777;
    int r = (int)mu_http_static_parse_range(c->value, c->size, &first, &len);
    bool bad = r != c->result;
    if (!bad && r == OK)
      bad = first != c->first || len != c->len;
    if (!bad && r != OK)
      bad = first != 777 || len != 777; /* untouched unless OK */
    if (bad) {
      fprintf(stderr,
              "range \"%s\" size %" PRIu64 ": got %d %" PRIu64 "+%" PRIu64
              ", want %d %" PRIu64 "+%" PRIu64 "\n",
              c->value, c->size, r, first, len, c->result, c->first, c->len);
      abort();
    }
  }
  uint64_t first = 0, len = 0;
  CHECK_EQ(mu_http_static_parse_range(NULL, 10, &first, &len), NONE);
  printf("range: %zu cases\n", sizeof k_ranges / sizeof k_ranges[0]);
}

/* Every OK answer lies within the file and is never empty, for every form
 * and size around the edges. */
static void test_range_bounds(void) {
  static const uint64_t sizes[] = {0, 1, 2, 3, 10, 4096, UINT64_MAX};
  static const uint64_t nums[] = {0, 1, 2, 3, 9, 10, 11, 4095, 4096, UINT64_MAX - 1};
  char value[96];
  int ok = 0;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
    for (size_t a = 0; a < sizeof nums / sizeof nums[0]; ++a) {
      for (size_t b = 0; b < sizeof nums / sizeof nums[0]; ++b) {
        for (int form = 0; form < 3; ++form) {
          if (form == 0)
            snprintf(value, sizeof value, "bytes=%" PRIu64 "-%" PRIu64, nums[a], nums[b]);
          else if (form == 1)
            snprintf(value, sizeof value, "bytes=%" PRIu64 "-", nums[a]);
          else
            snprintf(value, sizeof value, "bytes=-%" PRIu64, nums[b]);
          uint64_t first = 0, len = 0;
          mu_http_range_result_t r =
              mu_http_static_parse_range(value, sizes[s], &first, &len);
          if (r == MU_HTTP_RANGE_OK) {
            CHECK(len > 0);
            CHECK(first < sizes[s]);
            CHECK(len <= sizes[s] - first);
            ++ok;
          }
        }
      }
    }
  }
  printf("range bounds: %d satisfiable combinations checked\n", ok);
}

/* ---- entity tags --------------------------------------------------------- */

typedef struct etag_case {
  const char *list;
  const char *etag;
  bool weak_result;
  bool strong_result;
} etag_case_t;

static const etag_case_t k_etags[] = {
    {"\"abc\"", "\"abc\"", true, true},
    {"\"abc\"", "\"abd\"", false, false},
    {"W/\"abc\"", "\"abc\"", true, false},
    {"\"abc\"", "W/\"abc\"", true, false},
    {"W/\"abc\"", "W/\"abc\"", true, false},
    {"\"x\", \"abc\"", "\"abc\"", true, true},
    {"\"x\",W/\"abc\"", "\"abc\"", true, false},
    {"\"x\" ,\t\"y\" , \"abc\"", "\"abc\"", true, true},
    {" , \"abc\" , ", "\"abc\"", true, true},
    {"\"\"", "\"\"", true, true},
    {"\"\"", "\"a\"", false, false},
    {"*", "\"abc\"", true, true},
    {"  *  ", "W/\"abc\"", true, true},
    /* a tag is compared whole, quotes included */
    {"\"abc", "\"abc\"", false, false},
    {"abc", "\"abc\"", false, false},
    {"\"ab\"", "\"abc\"", false, false},
    {"\"abcd\"", "\"abc\"", false, false},
    /* case matters in the tag and in W/ */
    {"\"ABC\"", "\"abc\"", false, false},
    {"w/\"abc\"", "\"abc\"", false, false},
    /* malformed lists match nothing, even when a good tag is in them */
    {"\"abc\" junk", "\"abc\"", false, false},
    {"\"abc\", junk", "\"abc\"", false, false},
    {"\"abc\",\"unterminated", "\"abc\"", false, false},
    {"\"a b\", \"abc\"", "\"abc\"", false, false},
    {"\"abc\"\"abc\"", "\"abc\"", false, false},
    {"*, \"abc\"", "\"abc\"", false, false},
    {"\"abc\", *", "\"abc\"", false, false},
    {"W/ \"abc\"", "\"abc\"", false, false},
    {"", "\"abc\"", false, false},
    {" , ", "\"abc\"", false, false},
    /* a malformed tag of ours matches nothing */
    {"*", "abc", false, false},
    {"\"abc\"", "abc", false, false},
    /* obs-text is allowed inside a tag */
    {"\"caf\xc3\xa9\"", "\"caf\xc3\xa9\"", true, true},
};

static void test_etag_table(void) {
  for (size_t i = 0; i < sizeof k_etags / sizeof k_etags[0]; ++i) {
    const etag_case_t *c = &k_etags[i];
    bool w = mu_http_static_etag_match(c->list, c->etag, true);
    bool s = mu_http_static_etag_match(c->list, c->etag, false);
    if (w != c->weak_result || s != c->strong_result) {
      fprintf(stderr, "etag list '%s' tag '%s': weak %d strong %d, want %d %d\n", c->list,
              c->etag, w, s, c->weak_result, c->strong_result);
      abort();
    }
  }
  CHECK(!mu_http_static_etag_match(NULL, "\"a\"", true));
  CHECK(!mu_http_static_etag_match("\"a\"", NULL, true));
  printf("etag: %zu cases\n", sizeof k_etags / sizeof k_etags[0]);
}

static void test_format_etag(void) {
  char buf[48], other[48];
  size_t n = mu_http_static_format_etag(1700000000, 123456789, 4096, buf, sizeof buf);
  CHECK_EQ(n, strlen(buf));
  CHECK(n >= 5 && buf[0] == '"' && buf[n - 1] == '"');
  /* hex, one dash */
  int dashes = 0;
  for (size_t i = 1; i + 1 < n; ++i) {
    CHECK((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f') ||
          buf[i] == '-');
    dashes += buf[i] == '-';
  }
  CHECK_EQ(dashes, 1);
  /* the format is an entity-tag that matches itself, strongly */
  CHECK(mu_http_static_etag_match(buf, buf, false));
  /* mtime (to the nanosecond) and size each change it */
  mu_http_static_format_etag(1700000000, 123456790, 4096, other, sizeof other);
  CHECK(strcmp(buf, other) != 0);
  mu_http_static_format_etag(1700000001, 123456789, 4096, other, sizeof other);
  CHECK(strcmp(buf, other) != 0);
  mu_http_static_format_etag(1700000000, 123456789, 4097, other, sizeof other);
  CHECK(strcmp(buf, other) != 0);
  mu_http_static_format_etag(1700000000, 123456789, 4096, other, sizeof other);
  CHECK_STREQ(buf, other);
  /* the extremes fit */
  n = mu_http_static_format_etag(INT64_MAX, 999999999, UINT64_MAX, buf, sizeof buf);
  CHECK(n > 0 && n < 48 && strlen(buf) == n);
  n = mu_http_static_format_etag(-1, 0, 0, buf, sizeof buf);
  CHECK(n > 0 && n < 48 && strlen(buf) == n);
  n = mu_http_static_format_etag(0, 0, 0, buf, sizeof buf);
  CHECK_STREQ(buf, "\"0-0\"");
  /* too small a buffer: nothing */
  CHECK_EQ(mu_http_static_format_etag(0, 0, 0, buf, 47), 0);
  CHECK_STREQ(buf, "");
}

/* ---- media types --------------------------------------------------------- */

static void test_mime(void) {
  static const char *const k[][2] = {
      {"a/b.HTML", "text/html; charset=utf-8"},
      {"index.html", "text/html; charset=utf-8"},
      {"x.htm", "text/html; charset=utf-8"},
      {"x.png", "image/png"},
      {"X.PNG", "image/png"},
      {"x.PnG", "image/png"},
      {"style.css", "text/css; charset=utf-8"},
      {"app.js", "text/javascript; charset=utf-8"},
      {"m.mjs", "text/javascript; charset=utf-8"},
      {"d.json", "application/json"},
      {"r.txt", "text/plain; charset=utf-8"},
      {"p.jpg", "image/jpeg"},
      {"p.jpeg", "image/jpeg"},
      {"i.svg", "image/svg+xml"},
      {"f.woff2", "font/woff2"},
      {"m.wasm", "application/wasm"},
      {"d.pdf", "application/pdf"},
      {"a.tar.gz", "application/gzip"},
      {"site.webmanifest", "application/manifest+json"},
      {"7.7z", "application/x-7z-compressed"},
      {"z.zst", "application/zstd"},
      /* unknown, none, odd */
      {"4k.bin", "application/octet-stream"},
      {"x.unknownext", "application/octet-stream"},
      {"x.averyveryverylongextension", "application/octet-stream"},
      {"README", "application/octet-stream"},
      {"", "application/octet-stream"},
      {"x.", "application/octet-stream"},
      {".html", "application/octet-stream"},
      {"dir.html/file", "application/octet-stream"},
      {"dir/.png", "application/octet-stream"},
      {"a.b/c.css", "text/css; charset=utf-8"},
      {"x.ht", "application/octet-stream"},
      {"x.htmlx", "application/octet-stream"},
      {"x.a", "application/octet-stream"},
      {"x.zzzz", "application/octet-stream"},
      {"x.0", "application/octet-stream"},
      {"x.\xff", "application/octet-stream"},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; ++i) {
    const char *got = mu_http_mime_type(k[i][0]);
    if (strcmp(got, k[i][1]) != 0) {
      fprintf(stderr, "mime \"%s\": \"%s\", want \"%s\"\n", k[i][0], got, k[i][1]);
      abort();
    }
  }
  CHECK_STREQ(mu_http_mime_type(NULL), "application/octet-stream");
  printf("mime: %zu cases\n", sizeof k / sizeof k[0]);
}

int main(void) {
  test_time_limit(60);
  test_range_table();
  test_range_bounds();
  test_etag_table();
  test_format_etag();
  test_mime();
  printf("http_static_headers: OK\n");
  return 0;
}
