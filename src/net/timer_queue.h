/* Timers of one loop (muduo's TimerQueue): one timerfd on CLOCK_MONOTONIC, a
 * binary min-heap keyed by (expiry, sequence). Loop thread only; the loop's
 * run_at/cancel wrap these with the cross-thread hand-off. */
#ifndef CMUDUO_SRC_NET_TIMER_QUEUE_H
#define CMUDUO_SRC_NET_TIMER_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmuduo/net/callbacks.h"

typedef struct mu_timer_queue mu_timer_queue_t;

/* A timer id's slot field when the timer was created from another thread and
 * its slot is only known to the loop. */
#define MU_TIMER_SLOT_REMOTE UINT32_MAX

mu_timer_queue_t *mu_timer_queue_new(mu_event_loop_t *loop);
void mu_timer_queue_free(mu_timer_queue_t *tq);

/* A fresh sequence number; thread-safe. */
uint64_t mu_timer_queue_next_seq(mu_timer_queue_t *tq);

/* Adds a timer with a sequence from next_seq. `when` and `interval_us` are in
 * monotonic microseconds (interval 0: one-shot). `remote` records the timer
 * under its sequence so an id with MU_TIMER_SLOT_REMOTE can find it.
 * Returns the slot, or -ENOMEM. */
int64_t mu_timer_queue_add(mu_timer_queue_t *tq, uint64_t seq, mu_functor_fn fn,
                           void *arg, int64_t when, int64_t interval_us, int remote);
/* Returns false if no timer has this id: it fired or was cancelled, never
 * was, or was added from another thread and its add has not run yet. */
bool mu_timer_queue_cancel(mu_timer_queue_t *tq, mu_timer_id_t id);
/* Number of timers waiting (not counting one whose callback is running). */
size_t mu_timer_queue_size(const mu_timer_queue_t *tq);

#endif
