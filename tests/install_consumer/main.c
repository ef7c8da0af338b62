/* An outside program built against an installed cmuduo (tests/install.sh):
 * a loop, a functor queued from another thread, a timer that quits the loop.
 * Prints one known line on success; any other outcome exits non-zero. */
#include <pthread.h>
#include <stdio.h>

#include <cmuduo/cmuduo.h>

typedef struct app {
  mu_event_loop_t *loop;
  int functors_run;
  int timers_fired;
} app_t;

static void on_functor(void *arg) {
  app_t *app = arg;
  app->functors_run++;
}

static void *queue_from_other_thread(void *arg) {
  app_t *app = arg;
  mu_event_loop_queue_in_loop(app->loop, on_functor, app);
  return NULL;
}

static void on_timer(void *arg) {
  app_t *app = arg;
  app->timers_fired++;
  mu_event_loop_quit(app->loop);
}

int main(void) {
  app_t app = {0};
  app.loop = mu_event_loop_new();
  if (app.loop == NULL)
    return 1;
  pthread_t th;
  if (pthread_create(&th, NULL, queue_from_other_thread, &app) != 0)
    return 1;
  pthread_join(th, NULL);
  /* The functor runs before loop() returns whatever the timing: functors still
   * queued at quit are run. */
  if (!mu_timer_id_valid(mu_event_loop_run_after(app.loop, 0.01, on_timer, &app)))
    return 1;
  mu_event_loop_loop(app.loop);
  mu_event_loop_free(app.loop);
  if (app.functors_run != 1 || app.timers_fired != 1) {
    fprintf(stderr, "functors %d timers %d\n", app.functors_run, app.timers_fired);
    return 1;
  }
  printf("cmuduo consumer ok: 1 functor, 1 timer\n");
  return 0;
}
