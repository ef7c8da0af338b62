/* The poller interface (muduo's Poller): epoll by default, poll(2) as the
 * fallback, chosen by MU_POLLER in the environment. Loop thread only. */
#ifndef CMUDUO_SRC_NET_POLLER_H
#define CMUDUO_SRC_NET_POLLER_H

#include <stddef.h>

#include "channel_internal.h"

/* The channels with events from one poll; owned and reused by the loop. */
typedef struct mu_channel_list {
  mu_channel_t **items;
  size_t size;
  size_t cap;
} mu_channel_list_t;

/* Makes room for n channels; returns 0 or -ENOMEM. */
int mu_channel_list_reserve(mu_channel_list_t *list, size_t n);

typedef struct mu_poller mu_poller_t;

typedef struct mu_poller_ops {
  /* Waits up to timeout_ms (-1: forever); appends ready channels, with revents
   * set, to `active`. Returns the monotonic time the wait returned. */
  mu_timestamp_t (*poll)(mu_poller_t *p, int timeout_ms, mu_channel_list_t *active);
  /* Adds, modifies or (no events) stops watching; 0 or a negative errno. */
  int (*update_channel)(mu_poller_t *p, mu_channel_t *ch);
  /* Forgets the channel; it must not be watched afterwards. */
  void (*remove_channel)(mu_poller_t *p, mu_channel_t *ch);
  void (*free)(mu_poller_t *p);
} mu_poller_ops_t;

struct mu_poller {
  const mu_poller_ops_t *ops;
  const char *name;
};

mu_poller_t *mu_poller_new_default(void);
mu_poller_t *mu_epoll_poller_new(void);
mu_poller_t *mu_poll_poller_new(void);

#endif
