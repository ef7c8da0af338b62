/* Facts about the calling thread, cached in thread-local storage.
 * Every function acts on the calling thread only and is thread-safe. */
#ifndef CMUDUO_BASE_CURRENT_THREAD_H
#define CMUDUO_BASE_CURRENT_THREAD_H

#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel thread id (gettid), cached after the first call; the cache is
 * refreshed in the child after fork(). */
pid_t mu_current_thread_tid(void);
/* The tid as a right-aligned decimal string of width 6 ("  1234"), wider for a
 * tid past 999999 (Linux allows up to 4194304), for log lines. */
const char *mu_current_thread_tid_string(void);
/* The thread's name: "main" for the main thread, "thread" for others until named. */
const char *mu_current_thread_name(void);
/* Sets the cached name (truncated to 31 bytes) and the kernel's name (first 15
 * bytes, shown by top -H and gdb). */
void mu_current_thread_set_name(const char *name);
bool mu_current_thread_is_main(void);

#ifdef __cplusplus
}
#endif
#endif
