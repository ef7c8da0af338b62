/* Logging front end: level parsing and the environment, the line format, level
 * filtering, errno text, truncation, whole lines from many threads, FATAL. */
#include <pthread.h>
#include <regex.h>
#include <sys/syscall.h>

#include "cmuduo/base/current_thread.h"
#include "cmuduo/base/logging.h"
#include "cmuduo/base/timestamp.h"
#include "test_util.h"

#define K_PRINT_LEVEL_ARG "--print-log-level"

/* ---- captured output ---------------------------------------------------- */

enum { k_max_lines = 64, k_line_cap = 8192 };

typedef struct capture {
  pthread_mutex_t mutex;
  int count;
  char lines[k_max_lines][k_line_cap];
  size_t lens[k_max_lines];
} capture_t;

static capture_t g_cap = {.mutex = PTHREAD_MUTEX_INITIALIZER};

/* Each call must be exactly one line: no NUL inside, one '\n', at the end. */
static void check_whole_line(const char *line, size_t len) {
  CHECK(len > 0);
  CHECK(line[len - 1] == '\n');
  CHECK(memchr(line, '\n', len) == line + len - 1);
  CHECK(memchr(line, '\0', len) == NULL);
}

static void capture_output(const char *line, size_t len, void *arg) {
  capture_t *cap = arg;
  check_whole_line(line, len);
  pthread_mutex_lock(&cap->mutex);
  CHECK(cap->count < k_max_lines);
  CHECK(len < k_line_cap);
  memcpy(cap->lines[cap->count], line, len);
  cap->lines[cap->count][len] = '\0';
  cap->lens[cap->count] = len;
  cap->count++;
  pthread_mutex_unlock(&cap->mutex);
}

static void capture_reset(void) {
  pthread_mutex_lock(&g_cap.mutex);
  g_cap.count = 0;
  pthread_mutex_unlock(&g_cap.mutex);
}

static const char *capture_line(int i) {
  CHECK(i < g_cap.count);
  return g_cap.lines[i];
}

/* True if `line` ends with " - test_logging.c:<line_no>\n". */
static bool ends_with_location(const char *line, int line_no) {
  char tail[64];
  snprintf(tail, sizeof tail, " - test_logging.c:%d\n", line_no);
  size_t n = strlen(line), t = strlen(tail);
  return n >= t && strcmp(line + n - t, tail) == 0;
}

/* ---- level parsing and MU_LOG_LEVEL ------------------------------------- */

static void test_level_parse(void) {
  static const struct {
    const char *text;
    int level;
  } k_cases[] = {
      {"TRACE", MU_LOG_LEVEL_TRACE},
      {"trace", MU_LOG_LEVEL_TRACE},
      {"DeBuG", MU_LOG_LEVEL_DEBUG},
      {"INFO", MU_LOG_LEVEL_INFO},
      {"info", MU_LOG_LEVEL_INFO},
      {"Warn", MU_LOG_LEVEL_WARN},
      {"ERROR", MU_LOG_LEVEL_ERROR},
      {"error", MU_LOG_LEVEL_ERROR},
      {"fatal", MU_LOG_LEVEL_FATAL},
      {"0", 0},
      {"1", 1},
      {"2", 2},
      {"3", 3},
      {"4", 4},
      {"5", 5},
      {"6", -1},
      {"9", -1},
      {"-1", -1},
      {"12", -1},
      {"01", -1},
      {"", -1},
      {"INF", -1},
      {"INFOX", -1},
      {"INFO ", -1},
      {" INFO", -1},
      {"WARNING", -1},
      {"junk", -1},
      {"T", -1},
  };
  for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; ++i) {
    int got = mu_log_level_parse(k_cases[i].text);
    if (got != k_cases[i].level) {
      fprintf(stderr, "parse(\"%s\") = %d, want %d\n", k_cases[i].text, got,
              k_cases[i].level);
      abort();
    }
  }
  CHECK_EQ(mu_log_level_parse(NULL), -1);
}

/* The level is read by a constructor when the program loads, so each case runs
 * this very binary afresh with the variable set. */
static void exec_self_with_level(void *arg) {
  const char *value = arg;
  if (value != NULL) {
    setenv("MU_LOG_LEVEL", value, 1);
  } else {
    unsetenv("MU_LOG_LEVEL");
  }
  execl("/proc/self/exe", "test_logging", K_PRINT_LEVEL_ARG, (char *)NULL);
  perror("execl");
  _exit(3);
}

