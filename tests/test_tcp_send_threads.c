/* mu_tcp_connection_send from 4 threads at once into one connection, through
 * a reference taken in the connection callback, while the loop thread also
 * sends (it answers the client's bytes with records of its own).
 *
 * Every send is one record: magic, sender, sequence number, length, payload
 * (position-keyed by sender and sequence). The client parses the stream and
 * checks that no record is torn or interleaved with another, and that each
 * sender's records arrive complete and in that sender's order. */
#include <pthread.h>

#include "tcp_test_util.h"

enum {
  k_senders = 4,
  k_loop_sender = k_senders, /* records the loop thread sends */
  k_header = 8,              /* magic, sender, seq (4), len (2) */
  k_magic = 0xa5,
  k_max_payload = 60000,
};
#define RECORDS_PER_SENDER 5000
#define CLIENT_BYTES (8u << 20)

typedef struct shared {
  tt_conn_counters_t counters;
  _Atomic(mu_tcp_connection_t *) conn; /* our reference */
  mu_countdown_latch_t up;
  uint32_t loop_seq; /* loop thread only */
} shared_t;

static uint64_t record_stream(int sender, uint32_t seq) {
  return ((uint64_t)sender << 32 | seq) + 1;
}

static void put_header(uint8_t *h, int sender, uint32_t seq, size_t len) {
  h[0] = k_magic;
  h[1] = (uint8_t)sender;
  h[2] = (uint8_t)(seq >> 24);
  h[3] = (uint8_t)(seq >> 16);
  h[4] = (uint8_t)(seq >> 8);
  h[5] = (uint8_t)seq;
  h[6] = (uint8_t)(len >> 8);
  h[7] = (uint8_t)len;
}

/* ---- server ---------------------------------------------------------------- */

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  shared_t *sh = arg;
  tt_count_connection(conn, &sh->counters);
  if (!mu_tcp_connection_connected(conn))
    return;
  mu_tcp_connection_ref(conn);
  atomic_store(&sh->conn, conn);
  mu_countdown_latch_count_down(&sh->up);
}

/* The loop thread's own records: what the client sent, in order. */
static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)t;
  shared_t *sh = arg;
  uint8_t rec[k_header + k_max_payload];
  while (mu_buffer_readable_bytes(buf) > 0) {
    size_t n = mu_buffer_retrieve_into(buf, rec + k_header, k_max_payload);
    put_header(rec, k_loop_sender, sh->loop_seq++, n);
    CHECK_EQ(mu_tcp_connection_send(conn, rec, k_header + n), 0);
  }
}

static void setup(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, on_connection, arg);
  mu_tcp_server_set_message_callback(server, on_message, arg);
}

typedef struct sender {
  pthread_t th;
  int id;
  mu_tcp_connection_t *conn;
  uint64_t seed;
} sender_t;

/* Half the records go through send(), half through send_buffer(). */
static void *send_records(void *arg) {
  sender_t *s = arg;
  tt_rng_t rng = tt_rng_make(s->seed);
  uint8_t *rec = malloc(k_header + k_max_payload);
  CHECK(rec != NULL);
  mu_buffer_t buf = MU_BUFFER_INIT;
  for (uint32_t seq = 0; seq < RECORDS_PER_SENDER; ++seq) {
    size_t len = seq % 64 == 63 ? k_max_payload : tt_rng_log_size(&rng, 1, 4096) - 1;
    put_header(rec, s->id, seq, len);
    tt_pattern_fill(record_stream(s->id, seq), 0, rec + k_header, len);
    if (seq % 2 == 0) {
      CHECK_EQ(mu_tcp_connection_send(s->conn, rec, k_header + len), 0);
    } else {
      CHECK_EQ(mu_buffer_append(&buf, rec, k_header + len), 0);
      CHECK_EQ(mu_tcp_connection_send_buffer(s->conn, &buf), 0);
      CHECK_EQ(mu_buffer_readable_bytes(&buf), 0);
    }
  }
  mu_buffer_destroy(&buf);
  free(rec);
  return NULL;
}

/* ---- client ---------------------------------------------------------------- */

typedef struct pinger {
  int fd;
  uint64_t stream;
} pinger_t;

