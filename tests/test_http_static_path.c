/* Static files, the path step: mu_http_static_clean_path turns a URL path into
 * a docroot-relative path, or refuses it. Decoding happens once, before the
 * segments are split, so "%2e%2e" and "..%2f" are the ".." they spell and
 * "%252e%252e" is a harmless name; a bad escape or a NUL is 400, a ".."
 * segment 403, and hidden segments are reported whatever their position. */
#include <errno.h>

#include "http/http_static_internal.h"
#include "test_util.h"

typedef struct path_case {
  const char *raw;
  int rc;           /* 0, -EINVAL, -EACCES */
  const char *want; /* the cleaned path when rc == 0 */
  bool dir_form;
  bool hidden;
} path_case_t;

static const path_case_t k_cases[] = {
    /* plain paths and the root */
    {"/", 0, "", true, false},
    {"/index.html", 0, "index.html", false, false},
    {"/a/b/c.txt", 0, "a/b/c.txt", false, false},
    {"/a/b/", 0, "a/b", true, false},
    {"/a", 0, "a", false, false},
    /* "." and empty segments are dropped */
    {"//", 0, "", true, false},
    {"///a//b///", 0, "a/b", true, false},
    {"/./a/./b/.", 0, "a/b", false, false},
    {"/.", 0, "", false, false},
    {"/./", 0, "", true, false},
    {"/a/./", 0, "a", true, false},
    /* ".." in every spelling is refused, never resolved */
    {"/..", -EACCES, NULL, false, false},
    {"/../", -EACCES, NULL, false, false},
    {"/a/../b", -EACCES, NULL, false, false},
    {"/a/..", -EACCES, NULL, false, false},
    {"/%2e%2e/etc/passwd", -EACCES, NULL, false, false},
    {"/%2E%2E/etc/passwd", -EACCES, NULL, false, false},
    {"/.%2e/x", -EACCES, NULL, false, false},
    {"/%2e./x", -EACCES, NULL, false, false},
    {"/a/..%2fetc", -EACCES, NULL, false, false},
    {"/a%2f..%2f..%2fetc", -EACCES, NULL, false, false},
    {"/a/%2e%2e%2f%2e%2e%2fetc", -EACCES, NULL, false, false},
    /* a bad escape is 400 before anything else counts */
    {"/a/../%zz", -EINVAL, NULL, false, false},
    {"/../a%00", -EINVAL, NULL, false, false},
    /* decoded once: these are names, not dots */
    {"/%252e%252e/x", 0, "%2e%2e/x", false, false},
    {"/...", 0, "...", false, true},
    {"/..../a", 0, "..../a", false, true},
    {"/a..b", 0, "a..b", false, false},
    {"/a/b..", 0, "a/b..", false, false},
    /* %2f is a slash like any other */
    {"/a%2fb", 0, "a/b", false, false},
    {"/a%2F", 0, "a", true, false},
    {"/%2f%2fa", 0, "a", false, false},
    /* escapes decode to their bytes */
    {"/a%20b.txt", 0, "a b.txt", false, false},
    {"/%41%62c", 0, "Abc", false, false},
    {"/caf%C3%A9", 0, "caf\xc3\xa9", false, false},
    {"/a+b", 0, "a+b", false, false},
    {"/a\\..\\b", 0, "a\\..\\b", false, false},
    /* bad escapes and NUL */
    {"/%", -EINVAL, NULL, false, false},
    {"/%4", -EINVAL, NULL, false, false},
    {"/a%", -EINVAL, NULL, false, false},
    {"/a%g0", -EINVAL, NULL, false, false},
    {"/a%0g", -EINVAL, NULL, false, false},
    {"/a%%41", -EINVAL, NULL, false, false},
    {"/a%00", -EINVAL, NULL, false, false},
    {"/%00/..", -EINVAL, NULL, false, false},
    {"/a%00.html", -EINVAL, NULL, false, false},
    /* no leading slash */
    {"", -EINVAL, NULL, false, false},
    {"a/b", -EINVAL, NULL, false, false},
    {"*", -EINVAL, NULL, false, false},
    {"%2fa", -EINVAL, NULL, false, false},
    /* hidden segments, anywhere, also encoded */
    {"/.git/config", 0, ".git/config", false, true},
    {"/a/.env", 0, "a/.env", false, true},
    {"/a/.well-known/", 0, "a/.well-known", true, true},
    {"/%2egit/HEAD", 0, ".git/HEAD", false, true},
    {"/a.b/c.d", 0, "a.b/c.d", false, false},
    {"/./.x", 0, ".x", false, true},
};

static void test_table(void) {
  for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; ++i) {
    const path_case_t *c = &k_cases[i];
    char out[256];
    memset(out, 'x', sizeof out);
    mu_http_clean_path_t info = {99, true, true};
    int rc = mu_http_static_clean_path(c->raw, strlen(c->raw), out, sizeof out, &info);
    if (rc != c->rc) {
      fprintf(stderr, "case \"%s\": rc %d, want %d\n", c->raw, rc, c->rc);
      abort();
    }
    if (rc != 0)
      continue;
    if (strcmp(out, c->want) != 0 || info.len != strlen(c->want) ||
        info.dir_form != c->dir_form || info.hidden != c->hidden) {
      fprintf(stderr,
              "case \"%s\": got \"%s\" len %zu dir %d hidden %d, want \"%s\" dir %d "
              "hidden %d\n",
              c->raw, out, info.len, info.dir_form, info.hidden, c->want, c->dir_form,
              c->hidden);
      abort();
    }
  }
  printf("table: %zu cases\n", sizeof k_cases / sizeof k_cases[0]);
}

