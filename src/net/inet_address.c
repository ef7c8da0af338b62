#include "cmuduo/net/inet_address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mu_inet_address_t make4(in_addr_t ip, uint16_t port) {
  mu_inet_address_t a;
  memset(&a, 0, sizeof a);
  a.u.in4.sin_family = AF_INET;
  a.u.in4.sin_addr.s_addr = htonl(ip);
  a.u.in4.sin_port = htons(port);
  return a;
}

static mu_inet_address_t make6(const struct in6_addr *ip, uint16_t port) {
  mu_inet_address_t a;
  memset(&a, 0, sizeof a);
  a.u.in6.sin6_family = AF_INET6;
  a.u.in6.sin6_addr = *ip;
  a.u.in6.sin6_port = htons(port);
  return a;
}

mu_inet_address_t mu_inet_address_any(uint16_t port) {
  return make4(INADDR_ANY, port);
}
mu_inet_address_t mu_inet_address_loopback(uint16_t port) {
  return make4(INADDR_LOOPBACK, port);
}
mu_inet_address_t mu_inet_address_any6(uint16_t port) {
  return make6(&in6addr_any, port);
}
mu_inet_address_t mu_inet_address_loopback6(uint16_t port) {
  return make6(&in6addr_loopback, port);
}

int mu_inet_address_from_ip_port(mu_inet_address_t *out, const char *ip, uint16_t port) {
  if (ip == NULL)
    return -EINVAL;
  struct in_addr v4;
  if (inet_pton(AF_INET, ip, &v4) == 1) {
    *out = make4(ntohl(v4.s_addr), port);
    return 0;
  }
  char buf[INET6_ADDRSTRLEN];
  size_t n = strlen(ip);
  if (n >= 2 && ip[0] == '[' && ip[n - 1] == ']') { /* "[::1]" */
    if (n - 2 >= sizeof buf)
      return -EINVAL;
    memcpy(buf, ip + 1, n - 2);
    buf[n - 2] = '\0';
    ip = buf;
  }
  struct in6_addr v6;
  if (inet_pton(AF_INET6, ip, &v6) == 1) {
    *out = make6(&v6, port);
    return 0;
  }
  return -EINVAL;
}

/* Parses a decimal port 0..65535 that fills the whole string. */
static int parse_port(const char *s, uint16_t *port) {
  if (*s == '\0' || strlen(s) > 5)
    return -EINVAL;
  unsigned long v = 0;
  for (const char *p = s; *p; ++p) {
    if (*p < '0' || *p > '9')
      return -EINVAL;
    v = v * 10 + (unsigned long)(*p - '0');
  }
  if (v > 65535)
    return -EINVAL;
  *port = (uint16_t)v;
  return 0;
}

int mu_inet_address_parse(mu_inet_address_t *out, const char *ip_port) {
  if (ip_port == NULL)
    return -EINVAL;
  const char *colon = strrchr(ip_port, ':');
  if (colon == NULL)
    return -EINVAL;
  size_t host_len = (size_t)(colon - ip_port);
  if (ip_port[0] == '[') {
    if (host_len < 2 || ip_port[host_len - 1] != ']')
      return -EINVAL;
  } else if (memchr(ip_port, ':', host_len) != NULL) {
    return -EINVAL; /* a bare IPv6 address needs brackets to carry a port */
  }
  char host[INET6_ADDRSTRLEN + 2];
  if (host_len >= sizeof host)
    return -EINVAL;
  memcpy(host, ip_port, host_len);
  host[host_len] = '\0';
  uint16_t port;
  if (parse_port(colon + 1, &port) != 0)
    return -EINVAL;
  return mu_inet_address_from_ip_port(out, host, port);
}

/* getaddrinfo's codes as errnos: "try again" (no network, DNS down) differs
 * from "no such name". */
static int resolve_error(int rc) {
  switch (rc) {
    case EAI_SYSTEM:
      return -errno;
    case EAI_MEMORY:
      return -ENOMEM;
    case EAI_AGAIN:
      return -EAGAIN;
    default:
      return -ENOENT;
  }
}

int mu_inet_address_resolve(mu_inet_address_t *out, const char *host, uint16_t port) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0)
    return resolve_error(rc);
  const struct addrinfo *pick = NULL;
  for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
    if (ai->ai_family == AF_INET6 && pick == NULL)
      pick = ai;
  }
  bool ok = pick && mu_inet_address_from_sockaddr(out, pick->ai_addr, pick->ai_addrlen);
  freeaddrinfo(res);
  if (!ok)
    return -ENOENT;
  mu_inet_address_set_port(out, port);
  return 0;
}

bool mu_inet_address_from_sockaddr(mu_inet_address_t *out, const struct sockaddr *sa,
                                   socklen_t len) {
  memset(out, 0, sizeof *out);
  if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    memcpy(&out->u.in4, sa, sizeof(struct sockaddr_in));
    return true;
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    memcpy(&out->u.in6, sa, sizeof(struct sockaddr_in6));
    return true;
  }
  return false;
}

socklen_t mu_inet_address_socklen(const mu_inet_address_t *a) {
  return a->u.sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in);
}

uint16_t mu_inet_address_port(const mu_inet_address_t *a) {
  return ntohs(a->u.sa.sa_family == AF_INET6 ? a->u.in6.sin6_port : a->u.in4.sin_port);
}

void mu_inet_address_set_port(mu_inet_address_t *a, uint16_t port) {
  if (a->u.sa.sa_family == AF_INET6) {
    a->u.in6.sin6_port = htons(port);
  } else {
    a->u.in4.sin_port = htons(port);
  }
}

bool mu_inet_address_is_loopback(const mu_inet_address_t *a) {
  if (a->u.sa.sa_family == AF_INET6)
    return IN6_IS_ADDR_LOOPBACK(&a->u.in6.sin6_addr);
  return (ntohl(a->u.in4.sin_addr.s_addr) >> 24) == 127;
}

bool mu_inet_address_equal(const mu_inet_address_t *a, const mu_inet_address_t *b) {
  if (a->u.sa.sa_family != b->u.sa.sa_family)
    return false;
  if (a->u.sa.sa_family == AF_INET6) {
    return a->u.in6.sin6_port == b->u.in6.sin6_port &&
           memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof(struct in6_addr)) == 0;
  }
  return a->u.in4.sin_port == b->u.in4.sin_port &&
         a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
}

char *mu_inet_address_to_ip(const mu_inet_address_t *a, char *buf, size_t len) {
  const void *src = a->u.sa.sa_family == AF_INET6 ? (const void *)&a->u.in6.sin6_addr
                                                  : (const void *)&a->u.in4.sin_addr;
  if (len == 0)
    return buf;
  if (inet_ntop(a->u.sa.sa_family == AF_INET6 ? AF_INET6 : AF_INET, src, buf,
                (socklen_t)len) == NULL) {
    buf[0] = '\0';
  }
  return buf;
}

char *mu_inet_address_to_ip_port(const mu_inet_address_t *a, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN];
  mu_inet_address_to_ip(a, ip, sizeof ip);
  if (a->u.sa.sa_family == AF_INET6) {
    snprintf(buf, len, "[%s]:%u", ip, (unsigned)mu_inet_address_port(a));
  } else {
    snprintf(buf, len, "%s:%u", ip, (unsigned)mu_inet_address_port(a));
  }
  return buf;
}
