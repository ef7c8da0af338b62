/* mu_event_loop_thread_free called from the thread's own loop (a functor in
 * it). event_loop_thread.h: "Not from the thread's own loop"; DESIGN.md: a
 * programming error "aborts with a FATAL log line naming the call". The call
 * went on instead: pthread_join of the calling thread failed (EDEADLK,
 * ignored), the thread object was freed under the still running thread, which
 * then locked its freed mutex on the way out. The child process must abort
 * with a FATAL line naming mu_event_loop_thread_free. */
#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

static void free_own_thread(void *t) {
  mu_event_loop_thread_free(t);
}

static void child(void *arg) {
  (void)arg;
  mu_event_loop_thread_t *t = mu_event_loop_thread_new(NULL, NULL, "self");
  CHECK(t != NULL);
  mu_event_loop_t *loop = mu_event_loop_thread_start_loop(t);
  CHECK(loop != NULL);
  CHECK_EQ(mu_event_loop_run_in_loop(loop, free_own_thread, t), 0);
  tt_sleep_ms(1000); /* the loop thread aborts the process meanwhile */
  printf("still running: the misuse was not caught\n");
}

int main(void) {
  tt_init("net_review_loop_thread_self_free", 60);
  test_expect_death(child, NULL, "mu_event_loop_thread_free");
  TEST_PASS("net_review_loop_thread_self_free");
}
