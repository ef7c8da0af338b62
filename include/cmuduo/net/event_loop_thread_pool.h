/* A pool of event loop threads around a base loop (muduo's
 * EventLoopThreadPool): the base loop accepts, the pool's loops do the I/O.
 * With 0 threads everything runs on the base loop.
 * All functions are base-loop-thread only. */
#ifndef CMUDUO_NET_EVENT_LOOP_THREAD_POOL_H
#define CMUDUO_NET_EVENT_LOOP_THREAD_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "cmuduo/net/event_loop.h"
#include "cmuduo/net/event_loop_thread.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_event_loop_thread_pool mu_event_loop_thread_pool_t;

/* Threads are named `name` followed by their index ("pool0", "pool1", ...).
 * Returns NULL (errno ENOMEM) on failure. */
mu_event_loop_thread_pool_t *mu_event_loop_thread_pool_new(mu_event_loop_t *base_loop,
                                                           const char *name);
/* Quits and joins every thread. */
void mu_event_loop_thread_pool_free(mu_event_loop_thread_pool_t *pool);

/* Before start; negative counts are taken as 0. */
void mu_event_loop_thread_pool_set_thread_num(mu_event_loop_thread_pool_t *pool, int n);
/* Starts the threads; `init` (may be NULL) runs in each new loop's thread, or on
 * the base loop when there are no threads. Returns 0, or a negative errno (the
 * threads already started are stopped). */
int mu_event_loop_thread_pool_start(mu_event_loop_thread_pool_t *pool,
                                    mu_thread_init_fn init, void *arg);

/* Round-robin over the pool's loops; the base loop if the pool is empty. */
mu_event_loop_t *mu_event_loop_thread_pool_get_next_loop(
    mu_event_loop_thread_pool_t *pool);
/* The same loop for the same hash code. */
mu_event_loop_t *mu_event_loop_thread_pool_get_loop_for_hash(
    mu_event_loop_thread_pool_t *pool, size_t hash);
/* Every loop of the pool (just the base loop if it is empty); the array is owned
 * by the pool. Stores the count in *count. */
mu_event_loop_t *const *mu_event_loop_thread_pool_get_all_loops(
    mu_event_loop_thread_pool_t *pool, size_t *count);

bool mu_event_loop_thread_pool_started(const mu_event_loop_thread_pool_t *pool);
const char *mu_event_loop_thread_pool_name(const mu_event_loop_thread_pool_t *pool);
int mu_event_loop_thread_pool_thread_num(const mu_event_loop_thread_pool_t *pool);

#ifdef __cplusplus
}
#endif
#endif
