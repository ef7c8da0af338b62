/* AsyncLogging at the end of a process, each case in a child: exit() without
 * stop flushes every line (also with a thread still logging, and when exit() is
 * called by the back-end thread itself); FATAL flushes before abort() from a
 * logging thread, from the back-end thread (a sink that logs FATAL: no
 * deadlock, the rest is written), and from inside the logger's locked section
 * (a sink under the fallback, and during stop's final pass). */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "cmuduo/base/async_logging.h"
#include "cmuduo/base/logging.h"
#include "test_util.h"

static char g_dir[64];

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of g_dir in name order, concatenated; removes them. */
static char *slurp_dir(void) {
  DIR *d = opendir(g_dir);
  CHECK(d != NULL);
  char *names[256];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    CHECK(n < 256);
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], cmp_str);
  char *all = calloc(1, 1);
  size_t len = 0;
  for (int i = 0; i < n; ++i) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    all = realloc(all, len + (size_t)sz + 1);
    CHECK(all != NULL);
    CHECK(fread(all + len, 1, (size_t)sz, fp) == (size_t)sz);
    fclose(fp);
    len += (size_t)sz;
    all[len] = '\0';
    CHECK(unlink(path) == 0);
    free(names[i]);
  }
  return all;
}

static void base_path(char *buf, size_t len) {
  snprintf(buf, len, "%s/child", g_dir);
}

/* A logger that would keep lines for an hour: only stop, flush, exit or FATAL
 * can put them in the file. */
static mu_async_logging_t *setup_slow_flush(void) {
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.flush_interval = 3600;
  char base[128];
  base_path(base, sizeof base);
  mu_async_logging_t *al = mu_async_logging_setup(base, &o);
  CHECK(al != NULL);
  return al;
}

/* Counts lines holding "<tag> <seq>" and checks seq runs 0..n-1 in order. */
static long count_seq(const char *all, const char *tag, bool allow_partial_end) {
  char needle[64];
  snprintf(needle, sizeof needle, " %s ", tag);
  size_t nlen = strlen(needle);
  long next = 0;
  for (const char *p = all; *p;) {
    const char *nl = strchr(p, '\n');
    if (nl == NULL) {
      CHECK(allow_partial_end); /* only a line cut by the process's end */
      break;
    }
    const char *m = memmem(p, (size_t)(nl - p), needle, nlen);
    if (m) {
      if (strtol(m + nlen, NULL, 10) != next)
        fprintf(stderr, "at: %.300s\n", p);
      CHECK_EQ(strtol(m + nlen, NULL, 10), next);
      next++;
    }
    p = nl + 1;
  }
  return next;
}

/* ---- exit --------------------------------------------------------------- */

enum { k_exit_lines = 5000 };

static void *log_k_lines(void *arg) {
  (void)arg;
  for (int i = 0; i < k_exit_lines; ++i)
    MU_LOG_INFO("side %d", i);
  return NULL;
}

static void child_exit_without_stop(void *arg) {
  (void)arg;
  setup_slow_flush();
  pthread_t th;
  CHECK(pthread_create(&th, NULL, log_k_lines, NULL) == 0);
  for (int i = 0; i < k_exit_lines; ++i)
    MU_LOG_INFO("main %d", i);
  CHECK(pthread_join(th, NULL) == 0);
  exit(0); /* no stop, no free: the atexit handler must flush */
}

