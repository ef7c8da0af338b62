/* libFuzzer target: mu_inet_address parsing and printing.
 *
 * The input is split at its first NUL: the part before it is a string handed
 * to mu_inet_address_parse ("ip:port", "[v6]:port") and, with a port taken
 * from the bytes after the NUL, to mu_inet_address_from_ip_port ("ip",
 * "[v6]"). The bytes after the NUL also make a raw sockaddr of either family.
 *
 * Checked for every input:
 *  - parse accepts exactly what an independent rule accepts: the text after
 *    the last ':' is 1..5 decimal digits <= 65535; the text before it is a
 *    dotted IPv4 address, or an IPv6 address in brackets (a bare IPv6 address
 *    cannot carry a port);
 *  - whatever parses has the family and port the text says, and printing it
 *    with to_ip_port and parsing that again gives an equal address;
 *  - from_ip_port accepts exactly IPv4, IPv6 and bracketed IPv6, and its
 *    result prints (to_ip) and parses back equal;
 *  - any IPv4/IPv6 sockaddr survives to_ip_port -> parse, and printing into
 *    buffers of every small size (malloc'd to the byte, so ASan sees an
 *    overrun) never writes past them and always leaves a terminated string. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmuduo/net/inet_address.h"

#define FAIL(...)                                                      \
  do {                                                                 \
    fprintf(stderr, "fuzz_inet_address: %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                                      \
    fputc('\n', stderr);                                               \
    abort();                                                           \
  } while (0)

/* Longer strings are only slower, never more interesting. */
#define MAX_TEXT 200

/* ---- the independent rule ------------------------------------------------- */

static bool oracle_port(const char *s, uint16_t *port) {
  size_t n = strlen(s);
  if (n < 1 || n > 5)
    return false;
  unsigned long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (unsigned long)(s[i] - '0');
  }
  if (v > 65535)
    return false;
  *port = (uint16_t)v;
  return true;
}

/* "a.b.c.d" -> AF_INET, "[v6]" -> AF_INET6 (bare v6 only when allowed). */
static int oracle_host(const char *h, bool bare_v6_ok, uint8_t addr[16]) {
  if (inet_pton(AF_INET, h, addr) == 1)
    return AF_INET;
  size_t n = strlen(h);
  char inner[MAX_TEXT + 1];
  if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
    memcpy(inner, h + 1, n - 2);
    inner[n - 2] = '\0';
    return inet_pton(AF_INET6, inner, addr) == 1 ? AF_INET6 : 0;
  }
  if (bare_v6_ok && inet_pton(AF_INET6, h, addr) == 1)
    return AF_INET6;
  return 0;
}

/* Family the rule expects for "host:port", 0 if it must be rejected. */
static int oracle_parse(const char *s, uint8_t addr[16], uint16_t *port) {
  const char *colon = strrchr(s, ':');
  if (colon == NULL || !oracle_port(colon + 1, port))
    return 0;
  char host[MAX_TEXT + 1];
  size_t n = (size_t)(colon - s);
  memcpy(host, s, n);
  host[n] = '\0';
  return oracle_host(host, false, addr);
}

/* ---- checks ------------------------------------------------------------- */

static void check_same_ip(const mu_inet_address_t *a, int family, const uint8_t addr[16],
                          const char *what) {
  if (mu_inet_address_family(a) != family)
    FAIL("%s: family %d, want %d", what, mu_inet_address_family(a), family);
  const void *got = family == AF_INET ? (const void *)&a->u.in4.sin_addr
                                      : (const void *)&a->u.in6.sin6_addr;
  if (memcmp(got, addr, family == AF_INET ? 4 : 16) != 0)
    FAIL("%s: address bytes differ", what);
}

/* Prints `a` into buffers of every size up to the full one: each print stays
 * inside its buffer and terminates it; the full-size one parses back equal. */
static void check_print_parse(const mu_inet_address_t *a) {
  char full[MU_INET_ADDRSTRLEN];
  memset(full, 'x', sizeof full);
  mu_inet_address_to_ip_port(a, full, sizeof full);
  if (memchr(full, '\0', sizeof full) == NULL)
    FAIL("to_ip_port left no terminator");
  mu_inet_address_t back;
  if (mu_inet_address_parse(&back, full) != 0)
    FAIL("to_ip_port gave \"%s\", which does not parse", full);
  if (!mu_inet_address_equal(a, &back))
    FAIL("\"%s\" parsed back to a different address", full);
  if (mu_inet_address_port(&back) != mu_inet_address_port(a))
    FAIL("\"%s\": port changed", full);

  char ip[MU_INET_ADDRSTRLEN];
  mu_inet_address_to_ip(a, ip, sizeof ip);
  if (mu_inet_address_from_ip_port(&back, ip, mu_inet_address_port(a)) != 0 ||
      !mu_inet_address_equal(a, &back))
    FAIL("to_ip gave \"%s\", which does not come back equal", ip);

  size_t need = strlen(full) + 1;
  for (size_t len = 1; len <= need; len++) {
    char *small = malloc(len); /* exactly len bytes */
    if (small == NULL)
      abort();
    mu_inet_address_to_ip_port(a, small, len);
    if (memchr(small, '\0', len) == NULL)
      FAIL("to_ip_port into %zu bytes left no terminator", len);
    if (strncmp(small, full, strlen(small)) != 0)
      FAIL("to_ip_port into %zu bytes is not a prefix", len);
    mu_inet_address_to_ip(a, small, len);
    if (memchr(small, '\0', len) == NULL)
      FAIL("to_ip into %zu bytes left no terminator", len);
    free(small);
  }
}

