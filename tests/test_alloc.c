/* Allocation hooks: a counting allocator sees the loop's allocations and every
 * one is freed; injected failures make mu_event_loop_new fail cleanly. */
#include <errno.h>
#include <stdint.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "cmuduo/net/channel.h"
#include "cmuduo/net/event_loop.h"
#include "test_util.h"

/* ---- a counting allocator that can be told to fail ---------------------- */

enum { k_max_live = 4096 };

typedef struct counter {
  long mallocs;
  long reallocs;
  long frees;
  long failures;
  long budget; /* allocations still allowed; < 0: unlimited */
  void *live[k_max_live];
  int nlive;
} counter_t;

static counter_t g_c;

static void live_add(void *p) {
  CHECK(g_c.nlive < k_max_live);
  g_c.live[g_c.nlive++] = p;
}

/* Freeing a pointer this allocator never handed out is a failure. */
static int live_index(const void *p) {
  for (int i = 0; i < g_c.nlive; ++i) {
    if (g_c.live[i] == p)
      return i;
  }
  fprintf(stderr, "%p was not allocated by the counting allocator\n", p);
  abort();
}

static void live_remove(void *p) {
  int i = live_index(p);
  g_c.live[i] = g_c.live[--g_c.nlive];
}

static bool take_budget(void) {
  if (g_c.budget == 0) {
    g_c.failures++;
    errno = 0; /* the wrapper, not the allocator, must report ENOMEM */
    return false;
  }
  if (g_c.budget > 0)
    g_c.budget--;
  return true;
}

static void *counting_malloc(size_t size) {
  g_c.mallocs++;
  if (!take_budget())
    return NULL;
  void *p = malloc(size);
  /* Garbage, so a "zeroed" result can only come from the wrapper. */
  if (p != NULL)
    memset(p, 0xAB, size);
  if (p != NULL)
    live_add(p);
  return p;
}

static void *counting_realloc(void *ptr, size_t size) {
  g_c.reallocs++;
  int slot = ptr != NULL ? live_index(ptr) : -1;
  if (!take_budget())
    return NULL;
  void *p = realloc(ptr, size);
  if (p == NULL)
    return NULL;
  if (slot >= 0) {
    g_c.live[slot] = p;
  } else {
    live_add(p);
  }
  return p;
}

static void counting_free(void *ptr) {
  g_c.frees++;
  live_remove(ptr);
  free(ptr);
}

static const mu_allocator_t k_counting = {counting_malloc, counting_realloc,
                                          counting_free};

static void counter_reset(long budget) {
  memset(&g_c, 0, sizeof g_c);
  g_c.budget = budget;
}

static void discard_log(const char *line, size_t len, void *arg) {
  (void)line;
  (void)len;
  ++*(int *)arg;
}

/* ---- wrappers ----------------------------------------------------------- */

static void test_wrappers(void) {
  counter_reset(-1);
  mu_set_allocator(&k_counting);

  void *a = mu_malloc(24);
  CHECK(a != NULL);
  CHECK_EQ(g_c.mallocs, 1);
  /* Zero bytes still yields a distinct, freeable block. */
  void *z = mu_malloc(0);
  CHECK(z != NULL && z != a);
  void *r = mu_realloc(NULL, 16);
  CHECK(r != NULL);
  CHECK_EQ(g_c.reallocs, 1);
  r = mu_realloc(r, 4096);
  CHECK(r != NULL);
  CHECK_EQ(g_c.reallocs, 2);

  unsigned char *c = mu_calloc(100, 3);
  CHECK(c != NULL);
  for (int i = 0; i < 300; ++i)
    CHECK(c[i] == 0);

  /* n * size overflows: refused before the allocator is asked. */
  long asked = g_c.mallocs + g_c.reallocs;
  errno = 0;
  CHECK(mu_calloc(SIZE_MAX / 2 + 1, 2) == NULL);
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(mu_calloc(2, SIZE_MAX / 2 + 1) == NULL);
  CHECK_EQ(errno, ENOMEM);
  CHECK_EQ(g_c.mallocs + g_c.reallocs, asked);
  void *c0 = mu_calloc(0, 8);
  CHECK(c0 != NULL);

  long frees = g_c.frees;
  mu_free(NULL);
  CHECK_EQ(g_c.frees, frees);
  mu_free(a);
  mu_free(z);
  mu_free(r);
  mu_free(c);
  mu_free(c0);
  CHECK_EQ(g_c.nlive, 0);

  /* Failures set errno even though the allocator left it 0. */
  g_c.budget = 0;
  errno = 0;
  CHECK(mu_malloc(8) == NULL);
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(mu_realloc(NULL, 8) == NULL);
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(mu_calloc(4, 4) == NULL);
  CHECK_EQ(errno, ENOMEM);
  CHECK_EQ(g_c.failures, 3);

  /* NULL restores libc: our functions are no longer called. */
  mu_set_allocator(NULL);
  long calls = g_c.mallocs + g_c.reallocs + g_c.frees;
  void *p = mu_malloc(32);
  CHECK(p != NULL);
  p = mu_realloc(p, 64);
  CHECK(p != NULL);
  mu_free(p);
  CHECK_EQ(g_c.mallocs + g_c.reallocs + g_c.frees, calls);
}

