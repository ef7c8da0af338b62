/* One TCP connection (muduo's TcpConnection), made by a TcpServer or TcpClient.
 *
 * Lifetime: a connection is reference counted. Callbacks get a borrowed pointer,
 * valid until the callback returns. To keep one beyond that (to send to it
 * later from another thread, say), take a reference with mu_tcp_connection_ref
 * and drop it with mu_tcp_connection_unref; the memory (and fd) stays until
 * the last reference goes, and calls on a closed connection are harmless.
 *
 * Threading: a connection belongs to one loop (mu_tcp_connection_get_loop).
 * Functions are loop-thread-only unless marked thread-safe.
 */
#ifndef CMUDUO_NET_TCP_CONNECTION_H
#define CMUDUO_NET_TCP_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmuduo/base/timestamp.h"
#include "cmuduo/net/buffer.h"
#include "cmuduo/net/callbacks.h"
#include "cmuduo/net/inet_address.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_tcp_connection mu_tcp_connection_t;

/* Connection up (mu_tcp_connection_connected() true) or down. */
typedef void (*mu_connection_fn)(mu_tcp_connection_t *conn, void *arg);
/* Data arrived: consume what you can from `buf` (leave a partial message in it;
 * it is kept for the next call). `receive_time` is monotonic. */
typedef void (*mu_message_fn)(mu_tcp_connection_t *conn, mu_buffer_t *buf,
                              mu_timestamp_t receive_time, void *arg);
/* Everything queued at the time has been written out. Queued to the loop (never
 * called from inside send), so after a burst of sends it may run while later
 * sends are already queued again: check the output buffer if that matters. */
typedef void (*mu_write_complete_fn)(mu_tcp_connection_t *conn, void *arg);
/* The output queue crossed the high-water mark (upwards); `queued` bytes wait. */
typedef void (*mu_high_water_mark_fn)(mu_tcp_connection_t *conn, size_t queued,
                                      void *arg);

/* The peer half-closed (its FIN arrived: it sends nothing more) on a
 * connection in half-open mode (mu_tcp_server_set_half_close_callback).
 * Reading has stopped; the connection stays up for sending until the owner
 * calls mu_tcp_connection_shutdown (the output drains, then the connection
 * closes: both sides are done) or mu_tcp_connection_force_close. */
typedef void (*mu_half_close_fn)(mu_tcp_connection_t *conn, void *arg);

typedef enum mu_tcp_connection_state {
  MU_TCP_CONNECTING,
  MU_TCP_CONNECTED,
  MU_TCP_DISCONNECTING,
  MU_TCP_DISCONNECTED,
} mu_tcp_connection_state_t;

/* Default high-water mark and input cap: 64 MiB. */
#define MU_TCP_DEFAULT_HIGH_WATER_MARK (64u * 1024 * 1024)
#define MU_TCP_DEFAULT_INPUT_CAP (64u * 1024 * 1024)

/* Reference counting; thread-safe. */
void mu_tcp_connection_ref(mu_tcp_connection_t *conn);
void mu_tcp_connection_unref(mu_tcp_connection_t *conn);

/* Thread-safe queries. */
mu_event_loop_t *mu_tcp_connection_get_loop(const mu_tcp_connection_t *conn);
mu_tcp_connection_state_t mu_tcp_connection_state(const mu_tcp_connection_t *conn);
bool mu_tcp_connection_connected(const mu_tcp_connection_t *conn);
bool mu_tcp_connection_disconnected(const mu_tcp_connection_t *conn);
/* "ServerName-ip:port#N", built on first use and kept; valid as long as the
 * connection. Never NULL: if memory runs out before it is built, the name
 * without its number ("ServerName-ip:port#"). */
const char *mu_tcp_connection_name(mu_tcp_connection_t *conn);
/* Sequence number of the connection within its server or client (the N). */
uint64_t mu_tcp_connection_id(const mu_tcp_connection_t *conn);
const mu_inet_address_t *mu_tcp_connection_peer_address(const mu_tcp_connection_t *conn);
/* Asks the kernel (getsockname); 0 or -errno. */
int mu_tcp_connection_local_address(const mu_tcp_connection_t *conn,
                                    mu_inet_address_t *out);

/* Sends bytes. Thread-safe: from the loop thread the bytes are written at once
 * if nothing is queued (the rest is buffered); from another thread they are
 * copied and handed to the loop. Bytes sent by one thread arrive in the order
 * of its calls. Returns 0, -ENOTCONN if the connection is not connected (the
 * bytes are dropped), or -ENOMEM. */
int mu_tcp_connection_send(mu_tcp_connection_t *conn, const void *data, size_t len);
int mu_tcp_connection_send_str(mu_tcp_connection_t *conn, const char *s);
/* Sends and consumes all readable bytes of `buf`. Thread-safe as above. */
int mu_tcp_connection_send_buffer(mu_tcp_connection_t *conn, mu_buffer_t *buf);