static void test_exit_flushes(void) {
  char out[8192];
  int status = test_run_in_child(child_exit_without_stop, NULL, out, sizeof out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char *all = slurp_dir();
  CHECK_EQ(count_seq(all, "main", false), k_exit_lines);
  CHECK_EQ(count_seq(all, "side", false), k_exit_lines);
  free(all);
}

static _Atomic int g_bg_started;

static void *log_until_killed(void *arg) {
  (void)arg;
  for (int i = 0; i < 2000000; ++i) {
    MU_LOG_INFO("bg %d", i);
    if (i == 1000)
      atomic_store(&g_bg_started, 1);
  }
  return NULL;
}

/* exit() while another thread is still logging: every line the main thread
 * logged is in the file, the other thread's lines form a gap-free prefix. */
static void child_exit_while_logging(void *arg) {
  (void)arg;
  setup_slow_flush();
  pthread_t th;
  CHECK(pthread_create(&th, NULL, log_until_killed, NULL) == 0);
  while (!atomic_load(&g_bg_started))
    usleep(100);
  for (int i = 0; i < k_exit_lines; ++i)
    MU_LOG_INFO("main %d", i);
  exit(0);
}

static void test_exit_while_logging(void) {
  char out[8192];
  int status = test_run_in_child(child_exit_while_logging, NULL, out, sizeof out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char *all = slurp_dir();
  CHECK_EQ(count_seq(all, "main", true), k_exit_lines);
  long bg = count_seq(all, "bg", true);
  CHECK(bg > 1000);
  printf("exit while logging: %d main lines, %ld lines of the other thread\n",
         k_exit_lines, bg);
  free(all);
}

/* ---- FATAL from a logging thread ---------------------------------------- */

static void child_fatal(void *arg) {
  (void)arg;
  setup_slow_flush();
  for (int i = 0; i < k_exit_lines; ++i)
    MU_LOG_INFO("main %d", i);
  MU_LOG_FATAL("the end %d", 7);
}

static void test_fatal_flushes(void) {
  test_expect_death(child_fatal, NULL, NULL);
  char *all = slurp_dir();
  CHECK_EQ(count_seq(all, "main", false), k_exit_lines);
  CHECK(strstr(all, " FATAL the end 7 - test_async_logging_death.c:") != NULL);
  free(all);
}

/* ---- a sink that misbehaves on a trigger line --------------------------- */

typedef enum trigger_action { ACT_FATAL, ACT_EXIT } trigger_action_t;

typedef struct fd_sink {
  int fd;
  trigger_action_t action;
  bool fired;
  _Atomic int go; /* the sink waits for it: every line is logged before any write */
} fd_sink_t;

static fd_sink_t g_sink;

static void fd_sink_write(const char *data, size_t len, void *arg) {
  fd_sink_t *s = arg;
  for (int i = 0; i < 20000 && !atomic_load(&s->go); ++i)
    usleep(1000);
  CHECK(write(s->fd, data, len) == (ssize_t)len);
  if (!s->fired && memmem(data, len, "TRIGGER", 7) != NULL) {
    s->fired = true;
    if (s->action == ACT_EXIT)
      exit(0);
    MU_LOG_FATAL("sink fatal");
  }
}

/* A logger with 8 KiB buffers writing to g_dir/sink.log through fd_sink. */
static mu_async_logging_t *new_fd_logger(trigger_action_t action) {
  char path[128];
  snprintf(path, sizeof path, "%s/sink.log", g_dir);
  g_sink.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  CHECK(g_sink.fd >= 0);
  g_sink.action = action;
  atomic_store(&g_sink.go, 0);
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.buffer_size = 8 << 10;
  o.max_queued_buffers = 1000; /* nothing drops */
  o.flush_interval = 3600;
  o.sink_write = fd_sink_write;
  o.sink_arg = &g_sink;
  mu_async_logging_t *al = mu_async_logging_new(NULL, &o);
  CHECK(al != NULL);
  mu_async_logging_install(al);
  return al;
}

enum { k_sink_lines = 2000, k_trigger_at = 700 };

/* Lines 0..k_sink_lines-1, the trigger tagged onto line k_trigger_at. */
static void log_sink_lines(void) {
  for (int i = 0; i < k_sink_lines; ++i) {
    MU_LOG_INFO("n %d%s", i, i == k_trigger_at ? " TRIGGER" : "");
  }
}

/* The back end's sink logs FATAL while writing the buffer holding the trigger.
 * The FATAL's flush runs in the back-end thread: it must not wait for itself,
 * and must write the rest of the batch, the queue and the current buffer. */
static void child_backend_fatal(void *arg) {
  (void)arg;
  alarm(30); /* a deadlock ends as SIGALRM, not SIGABRT */
  mu_async_logging_t *al = new_fd_logger(ACT_FATAL);
  CHECK_EQ(mu_async_logging_start(al), 0);
  log_sink_lines();
  atomic_store(&g_sink.go, 1);
  mu_async_logging_flush(al); /* the back end aborts the process meanwhile */
  for (;;)
    pause();
}

/* exit() called by the back-end thread: the atexit handler stops the logger
 * from the back-end thread itself, which must neither join nor wait for
 * itself. */
static void child_backend_exit(void *arg) {
  (void)arg;
  alarm(30);
  mu_async_logging_t *al = new_fd_logger(ACT_EXIT);
  CHECK_EQ(mu_async_logging_start(al), 0);
  log_sink_lines();
  atomic_store(&g_sink.go, 1);
  mu_async_logging_flush(al);
  for (;;)
    pause();
}

/* The fallback (not started) writes under the logger's lock: the FATAL line
 * cannot go into the busy logger and goes to stderr; the flush must not take
 * the lock again. */
static void child_fatal_under_lock(void *arg) {
  (void)arg;
  alarm(30);
  new_fd_logger(ACT_FATAL);
  atomic_store(&g_sink.go, 1);
  log_sink_lines();
  for (;;)
    pause();
}

/* stop's final pass writes under the lock in the back-end thread. */
static void child_fatal_in_final_pass(void *arg) {
  (void)arg;
  alarm(30);
  mu_async_logging_t *al = new_fd_logger(ACT_FATAL);
  CHECK_EQ(mu_async_logging_start(al), 0);
  for (int i = 0; i < 50; ++i)
    MU_LOG_INFO("n %d%s", i, i == 20 ? " TRIGGER" : "");
  atomic_store(&g_sink.go, 1);
  mu_async_logging_stop(al);
  for (;;)
    pause();
}

static void test_sink_misbehaves(void) {
  test_expect_death(child_backend_fatal, NULL, NULL);
  char *all = slurp_dir();
  CHECK_EQ(count_seq(all, "n", false), k_sink_lines);
  CHECK(strstr(all, " FATAL sink fatal - test_async_logging_death.c:") != NULL);
  free(all);

  char out[8192];
  int status = test_run_in_child(child_backend_exit, NULL, out, sizeof out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  all = slurp_dir();
  CHECK_EQ(count_seq(all, "n", false), k_sink_lines);
  free(all);

  test_expect_death(child_fatal_under_lock, NULL, " FATAL sink fatal - ");
  all = slurp_dir();
  CHECK_EQ(count_seq(all, "n", false), k_trigger_at + 1); /* up to the trigger */
  free(all);

  test_expect_death(child_fatal_in_final_pass, NULL, " FATAL sink fatal - ");
  all = slurp_dir();
  CHECK_EQ(count_seq(all, "n", false), 50);
  free(all);
}

int main(void) {
  test_time_limit(200);
  snprintf(g_dir, sizeof g_dir, "/tmp/mu_async_death_XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  mu_log_set_level(MU_LOG_LEVEL_INFO);
  test_exit_flushes();
  test_exit_while_logging();
  test_fatal_flushes();
  test_sink_misbehaves();
  CHECK(rmdir(g_dir) == 0);
  TEST_PASS("async_logging_death");
}