/* ---- the loop's allocations --------------------------------------------- */

static void quit_loop(void *arg) {
  mu_event_loop_quit(arg);
}

static void noop(void *arg) {
  (void)arg;
}

static void on_pipe_read(mu_channel_t *ch, mu_timestamp_t t, void *arg) {
  (void)t;
  char buf[16];
  ssize_t n = read(mu_channel_fd(ch), buf, sizeof buf);
  CHECK(n > 0);
  ++*(int *)arg;
}

static void test_loop_allocations_balance(void) {
  counter_reset(-1);
  mu_set_allocator(&k_counting);

  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  CHECK(g_c.mallocs + g_c.reallocs > 0); /* the loop really used the hooks */

  /* Exercise the parts that allocate lazily: timers, queued functors, a user
   * channel, the active-channel list. */
  int fds[2];
  CHECK(pipe(fds) == 0);
  int reads = 0;
  mu_channel_t *ch = mu_channel_new(loop, fds[0], &reads);
  CHECK(ch != NULL);
  mu_channel_set_read_callback(ch, on_pipe_read);
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  CHECK(write(fds[1], "x", 1) == 1);
  for (int i = 0; i < 100; ++i) {
    CHECK(mu_timer_id_valid(mu_event_loop_run_after(loop, 10.0 + i, noop, NULL)));
  }
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, noop, NULL), 0);
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(loop, 0.02, quit_loop, loop)));
  mu_event_loop_loop(loop);
  CHECK_EQ(reads, 1);

  mu_channel_free(ch);
  close(fds[0]);
  close(fds[1]);
  long before_free = g_c.frees;
  mu_event_loop_free(loop);
  CHECK(g_c.frees > before_free);
  if (g_c.nlive != 0) {
    fprintf(stderr, "%d blocks still live after mu_event_loop_free\n", g_c.nlive);
    abort();
  }
  CHECK(g_c.mallocs + g_c.reallocs >= 5);
  printf("loop life cycle: %ld mallocs, %ld reallocs, %ld frees\n", g_c.mallocs,
         g_c.reallocs, g_c.frees);
  mu_set_allocator(NULL);
}

/* The n-th allocation fails, for every n the constructor reaches: each
 * failure returns NULL with ENOMEM and leaves nothing allocated. */
static void test_loop_new_failures(void) {
  int logged = 0; /* the failures' ERROR lines would only clutter the output */
  mu_log_set_output(discard_log, &logged);
  int failed = 0;
  bool succeeded = false;
  for (long budget = 0; budget < 64 && !succeeded; ++budget) {
    counter_reset(budget);
    mu_set_allocator(&k_counting);
    errno = 0;
    mu_event_loop_t *loop = mu_event_loop_new();
    if (loop == NULL) {
      CHECK_EQ(errno, ENOMEM);
      CHECK_EQ(g_c.failures, 1);
      CHECK(mu_event_loop_of_current_thread() == NULL);
      failed++;
    } else {
      CHECK(g_c.failures == 0);
      CHECK(mu_event_loop_of_current_thread() == loop);
      mu_event_loop_free(loop);
      succeeded = true;
    }
    if (g_c.nlive != 0) {
      fprintf(stderr, "budget %ld: %d blocks leaked\n", budget, g_c.nlive);
      abort();
    }
    mu_set_allocator(NULL);
  }
  mu_log_set_output(NULL, NULL);
  CHECK(succeeded);
  CHECK(failed >= 2);
  printf("mu_event_loop_new failed cleanly at %d allocation points\n", failed);

  /* Restored: the next loop comes from libc and works. */
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(loop, 0.001, quit_loop, loop)));
  mu_event_loop_loop(loop);
  mu_event_loop_free(loop);
}

int main(void) {
  test_time_limit(60);
  test_wrappers();
  test_loop_allocations_balance();
  test_loop_new_failures();
  TEST_PASS("alloc");
}
