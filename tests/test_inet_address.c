/* InetAddress: constructors, parsing (numeric only; junk is -EINVAL), text
 * forms, port get/set, equality, loopback test, and name resolution: local
 * names, names rejected without a lookup, and an unresolvable name that fails
 * quickly where there is no network (no query is ever sent out). */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

static const char *ip_port(const mu_inet_address_t *a) {
  static char buf[MU_INET_ADDRSTRLEN];
  return mu_inet_address_to_ip_port(a, buf, sizeof buf);
}

static const char *ip(const mu_inet_address_t *a) {
  static char buf[MU_INET_ADDRSTRLEN];
  return mu_inet_address_to_ip(a, buf, sizeof buf);
}

static void test_constructors(void) {
  mu_inet_address_t a = mu_inet_address_any(80);
  CHECK_EQ(mu_inet_address_family(&a), AF_INET);
  CHECK_STREQ(ip_port(&a), "0.0.0.0:80");
  CHECK_EQ(mu_inet_address_socklen(&a), sizeof(struct sockaddr_in));
  CHECK(!mu_inet_address_is_loopback(&a));

  a = mu_inet_address_loopback(2007);
  CHECK_STREQ(ip_port(&a), "127.0.0.1:2007");
  CHECK_EQ(a.u.in4.sin_port, htons(2007)); /* network order inside */
  CHECK(mu_inet_address_is_loopback(&a));

  a = mu_inet_address_any6(443);
  CHECK_EQ(mu_inet_address_family(&a), AF_INET6);
  CHECK_STREQ(ip_port(&a), "[::]:443");
  CHECK_EQ(mu_inet_address_socklen(&a), sizeof(struct sockaddr_in6));
  CHECK(!mu_inet_address_is_loopback(&a));

  a = mu_inet_address_loopback6(2007);
  CHECK_STREQ(ip_port(&a), "[::1]:2007");
  CHECK_STREQ(ip(&a), "::1");
  CHECK(mu_inet_address_is_loopback(&a));
  CHECK(mu_inet_address_sockaddr(&a) == &a.u.sa);
}

static void test_from_ip_port(void) {
  mu_inet_address_t a;
  CHECK_EQ(mu_inet_address_from_ip_port(&a, "1.2.3.4", 80), 0);
  CHECK_EQ(mu_inet_address_family(&a), AF_INET);
  CHECK_STREQ(ip_port(&a), "1.2.3.4:80");
  CHECK_STREQ(ip(&a), "1.2.3.4");

  CHECK_EQ(mu_inet_address_from_ip_port(&a, "::1", 2007), 0);
  CHECK_EQ(mu_inet_address_family(&a), AF_INET6);
  CHECK_STREQ(ip_port(&a), "[::1]:2007");

  CHECK_EQ(mu_inet_address_from_ip_port(&a, "[fe80::1:2]", 9), 0);
  CHECK_EQ(mu_inet_address_family(&a), AF_INET6);
  CHECK_STREQ(ip_port(&a), "[fe80::1:2]:9");

  CHECK_EQ(mu_inet_address_from_ip_port(&a, "::ffff:10.0.0.1", 1), 0);
  CHECK_STREQ(ip(&a), "::ffff:10.0.0.1");

  static const char *const k_junk[] = {
      "",     "localhost", "1.2.3",     "1.2.3.4.5", "256.1.1.1", "1.2.3.4:80", "[::1",
      "::1]", "[]",        "[1.2.3.4]", "::g",       " 1.2.3.4",  "[::1]:80",
  };
  for (size_t i = 0; i < sizeof k_junk / sizeof k_junk[0]; ++i) {
    mu_inet_address_t untouched = mu_inet_address_loopback(7);
    if (mu_inet_address_from_ip_port(&untouched, k_junk[i], 1) != -EINVAL) {
      fprintf(stderr, "accepted junk \"%s\"\n", k_junk[i]);
      CHECK(false);
    }
    CHECK_STREQ(ip_port(&untouched), "127.0.0.1:7"); /* not written on failure */
  }
  CHECK_EQ(mu_inet_address_from_ip_port(&a, NULL, 1), -EINVAL);
  /* Longer than any address, bracketed: rejected, not overflowed. */
  char big[200];
  memset(big, ':', sizeof big);
  big[0] = '[';
  big[sizeof big - 2] = ']';
  big[sizeof big - 1] = '\0';
  CHECK_EQ(mu_inet_address_from_ip_port(&a, big, 1), -EINVAL);
}

