/* An IPv4 or IPv6 socket address (muduo's InetAddress). A value type; every
 * function is thread-safe. Ports are in host byte order. */
#ifndef CMUDUO_NET_INET_ADDRESS_H
#define CMUDUO_NET_INET_ADDRESS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_inet_address {
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  } u;
} mu_inet_address_t;

/* Fits "[ffff:...:255.255.255.255%scope]:65535". */
#define MU_INET_ADDRSTRLEN 80

/* 0.0.0.0:port, 127.0.0.1:port, [::]:port and [::1]:port. */
mu_inet_address_t mu_inet_address_any(uint16_t port);
mu_inet_address_t mu_inet_address_loopback(uint16_t port);
mu_inet_address_t mu_inet_address_any6(uint16_t port);
mu_inet_address_t mu_inet_address_loopback6(uint16_t port);

/* A numeric IPv4 ("1.2.3.4") or IPv6 ("::1", brackets allowed) address.
 * 0, or -EINVAL if `ip` is not one. */
int mu_inet_address_from_ip_port(mu_inet_address_t *out, const char *ip, uint16_t port);
/* "1.2.3.4:80" or "[::1]:80". 0 or -EINVAL. */
int mu_inet_address_parse(mu_inet_address_t *out, const char *ip_port);
/* Resolves a host name with getaddrinfo (BLOCKS: call it before starting loops
 * or from a worker thread, never in a loop thread). Prefers IPv4.
 * 0, or a negative errno: -ENOENT when the name does not resolve, -EAGAIN when
 * the resolver could not be reached (try again later). */
int mu_inet_address_resolve(mu_inet_address_t *out, const char *host, uint16_t port);

/* From a sockaddr of either family; false if the family is neither. */
bool mu_inet_address_from_sockaddr(mu_inet_address_t *out, const struct sockaddr *sa,
                                   socklen_t len);

static inline sa_family_t mu_inet_address_family(const mu_inet_address_t *a) {
  return a->u.sa.sa_family;
}
static inline const struct sockaddr *mu_inet_address_sockaddr(
    const mu_inet_address_t *a) {
  return &a->u.sa;
}
socklen_t mu_inet_address_socklen(const mu_inet_address_t *a);
uint16_t mu_inet_address_port(const mu_inet_address_t *a);
void mu_inet_address_set_port(mu_inet_address_t *a, uint16_t port);
bool mu_inet_address_is_loopback(const mu_inet_address_t *a);
bool mu_inet_address_equal(const mu_inet_address_t *a, const mu_inet_address_t *b);

/* "1.2.3.4" / "::1". Returns buf. */
char *mu_inet_address_to_ip(const mu_inet_address_t *a, char *buf, size_t len);
/* "1.2.3.4:80" / "[::1]:80". Returns buf. */
char *mu_inet_address_to_ip_port(const mu_inet_address_t *a, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
