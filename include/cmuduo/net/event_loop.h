/* The reactor: one event loop per thread (muduo's EventLoop).
 *
 * A loop belongs to the thread that created it; a thread has at most one (a
 * second mu_event_loop_new() in the same thread is a FATAL error). Functions are
 * loop-thread-only unless marked thread-safe; calling one from another thread is
 * a FATAL error naming the call.
 *
 * Times: the loop works in CLOCK_MONOTONIC microseconds (mu_timestamp_mono_now):
 * the poll return time, receive times given to callbacks and run_at deadlines are
 * all monotonic.
 */
#ifndef CMUDUO_NET_EVENT_LOOP_H
#define CMUDUO_NET_EVENT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cmuduo/base/timestamp.h"
#include "cmuduo/net/callbacks.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a loop owned by the calling thread, with the poller named by
 * MU_POLLER in the environment ("epoll", the default, or "poll").
 * Returns NULL and sets errno if a system resource could not be had. */
mu_event_loop_t *mu_event_loop_new(void);

/* Frees the loop. Loop thread only, not while loop() runs. Functors still
 * queued are run first. Channels the user registered must be removed before. */
void mu_event_loop_free(mu_event_loop_t *loop);

/* Runs until quit(). Loop thread only. A quit() that came before loop() is
 * honoured: loop() then returns without polling, after running queued functors. Functors
 * queued when the loop quits are run before loop() returns. The loop can be run again
 * afterwards. */
void mu_event_loop_loop(mu_event_loop_t *loop);

/* Asks the loop to return from loop() after the current iteration.
 * Thread-safe. */
void mu_event_loop_quit(mu_event_loop_t *loop);

/* Runs fn(arg) now if called in the loop thread, otherwise queues it.
 * Thread-safe. Returns 0, or -ENOMEM if it could not be queued. */
int mu_event_loop_run_in_loop(mu_event_loop_t *loop, mu_functor_fn fn, void *arg);

/* Queues fn(arg) to run in the loop thread after the current I/O events are
 * handled. Functors from one thread run in the order they were queued.
 * Thread-safe. Returns 0, or -ENOMEM. */
int mu_event_loop_queue_in_loop(mu_event_loop_t *loop, mu_functor_fn fn, void *arg);

/* Number of functors waiting to run. Thread-safe. */
size_t mu_event_loop_queue_size(mu_event_loop_t *loop);

/* Timers. Thread-safe. The callback runs in the loop thread, never before its
 * time. `when` is a monotonic timestamp; delays and intervals are in seconds.
 * A run_every timer fires at when, when+interval, ...; if the loop falls behind it
 * skips the missed ticks rather than firing in a burst.
 * Returns an invalid id (seq 0) and sets errno to ENOMEM on allocation failure. */
mu_timer_id_t mu_event_loop_run_at(mu_event_loop_t *loop, mu_timestamp_t when,
                                   mu_functor_fn fn, void *arg);
mu_timer_id_t mu_event_loop_run_after(mu_event_loop_t *loop, double delay,
                                      mu_functor_fn fn, void *arg);
mu_timer_id_t mu_event_loop_run_every(mu_event_loop_t *loop, double interval,
                                      mu_functor_fn fn, void *arg);

/* Cancels a timer. Thread-safe. Works on a pending timer, on a repeating timer
 * from inside its own callback (it will not fire again) and on a timer that is
 * due in the same tick but has not run yet. Cancelling a timer that has already
 * fired (one-shot) or was cancelled is a no-op. From another thread the cancel
 * takes effect when the loop runs it. */
void mu_event_loop_cancel(mu_event_loop_t *loop, mu_timer_id_t id);

/* Thread-safe queries. */
bool mu_event_loop_is_in_loop_thread(const mu_event_loop_t *loop);
pid_t mu_event_loop_thread_id(const mu_event_loop_t *loop);
/* Completed loop iterations (poll wake-ups). */
int64_t mu_event_loop_iteration(const mu_event_loop_t *loop);
/* Monotonic time at which the last poll returned. */
mu_timestamp_t mu_event_loop_poll_return_time(const mu_event_loop_t *loop);
/* "epoll" or "poll". */
const char *mu_event_loop_poller_name(const mu_event_loop_t *loop);

/* FATAL (naming the loop and both threads) unless called in the loop thread. */
void mu_event_loop_assert_in_loop_thread(const mu_event_loop_t *loop);

/* The loop owned by the calling thread, or NULL. */
mu_event_loop_t *mu_event_loop_of_current_thread(void);

/* Wakes the loop from poll. Thread-safe; rarely needed by users. */
void mu_event_loop_wakeup(mu_event_loop_t *loop);

#ifdef __cplusplus
}
#endif
#endif
