/* Review of logging.h: "Lines longer than 4000 bytes are cut and end in
 * '...'". The front end marked a line as cut whenever it had filled its text
 * area to the last byte, which a message that fits exactly also does: that
 * message lost its last three bytes to a "..." although nothing was cut.
 * Probed around the edge, message by message (fast path and vsnprintf path,
 * plain and with errno text): a line whose text fits keeps every byte and has
 * no "..."; a longer one is cut, says so, and keeps the bytes before the
 * marker. */
#include "cmuduo/cmuduo.h"
#include "test_util.h"

static char g_line[8192];
static size_t g_len;
static int g_count;

static void capture(const char *line, size_t len, void *arg) {
  (void)arg;
  CHECK(len < sizeof g_line);
  memcpy(g_line, line, len);
  g_line[len] = '\0';
  g_len = len;
  g_count++;
}

/* The message text of the captured line: between the level and the location. */
static size_t message_of(const char **msg) {
  const char *start = strstr(g_line, " INFO  ");
  CHECK(start != NULL);
  start += 7;
  const char *end = strstr(start, " - test_base_review_log_cut_marker.c:");
  CHECK(end != NULL);
  *msg = start;
  return (size_t)(end - start);
}

/* Logs a message of `len` bytes ('a'.. then a "<END>" tail) through the fast
 * path or through vsnprintf (a width forces it); returns whether the line said
 * it was cut, after checking every byte it kept. */
static bool log_one(size_t len, bool slow, int errnum) {
  static char text[5000];
  CHECK(len < sizeof text && len >= 5);
  memset(text, 'a', len - 5);
  memcpy(text + len - 5, "<END>", 5);
  text[len] = '\0';
  g_count = 0;
  if (slow) {
    MU_LOG_AT_(MU_LOG_LEVEL_INFO, errnum, "%1s", text);
  } else {
    MU_LOG_AT_(MU_LOG_LEVEL_INFO, errnum, "%s", text);
  }
  CHECK_EQ(g_count, 1);
  /* What the message would be uncut: the text, then the errno text. */
  static char full[5200];
  int flen = snprintf(full, sizeof full, "%s", text);
  if (errnum != 0)
    flen += snprintf(full + flen, sizeof full - (size_t)flen, ": %s (errno=%d)",
                     strerror(errnum), errnum);
  const char *msg;
  size_t n = message_of(&msg);
  bool cut = n >= 3 && memcmp(msg + n - 3, "...", 3) == 0;
  if (cut) {
    /* Said to be cut: something really was, and the rest is intact. */
    if (n >= (size_t)flen)
      printf("  a %zu-byte message marked as cut in a %zu-byte text\n", (size_t)flen, n);
    CHECK(n < (size_t)flen);
    CHECK(memcmp(msg, full, n - 3) == 0);
  } else {
    CHECK_EQ(n, flen);
    CHECK(memcmp(msg, full, n) == 0);
  }
  return cut;
}

static void probe(bool slow, int errnum) {
  /* Find the longest message that is not cut, scanning the edge. */
  size_t longest = 0;
  for (size_t len = 3900; len < 4100; ++len) {
    bool cut = log_one(len, slow, errnum);
    if (!cut) {
      CHECK(longest == len - 1 || longest == 0); /* no gaps: cut stays cut */
      longest = len;
    }
  }
  printf("  %s path%s: longest uncut message %zu bytes, line %zu bytes\n",
         slow ? "vsnprintf" : "fast", errnum ? " + errno" : "", longest, g_len);
  CHECK(longest >= 3900);
}

int main(void) {
  test_time_limit(60);
  mu_log_set_output(capture, NULL);
  mu_log_set_level(MU_LOG_LEVEL_INFO);
  probe(false, 0);
  probe(true, 0);
  probe(false, EINVAL);
  mu_log_set_output(NULL, NULL);
  TEST_PASS("base_review_log_cut_marker");
}
