"""test_proxy_haproxy: the real HAProxy in front of msgd with PROXY v2.

HAProxy (Debian's haproxy, which ./bootstrap installs for make check; the
test is skipped without it) runs in the foreground (-db) in TCP mode on a
config this test writes: it listens on FRONT, and connects to msgd's
"proxy:" listener on MSGD_ADDR from HAP_SRC with send-proxy-v2.  Its
health check speaks msgd: a PING frame, PONG expected (tcp-check), over
the PROXY header HAProxy sends with checks (v2 LOCAL).

msgd: proxy_trusted holds HAP_SRC only, allow holds CLIENT only.
- a client bound to CLIENT gets PONG through HAProxy, several times;
- a client bound to OTHER is closed by msgd (the allow list sees OTHER,
  not HAProxy's address): no answer through HAProxy;
- HAProxy's health checks keep passing (their LOCAL headers are counted
  in proxy_headers_local, and PING still works after several);
- a client connecting to msgd directly from CLIENT (not a balancer) is
  closed at accept: proxy_refused{reason=untrusted}.
HAProxy is stopped by the test (SIGTERM, bounded wait, then SIGKILL).
"""
from fleetlib import HAPROXY, HAProxy, ping_from
from harness import (SKIP, Op, St, Suite, closed_unanswered, encode,
                     free_port, poll, unix_and)
from statslib import settle_totals, totals

t = Suite("test_proxy_haproxy")

MSGD_HOST = "127.0.0.21"
FRONT_HOST = "127.0.0.22"
HAP_SRC = "127.0.0.23"
CLIENT = "127.0.0.24"
OTHER = "127.0.0.25"


def ping_hex():
    """The health check: a PING frame, and the whole answer expected."""
    req = encode(Op.PING, request_id=1)
    resp = b"MG" + bytes([1, 1, Op.PING, St.OK]) + \
        (0).to_bytes(2, "big") + (1).to_bytes(4, "big") + \
        (4).to_bytes(4, "big") + b"PONG"
    return req.hex(), resp.hex()


def haproxy_conf(front_port, msgd_port):
    req, resp = ping_hex()
    return """global
    maxconn 256

defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind %s:%d
    default_backend msgd

backend msgd
    option tcp-check
    tcp-check send-binary %s
    tcp-check expect binary %s
    server m1 %s:%d send-proxy-v2 check-send-proxy source %s check inter 200ms
""" % (FRONT_HOST, front_port, req, resp, MSGD_HOST, msgd_port, HAP_SRC)


@t.case
def through_haproxy(t):
    if HAPROXY is None:
        print("SKIP: haproxy is not installed (./bootstrap check installs "
              "it)")
        raise SystemExit(SKIP)
    front_port = free_port(host=FRONT_HOST)
    srv = t.server({"workers": 1, "proxy_trusted": [HAP_SRC + "/32"],
                    "allow": [CLIENT + "/32"]},
                   pick=unix_and("proxy:", MSGD_HOST, "proxy_port"))
    msgd_port = srv.proxy_port
    hap = HAProxy(srv.dir, haproxy_conf(front_port, msgd_port))
    try:
        front = (FRONT_HOST, front_port)
        ok = poll(lambda: ping_from(front, CLIENT), timeout=10, step=0.1)
        if not t.check(ok, "PING from %s through HAProxy" % CLIENT):
            print("---- haproxy log:\n%s----" % hap.log())
            return
        base = totals(srv)
        n = sum(ping_from(front, CLIENT) for _ in range(5))
        t.check(n == 5, "5 PINGs from %s through HAProxy: %d answered" % (
            CLIENT, n))
        t.check(not ping_from(front, OTHER), "PING from %s (not in the "
                "allow list) through HAProxy was answered" % OTHER)
        tot = settle_totals(srv, lambda c: c["proxy_ok"] - base["proxy_ok"]
                            >= 6 and c["allow_rejected"] >
                            base["allow_rejected"])
        t.check(tot["allow_rejected"] > base["allow_rejected"],
                "allow_rejected counts %s: %r" % (OTHER, tot))
        # Health checks: LOCAL headers, answered PONG, server kept up.
        tot = settle_totals(srv, lambda c: c["proxy_local"] >= 3,
                            timeout=10)
        t.check(tot["proxy_local"] >= 3, "HAProxy's checks (LOCAL "
                "headers) counted: %d" % tot["proxy_local"])
        t.check(ping_from(front, CLIENT), "PING after the health checks")
        t.check("is DOWN" not in hap.log(), "HAProxy marked msgd down:\n%s"
                % hap.log())
        # Straight to msgd, not from the balancer: refused at accept.
        base = totals(srv)
        ok, why = closed_unanswered((MSGD_HOST, msgd_port),
                                    encode(Op.PING), CLIENT)
        t.check(ok, "direct from %s: %s" % (CLIENT, why))
        tot = settle_totals(srv, lambda c: c["proxy_untrusted"] >
                            base["proxy_untrusted"])
        t.check(tot["proxy_untrusted"] == base["proxy_untrusted"] + 1,
                "proxy_refused{untrusted} +1: %r" % (
                    tot["proxy_untrusted"] - base["proxy_untrusted"]))
    finally:
        hap.stop()
    if t.failed:
        print("---- haproxy log:\n%s----" % hap.log())


t.run()
