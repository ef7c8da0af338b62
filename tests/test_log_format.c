/* The logger's own formatter against the C library's: every conversion the
 * logging front end formats itself (%d %i %u %x %s %c %p %% with the length
 * modifiers l, ll, z and j) and the ones it hands to vsnprintf (flags, width,
 * precision, %X, %f, h, hh, ...) must give exactly what snprintf gives for the
 * same format and arguments, at the extremes of each type. */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#include "cmuduo/base/logging.h"
#include "test_util.h"

enum { k_cap = 8192 };

static char g_line[k_cap];
static size_t g_len;
static int g_calls;

static void capture(const char *line, size_t len, void *arg) {
  (void)arg;
  CHECK(len < k_cap);
  memcpy(g_line, line, len);
  g_line[len] = '\0';
  g_len = len;
  g_calls++;
}

/* The message of the captured line: after the level name ("WARN  "), before
 * the " - file:line\n" tail. */
static void message_of_line(char *out, size_t cap) {
  const char *start = strstr(g_line, " WARN  ");
  CHECK(start != NULL);
  start += strlen(" WARN  ");
  const char *tail = NULL;
  for (const char *p = strstr(start, " - "); p != NULL; p = strstr(p + 1, " - "))
    tail = p;
  CHECK(tail != NULL);
  size_t len = (size_t)(tail - start);
  CHECK(len < cap);
  memcpy(out, start, len);
  out[len] = '\0';
}

static int g_failures;

/* Logs FMT with its arguments and compares the message with snprintf's. */
#define EXPECT_SAME(...)                                                            \
  do {                                                                              \
    char want_[k_cap], got_[k_cap];                                                 \
    snprintf(want_, sizeof want_, __VA_ARGS__);                                     \
    int before_ = g_calls;                                                          \
    MU_LOG_WARN(__VA_ARGS__);                                                       \
    CHECK(g_calls == before_ + 1);                                                  \
    message_of_line(got_, sizeof got_);                                             \
    if (strcmp(want_, got_) != 0) {                                                 \
      fprintf(stderr, "line %d: format %s: want \"%s\", logged \"%s\"\n", __LINE__, \
              #__VA_ARGS__, want_, got_);                                           \
      g_failures++;                                                                 \
    }                                                                               \
  } while (0)

static void test_integers(void) {
  EXPECT_SAME("%d %d %d %d %i", 0, -1, INT_MIN, INT_MAX, -42);
  EXPECT_SAME("%u %u %x %x %x", 0u, UINT_MAX, 0u, 0xdeadbeefu, UINT_MAX);
  EXPECT_SAME("%ld %ld %ld %lu %lx", LONG_MIN, LONG_MAX, 0L, ULONG_MAX, ULONG_MAX);
  EXPECT_SAME("%lld %lld %llu %llx", LLONG_MIN, LLONG_MAX, ULLONG_MAX,
              0x123456789abcdefULL);
  EXPECT_SAME("%zd %zd %zu %zx", (ssize_t)-5, (ssize_t)SSIZE_MAX, SIZE_MAX, (size_t)4096);
  EXPECT_SAME("%jd %jd %ju %jx", INTMAX_MIN, INTMAX_MAX, UINTMAX_MAX, (uintmax_t)255);
  /* 1, 2, ... 20 digits: every step of the two-digit conversion. */
  uint64_t v = 1;
  for (int i = 0; i < 20; ++i, v = v * 10 + (uint64_t)(i % 10))
    EXPECT_SAME("%" PRIu64 " %" PRId64 " %" PRIx64, v, -(int64_t)(v / 2), v);
}

static void test_strings_and_others(void) {
  const char *volatile null_str = NULL; /* volatile: no compile-time null warning */
  EXPECT_SAME("[%s] [%s] [%s]", "", "plain", "with %d inside");
  EXPECT_SAME("%s", null_str);
  EXPECT_SAME("%c%c%c", 'a', '%', '~');
  int x = 0;
  void *volatile null_ptr = NULL;
  EXPECT_SAME("%p %p", (void *)&x, null_ptr);
  EXPECT_SAME("100%% %d%%", 5);
  EXPECT_SAME("no conversion at all");
  EXPECT_SAME("%s=%d, %s=%lu; %c", "a", -3, "b", 7UL, 'z');
}

/* What the fast path does not take: vsnprintf formats the whole message. */
static void test_handed_over(void) {
  EXPECT_SAME("[%5d] [%-5d] [%05d] [%+d] [% d]", 42, 42, 42, 42, 42);
  EXPECT_SAME("[%8s] [%-8s] [%.3s] [%.*s]", "ab", "ab", "abcdef", 2, "xyz");
  EXPECT_SAME("%X %#x %o %#o", 0xabcu, 0xabcu, 8u, 8u);
  EXPECT_SAME("%f %.2f %e %g", 1.5, 3.14159, 12345.678, 0.0001);
  EXPECT_SAME("%hd %hhd %hu %hhu", (short)-7, (signed char)-8, (unsigned short)65535,
              (unsigned char)255);
  EXPECT_SAME("%d then %5s", 1, "late"); /* fast for the first, not the second */
  EXPECT_SAME("%lld then %08llx", -1LL, 255ULL);
}

/* A message longer than a line holds is cut, never overflowing: the logged
 * message is a prefix of snprintf's, marked "..." where it was cut. */
static void test_long(void) {
  static char big[3 * k_cap];
  memset(big, 'q', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  MU_LOG_WARN("%d:%s:%x", 7, big, 0xffu);
  char got[k_cap];
  message_of_line(got, sizeof got);
  size_t len = strlen(got);
  CHECK(len > 1000 && len < k_cap);
  CHECK(strncmp(got, "7:qqq", 5) == 0);
  CHECK(strcmp(got + len - 3, "...") == 0);
  CHECK(strspn(got + 2, "q") == len - 5);
}

int main(void) {
  mu_log_set_output(capture, NULL);
  test_integers();
  test_strings_and_others();
  test_handed_over();
  test_long();
  mu_log_set_output(NULL, NULL);
  if (g_failures != 0) {
    fprintf(stderr, "%d format(s) differ from snprintf\n", g_failures);
    return 1;
  }
  printf("log_format: OK\n");
  return 0;
}
