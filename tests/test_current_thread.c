/* Current-thread facts (tid, tid string, names, fork) and the countdown latch. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "cmuduo/base/countdown_latch.h"
#include "cmuduo/base/current_thread.h"
#include "test_util.h"

static pid_t kernel_tid(void) {
  return (pid_t)syscall(SYS_gettid);
}

static void check_tid_string(pid_t tid) {
  const char *s = mu_current_thread_tid_string();
  char want[16];
  snprintf(want, sizeof want, "%6d", (int)tid);
  CHECK_EQ(strlen(s), 6);
  CHECK_STREQ(s, want);
}

static void kernel_name(char out[16]) {
  memset(out, 0, 16);
  CHECK(prctl(PR_GET_NAME, out) == 0);
}

/* ---- main thread -------------------------------------------------------- */

static void test_main_thread(void) {
  CHECK_EQ(mu_current_thread_tid(), kernel_tid());
  CHECK_EQ(mu_current_thread_tid(), getpid());
  /* Cached value stays right on later calls. */
  CHECK_EQ(mu_current_thread_tid(), kernel_tid());
  check_tid_string(kernel_tid());
  CHECK(mu_current_thread_is_main());
  CHECK_STREQ(mu_current_thread_name(), "main");
}

/* ---- other threads ------------------------------------------------------ */

enum { k_threads = 4 };

typedef struct thread_report {
  pid_t tid;
  pid_t kernel_tid;
  bool is_main;
  bool tid_string_ok;
  char default_name[32];
  char long_name[32];
  char long_kernel_name[16];
  char short_name[32];
  char short_kernel_name[16];
} thread_report_t;

static const char k_long_name[] = "worker-0123456789-abcdefghijklmnopqrstuvwxyz";

static void *report_thread(void *arg) {
  thread_report_t *r = arg;
  r->tid = mu_current_thread_tid();
  r->kernel_tid = kernel_tid();
  r->is_main = mu_current_thread_is_main();
  char want[16];
  snprintf(want, sizeof want, "%6d", (int)r->kernel_tid);
  r->tid_string_ok = strcmp(mu_current_thread_tid_string(), want) == 0;
  snprintf(r->default_name, sizeof r->default_name, "%s", mu_current_thread_name());

  mu_current_thread_set_name(k_long_name);
  snprintf(r->long_name, sizeof r->long_name, "%s", mu_current_thread_name());
  kernel_name(r->long_kernel_name);

  mu_current_thread_set_name("io-1");
  snprintf(r->short_name, sizeof r->short_name, "%s", mu_current_thread_name());
  kernel_name(r->short_kernel_name);
  return NULL;
}

static void test_other_threads(void) {
  thread_report_t reports[k_threads];
  memset(reports, 0, sizeof reports);
  pthread_t th[k_threads];
  for (int i = 0; i < k_threads; ++i) {
    CHECK(pthread_create(&th[i], NULL, report_thread, &reports[i]) == 0);
  }
  for (int i = 0; i < k_threads; ++i)
    CHECK(pthread_join(th[i], NULL) == 0);

  for (int i = 0; i < k_threads; ++i) {
    const thread_report_t *r = &reports[i];
    CHECK_EQ(r->tid, r->kernel_tid);
    CHECK(r->tid != getpid());
    CHECK(!r->is_main);
    CHECK(r->tid_string_ok);
    CHECK_STREQ(r->default_name, "thread");
    /* The cached name keeps 31 bytes, the kernel's 15. */
    CHECK_EQ(strlen(r->long_name), 31);
    CHECK(strncmp(r->long_name, k_long_name, 31) == 0);
    CHECK_EQ(strlen(r->long_kernel_name), 15);
    CHECK(strncmp(r->long_kernel_name, k_long_name, 15) == 0);
    CHECK_STREQ(r->short_name, "io-1");
    CHECK_STREQ(r->short_kernel_name, "io-1");
    for (int j = 0; j < i; ++j)
      CHECK(reports[j].tid != r->tid);
  }
  /* Names are per thread: the workers' names did not leak into main. */
  CHECK_STREQ(mu_current_thread_name(), "main");
  CHECK_EQ(mu_current_thread_tid(), getpid());
}

/* ---- fork --------------------------------------------------------------- */

/* In a forked child the cached tid must be the child's own, not the parent's. */
static void child_checks(void *arg) {
  pid_t parent_tid = *(pid_t *)arg;
  CHECK(mu_current_thread_tid() != parent_tid);
  CHECK_EQ(mu_current_thread_tid(), getpid());
  CHECK_EQ(mu_current_thread_tid(), kernel_tid());
  check_tid_string(getpid());
  CHECK(mu_current_thread_is_main());
  CHECK_STREQ(mu_current_thread_name(), "main");
  printf("child-ok\n");
}

