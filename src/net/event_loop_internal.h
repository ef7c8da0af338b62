/* Loop functions used by the channel and the pollers only. */
#ifndef CMUDUO_SRC_NET_EVENT_LOOP_INTERNAL_H
#define CMUDUO_SRC_NET_EVENT_LOOP_INTERNAL_H

#include "cmuduo/net/event_loop.h"

int mu_event_loop_update_channel(mu_event_loop_t *loop, mu_channel_t *ch);
void mu_event_loop_remove_channel(mu_event_loop_t *loop, mu_channel_t *ch);

/* FATAL unless in the loop thread; `func` names the offending call. */
void mu_event_loop_assert_in_loop_thread_for(const mu_event_loop_t *loop,
                                             const char *func);
#define MU_ASSERT_IN_LOOP_THREAD(loop) \
  mu_event_loop_assert_in_loop_thread_for((loop), __func__)

#endif
