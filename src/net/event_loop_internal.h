/* Loop functions used by the channel and the pollers only. */
#ifndef CMUDUO_SRC_NET_EVENT_LOOP_INTERNAL_H
#define CMUDUO_SRC_NET_EVENT_LOOP_INTERNAL_H

#include "cmuduo/net/event_loop.h"

int mu_event_loop_update_channel(mu_event_loop_t *loop, mu_channel_t *ch);
void mu_event_loop_remove_channel(mu_event_loop_t *loop, mu_channel_t *ch);

/* The loop's read buffer (MU_BUFFER_EXTRA_READ bytes plus the cheap prepend),
 * lent to one connection at a time while it reads and runs its message
 * callback; allocated on first use. NULL if memory ran out. */
char *mu_event_loop_read_buffer(mu_event_loop_t *loop, size_t *cap);

/* FATAL unless in the loop thread; `func` names the offending call. */
void mu_event_loop_assert_in_loop_thread_for(const mu_event_loop_t *loop,
                                             const char *func);
#define MU_ASSERT_IN_LOOP_THREAD(loop) \
  mu_event_loop_assert_in_loop_thread_for((loop), __func__)

#endif
