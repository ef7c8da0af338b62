/* The epoll dup() trap. epoll watches the open file, not the descriptor: if a
 * watched fd is closed while a dup of it keeps the file open, the registration
 * survives, and a readable file then wakes the loop forever with a pointer to a
 * freed channel. Removing the channel before closing the fd (the rule) must
 * leave the loop quiet even when the dup'ed file becomes readable. */
#include <fcntl.h>

#include "cmuduo/net/channel.h"
#include "cmuduo/net/event_loop.h"
#include "test_util.h"

typedef struct reader {
  mu_event_loop_t *loop;
  int reads;
  bool quit_on_read;
} reader_t;

static void on_read(mu_channel_t *ch, mu_timestamp_t t, void *arg) {
  (void)t;
  reader_t *r = arg;
  r->reads++;
  char buf[64];
  CHECK(read(mu_channel_fd(ch), buf, sizeof buf) > 0);
  if (r->quit_on_read)
    mu_event_loop_quit(r->loop);
}

static bool g_guard_fired;

static void guard_quit(void *arg) {
  g_guard_fired = true;
  mu_event_loop_quit(arg);
}

static void plain_quit(void *arg) {
  mu_event_loop_quit(arg);
}

static void count_tick(void *arg) {
  ++*(int *)arg;
}

/* Runs the loop for ~300 ms with a 50 ms ticker; returns the iterations used.
 * A quiet loop wakes only for the timers (about 7 times); a spinning one
 * wakes thousands of times. */
static int64_t iterations_in_300ms(mu_event_loop_t *loop, int *ticks) {
  int64_t start = mu_event_loop_iteration(loop);
  mu_timer_id_t every = mu_event_loop_run_every(loop, 0.05, count_tick, ticks);
  CHECK(mu_timer_id_valid(every));
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(loop, 0.3, plain_quit, loop)));
  mu_event_loop_loop(loop);
  mu_event_loop_cancel(loop, every);
  return mu_event_loop_iteration(loop) - start;
}

/* While the channel watches R, data written to the pipe reaches its callback. */
static mu_channel_t *watch_and_check(mu_event_loop_t *loop, int rfd, int wfd,
                                     reader_t *r) {
  *r = (reader_t){loop, 0, true};
  mu_channel_t *ch = mu_channel_new(loop, rfd, r);
  CHECK(ch != NULL);
  mu_channel_set_read_callback(ch, on_read);
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  CHECK(write(wfd, "a", 1) == 1);
  g_guard_fired = false;
  mu_timer_id_t guard = mu_event_loop_run_after(loop, 10.0, guard_quit, loop);
  mu_event_loop_loop(loop);
  mu_event_loop_cancel(loop, guard);
  CHECK(!g_guard_fired);
  CHECK_EQ(r->reads, 1);
  r->quit_on_read = false;
  return ch;
}

typedef enum {
  k_free_then_close,    /* mu_channel_free, close(R) */
  k_disable_then_close, /* disable_all, close(R), mu_channel_free later */
  k_remove_then_close,  /* mu_channel_remove, close(R), mu_channel_free later */
} teardown_t;

static const char *const k_teardown_names[] = {"free then close", "disable then close",
                                               "remove then close"};

static void check_teardown(teardown_t how) {
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  int fds[2];
  CHECK(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
  reader_t r;
  mu_channel_t *ch = watch_and_check(loop, fds[0], fds[1], &r);

  /* Quiet baseline: nothing readable, only timers wake the loop. */
  int ticks = 0;
  int64_t idle = iterations_in_300ms(loop, &ticks);
  CHECK(ticks >= 1);

  int r2 = dup(fds[0]);
  CHECK(r2 >= 0);
  switch (how) {
    case k_free_then_close:
      mu_channel_free(ch);
      ch = NULL;
      break;
    case k_disable_then_close:
      CHECK_EQ(mu_channel_disable_all(ch), 0);
      break;
    case k_remove_then_close:
      mu_channel_remove(ch);
      break;
  }
  close(fds[0]);
  /* The file is still open through r2, and now readable. */
  CHECK(write(fds[1], "b", 1) == 1);
  struct pollfd pfd = {.fd = r2, .events = POLLIN};
  CHECK(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN));

  ticks = 0;
  int64_t used = iterations_in_300ms(loop, &ticks);
  printf("%s (%s): %lld iterations in 300 ms (idle baseline %lld), %d ticks\n",
         k_teardown_names[how], mu_event_loop_poller_name(loop), (long long)used,
         (long long)idle, ticks);
  CHECK(ticks >= 1);
  CHECK(used <= 40);
  CHECK_EQ(r.reads, 1); /* no callback for the closed descriptor */

  mu_channel_free(ch); /* NULL for the first teardown: a no-op */
  close(r2);
  close(fds[1]);
  mu_event_loop_free(loop);
}

int main(void) {
  test_time_limit(60);
  check_teardown(k_free_then_close);
  check_teardown(k_disable_then_close);
  check_teardown(k_remove_then_close);
  TEST_PASS("poller_dup_fd");
}