static void expect_parse(const char *text, const char *want) {
  mu_inet_address_t a;
  int rc = mu_inet_address_parse(&a, text);
  if (rc != 0)
    fprintf(stderr, "parse(\"%s\") = %d\n", text, rc);
  CHECK_EQ(rc, 0);
  CHECK_STREQ(ip_port(&a), want);
}

static void test_parse(void) {
  expect_parse("1.2.3.4:80", "1.2.3.4:80");
  expect_parse("[::1]:2007", "[::1]:2007");
  expect_parse("127.0.0.1:0", "127.0.0.1:0");
  expect_parse("0.0.0.0:65535", "0.0.0.0:65535");
  expect_parse("[2001:db8::1]:443", "[2001:db8::1]:443");
  expect_parse("1.2.3.4:00080", "1.2.3.4:80"); /* leading zeros, five digits */

  static const char *const k_bad[] = {
      "1.2.3.4",       /* no port */
      "1.2.3.4:",      /* empty port */
      "1.2.3.4:65536", /* too big */
      "1.2.3.4:99999",
      "1.2.3.4:123456",
      "1.2.3.4:-1",
      "1.2.3.4:+80",
      "1.2.3.4:8 0",
      "1.2.3.4:80x",
      "1.2.3.4: 80",
      "::1:2007", /* a bare IPv6 address cannot carry a port */
      "fe80::1:80",
      "[::1]",
      "[::1]:",
      "[::1]x:80",
      "::1]:80",
      "[::1:80",
      "localhost:80",
      ":80",
      "",
      "[]:80",
      "[1.2.3.4]:80",
      /* longer than any IPv6 text: refused before it is copied */
      "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:80",
  };
  for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; ++i) {
    mu_inet_address_t a;
    int rc = mu_inet_address_parse(&a, k_bad[i]);
    if (rc != -EINVAL) {
      fprintf(stderr, "parse(\"%s\") = %d, want -EINVAL\n", k_bad[i], rc);
      CHECK(false);
    }
  }
  mu_inet_address_t a;
  CHECK_EQ(mu_inet_address_parse(&a, NULL), -EINVAL);
}

static void test_port_and_equal(void) {
  mu_inet_address_t a = mu_inet_address_loopback(1);
  CHECK_EQ(mu_inet_address_port(&a), 1);
  mu_inet_address_set_port(&a, 65535);
  CHECK_EQ(mu_inet_address_port(&a), 65535);
  CHECK_STREQ(ip_port(&a), "127.0.0.1:65535");
  mu_inet_address_t b = mu_inet_address_loopback6(0);
  mu_inet_address_set_port(&b, 8080);
  CHECK_EQ(mu_inet_address_port(&b), 8080);
  CHECK_EQ(b.u.in6.sin6_port, htons(8080));
  CHECK_STREQ(ip_port(&b), "[::1]:8080");

  mu_inet_address_t c, d;
  CHECK_EQ(mu_inet_address_parse(&c, "127.0.0.1:65535"), 0);
  CHECK(mu_inet_address_equal(&a, &c));
  CHECK(mu_inet_address_equal(&c, &a));
  d = c;
  mu_inet_address_set_port(&d, 1);
  CHECK(!mu_inet_address_equal(&c, &d)); /* port differs */
  CHECK_EQ(mu_inet_address_parse(&d, "127.0.0.2:65535"), 0);
  CHECK(!mu_inet_address_equal(&c, &d)); /* address differs */
  CHECK_EQ(mu_inet_address_parse(&d, "[::1]:8080"), 0);
  CHECK(mu_inet_address_equal(&b, &d));
  CHECK_EQ(mu_inet_address_parse(&d, "[::2]:8080"), 0);
  CHECK(!mu_inet_address_equal(&b, &d));
  /* Same port, different families: never equal, even for the v4-mapped form. */
  CHECK_EQ(mu_inet_address_parse(&c, "127.0.0.1:8080"), 0);
  CHECK_EQ(mu_inet_address_parse(&d, "[::ffff:127.0.0.1]:8080"), 0);
  CHECK(!mu_inet_address_equal(&c, &d));
}

