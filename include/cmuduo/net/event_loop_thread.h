/* A thread that runs an event loop (muduo's EventLoopThread). */
#ifndef CMUDUO_NET_EVENT_LOOP_THREAD_H
#define CMUDUO_NET_EVENT_LOOP_THREAD_H

#include "cmuduo/net/event_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_event_loop_thread mu_event_loop_thread_t;

/* Called in the new thread with its loop, before the loop runs. */
typedef void (*mu_thread_init_fn)(mu_event_loop_t *loop, void *arg);

/* `init` may be NULL; `name` names the thread (may be NULL). Does not start it.
 * Returns NULL (errno ENOMEM) on failure. */
mu_event_loop_thread_t *mu_event_loop_thread_new(mu_thread_init_fn init, void *arg,
                                                 const char *name);
/* Starts the thread and returns its loop once the init callback has run.
 * Returns NULL and sets errno if the thread or its loop could not be created.
 * Call once, from the thread that owns `t`. */
mu_event_loop_t *mu_event_loop_thread_start_loop(mu_event_loop_thread_t *t);
/* Quits the loop, joins the thread (its loop is freed there) and frees `t`.
 * Not from the thread's own loop. */
void mu_event_loop_thread_free(mu_event_loop_thread_t *t);

#ifdef __cplusplus
}
#endif
#endif