/* raw_len is honoured: bytes past it are never read, and a NUL inside it is
 * an error like %00. */
static void test_lengths(void) {
  char out[64];
  mu_http_clean_path_t info;
  CHECK_EQ(mu_http_static_clean_path("/abc/../x", 4, out, sizeof out, &info), 0);
  CHECK_STREQ(out, "abc");
  CHECK_EQ(mu_http_static_clean_path("/a%41", 3, out, sizeof out, &info), -EINVAL);
  static const char with_nul[] = {'/', 'a', '\0', 'b'};
  CHECK_EQ(mu_http_static_clean_path(with_nul, sizeof with_nul, out, sizeof out, &info),
           -EINVAL);
  /* info may be NULL */
  CHECK_EQ(mu_http_static_clean_path("/q", 2, out, sizeof out, NULL), 0);
  CHECK_STREQ(out, "q");
}

/* out_size bounds the result with its NUL; too small is -ENAMETOOLONG, but a
 * bad escape or ".." later in the path still gives its own answer, and
 * nothing is written past out_size. */
static void test_out_size(void) {
  char out[16];
  mu_http_clean_path_t info;
  memset(out, 'x', sizeof out);
  CHECK_EQ(mu_http_static_clean_path("/abcd", 5, out, 5, &info), 0);
  CHECK_STREQ(out, "abcd");
  memset(out, 'x', sizeof out);
  CHECK_EQ(mu_http_static_clean_path("/abcde", 6, out, 5, &info), -ENAMETOOLONG);
  CHECK_EQ(out[5], 'x');
  memset(out, 'x', sizeof out);
  CHECK_EQ(mu_http_static_clean_path("/ab/cd", 6, out, 6, &info), 0);
  CHECK_STREQ(out, "ab/cd");
  CHECK_EQ(mu_http_static_clean_path("/ab/cde", 7, out, 6, &info), -ENAMETOOLONG);
  CHECK_EQ(out[6], 'x');
  /* dropped segments cost nothing */
  CHECK_EQ(mu_http_static_clean_path("/./././ab//./", 13, out, 3, &info), 0);
  CHECK_STREQ(out, "ab");
  CHECK_EQ(mu_http_static_clean_path("/abcdefgh/../x", 14, out, 4, &info), -EACCES);
  CHECK_EQ(mu_http_static_clean_path("/abcdefgh/%zz", 13, out, 4, &info), -EINVAL);
  CHECK_EQ(mu_http_static_clean_path("/", 1, out, 1, &info), 0);
  CHECK_STREQ(out, "");
  CHECK_EQ(mu_http_static_clean_path("/", 1, out, 0, &info), -ENAMETOOLONG);
  CHECK_EQ(mu_http_static_clean_path("/a", 2, out, 1, &info), -ENAMETOOLONG);
}

/* Every byte value in every position: nothing crashes, every accepted result
 * is a clean relative path (no empty, "." or ".." segment, no leading or
 * trailing '/', no NUL). */
static void check_clean(const char *out, size_t len) {
  CHECK_EQ(strlen(out), len);
  if (len == 0)
    return;
  CHECK(out[0] != '/' && out[len - 1] != '/');
  const char *seg = out;
  for (const char *p = out;; ++p) {
    if (*p == '/' || *p == '\0') {
      size_t n = (size_t)(p - seg);
      CHECK(n > 0);
      CHECK(!(n == 1 && seg[0] == '.'));
      CHECK(!(n == 2 && seg[0] == '.' && seg[1] == '.'));
      if (*p == '\0')
        break;
      seg = p + 1;
    }
  }
}

static void test_random(void) {
  static const char k_alphabet[] = "/.%2eEfF0a/..%";
  uint64_t x = 88172645463325252ULL;
  int accepted = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    char raw[24];
    raw[0] = '/';
    size_t len = 1 + (size_t)(iter % 20);
    for (size_t i = 1; i < len; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      raw[i] =
          (x & 0x700) == 0 ? (char)(x & 0xff) : k_alphabet[x % (sizeof k_alphabet - 1)];
    }
    char out[32];
    mu_http_clean_path_t info;
    int rc = mu_http_static_clean_path(raw, len, out, sizeof out, &info);
    CHECK(rc == 0 || rc == -EINVAL || rc == -EACCES);
    if (rc == 0) {
      check_clean(out, info.len);
      ++accepted;
    }
  }
  printf("random: %d of 200000 accepted, all clean\n", accepted);
}

int main(void) {
  test_time_limit(60);
  test_table();
  test_lengths();
  test_out_size();
  test_random();
  printf("http_static_path: OK\n");
  return 0;
}
