/* Review of logging.h: mu_log_write(level, ...) is public (the macros call it,
 * and so may a program with its own level mapping). A level outside
 * TRACE..FATAL indexed the level-name table out of bounds: a crash (SIGSEGV)
 * or garbage in the line. A bad call gets a clear result, never a crash: the
 * line is written whole, its level shown as "?", and it neither aborts nor
 * is lost. Valid levels are unchanged. */
#include <limits.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

static char g_line[8192];
static int g_count;

static void capture(const char *line, size_t len, void *arg) {
  (void)arg;
  CHECK(len < sizeof g_line);
  memcpy(g_line, line, len);
  g_line[len] = '\0';
  g_count++;
}

static void check_bad(int level) {
  g_count = 0;
  mu_log_write((mu_log_level_t)level, "bad.c", 7, "caller", 0, "level %d here", level);
  CHECK_EQ(g_count, 1);
  printf("  level %d: %s", level, g_line);
  char want[64];
  snprintf(want, sizeof want, " ?     level %d here - bad.c:7\n", level);
  CHECK(strstr(g_line, want) != NULL);
}

int main(void) {
  test_time_limit(30);
  mu_log_set_output(capture, NULL);
  check_bad(MU_LOG_LEVEL_COUNT);
  check_bad(MU_LOG_LEVEL_COUNT + 1);
  check_bad(-1);
  check_bad(INT_MAX);
  check_bad(INT_MIN);
  /* Valid levels as before. */
  g_count = 0;
  mu_log_write(MU_LOG_LEVEL_WARN, "ok.c", 3, "caller", 0, "fine");
  CHECK_EQ(g_count, 1);
  CHECK(strstr(g_line, " WARN  fine - ok.c:3\n") != NULL);
  mu_log_write(MU_LOG_LEVEL_DEBUG, "ok.c", 4, "caller", 0, "fine");
  CHECK(strstr(g_line, " DEBUG caller fine - ok.c:4\n") != NULL);
  mu_log_set_output(NULL, NULL);
  TEST_PASS("base_review_log_bad_level");
}