/* Queues len bytes of the open file fd, from offset, into the output stream:
 * they go out after every byte sent before this call and before every byte
 * sent after it, written with sendfile(2) as the socket drains (never read
 * into memory). The connection owns fd from the call on, in every case, and
 * closes it when the region is sent, on error, or when the connection closes.
 * If the file ends before len bytes, the connection is closed (the peer was
 * promised them). Queued file bytes do not count towards the high-water mark;
 * write-complete and shutdown() wait for them. Loop thread only. Returns 0,
 * -ENOTCONN (not connected) or -ENOMEM; -ENOMEM after part of the region
 * already went out also closes the connection (nothing may follow a partial
 * region).
 * sendfile(2) has no MSG_NOSIGNAL: the first file sent from a loop thread
 * blocks SIGPIPE in that thread from then on (the process needs no handler;
 * a SIGPIPE the thread raises stays pending there and is never delivered
 * unless the thread unblocks it). */
int mu_tcp_connection_send_file(mu_tcp_connection_t *conn, int fd, uint64_t offset,
                                uint64_t len);

/* head_len bytes of head, then the file region, as mu_tcp_connection_send
 * followed by mu_tcp_connection_send_file (fd is owned from the call on, in
 * every case), but on an idle connection the head is held back (MSG_MORE)
 * until the file's first bytes join it: the peer gets one segment and one
 * wake-up for both, not a small segment for the head alone. The way to send
 * a protocol header followed by a file (an HTTP response head and its body).
 * Loop thread only. Returns 0, -ENOTCONN or -ENOMEM. */
int mu_tcp_connection_send_file_with_head(mu_tcp_connection_t *conn, const void *head,
                                          size_t head_len, int fd, uint64_t offset,
                                          uint64_t len);

/* Half-closes (SHUT_WR) once the output queue has drained. Thread-safe.
 * If the peer has half-closed already (half-open mode), the connection
 * closes instead once the output has drained: neither side sends any more.
 *
 * When the peer half-closes (read returns 0): by default the connection
 * writes out what is still queued and closes (DOWN), as muduo does, so bytes
 * sent later (an answer finished by another thread) are lost. In half-open
 * mode (mu_tcp_server_set_half_close_callback) it only stops reading and
 * tells the owner, who still sends and then calls shutdown or force_close.
 * In both, a write that fails (the peer reset, EPIPE) closes at once. */
void mu_tcp_connection_shutdown(mu_tcp_connection_t *conn);
/* Closes now, dropping queued output. Thread-safe. */
void mu_tcp_connection_force_close(mu_tcp_connection_t *conn);
/* Closes after `seconds` unless the connection is gone by then; called again,
 * the earliest close wins. Thread-safe. */
void mu_tcp_connection_force_close_with_delay(mu_tcp_connection_t *conn, double seconds);

/* Reading control (thread-safe; takes effect in the loop). */
void mu_tcp_connection_start_read(mu_tcp_connection_t *conn);
void mu_tcp_connection_stop_read(mu_tcp_connection_t *conn);
/* Loop thread only. */
bool mu_tcp_connection_is_reading(const mu_tcp_connection_t *conn);

/* Socket options; 0 or -errno. Thread-safe. SO_KEEPALIVE is on for every
 * connection from the start (as in muduo); TCP_NODELAY is off. */
int mu_tcp_connection_set_tcp_no_delay(mu_tcp_connection_t *conn, bool on);
int mu_tcp_connection_set_keep_alive(mu_tcp_connection_t *conn, bool on);
/* TCP_INFO as text (see the kernel's struct tcp_info), cut to fit `len`
 * with its NUL; 0 or -errno (and an empty string when len > 0). */
int mu_tcp_connection_tcp_info(const mu_tcp_connection_t *conn, char *buf, size_t len);

/* User state. free_fn (may be NULL) runs when the context is replaced, and
 * for the last context when the connection is freed: at its last unref, in
 * whichever thread drops it, possibly after its loop is freed (so free_fn must
 * not touch the loop). Loop thread only. Returns 0 or -ENOMEM (ctx is then
 * still the caller's). */
int mu_tcp_connection_set_context(mu_tcp_connection_t *conn, void *ctx,
                                  void (*free_fn)(void *ctx));
void *mu_tcp_connection_get_context(const mu_tcp_connection_t *conn);

/* This connection's high-water mark (bytes; 0 disables), instead of the
 * server's or client's. Loop thread only. Returns 0 or -ENOMEM. */
int mu_tcp_connection_set_high_water_mark(mu_tcp_connection_t *conn, size_t mark);

/* The buffers; loop thread only. */
mu_buffer_t *mu_tcp_connection_input_buffer(mu_tcp_connection_t *conn);
mu_buffer_t *mu_tcp_connection_output_buffer(mu_tcp_connection_t *conn);

/* Counters (muduo's FIXMEs). Thread-safe, approximate while the loop runs. */
mu_timestamp_t mu_tcp_connection_created_time(const mu_tcp_connection_t *conn);
mu_timestamp_t mu_tcp_connection_last_receive_time(const mu_tcp_connection_t *conn);
uint64_t mu_tcp_connection_bytes_received(const mu_tcp_connection_t *conn);
uint64_t mu_tcp_connection_bytes_sent(const mu_tcp_connection_t *conn);

#ifdef __cplusplus
}
#endif
#endif
