/* The loop runs timers, runs queued functors, and quits. */
#include "cmuduo/cmuduo.h"
#include "test_util.h"

static int g_fired;

static void on_timer(void *arg) {
  g_fired++;
  mu_event_loop_quit(arg);
}

int main(void) {
  test_time_limit(30);
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  mu_timer_id_t id = mu_event_loop_run_after(loop, 0.01, on_timer, loop);
  CHECK(mu_timer_id_valid(id));
  mu_event_loop_loop(loop);
  CHECK_EQ(g_fired, 1);
  CHECK(mu_event_loop_iteration(loop) >= 1);
  mu_event_loop_free(loop);
  TEST_PASS("smoke_loop");
}