static void test_loopback_and_sockaddr(void) {
  mu_inet_address_t a;
  CHECK_EQ(mu_inet_address_parse(&a, "127.255.0.9:1"), 0);
  CHECK(mu_inet_address_is_loopback(&a)); /* all of 127/8 */
  CHECK_EQ(mu_inet_address_parse(&a, "128.0.0.1:1"), 0);
  CHECK(!mu_inet_address_is_loopback(&a));
  CHECK_EQ(mu_inet_address_parse(&a, "[::2]:1"), 0);
  CHECK(!mu_inet_address_is_loopback(&a));

  struct sockaddr_in6 s6;
  memset(&s6, 0, sizeof s6);
  s6.sin6_family = AF_INET6;
  s6.sin6_port = htons(99);
  s6.sin6_addr = in6addr_loopback;
  CHECK(mu_inet_address_from_sockaddr(&a, (struct sockaddr *)&s6, sizeof s6));
  CHECK_STREQ(ip_port(&a), "[::1]:99");
  CHECK(!mu_inet_address_from_sockaddr(&a, (struct sockaddr *)&s6, sizeof s6 - 1));
  struct sockaddr_un_like {
    sa_family_t family;
    char path[20];
  } un = {AF_UNIX, "x"};
  CHECK(!mu_inet_address_from_sockaddr(&a, (struct sockaddr *)&un, sizeof un));

  char tiny[4];
  a = mu_inet_address_loopback(80);
  mu_inet_address_to_ip_port(&a, tiny, sizeof tiny);
  CHECK_STREQ(tiny, "127"); /* cut, still terminated */
  char small[5] = "zzzz";
  mu_inet_address_to_ip(&a, small, sizeof small);
  CHECK_STREQ(small, ""); /* does not fit: empty, not garbage */
  char none[1] = {'z'};
  CHECK(mu_inet_address_to_ip(&a, none, 0) == none);
  CHECK_EQ(none[0], 'z'); /* no room at all: nothing written */
}

/* ---- resolution ----------------------------------------------------------- */

static double now_s(void) {
  return (double)mu_timestamp_mono_now().us / 1e6;
}

static void test_resolve_local(void) {
  mu_inet_address_t a;
  CHECK_EQ(mu_inet_address_resolve(&a, "localhost", 2007), 0);
  CHECK(mu_inet_address_is_loopback(&a));
  CHECK_EQ(mu_inet_address_port(&a), 2007);
  CHECK_EQ(mu_inet_address_family(&a), AF_INET); /* IPv4 preferred */

  CHECK_EQ(mu_inet_address_resolve(&a, "::1", 80), 0);
  CHECK_STREQ(ip_port(&a), "[::1]:80");
  CHECK_EQ(mu_inet_address_resolve(&a, "127.0.0.1", 81), 0);
  CHECK_STREQ(ip_port(&a), "127.0.0.1:81");

  /* Names the resolver rejects before asking any server: empty, and a label
   * longer than DNS allows (63). */
  CHECK_EQ(mu_inet_address_resolve(&a, "", 1), -ENOENT);
  char long_label[100];
  memset(long_label, 'a', 70);
  snprintf(long_label + 70, sizeof long_label - 70, ".invalid");
  CHECK_EQ(mu_inet_address_resolve(&a, long_label, 1), -ENOENT);
}

/* A name that must go to DNS, resolved where there is no network at all: a
 * network namespace of our own, so no query leaves the machine. It must fail,
 * and quickly, rather than wait for a server it cannot reach. */
static void resolve_without_network(void *arg) {
  (void)arg;
  if (unshare(CLONE_NEWNET) != 0) {
    printf("no network namespace (%s): offline lookup skipped\n", strerror(errno));
    return;
  }
  mu_inet_address_t a;
  double t0 = now_s();
  int rc = mu_inet_address_resolve(&a, "no-such-host.invalid", 1);
  double seconds = now_s() - t0;
  printf("offline no-such-host.invalid: %d (%s) after %.3f s\n", rc, strerror(-rc),
         seconds);
  CHECK(rc < 0);
  CHECK(seconds < 10.0);
  CHECK_EQ(mu_inet_address_resolve(&a, "localhost", 3), 0); /* /etc/hosts still */
  CHECK(mu_inet_address_is_loopback(&a));
}

static void test_resolve_offline(void) {
  char out[4096];
  int status = test_run_in_child(resolve_without_network, NULL, out, sizeof out);
  fputs(out, stdout);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
  test_time_limit(60);
  test_constructors();
  test_from_ip_port();
  test_parse();
  test_port_and_equal();
  test_loopback_and_sockaddr();
  test_resolve_local();
  test_resolve_offline();
  TEST_PASS("inet_address");
}
