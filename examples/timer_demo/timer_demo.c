/* A tour of the reactor without sockets: timers on the main loop, work handed to
 * a loop thread and back, a repeating timer that cancels itself, then quit.
 *
 *   ./build/bin/timer_demo
 */
#include <stdio.h>

#include "cmuduo/cmuduo.h"

typedef struct demo {
  mu_event_loop_t *main_loop;
  mu_event_loop_t *io_loop;
  mu_timer_id_t ticker;
  int ticks;
} demo_t;

static void say(const char *what) {
  char buf[MU_TIMESTAMP_STRLEN];
  printf("%s [thread %s] %s\n",
         mu_timestamp_to_formatted_string(mu_timestamp_now(), true, buf, sizeof buf),
         mu_current_thread_name(), what);
  fflush(stdout);
}

static void on_back_in_main(void *arg) {
  (void)arg;
  say("back in the main loop");
}

static void on_io_thread(void *arg) {
  demo_t *d = arg;
  say("running in the io loop's thread");
  mu_event_loop_queue_in_loop(d->main_loop, on_back_in_main, d);
}

static void hop_to_io(void *arg) {
  demo_t *d = arg;
  say("handing work to the io thread");
  mu_event_loop_run_in_loop(d->io_loop, on_io_thread, d);
}

static void on_tick(void *arg) {
  demo_t *d = arg;
  char line[64];
  snprintf(line, sizeof line, "tick %d", ++d->ticks);
  say(line);
  if (d->ticks == 3) {
    mu_event_loop_cancel(d->main_loop, d->ticker); /* from inside its own callback */
    say("ticker cancelled itself");
  }
}

static void on_quit(void *arg) {
  demo_t *d = arg;
  say("quitting");
  mu_event_loop_quit(d->main_loop);
}

int main(void) {
  demo_t d = {0};
  d.main_loop = mu_event_loop_new();
  if (d.main_loop == NULL)
    return 1;
  mu_event_loop_thread_t *io = mu_event_loop_thread_new(NULL, NULL, "io");
  d.io_loop = io ? mu_event_loop_thread_start_loop(io) : NULL;
  if (d.io_loop == NULL)
    return 1;

  say("timer demo: 3 ticks every 0.2 s, a hop to the io thread, quit at 1 s");
  d.ticker = mu_event_loop_run_every(d.main_loop, 0.2, on_tick, &d);
  mu_event_loop_run_after(d.main_loop, 0.5, hop_to_io, &d);
  mu_event_loop_run_after(d.main_loop, 1.0, on_quit, &d);
  mu_event_loop_loop(d.main_loop);

  mu_event_loop_thread_free(io);
  mu_event_loop_free(d.main_loop);
  say("done");
  return 0;
}
