/* A channel watches one file descriptor for one loop (muduo's Channel).
 *
 * It does not own the fd: the owner closes it, after removing the channel
 * (mu_channel_free does the removal), so that the poller never watches a closed
 * descriptor. Users can watch their own fds (a pipe, a signalfd, an inotify fd)
 * with a channel.
 *
 * Dispatch rules (muduo's Channel::handleEventWithGuard), in this order:
 *   hang-up without readable data -> close callback
 *   error or invalid fd           -> error callback
 *   readable, urgent or peer half-closed -> read callback
 *   writable                      -> write callback
 * Dispatch stops early if a callback frees the channel or disables all events.
 *
 * All functions are loop-thread-only.
 */
#ifndef CMUDUO_NET_CHANNEL_H
#define CMUDUO_NET_CHANNEL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "cmuduo/base/timestamp.h"
#include "cmuduo/net/callbacks.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Event bits; numerically equal to poll(2)'s and epoll(7)'s. */
#define MU_EV_NONE 0
#define MU_EV_READ (POLLIN | POLLPRI)
#define MU_EV_WRITE POLLOUT

typedef void (*mu_channel_read_fn)(mu_channel_t *ch, mu_timestamp_t receive_time,
                                   void *arg);
typedef void (*mu_channel_event_fn)(mu_channel_t *ch, void *arg);

/* A new channel for `fd` in `loop`; `arg` is passed to every callback.
 * Watches nothing until enabled. Returns NULL (errno ENOMEM) on failure. */
mu_channel_t *mu_channel_new(mu_event_loop_t *loop, int fd, void *arg);
/* Removes the channel from its loop and frees it; does not close the fd.
 * May be called from the channel's own callback: the memory is released when
 * the callback returns and no further callback of this event runs. */
void mu_channel_free(mu_channel_t *ch);

void mu_channel_set_read_callback(mu_channel_t *ch, mu_channel_read_fn fn);
void mu_channel_set_write_callback(mu_channel_t *ch, mu_channel_event_fn fn);
void mu_channel_set_close_callback(mu_channel_t *ch, mu_channel_event_fn fn);
void mu_channel_set_error_callback(mu_channel_t *ch, mu_channel_event_fn fn);

/* Ties the channel to its owner (muduo's Channel::tie): ref(arg) is called
 * before the callbacks of an event and unref(arg) after them, so an owner that is
 * reference counted cannot be freed while its own callback runs. */
void mu_channel_tie(mu_channel_t *ch, void (*ref)(void *arg), void (*unref)(void *arg));

/* Interest changes take effect in the poller at once. They return 0, or a
 * negative errno if the poller refused (e.g. -EBADF for a closed fd); the error
 * is also logged. */
int mu_channel_enable_reading(mu_channel_t *ch);
int mu_channel_disable_reading(mu_channel_t *ch);
int mu_channel_enable_writing(mu_channel_t *ch);
int mu_channel_disable_writing(mu_channel_t *ch);
int mu_channel_disable_all(mu_channel_t *ch);
/* Stops watching and forgets the fd in the poller; the channel can be enabled
 * again later. */
void mu_channel_remove(mu_channel_t *ch);

int mu_channel_fd(const mu_channel_t *ch);
int mu_channel_events(const mu_channel_t *ch);
/* The events returned by the last poll, valid inside a callback. */
int mu_channel_revents(const mu_channel_t *ch);
bool mu_channel_is_none_event(const mu_channel_t *ch);
bool mu_channel_is_reading(const mu_channel_t *ch);
bool mu_channel_is_writing(const mu_channel_t *ch);
mu_event_loop_t *mu_channel_owner_loop(const mu_channel_t *ch);
/* Do not log a WARN line when the peer hangs up. */
void mu_channel_do_not_log_hup(mu_channel_t *ch);
/* "fd: IN OUT HUP ..." for logs; returns buf. */
char *mu_channel_revents_to_string(const mu_channel_t *ch, char *buf, size_t len);
char *mu_channel_events_to_string(const mu_channel_t *ch, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
