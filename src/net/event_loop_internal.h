/* Loop functions used by the channel and the pollers only. */
#ifndef CMUDUO_SRC_NET_EVENT_LOOP_INTERNAL_H
#define CMUDUO_SRC_NET_EVENT_LOOP_INTERNAL_H

#include "cmuduo/net/event_loop.h"

int mu_event_loop_update_channel(mu_event_loop_t *loop, mu_channel_t *ch);
void mu_event_loop_remove_channel(mu_event_loop_t *loop, mu_channel_t *ch);

/* A queued call whose storage is the caller's (embedded in the object it acts
 * on), so queueing it cannot fail: for the steps that must happen even when
 * memory has run out, such as removing and destroying a closed connection.
 * fn gets the task itself (the owner finds itself with container_of). A task
 * may be queued again only after it has started to run. */
typedef struct mu_loop_task {
  struct mu_loop_task *next;
  void (*fn)(struct mu_loop_task *task);
} mu_loop_task_t;

/* queue_in_loop(fn, arg); when that fails for lack of memory, queues `task`
 * instead, whose fn must do the same as fn(arg). Never fails. Thread-safe.
 * Tasks run after the functors queued in the same round, so the fallback may
 * put this call behind later ones: use it only where that order is harmless. */
void mu_event_loop_queue_in_loop_or_task(mu_event_loop_t *loop, mu_functor_fn fn,
                                         void *arg, mu_loop_task_t *task);
/* run_in_loop with the same fallback. */
void mu_event_loop_run_in_loop_or_task(mu_event_loop_t *loop, mu_functor_fn fn, void *arg,
                                       mu_loop_task_t *task);

/* FATAL unless in the loop thread; `func` names the offending call. */
void mu_event_loop_assert_in_loop_thread_for(const mu_event_loop_t *loop,
                                             const char *func);
#define MU_ASSERT_IN_LOOP_THREAD(loop) \
  mu_event_loop_assert_in_loop_thread_for((loop), __func__)

#endif
