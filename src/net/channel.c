#include "channel_internal.h"

#include <stdio.h>
#include <string.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "event_loop_internal.h"

/* A channel made by mu_channel_new carries its own mutable callback table. */
typedef struct user_channel {
  mu_channel_t ch;
  mu_channel_ops_t ops;
} user_channel_t;

enum { k_index_new = -1 };

void mu_channel_init(mu_channel_t *ch, mu_event_loop_t *loop, int fd,
                     const mu_channel_ops_t *ops, void *arg) {
  ch->loop = loop;
  ch->ops = ops;
  ch->arg = arg;
  ch->fd = fd;
  ch->events = 0;
  ch->revents = 0;
  ch->index = k_index_new;
  ch->flags = MU_CHANNEL_LOG_HUP;
}

mu_channel_t *mu_channel_new(mu_event_loop_t *loop, int fd, void *arg) {
  user_channel_t *uc = mu_calloc(1, sizeof *uc);
  if (uc == NULL)
    return NULL;
  mu_channel_init(&uc->ch, loop, fd, &uc->ops, arg);
  uc->ch.flags |= MU_CHANNEL_OWNS_OPS;
  return &uc->ch;
}

void mu_channel_free(mu_channel_t *ch) {
  if (ch == NULL)
    return;
  MU_ASSERT_IN_LOOP_THREAD(ch->loop);
  if (!(ch->flags & MU_CHANNEL_OWNS_OPS)) {
    MU_LOG_FATAL("mu_channel_free on a channel embedded in a cmuduo object (fd %d)",
                 ch->fd);
  }
  mu_channel_remove(ch);
  if (ch->flags & MU_CHANNEL_EVENT_HANDLING) {
    ch->flags |= MU_CHANNEL_FREE_PENDING; /* handle_event frees it on the way out */
    return;
  }
  mu_free((user_channel_t *)ch);
}

static mu_channel_ops_t *mutable_ops(mu_channel_t *ch, const char *func) {
  if (!(ch->flags & MU_CHANNEL_OWNS_OPS)) {
    MU_LOG_FATAL("%s on a channel embedded in a cmuduo object (fd %d)", func, ch->fd);
  }
  return &((user_channel_t *)ch)->ops;
}

void mu_channel_set_read_callback(mu_channel_t *ch, mu_channel_read_fn fn) {
  mutable_ops(ch, __func__)->read = fn;
}
void mu_channel_set_write_callback(mu_channel_t *ch, mu_channel_event_fn fn) {
  mutable_ops(ch, __func__)->write = fn;
}
void mu_channel_set_close_callback(mu_channel_t *ch, mu_channel_event_fn fn) {
  mutable_ops(ch, __func__)->close = fn;
}
void mu_channel_set_error_callback(mu_channel_t *ch, mu_channel_event_fn fn) {
  mutable_ops(ch, __func__)->error = fn;
}
void mu_channel_tie(mu_channel_t *ch, void (*ref)(void *), void (*unref)(void *)) {
  mu_channel_ops_t *ops = mutable_ops(ch, __func__);
  ops->tie_ref = ref;
  ops->tie_unref = unref;
  if (ref != NULL) {
    ch->flags |= MU_CHANNEL_TIED;
  } else {
    ch->flags &= ~(uint32_t)MU_CHANNEL_TIED;
  }
}

/* `func` is the public entry point, so a call from the wrong thread is named
 * as the user wrote it, not as the loop's internal helper. */
static int update(mu_channel_t *ch, int events, const char *func) {
  mu_event_loop_assert_in_loop_thread_for(ch->loop, func);
  int old = ch->events;
  ch->events = events;
  ch->flags |= MU_CHANNEL_ADDED_TO_LOOP;
  int rc = mu_event_loop_update_channel(ch->loop, ch);
  if (rc != 0)
    ch->events = old;
  return rc;
}

int mu_channel_enable_reading(mu_channel_t *ch) {
  return update(ch, ch->events | MU_EV_READ, __func__);
}
int mu_channel_disable_reading(mu_channel_t *ch) {
  return update(ch, ch->events & ~MU_EV_READ, __func__);
}
int mu_channel_enable_writing(mu_channel_t *ch) {
  return update(ch, ch->events | MU_EV_WRITE, __func__);
}
int mu_channel_disable_writing(mu_channel_t *ch) {
  return update(ch, ch->events & ~MU_EV_WRITE, __func__);
}
int mu_channel_disable_all(mu_channel_t *ch) {
  return update(ch, MU_EV_NONE, __func__);
}

void mu_channel_remove(mu_channel_t *ch) {
  if (!(ch->flags & MU_CHANNEL_ADDED_TO_LOOP))
    return;
  ch->events = MU_EV_NONE;
  ch->flags &= ~(uint32_t)MU_CHANNEL_ADDED_TO_LOOP;
  mu_event_loop_remove_channel(ch->loop, ch);
}

int mu_channel_fd(const mu_channel_t *ch) {
  return ch->fd;
}
int mu_channel_events(const mu_channel_t *ch) {
  return ch->events;
}
int mu_channel_revents(const mu_channel_t *ch) {
  return ch->revents;
}
bool mu_channel_is_none_event(const mu_channel_t *ch) {
  return ch->events == MU_EV_NONE;
}
bool mu_channel_is_reading(const mu_channel_t *ch) {
  return (ch->events & MU_EV_READ) != 0;
}
bool mu_channel_is_writing(const mu_channel_t *ch) {
  return (ch->events & MU_EV_WRITE) != 0;
}
mu_event_loop_t *mu_channel_owner_loop(const mu_channel_t *ch) {
  return ch->loop;
}
void mu_channel_do_not_log_hup(mu_channel_t *ch) {
  ch->flags &= ~(uint32_t)MU_CHANNEL_LOG_HUP;
}

