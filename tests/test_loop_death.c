/* Misuse of a loop is a programming error: it aborts with a FATAL line naming
 * the call. Each case runs in a child process. */
#include <pthread.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

/* Like test_expect_death, but every needle must be in the output: the level
 * and the call named on the same run. */
static void expect_death_saying(void (*fn)(void *), void *arg, const char *first,
                                const char *second) {
  char out[8192];
  int status = test_run_in_child(fn, arg, out, sizeof out);
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)) {
    fprintf(stderr, "expected the child to abort; status %d, output:\n%s\n", status, out);
    abort();
  }
  const char *needles[] = {first, second};
  for (size_t i = 0; i < 2; ++i) {
    if (strstr(out, needles[i]) == NULL) {
      fprintf(stderr, "child output lacks \"%s\":\n%s\n", needles[i], out);
      abort();
    }
  }
}

/* ---- the cases (each runs in the child) ------------------------------------ */

static void second_loop_in_thread(void *arg) {
  (void)arg;
  mu_event_loop_t *first = mu_event_loop_new();
  CHECK(first != NULL);
  mu_event_loop_new();
}

static void *call_loop(void *arg) {
  mu_event_loop_loop(arg);
  return NULL;
}

static void *call_free(void *arg) {
  mu_event_loop_free(arg);
  return NULL;
}

static void from_other_thread(void *(*fn)(void *)) {
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, fn, loop) == 0);
  pthread_join(th, NULL);
}

static void loop_from_other_thread(void *arg) {
  (void)arg;
  from_other_thread(call_loop);
}

static void free_from_other_thread(void *arg) {
  (void)arg;
  from_other_thread(call_free);
}

static void free_self(void *arg) {
  mu_event_loop_free(arg);
}

static void free_while_looping(void *arg) {
  (void)arg;
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, free_self, loop), 0);
  mu_event_loop_loop(loop);
}

static void loop_again(void *arg) {
  mu_event_loop_loop(arg);
}

static void loop_inside_loop(void *arg) {
  (void)arg;
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, loop_again, loop), 0);
  mu_event_loop_loop(loop);
}

static void *call_assert(void *arg) {
  mu_event_loop_assert_in_loop_thread(arg);
  return NULL;
}

static void assert_from_other_thread(void *arg) {
  (void)arg;
  from_other_thread(call_assert);
}

/* A child that returns normally must not pass as a death: the harness itself
 * has to be able to fail. */
static void survive(void *arg) {
  (void)arg;
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  mu_event_loop_quit(loop);
  mu_event_loop_loop(loop);
  mu_event_loop_free(loop);
}

int main(void) {
  test_time_limit(60);
  expect_death_saying(second_loop_in_thread, NULL, "FATAL", "already exists");
  expect_death_saying(loop_from_other_thread, NULL, "FATAL", "mu_event_loop_loop");
  expect_death_saying(free_from_other_thread, NULL, "FATAL", "mu_event_loop_free");
  expect_death_saying(free_while_looping, NULL, "FATAL",
                      "mu_event_loop_free while the loop runs");
  expect_death_saying(loop_inside_loop, NULL, "FATAL", "already running");
  expect_death_saying(assert_from_other_thread, NULL, "FATAL",
                      "mu_event_loop_assert_in_loop_thread");
  test_expect_death(second_loop_in_thread, NULL, "FATAL");

  char out[8192];
  int status = test_run_in_child(survive, NULL, out, sizeof out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  TEST_PASS("loop_death");
}