static void fuzz_parse(const char *s) {
  uint8_t want_addr[16];
  uint16_t want_port = 0;
  int want = oracle_parse(s, want_addr, &want_port);
  mu_inet_address_t a;
  memset(&a, 0xa5, sizeof a);
  int rc = mu_inet_address_parse(&a, s);
  if (want == 0) {
    if (rc != -EINVAL)
      FAIL("parse(\"%s\") = %d, the rule rejects it", s, rc);
    return;
  }
  if (rc != 0)
    FAIL("parse(\"%s\") = %d, the rule accepts it", s, rc);
  check_same_ip(&a, want, want_addr, s);
  if (mu_inet_address_port(&a) != want_port)
    FAIL("parse(\"%s\"): port %u, want %u", s, mu_inet_address_port(&a), want_port);
  if (mu_inet_address_socklen(&a) !=
      (want == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)))
    FAIL("parse(\"%s\"): socklen", s);
  check_print_parse(&a);
}

static void fuzz_from_ip_port(const char *s, uint16_t port) {
  uint8_t want_addr[16];
  int want = oracle_host(s, true, want_addr);
  mu_inet_address_t a;
  int rc = mu_inet_address_from_ip_port(&a, s, port);
  if (want == 0) {
    if (rc != -EINVAL)
      FAIL("from_ip_port(\"%s\") = %d, the rule rejects it", s, rc);
    return;
  }
  if (rc != 0)
    FAIL("from_ip_port(\"%s\") = %d, the rule accepts it", s, rc);
  check_same_ip(&a, want, want_addr, s);
  if (mu_inet_address_port(&a) != port)
    FAIL("from_ip_port(\"%s\"): port", s);
  check_print_parse(&a);
}

/* A sockaddr of either family from raw bytes: every address prints and parses
 * back (scope and flow label are not part of the text form: zero them). */
static void fuzz_raw(const uint8_t *p, size_t n) {
  if (n < 19)
    return;
  mu_inet_address_t a;
  memset(&a, 0, sizeof a);
  uint16_t port = (uint16_t)(p[1] << 8 | p[2]);
  if (p[0] & 1) {
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    memcpy(&sa.sin6_addr, p + 3, 16);
    if (!mu_inet_address_from_sockaddr(&a, (const struct sockaddr *)&sa, sizeof sa))
      FAIL("from_sockaddr refused an AF_INET6 address");
    if (mu_inet_address_from_sockaddr(&a, (const struct sockaddr *)&sa, sizeof sa - 1))
      FAIL("from_sockaddr took a short AF_INET6 address");
    mu_inet_address_from_sockaddr(&a, (const struct sockaddr *)&sa, sizeof sa);
  } else {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    memcpy(&sa.sin_addr, p + 3, 4);
    if (!mu_inet_address_from_sockaddr(&a, (const struct sockaddr *)&sa, sizeof sa))
      FAIL("from_sockaddr refused an AF_INET address");
  }
  if (mu_inet_address_port(&a) != port)
    FAIL("raw: port");
  check_print_parse(&a);
  /* The loopback test agrees with the address bytes. */
  bool loop = p[0] & 1 ? memcmp(p + 3, &in6addr_loopback, 16) == 0 : p[3] == 127;
  if (mu_inet_address_is_loopback(&a) != loop)
    FAIL("raw: is_loopback");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, '\0', size);
  size_t text_len = nul ? (size_t)(nul - data) : size;
  if (text_len > MAX_TEXT)
    return 0;
  char s[MAX_TEXT + 1];
  memcpy(s, data, text_len);
  s[text_len] = '\0';
  const uint8_t *rest = nul ? nul + 1 : data + size;
  size_t rest_len = (size_t)(data + size - rest);
  uint16_t port = rest_len >= 2 ? (uint16_t)(rest[0] << 8 | rest[1]) : 8080;

  fuzz_parse(s);
  fuzz_from_ip_port(s, port);
  fuzz_raw(rest, rest_len);
  return 0;
}