static void check_env_level(const char *value, int want) {
  char out[4096];
  int status = test_run_in_child(exec_self_with_level, (void *)value, out, sizeof out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char expect[32];
  snprintf(expect, sizeof expect, "level=%d\n", want);
  if (strstr(out, expect) == NULL) {
    fprintf(stderr, "MU_LOG_LEVEL=%s: want \"%s\", child printed:\n%s\n",
            value ? value : "(unset)", expect, out);
    abort();
  }
}

static void test_env_level(void) {
  check_env_level("debug", MU_LOG_LEVEL_DEBUG);
  check_env_level("WARN", MU_LOG_LEVEL_WARN);
  check_env_level("tRaCe", MU_LOG_LEVEL_TRACE);
  check_env_level("4", MU_LOG_LEVEL_ERROR);
  check_env_level("5", MU_LOG_LEVEL_FATAL);
  /* Junk, empty and absent all mean the default, INFO. */
  check_env_level("junk", MU_LOG_LEVEL_INFO);
  check_env_level("7", MU_LOG_LEVEL_INFO);
  check_env_level("", MU_LOG_LEVEL_INFO);
  check_env_level(NULL, MU_LOG_LEVEL_INFO);
}

static void test_set_level(void) {
  mu_log_set_level(MU_LOG_LEVEL_ERROR);
  CHECK_EQ(mu_log_level(), MU_LOG_LEVEL_ERROR);
  /* Out-of-range values are ignored rather than stored. */
  mu_log_set_level(MU_LOG_LEVEL_COUNT);
  CHECK_EQ(mu_log_level(), MU_LOG_LEVEL_ERROR);
  mu_log_set_level((mu_log_level_t)-1);
  CHECK_EQ(mu_log_level(), MU_LOG_LEVEL_ERROR);
  mu_log_set_level(MU_LOG_LEVEL_INFO);
  CHECK_EQ(mu_log_level(), MU_LOG_LEVEL_INFO);
}

/* ---- format ------------------------------------------------------------- */

static void test_line_format(void) {
  capture_reset();
  mu_log_set_level(MU_LOG_LEVEL_INFO);
  char before[MU_TIMESTAMP_STRLEN], after[MU_TIMESTAMP_STRLEN];
  mu_timestamp_to_formatted_string(mu_timestamp_now(), true, before, sizeof before);
  const int line_no = __LINE__ + 1;
  MU_LOG_INFO("hello %d %s", 42, "world");
  mu_timestamp_to_formatted_string(mu_timestamp_now(), true, after, sizeof after);
  CHECK_EQ(g_cap.count, 1);
  const char *line = capture_line(0);
  CHECK_EQ(g_cap.lens[0], strlen(line));

  regex_t re;
  CHECK(regcomp(&re,
                "^[0-9]{8} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z [ 0-9]{5}[0-9] INFO  "
                "hello 42 world - test_logging\\.c:[0-9]+\n$",
                REG_EXTENDED | REG_NOSUB) == 0);
  int rc = regexec(&re, line, 0, NULL, 0);
  regfree(&re);
  if (rc != 0) {
    fprintf(stderr, "bad line format: \"%s\"\n", line);
    abort();
  }
  CHECK(ends_with_location(line, line_no));
  /* UTC time of the call: between the readings taken around it (fixed-width
   * digits, so string order is time order). */
  CHECK(strncmp(line, before, 24) >= 0);
  CHECK(strncmp(line, after, 24) <= 0);
  /* The calling thread's id, right-aligned in six columns. */
  CHECK(strncmp(line + 26, mu_current_thread_tid_string(), 6) == 0);
  CHECK_EQ(strtol(line + 26, NULL, 10), syscall(SYS_gettid));
}

static void emit_all_levels(void) {
  MU_LOG_TRACE("msg-trace");
  MU_LOG_DEBUG("msg-debug");
  MU_LOG_INFO("msg-info");
  MU_LOG_WARN("msg-warn");
  MU_LOG_ERROR("msg-error");
}

static bool captured_contains(const char *needle) {
  for (int i = 0; i < g_cap.count; ++i) {
    if (strstr(g_cap.lines[i], needle) != NULL)
      return true;
  }
  return false;
}

static void test_filtering(void) {
  mu_log_set_level(MU_LOG_LEVEL_WARN);
  capture_reset();
  emit_all_levels();
  CHECK_EQ(g_cap.count, 2);
  CHECK(strstr(capture_line(0), " WARN  msg-warn - ") != NULL);
  CHECK(strstr(capture_line(1), " ERROR msg-error - ") != NULL);

  mu_log_set_level(MU_LOG_LEVEL_TRACE);
  capture_reset();
  emit_all_levels();
  CHECK_EQ(g_cap.count, 5);
  /* TRACE and DEBUG name the function; INFO and above do not. */
  CHECK(strstr(capture_line(0), " TRACE emit_all_levels msg-trace - ") != NULL);
  CHECK(strstr(capture_line(1), " DEBUG emit_all_levels msg-debug - ") != NULL);
  CHECK(strstr(capture_line(2), " INFO  msg-info - ") != NULL);
  CHECK(!captured_contains("INFO  emit_all_levels"));

  mu_log_set_level(MU_LOG_LEVEL_ERROR);
  capture_reset();
  emit_all_levels();
  CHECK_EQ(g_cap.count, 1);
  CHECK(captured_contains("msg-error"));
  mu_log_set_level(MU_LOG_LEVEL_INFO);
}

static void test_syserr(void) {
  capture_reset();
  errno = ENOENT;
  const int line_no = __LINE__ + 1;
  MU_LOG_SYSERR("open %s", "/nonexistent");
  CHECK_EQ(g_cap.count, 1);
  char expect[256];
  snprintf(expect, sizeof expect, " ERROR open /nonexistent: %s (errno=%d) - ",
           strerror(ENOENT), ENOENT);
  CHECK(strstr(capture_line(0), expect) != NULL);
  CHECK(ends_with_location(capture_line(0), line_no));

  /* errno 0: nothing appended. */
  capture_reset();
  errno = 0;
  MU_LOG_SYSERR("no error");
  CHECK_EQ(g_cap.count, 1);
  CHECK(strstr(capture_line(0), " ERROR no error - ") != NULL);
  CHECK(strstr(capture_line(0), "errno=") == NULL);

  CHECK_STREQ(mu_strerror_tl(EINVAL), strerror(EINVAL));
}

static void test_long_message(void) {
  static char big[10000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  capture_reset();
  const int line_no = __LINE__ + 1;
  MU_LOG_INFO("%s", big);
  CHECK_EQ(g_cap.count, 1);
  const char *line = capture_line(0);
  size_t len = g_cap.lens[0];
  CHECK(len < 4096);
  CHECK(ends_with_location(line, line_no));
  /* The message is cut, says so, and keeps most of the text. */
  const char *tail = strstr(line, "... - test_logging.c:");
  CHECK(tail != NULL);
  const char *msg = strstr(line, " INFO  ") + 7;
  CHECK(tail - msg > 3900);
  for (const char *p = msg; p < tail; ++p)
    CHECK(*p == 'a');

  /* A message that fits is not cut. */
  capture_reset();
  MU_LOG_INFO("%.3000s", big);
  CHECK_EQ(g_cap.count, 1);
  CHECK(strstr(capture_line(0), "...") == NULL);
  CHECK(strstr(capture_line(0), " - test_logging.c:") -
            strstr(capture_line(0), " INFO  ") ==
        3000 + 7);
}

/* ---- output and flush functions ----------------------------------------- */

static int g_flush_calls;
static void *g_flush_arg;

static void count_flush(void *arg) {
  g_flush_calls++;
  g_flush_arg = arg;
}

static void test_flush(void) {
  int token;
  mu_log_set_flush(count_flush, &token);
  mu_log_flush();
  mu_log_flush();
  CHECK_EQ(g_flush_calls, 2);
  CHECK(g_flush_arg == &token);
  /* Restored: the default flushes stdout, not our function. */
  mu_log_set_flush(NULL, NULL);
  mu_log_flush();
  CHECK_EQ(g_flush_calls, 2);
}

static void log_to_default_output(void *arg) {
  (void)arg;
  mu_log_set_output(NULL, NULL);
  MU_LOG_WARN("to-stdout-%d", 7);
}

static void test_default_output(void) {
  char out[4096];
  int status = test_run_in_child(log_to_default_output, NULL, out, sizeof out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(strstr(out, " WARN  to-stdout-7 - test_logging.c:") != NULL);
}

/* ---- many threads ------------------------------------------------------- */

enum { k_threads = 8, k_lines_per_thread = 400 };

typedef struct mt_state {
  pthread_mutex_t mutex;
  pid_t tids[k_threads];
  int counts[k_threads];
  int next_seq[k_threads];
  int bad_lines;
} mt_state_t;

static mt_state_t g_mt = {.mutex = PTHREAD_MUTEX_INITIALIZER};

/* Parses "... <tid> INFO  mt t=<t> seq=<s> pad=<xxx> - file:line\n". */
static void mt_output(const char *line, size_t len, void *arg) {
  mt_state_t *st = arg;
  check_whole_line(line, len);
  int tid = (int)strtol(line + 26, NULL, 10);
  int t = -1, seq = -1;
  const char *p = strstr(line, " INFO  mt t=");
  pthread_mutex_lock(&st->mutex);
  if (p == NULL || sscanf(p, " INFO  mt t=%d seq=%d", &t, &seq) != 2 || t < 0 ||
      t >= k_threads || tid != st->tids[t] || seq != st->next_seq[t] ||
      strstr(line, " - test_logging.c:") == NULL) {
    st->bad_lines++;
  } else {
    st->counts[t]++;
    st->next_seq[t]++;
  }
  pthread_mutex_unlock(&st->mutex);
}

static void *mt_worker(void *arg) {
  int t = (int)(intptr_t)arg;
  /* Recorded before this thread logs, so the output function can match each
   * line's tid field to the thread that wrote it. */
  pthread_mutex_lock(&g_mt.mutex);
  g_mt.tids[t] = mu_current_thread_tid();
  pthread_mutex_unlock(&g_mt.mutex);
  char pad[201];
  memset(pad, 'a' + t, sizeof pad - 1);
  pad[sizeof pad - 1] = '\0';
  for (int i = 0; i < k_lines_per_thread; ++i)
    MU_LOG_INFO("mt t=%d seq=%d %s", t, i, pad);
  return NULL;
}

static void test_many_threads(void) {
  mu_log_set_output(mt_output, &g_mt);
  pthread_t th[k_threads];
  for (int t = 0; t < k_threads; ++t)
    g_mt.tids[t] = -1;
  for (int t = 0; t < k_threads; ++t) {
    CHECK(pthread_create(&th[t], NULL, mt_worker, (void *)(intptr_t)t) == 0);
  }
  for (int t = 0; t < k_threads; ++t)
    CHECK(pthread_join(th[t], NULL) == 0);
  mu_log_set_output(capture_output, &g_cap);
  CHECK_EQ(g_mt.bad_lines, 0);
  for (int t = 0; t < k_threads; ++t)
    CHECK_EQ(g_mt.counts[t], k_lines_per_thread);
}

/* ---- FATAL -------------------------------------------------------------- */

static char g_fatal_line[k_line_cap];

static void fatal_output(const char *line, size_t len, void *arg) {
  (void)arg;
  if (len >= sizeof g_fatal_line)
    len = sizeof g_fatal_line - 1;
  memcpy(g_fatal_line, line, len);
  g_fatal_line[len] = '\0';
}

/* Proves the flush came after the line was delivered, and before abort(). */
static void fatal_flush(void *arg) {
  const char *needle = arg;
  const char *verdict = strstr(g_fatal_line, needle) ? "flushed-after-fatal-line\n"
                                                     : "flushed-without-line\n";
  ssize_t n = write(STDERR_FILENO, verdict, strlen(verdict));
  (void)n;
}

static void die_fatal(void *arg) {
  (void)arg;
  mu_log_set_output(fatal_output, NULL);
  mu_log_set_flush(fatal_flush, (void *)" FATAL boom 7 - test_logging.c:");
  MU_LOG_FATAL("boom %d", 7);
}

static void die_sysfatal(void *arg) {
  (void)arg;
  static char needle[128];
  snprintf(needle, sizeof needle, " FATAL sysboom: %s (errno=%d) - ", strerror(EACCES),
           EACCES);
  mu_log_set_output(fatal_output, NULL);
  mu_log_set_flush(fatal_flush, needle);
  errno = EACCES;
  MU_LOG_SYSFATAL("sysboom");
}

/* A FATAL line through mu_log_write (a FATAL level given at run time). */
static void die_write_fatal(void *arg) {
  (void)arg;
  mu_log_set_output(fatal_output, NULL);
  mu_log_set_flush(fatal_flush, (void *)" FATAL runtime - ");
  mu_log_write(MU_LOG_LEVEL_FATAL, "x.c", 1, "f", 0, "runtime");
}

/* Default output and flush: the FATAL line reaches stdout before the abort. */
static void die_fatal_default(void *arg) {
  (void)arg;
  mu_log_set_output(NULL, NULL);
  mu_log_set_flush(NULL, NULL);
  MU_LOG_FATAL("default-fatal");
}

static void test_fatal(void) {
  test_expect_death(die_fatal, NULL, "flushed-after-fatal-line");
  test_expect_death(die_sysfatal, NULL, "flushed-after-fatal-line");
  test_expect_death(die_write_fatal, NULL, "flushed-after-fatal-line");
  test_expect_death(die_fatal_default, NULL, " FATAL default-fatal - test_logging.c:");
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], K_PRINT_LEVEL_ARG) == 0) {
    printf("level=%d\n", (int)mu_log_level());
    return 0;
  }
  test_time_limit(120);
  mu_log_set_level(MU_LOG_LEVEL_INFO); /* whatever MU_LOG_LEVEL this run has */
  test_level_parse();
  test_env_level();
  test_set_level();
  test_default_output();
  mu_log_set_output(capture_output, &g_cap);
  test_line_format();
  test_filtering();
  test_syserr();
  test_long_message();
  test_flush();
  test_many_threads();
  test_fatal();
  mu_log_set_output(NULL, NULL);
  TEST_PASS("logging");
}
