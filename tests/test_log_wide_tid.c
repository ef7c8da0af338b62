/* A log line carries the whole thread id. The ids are 6 digits wide in the
 * line, but Linux gives out ids up to pid_max, which is 4194304 on many
 * systems: a 7-digit id must not lose its last digit. This machine's ids are
 * small, so the test links with --wrap=mu_current_thread_tid_string (see
 * tests/CMakeLists.txt) and makes the logger see the id it chooses. */
#include <string.h>

#include "cmuduo/base/logging.h"
#include "test_util.h"

const char *__real_mu_current_thread_tid_string(void);
const char *__wrap_mu_current_thread_tid_string(void);

static const char *g_tid = NULL; /* NULL: the real one */

const char *__wrap_mu_current_thread_tid_string(void) {
  return g_tid != NULL ? g_tid : __real_mu_current_thread_tid_string();
}

static char g_line[8192];

static void capture(const char *line, size_t len, void *arg) {
  (void)arg;
  CHECK(len < sizeof g_line);
  memcpy(g_line, line, len);
  g_line[len] = '\0';
}

/* Logs one line with the logger seeing TID, and checks it shows " TID WARN ". */
static void expect_tid_in_line(const char *tid) {
  g_tid = tid;
  g_line[0] = '\0';
  MU_LOG_WARN("hello");
  char want[64];
  snprintf(want, sizeof want, " %s WARN  hello", tid);
  if (strstr(g_line, want) == NULL) {
    fprintf(stderr, "tid %s: want \"%s\" in the line, got: %s", tid, want, g_line);
    CHECK(!"the line does not carry the whole thread id");
  }
}

int main(void) {
  mu_log_set_output(capture, NULL);
  expect_tid_in_line("  1234");
  expect_tid_in_line("999999");
  expect_tid_in_line("1000000");
  expect_tid_in_line("4194304");
  /* The real id, as formatted for lines: the whole string, padded to 6. */
  g_tid = NULL;
  const char *real = __real_mu_current_thread_tid_string();
  CHECK(strlen(real) >= 6);
  expect_tid_in_line(real);
  printf("log lines carry the whole thread id\n");
  return 0;
}
