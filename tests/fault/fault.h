/* Syscall fault injection for tests, by link-time wrapping.
 *
 * A test linked with tests/fault/fault.c and -Wl,--wrap=<call> for each call
 * below (tests/CMakeLists.txt: mu_add_fault_test) has every call of the
 * library and of the test itself routed through a wrapper here. The wrapper
 * passes the call through unchanged unless all of these hold:
 *   - injection is on (mu_fault_init was called and the rate is above 0);
 *   - the calling thread opted in (mu_fault_thread_enable), e.g. a server's
 *     loop threads through its thread-init callback, and never the verifying
 *     client's threads;
 *   - for I/O calls, the descriptor came from accept4 or connect in an
 *     opted-in thread (a connection of the code under test). Sockets the
 *     verifying side made in other threads are never touched.
 * Then, with probability MU_FAULT_RATE per call, the call fails or is cut
 * short instead:
 *   read, readv, recv        EINTR, EAGAIN, a short read (really reading fewer
 *                            bytes), rarely ECONNRESET
 *   write, writev, send,     EINTR, EAGAIN, a short write (really writing
 *   sendfile                 fewer bytes), rarely ECONNRESET or EPIPE
 *   accept4                  EINTR, EAGAIN, ECONNABORTED, EMFILE, ENFILE
 *                            (nothing accepted: the connection waits in the
 *                            backlog)
 *   connect                  EAGAIN, ECONNREFUSED, EADDRNOTAVAIL (nothing
 *                            sent), or EINTR after a real connect (Linux
 *                            goes on connecting in the background)
 *   epoll_wait, poll         EINTR
 * A fatal fault (ECONNRESET, EPIPE) is given at most once per descriptor and
 * with probability MU_FAULT_FATAL among faults; the server then closes that
 * connection as it would for a real reset. Both ends' ports are remembered,
 * so a test can tell an injected reset (mu_fault_port_was_reset: the client's
 * port, whichever side was faulted) from a bug.
 *
 * Replay: decisions come from one generator per thread, seeded from
 * MU_FAULT_SEED (printed at start; from the clock if unset) and the order in
 * which threads opted in. The same seed gives the same sequence of decisions
 * for the same sequence of calls; the kernel's timing may still change which
 * calls a thread makes, so a replay is close, not always exact.
 *
 * Environment: MU_FAULT_SEED (decimal or 0x hex), MU_FAULT_RATE (0..1,
 * default 0.1), MU_FAULT_FATAL (0..1, default 0.01). */
#ifndef CMUDUO_TESTS_FAULT_FAULT_H
#define CMUDUO_TESTS_FAULT_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "cmuduo/net/event_loop.h"

typedef enum mu_fault_kind {
  MU_FAULT_EINTR,
  MU_FAULT_EAGAIN,
  MU_FAULT_SHORT_READ,
  MU_FAULT_SHORT_WRITE,
  MU_FAULT_ECONNRESET,
  MU_FAULT_EPIPE,
  MU_FAULT_EMFILE,
  MU_FAULT_ENFILE,
  MU_FAULT_ECONNABORTED,
  MU_FAULT_ECONNREFUSED,
  MU_FAULT_EADDRNOTAVAIL,
  MU_FAULT_KINDS
} mu_fault_kind_t;

typedef struct mu_fault_stats {
  uint64_t by_kind[MU_FAULT_KINDS];
  uint64_t calls;    /* wrapped calls that were eligible for a fault */
  uint64_t injected; /* faults given, all kinds */
} mu_fault_stats_t;

/* Reads the environment, seeds, prints "fault: seed=... rate=..." and turns
 * injection on. `default_seed` is used when MU_FAULT_SEED is unset (0: the
 * clock). Returns the seed in force. Call before any thread opts in. */
uint64_t mu_fault_init(uint64_t default_seed);

/* Turns injection on or off for the whole process (on after init). */
void mu_fault_set_active(bool on);

/* The calling thread's calls may (true) or may not (false) get faults. */
void mu_fault_thread_enable(bool on);

/* mu_fault_thread_enable(true) in the shapes the library calls back: a
 * server's or loop thread's init callback, and a functor for run_in_loop (to
 * opt in the base loop's thread). */
void mu_fault_thread_init_cb(mu_event_loop_t *loop, void *arg);
void mu_fault_enable_functor(void *arg);

/* Counts so far (thread-safe snapshot); reset sets them to zero. */
void mu_fault_get_stats(mu_fault_stats_t *out);
void mu_fault_reset_stats(void);
const char *mu_fault_kind_name(mu_fault_kind_t kind);
/* Prints one line with every non-zero count. */
void mu_fault_print_stats(const char *label);

/* True if a fatal fault was injected on a server-side socket whose peer port
 * (the client's local port on 127.0.0.1) is `port`. Forgets it when `forget`. */
bool mu_fault_port_was_reset(uint16_t port, bool forget);

#endif
