#include "cmuduo/net/event_loop_thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/current_thread.h"
#include "cmuduo/base/logging.h"

struct mu_event_loop_thread {
  mu_thread_init_fn init;
  void *arg;
  char name[32];
  pthread_t thread;
  bool started;
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  mu_event_loop_t *loop; /* guarded by mutex; NULL once the loop has ended */
  bool ready;            /* guarded by mutex: the thread has published `loop` */
  int error;             /* set with ready when the loop could not be made */
};

mu_event_loop_thread_t *mu_event_loop_thread_new(mu_thread_init_fn init, void *arg,
                                                 const char *name) {
  mu_event_loop_thread_t *t = mu_calloc(1, sizeof *t);
  if (t == NULL)
    return NULL;
  t->init = init;
  t->arg = arg;
  snprintf(t->name, sizeof t->name, "%s", name ? name : "loop");
  pthread_mutex_init(&t->mutex, NULL);
  pthread_cond_init(&t->cond, NULL);
  return t;
}

static void publish(mu_event_loop_thread_t *t, mu_event_loop_t *loop, int error) {
  pthread_mutex_lock(&t->mutex);
  t->loop = loop;
  t->error = error;
  t->ready = true;
  pthread_cond_signal(&t->cond);
  pthread_mutex_unlock(&t->mutex);
}

static void *thread_main(void *p) {
  mu_event_loop_thread_t *t = p;
  mu_current_thread_set_name(t->name);
  mu_event_loop_t *loop = mu_event_loop_new();
  if (loop == NULL) {
    publish(t, NULL, errno ? errno : ENOMEM);
    return NULL;
  }
  if (t->init)
    t->init(loop, t->arg);
  publish(t, loop, 0);
  mu_event_loop_loop(loop);
  /* Unpublish under the lock so free() never quits a loop being freed. */
  pthread_mutex_lock(&t->mutex);
  t->loop = NULL;
  pthread_mutex_unlock(&t->mutex);
  mu_event_loop_free(loop);
  return NULL;
}

mu_event_loop_t *mu_event_loop_thread_start_loop(mu_event_loop_thread_t *t) {
  if (t->started)
    MU_LOG_FATAL("mu_event_loop_thread_start_loop called twice");
  int rc = pthread_create(&t->thread, NULL, thread_main, t);
  if (rc != 0) {
    errno = rc;
    MU_LOG_SYSERR("pthread_create for %s", t->name);
    return NULL;
  }
  t->started = true;
  pthread_mutex_lock(&t->mutex);
  while (!t->ready)
    pthread_cond_wait(&t->cond, &t->mutex);
  mu_event_loop_t *loop = t->loop;
  int err = t->error;
  pthread_mutex_unlock(&t->mutex);
  if (loop == NULL)
    errno = err;
  return loop;
}

void mu_event_loop_thread_free(mu_event_loop_thread_t *t) {
  if (t == NULL)
    return;
  if (t->started) {
    if (pthread_equal(pthread_self(), t->thread)) {
      /* It would join itself (EDEADLK) and free the object under its own
       * running thread. */
      MU_LOG_FATAL("mu_event_loop_thread_free: called from the thread's own loop (%s)",
                   t->name);
    }
    pthread_mutex_lock(&t->mutex);
    if (t->loop != NULL)
      mu_event_loop_quit(t->loop);
    pthread_mutex_unlock(&t->mutex);
    pthread_join(t->thread, NULL);
  }
  pthread_cond_destroy(&t->cond);
  pthread_mutex_destroy(&t->mutex);
  mu_free(t);
}
