/* poll(2) poller (muduo's PollPoller). mu_channel.index is the channel's slot in
 * the pollfd array; removal moves the last slot into the hole. */
#include <errno.h>
#include <poll.h>

#include "../poller.h"
#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"

typedef struct poll_poller {
  mu_poller_t base;
  struct pollfd *fds;
  mu_channel_t **channels; /* channels[i] watches fds[i] */
  size_t size;
  size_t cap;
} poll_poller_t;

static mu_timestamp_t pp_poll(mu_poller_t *p, int timeout_ms, mu_channel_list_t *active) {
  poll_poller_t *pp = (poll_poller_t *)p;
  int n = poll(pp->fds, (nfds_t)pp->size, timeout_ms);
  int saved = errno;
  mu_timestamp_t now = mu_timestamp_mono_now();
  if (n < 0) {
    if (saved != EINTR) {
      errno = saved;
      MU_LOG_SYSERR("poll");
    }
    return now;
  }
  if (mu_channel_list_reserve(active, active->size + (size_t)n) != 0) {
    MU_LOG_ERROR("out of memory for %d active channels", n);
    n = (int)(active->cap - active->size);
  }
  for (size_t i = 0; i < pp->size && n > 0; ++i) {
    if (pp->fds[i].revents == 0)
      continue;
    --n;
    mu_channel_t *ch = pp->channels[i];
    ch->revents = pp->fds[i].revents;
    active->items[active->size++] = ch;
  }
  return now;
}

static int grow(poll_poller_t *pp) {
  size_t cap = pp->cap ? pp->cap * 2 : 16;
  struct pollfd *fds = mu_realloc(pp->fds, cap * sizeof *fds);
  if (fds == NULL)
    return -ENOMEM;
  pp->fds = fds;
  mu_channel_t **chs = mu_realloc(pp->channels, cap * sizeof *chs);
  if (chs == NULL)
    return -ENOMEM;
  pp->channels = chs;
  pp->cap = cap;
  return 0;
}

static int pp_update(mu_poller_t *p, mu_channel_t *ch) {
  poll_poller_t *pp = (poll_poller_t *)p;
  if (ch->index < 0) {
    if (pp->size == pp->cap && grow(pp) != 0) {
      MU_LOG_ERROR("out of memory watching fd %d", ch->fd);
      return -ENOMEM;
    }
    ch->index = (int)pp->size++;
    pp->channels[ch->index] = ch;
  }
  struct pollfd *pfd = &pp->fds[ch->index];
  /* A negative fd makes poll skip the slot: the way to watch nothing. */
  pfd->fd = ch->events == MU_EV_NONE ? -ch->fd - 1 : ch->fd;
  pfd->events = (short)ch->events;
  pfd->revents = 0;
  return 0;
}

static void pp_remove(mu_poller_t *p, mu_channel_t *ch) {
  poll_poller_t *pp = (poll_poller_t *)p;
  if (ch->index < 0)
    return;
  size_t i = (size_t)ch->index;
  size_t last = pp->size - 1;
  if (i != last) {
    pp->fds[i] = pp->fds[last];
    pp->channels[i] = pp->channels[last];
    pp->channels[i]->index = (int)i;
  }
  pp->size = last;
  ch->index = -1;
}

static void pp_free(mu_poller_t *p) {
  poll_poller_t *pp = (poll_poller_t *)p;
  mu_free(pp->fds);
  mu_free(pp->channels);
  mu_free(pp);
}

static const mu_poller_ops_t k_poll_ops = {pp_poll, pp_update, pp_remove, pp_free};

mu_poller_t *mu_poll_poller_new(void) {
  poll_poller_t *pp = mu_calloc(1, sizeof *pp);
  if (pp == NULL)
    return NULL;
  pp->base.ops = &k_poll_ops;
  pp->base.name = "poll";
  return &pp->base;
}