static void test_fork_from_main(void) {
  pid_t parent_tid = mu_current_thread_tid(); /* fills the cache before fork */
  char out[4096];
  int status = test_run_in_child(child_checks, &parent_tid, out, sizeof out);
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(out, "child-ok"))) {
    fprintf(stderr, "fork child failed (status %d):\n%s\n", status, out);
    abort();
  }
  CHECK_EQ(mu_current_thread_tid(), getpid());
}

typedef struct fork_in_thread {
  pid_t thread_tid;
  int status;
  char out[4096];
} fork_in_thread_t;

/* A named worker thread forks: the child's only thread is its main thread. */
static void *forking_thread(void *arg) {
  fork_in_thread_t *f = arg;
  mu_current_thread_set_name("forker");
  f->thread_tid = mu_current_thread_tid();
  f->status = test_run_in_child(child_checks, &f->thread_tid, f->out, sizeof f->out);
  return NULL;
}

static void test_fork_from_thread(void) {
  static fork_in_thread_t f;
  pthread_t th;
  CHECK(pthread_create(&th, NULL, forking_thread, &f) == 0);
  CHECK(pthread_join(th, NULL) == 0);
  if (!(WIFEXITED(f.status) && WEXITSTATUS(f.status) == 0 && strstr(f.out, "child-ok"))) {
    fprintf(stderr, "fork-from-thread child failed (status %d):\n%s\n", f.status, f.out);
    abort();
  }
}

/* ---- countdown latch ---------------------------------------------------- */

enum { k_latch_threads = 6 };

typedef struct latch_work {
  mu_countdown_latch_t *latch;
  atomic_int *done;
  int index;
} latch_work_t;

/* Later workers take longer, so a wait() that returned early would see
 * unfinished work. */
static void *latch_worker(void *arg) {
  latch_work_t *w = arg;
  usleep((useconds_t)(w->index * 10000));
  atomic_fetch_add(w->done, 1);
  mu_countdown_latch_count_down(w->latch);
  return NULL;
}

static void test_latch_threads(void) {
  mu_countdown_latch_t latch;
  mu_countdown_latch_init(&latch, k_latch_threads);
  CHECK_EQ(mu_countdown_latch_get_count(&latch), k_latch_threads);
  atomic_int done = 0;
  latch_work_t work[k_latch_threads];
  pthread_t th[k_latch_threads];
  for (int i = 0; i < k_latch_threads; ++i) {
    work[i] = (latch_work_t){&latch, &done, i};
    CHECK(pthread_create(&th[i], NULL, latch_worker, &work[i]) == 0);
  }
  mu_countdown_latch_wait(&latch);
  CHECK_EQ(atomic_load(&done), k_latch_threads);
  CHECK_EQ(mu_countdown_latch_get_count(&latch), 0);
  for (int i = 0; i < k_latch_threads; ++i)
    CHECK(pthread_join(th[i], NULL) == 0);
  mu_countdown_latch_destroy(&latch);
}

typedef struct waiter {
  mu_countdown_latch_t *latch;
  atomic_bool returned;
} waiter_t;

static void *latch_waiter(void *arg) {
  waiter_t *w = arg;
  mu_countdown_latch_wait(w->latch);
  atomic_store(&w->returned, true);
  return NULL;
}

static void test_latch_blocks(void) {
  mu_countdown_latch_t latch;
  mu_countdown_latch_init(&latch, 2);
  waiter_t w = {&latch, false};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, latch_waiter, &w) == 0);
  mu_countdown_latch_count_down(&latch);
  CHECK_EQ(mu_countdown_latch_get_count(&latch), 1);
  /* Only an early return can fail this, never a slow machine. */
  usleep(50000);
  CHECK(!atomic_load(&w.returned));
  mu_countdown_latch_count_down(&latch);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK(atomic_load(&w.returned));
  CHECK_EQ(mu_countdown_latch_get_count(&latch), 0);
  /* Extra count-downs do not go below zero; wait at zero returns at once. */
  mu_countdown_latch_count_down(&latch);
  CHECK_EQ(mu_countdown_latch_get_count(&latch), 0);
  mu_countdown_latch_wait(&latch);
  mu_countdown_latch_destroy(&latch);

  mu_countdown_latch_init(&latch, 0);
  mu_countdown_latch_wait(&latch);
  CHECK_EQ(mu_countdown_latch_get_count(&latch), 0);
  mu_countdown_latch_destroy(&latch);
}

int main(void) {
  test_time_limit(60);
  test_main_thread();
  test_other_threads();
  test_fork_from_main();
  test_fork_from_thread();
  test_latch_threads();
  test_latch_blocks();
  TEST_PASS("current_thread");
}
