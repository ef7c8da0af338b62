#include "poller.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"

int mu_channel_list_reserve(mu_channel_list_t *list, size_t n) {
  if (n <= list->cap)
    return 0;
  size_t cap = list->cap ? list->cap : 16;
  while (cap < n)
    cap *= 2;
  mu_channel_t **items = mu_realloc(list->items, cap * sizeof *items);
  if (items == NULL)
    return -ENOMEM;
  list->items = items;
  list->cap = cap;
  return 0;
}

mu_poller_t *mu_poller_new_default(void) {
  const char *name = getenv("MU_POLLER");
  if (name != NULL && strcmp(name, "poll") == 0)
    return mu_poll_poller_new();
  if (name != NULL && name[0] != '\0' && strcmp(name, "epoll") != 0) {
    MU_LOG_WARN("MU_POLLER=%s is not a poller (epoll, poll); using epoll", name);
  }
  return mu_epoll_poller_new();
}
