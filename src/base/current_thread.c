#include "cmuduo/base/current_thread.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Per-thread state (documented in current_thread.h). */
static __thread pid_t t_tid;
static __thread char t_tid_string[16];
static __thread char t_name[32];

static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

static void after_fork_in_child(void) {
  /* The child's only thread has a new tid; the cached one belongs to the parent. */
  t_tid = 0;
  if (t_name[0] == '\0' || strcmp(t_name, "main") != 0) {
    snprintf(t_name, sizeof t_name, "%s", "main");
  }
}

static void register_atfork(void) {
  pthread_atfork(NULL, NULL, after_fork_in_child);
}

pid_t mu_current_thread_tid(void) {
  if (__builtin_expect(t_tid == 0, 0)) {
    pthread_once(&g_atfork_once, register_atfork);
    t_tid = (pid_t)syscall(SYS_gettid);
    snprintf(t_tid_string, sizeof t_tid_string, "%6d", (int)t_tid);
  }
  return t_tid;
}

const char *mu_current_thread_tid_string(void) {
  mu_current_thread_tid();
  return t_tid_string;
}

bool mu_current_thread_is_main(void) {
  return mu_current_thread_tid() == getpid();
}

const char *mu_current_thread_name(void) {
  if (t_name[0] == '\0') {
    snprintf(t_name, sizeof t_name, "%s",
             mu_current_thread_is_main() ? "main" : "thread");
  }
  return t_name;
}

void mu_current_thread_set_name(const char *name) {
  snprintf(t_name, sizeof t_name, "%s", name ? name : "thread");
  char kernel_name[16];
  snprintf(kernel_name, sizeof kernel_name, "%.15s", t_name);
  prctl(PR_SET_NAME, kernel_name);
}