/* The client's own bytes, in small random pieces, for the loop to answer. */
static void *ping(void *arg) {
  pinger_t *p = arg;
  tt_rng_t rng = tt_rng_make(p->stream);
  char chunk[8192];
  for (size_t off = 0; off < CLIENT_BYTES;) {
    size_t n = tt_rng_range(&rng, 1, sizeof chunk);
    if (n > CLIENT_BYTES - off)
      n = CLIENT_BYTES - off;
    tt_pattern_fill(p->stream, off, chunk, n);
    tt_write_all(p->fd, chunk, n);
    off += n;
  }
  return NULL;
}

typedef struct reader {
  uint32_t next_seq[k_senders + 1];
  uint64_t loop_bytes; /* payload bytes of the loop's records so far */
  uint64_t ping_stream;
  uint64_t records;
} reader_t;

static void check_record(reader_t *r, const uint8_t *h, const uint8_t *payload) {
  CHECK_EQ(h[0], k_magic);
  int sender = h[1];
  CHECK(sender <= k_senders);
  uint32_t seq = (uint32_t)h[2] << 24 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 8 | h[5];
  size_t len = (size_t)h[6] << 8 | h[7];
  if (seq != r->next_seq[sender]) {
    fprintf(stderr, "sender %d: record %u arrived, %u expected\n", sender, seq,
            r->next_seq[sender]);
    abort();
  }
  r->next_seq[sender]++;
  r->records++;
  if (sender == k_loop_sender) {
    CHECK_EQ(tt_pattern_check(r->ping_stream, r->loop_bytes, payload, len), len);
    r->loop_bytes += len;
  } else {
    CHECK_EQ(tt_pattern_check(record_stream(sender, seq), 0, payload, len), len);
  }
}

static bool reader_done(const reader_t *r) {
  for (int i = 0; i < k_senders; ++i) {
    if (r->next_seq[i] != RECORDS_PER_SENDER)
      return false;
  }
  return r->loop_bytes == CLIENT_BYTES;
}

static void read_records(int fd, reader_t *r) {
  uint8_t h[k_header];
  static uint8_t payload[k_max_payload];
  while (!reader_done(r)) {
    tt_read_exactly(fd, h, k_header);
    size_t len = (size_t)h[6] << 8 | h[7];
    CHECK(len <= k_max_payload);
    tt_read_exactly(fd, payload, len);
    check_record(r, h, payload);
  }
}

static void run(int io_threads, uint64_t seed) {
  shared_t sh = {0};
  mu_countdown_latch_init(&sh.up, 1);
  tt_server_t srv;
  tt_server_start(&srv, "SendThreads", io_threads, setup, &sh);
  int fd = tt_connect(srv.port);
  mu_countdown_latch_wait(&sh.up);
  mu_tcp_connection_t *conn = atomic_load(&sh.conn);
  double start = tt_now();
  sender_t senders[k_senders];
  for (int i = 0; i < k_senders; ++i) {
    senders[i] = (sender_t){.id = i, .conn = conn, .seed = seed + (uint64_t)i};
    CHECK(pthread_create(&senders[i].th, NULL, send_records, &senders[i]) == 0);
  }
  pinger_t pg = {fd, tt_mix64(seed ^ 0x9196)};
  pthread_t pth;
  CHECK(pthread_create(&pth, NULL, ping, &pg) == 0);
  reader_t r = {.ping_stream = pg.stream};
  read_records(fd, &r);
  for (int i = 0; i < k_senders; ++i)
    CHECK(pthread_join(senders[i].th, NULL) == 0);
  CHECK(pthread_join(pth, NULL) == 0);
  /* Nothing after the last record; our FIN ends it, reference or not. */
  CHECK(shutdown(fd, SHUT_WR) == 0);
  tt_expect_eof(fd);
  CHECK(close(fd) == 0);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  CHECK_EQ(atomic_load(&sh.counters.up), 1);
  CHECK_EQ(atomic_load(&sh.counters.down), 1);
  CHECK_EQ(mu_tcp_connection_send(conn, "x", 1), -ENOTCONN);
  printf("  io_threads=%d: %" PRIu64
         " records (%d senders x %d + %u from the loop) "
         "in %.2f s\n",
         io_threads, r.records, k_senders, RECORDS_PER_SENDER, r.next_seq[k_loop_sender],
         tt_now() - start);
  tt_server_stop(&srv);
  mu_tcp_connection_unref(conn);
  mu_countdown_latch_destroy(&sh.up);
}

int main(void) {
  tt_init("tcp_send_threads", 200);
  uint64_t seed = tt_seed(0x5e4d7);
  run(0, seed);
  run(2, seed + 100);
  TEST_PASS("tcp_send_threads");
}
