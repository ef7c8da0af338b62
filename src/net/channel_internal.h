/* Channel internals shared by the reactor and the TCP layer, which embed channels
 * in their own objects (no allocation per connection for the channel). */
#ifndef CMUDUO_SRC_NET_CHANNEL_INTERNAL_H
#define CMUDUO_SRC_NET_CHANNEL_INTERNAL_H

#include <stdint.h>

#include "cmuduo/net/channel.h"

/* Callbacks of a channel. Embedded channels point at one static const table per
 * owner type, so a channel costs a single pointer for all its callbacks. */
typedef struct mu_channel_ops {
  mu_channel_read_fn read;
  mu_channel_event_fn write;
  mu_channel_event_fn close;
  mu_channel_event_fn error;
  void (*tie_ref)(void *arg);
  void (*tie_unref)(void *arg);
  /* Called once when an event ends during which the owner set
   * MU_CHANNEL_RELEASE_PENDING: an owner that must drop what keeps it alive
   * from inside its own callback defers that here, so the memory under the
   * callback stays (an alternative to tie_ref/tie_unref that costs nothing per
   * event). May free the channel. */
  void (*release)(void *arg);
} mu_channel_ops_t;

enum {
  MU_CHANNEL_EVENT_HANDLING = 1u << 0,
  MU_CHANNEL_LOG_HUP = 1u << 1,
  MU_CHANNEL_OWNS_OPS = 1u << 2,     /* made by mu_channel_new: ops are mutable */
  MU_CHANNEL_FREE_PENDING = 1u << 3, /* freed inside its own callback */
  MU_CHANNEL_ADDED_TO_LOOP = 1u << 4,
  MU_CHANNEL_RELEASE_PENDING = 1u << 5, /* ops->release runs when the event ends */
  MU_CHANNEL_TIED = 1u << 6,            /* ops->tie_ref is set (mu_channel_tie) */
};

/* 40 bytes: a connection keeps its channel and its other per-message fields in
 * as few cache lines as it can. The event masks are poll(2) bits, all below
 * 1 << 16 (epoll reports the same values for the events cmuduo uses). */
struct mu_channel {
  mu_event_loop_t *loop;
  const mu_channel_ops_t *ops;
  void *arg;
  int fd;
  uint16_t events;
  uint16_t revents;
  int index; /* the poller's bookkeeping: a state (epoll) or a slot (poll) */
  uint32_t flags;
};

void mu_channel_init(mu_channel_t *ch, mu_event_loop_t *loop, int fd,
                     const mu_channel_ops_t *ops, void *arg);
void mu_channel_handle_event(mu_channel_t *ch, mu_timestamp_t receive_time);

#endif