static char *events_to_string(int fd, int ev, char *buf, size_t len) {
  static const struct {
    int bit;
    const char *name;
  } k_names[] = {{POLLIN, "IN"},    {POLLPRI, "PRI"},     {POLLOUT, "OUT"},
                 {POLLHUP, "HUP"},  {POLLRDHUP, "RDHUP"}, {POLLERR, "ERR"},
                 {POLLNVAL, "NVAL"}};
  size_t n = (size_t)snprintf(buf, len, "%d: ", fd);
  for (size_t i = 0; i < sizeof k_names / sizeof k_names[0] && n < len; ++i) {
    if (ev & k_names[i].bit)
      n += (size_t)snprintf(buf + n, len - n, "%s ", k_names[i].name);
  }
  return buf;
}

char *mu_channel_revents_to_string(const mu_channel_t *ch, char *buf, size_t len) {
  return events_to_string(ch->fd, ch->revents, buf, len);
}
char *mu_channel_events_to_string(const mu_channel_t *ch, char *buf, size_t len) {
  return events_to_string(ch->fd, ch->events, buf, len);
}

/* True once a callback has freed the channel or lost interest in every event:
 * the remaining callbacks of this event must not run. */
static bool dispatch_stopped(const mu_channel_t *ch) {
  return (ch->flags & MU_CHANNEL_FREE_PENDING) || ch->events == MU_EV_NONE;
}

/* Out of line: handle_event's common case (only readable) calls the read
 * callback itself. */
static __attribute__((noinline)) void dispatch(mu_channel_t *ch,
                                               mu_timestamp_t receive_time) {
  const mu_channel_ops_t *ops = ch->ops;
  int rev = ch->revents;
  if ((rev & POLLHUP) && !(rev & POLLIN)) {
    if (ch->flags & MU_CHANNEL_LOG_HUP)
      MU_LOG_WARN("fd = %d: POLLHUP", ch->fd);
    if (ops->close) {
      ops->close(ch, ch->arg);
    } else {
      /* Nobody handles the hang-up; level-triggered, it would be reported again
       * at once, forever: stop watching instead of spinning the loop. */
      MU_LOG_WARN("fd = %d: hang-up with no close callback; channel disabled", ch->fd);
      mu_channel_disable_all(ch);
    }
    if (dispatch_stopped(ch))
      return;
  }
  if (rev & POLLNVAL)
    MU_LOG_WARN("fd = %d: POLLNVAL", ch->fd);
  if (rev & (POLLERR | POLLNVAL)) {
    if (ops->error)
      ops->error(ch, ch->arg);
    if (dispatch_stopped(ch))
      return;
  }
  if (rev & (POLLIN | POLLPRI | POLLRDHUP)) {
    if (ops->read)
      ops->read(ch, receive_time, ch->arg);
    if (dispatch_stopped(ch))
      return;
  }
  if ((rev & POLLOUT) && ops->write)
    ops->write(ch, ch->arg);
}

/* A channel tied with mu_channel_tie: its owner holds a reference for the
 * whole event. */
static __attribute__((noinline)) void handle_tied_event(mu_channel_t *ch,
                                                        mu_timestamp_t receive_time) {
  /* Copied first: the last unref may free the owner, and with it this channel. */
  void (*unref)(void *) = ch->ops->tie_unref;
  void *arg = ch->arg;
  ch->ops->tie_ref(arg);
  ch->flags |= MU_CHANNEL_EVENT_HANDLING;
  dispatch(ch, receive_time);
  ch->flags &= ~(uint32_t)MU_CHANNEL_EVENT_HANDLING;
  if (ch->flags & MU_CHANNEL_FREE_PENDING)
    mu_free((user_channel_t *)ch);
  if (unref)
    unref(arg);
}

/* What a callback asked to happen once the event is over. */
static void finish_deferred(mu_channel_t *ch) {
  if (ch->flags & MU_CHANNEL_FREE_PENDING) {
    mu_free((user_channel_t *)ch);
    return;
  }
  ch->flags &= ~(uint32_t)MU_CHANNEL_RELEASE_PENDING;
  ch->ops->release(ch->arg); /* may free the channel: the last step */
}

void mu_channel_handle_event(mu_channel_t *ch, mu_timestamp_t receive_time) {
  uint32_t entry_flags = ch->flags;
  if (entry_flags & MU_CHANNEL_TIED) {
    handle_tied_event(ch, receive_time);
    return;
  }
  ch->flags = entry_flags | MU_CHANNEL_EVENT_HANDLING;
  const mu_channel_ops_t *ops = ch->ops;
  if (__builtin_expect((ch->revents & ~(POLLIN | POLLPRI)) == 0 && ops->read != NULL,
                       1)) {
    /* Only readable, the common case: what dispatch would do, directly. */
    ops->read(ch, receive_time, ch->arg);
  } else {
    dispatch(ch, receive_time);
  }
  uint32_t flags = ch->flags & ~(uint32_t)MU_CHANNEL_EVENT_HANDLING;
  ch->flags = flags;
  if (flags & (MU_CHANNEL_FREE_PENDING | MU_CHANNEL_RELEASE_PENDING))
    finish_deferred(ch);
}
