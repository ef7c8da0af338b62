/* Form-urlencoded queries: mu_http_query_get and mu_http_query_next, alone and
 * on the query of a parsed request. */
#include <errno.h>

#include "cmuduo/http/http_parser.h"
#include "cmuduo/http/http_request.h"
#include "test_util.h"

static void expect_get(const char *query, const char *name, int want_rc,
                       const char *want) {
  char buf[64];
  size_t len = 12345;
  int rc = mu_http_query_get(query, name, buf, sizeof buf, &len);
  if (rc != want_rc || (rc == 0 && (strcmp(buf, want) != 0 || len != strlen(want)))) {
    fprintf(stderr, "query_get(\"%s\", \"%s\") = %d \"%s\", want %d \"%s\"\n", query,
            name, rc, rc == 0 ? buf : "", want_rc, want ? want : "");
    CHECK(false);
  }
}

static void test_get(void) {
  expect_get("a=1&b=two&c", "a", 0, "1");
  expect_get("a=1&b=two&c", "b", 0, "two");
  expect_get("a=1&b=two&c", "c", 0, ""); /* no '=': empty value */
  expect_get("a=1&b=two&c", "d", -ENOENT, NULL);
  expect_get("", "a", -ENOENT, NULL);
  expect_get("a=1&a=2", "a", 0, "1"); /* the first one */
  expect_get("&&a=1&&", "a", 0, "1"); /* empty pairs skipped */
  expect_get("a=", "a", 0, "");
  expect_get("=x&a=y", "", 0, "x"); /* an empty key is a key */
  expect_get("q=x+y%20z%2B%26", "q", 0, "x y z+&");
  expect_get("my+key=1&my%20key=2", "my key", 0, "1"); /* keys are decoded too */
  expect_get("a=b=c", "a", 0, "b=c");                  /* split at the first '=' */
  expect_get("%E4%BD%A0=%e5%a5%bd", "\xe4\xbd\xa0", 0, "\xe5\xa5\xbd");
  expect_get("ab=1", "a", -ENOENT, NULL);
  expect_get("a=1", "ab", -ENOENT, NULL);
  /* Bad escapes in the value asked for; elsewhere they do not matter. */
  expect_get("a=%zz", "a", -EINVAL, NULL);
  expect_get("a=%4", "a", -EINVAL, NULL);
  expect_get("a=%", "a", -EINVAL, NULL);
  expect_get("a=x%00y", "a", -EINVAL, NULL);
  expect_get("b=%zz&a=ok", "a", 0, "ok");
  expect_get("%zz=1&a=ok", "a", 0, "ok");
  expect_get("a%00=1", "a", -ENOENT, NULL); /* a NUL in a key never matches */

  /* Too small: -ENOSPC with the length needed, nothing past cap written. */
  char small[4] = {'#', '#', '#', '#'};
  size_t len = 0;
  CHECK_EQ(mu_http_query_get("k=abcd", "k", small, 3, &len), -ENOSPC);
  CHECK_EQ(len, 4);
  CHECK_EQ(small[3], '#');
  CHECK_EQ(mu_http_query_get("k=abc", "k", small, 4, &len), 0);
  CHECK_STREQ(small, "abc");
  CHECK_EQ(mu_http_query_get("k=abc", "k", small, 0, &len), -ENOSPC);
  CHECK_EQ(mu_http_query_get("k=", "k", small, 1, NULL), 0);
  CHECK_STREQ(small, "");
}

static void test_next(void) {
  const char *q = "a=1&&b=x+y&flag&c=%zz&d=long-long-value&e=5";
  const char *cur = q;
  char key[8], value[8];
  CHECK_EQ(mu_http_query_next(&cur, key, sizeof key, value, sizeof value), 1);
  CHECK_STREQ(key, "a");
  CHECK_STREQ(value, "1");
  CHECK_EQ(mu_http_query_next(&cur, key, sizeof key, value, sizeof value), 1);
  CHECK_STREQ(key, "b");
  CHECK_STREQ(value, "x y");
  CHECK_EQ(mu_http_query_next(&cur, key, sizeof key, value, sizeof value), 1);
  CHECK_STREQ(key, "flag");
  CHECK_STREQ(value, "");
  CHECK_EQ(mu_http_query_next(&cur, key, sizeof key, value, sizeof value), -EINVAL);
  CHECK_EQ(mu_http_query_next(&cur, key, sizeof key, value, sizeof value), -ENOSPC);
  CHECK_EQ(mu_http_query_next(&cur, key, sizeof key, value, sizeof value), 1);
  CHECK_STREQ(key, "e");
  CHECK_STREQ(value, "5");
  CHECK_EQ(mu_http_query_next(&cur, key, sizeof key, value, sizeof value), 0);
  CHECK_EQ(mu_http_query_next(&cur, key, sizeof key, value, sizeof value), 0);
  CHECK(*cur == '\0');

  const char *empty = "";
  CHECK_EQ(mu_http_query_next(&empty, key, sizeof key, value, sizeof value), 0);
}

/* The query of a parsed request goes straight in. */
static void test_on_request(void) {
  mu_http_parser_t p;
  mu_http_parser_init(&p, NULL);
  static const char k_req[] =
      "GET /search?q=caf%C3%A9+au+lait&page=2&q=second HTTP/1.1\r\nHost: x\r\n\r\n";
  size_t used = 0;
  CHECK_EQ(mu_http_parser_execute(&p, k_req, sizeof k_req - 1, &used),
           MU_HTTP_REQUEST_DONE);
  mu_http_request_t *r = mu_http_parser_take_request(&p);
  CHECK(r != NULL);
  char buf[32];
  size_t len = 0;
  CHECK_EQ(mu_http_query_get(mu_http_request_query(r), "q", buf, sizeof buf, &len), 0);
  CHECK_STREQ(buf, "caf\xc3\xa9 au lait");
  CHECK_EQ(mu_http_query_get(mu_http_request_query(r), "page", buf, sizeof buf, NULL), 0);
  CHECK_STREQ(buf, "2");
  CHECK_EQ(mu_http_query_get(mu_http_request_query(r), "none", buf, sizeof buf, NULL),
           -ENOENT);
  mu_http_request_free(r);
  mu_http_parser_destroy(&p);
}

int main(void) {
  test_get();
  test_next();
  test_on_request();
  printf("http_query: all checks passed\n");
  return 0;
}
