/*
 * proxy.c: the PROXY protocol header parser (see proxy.h).
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string.h>

#include "proxy.h"

#define V2_SIG_LEN	12
#define V2_LOCAL	0x0
#define V2_PROXY	0x1
#define V2_UNSPEC	0x0
#define V2_INET		0x1
#define V2_INET6	0x2
#define V2_UNIX		0x3
#define V2_STREAM	0x1
#define V2_PROTO_MAX	0x2	/* DGRAM: known, refused below */
#define V2_TLV_HDR	3

static const uint8_t	v2_sig[V2_SIG_LEN] = { 0x0d, 0x0a, 0x0d, 0x0a,
    0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
static const char	v1_sig[] = "PROXY ";

/* The size of the v2 address block of each family (UNSPEC: none). */
static const size_t	v2_addr_len[] = { 0, 12, 36, 216 };

static const char *const errnames[] = {
	[PROXY_E_NONE] = "no error",
	[PROXY_E_SIGNATURE] = "not a PROXY protocol header",
	[PROXY_E_TOO_LONG] = "header too long",
	[PROXY_E_SYNTAX] = "v1 syntax error",
	[PROXY_E_ADDRESS] = "v1 bad address or port",
	[PROXY_E_FAMILY] = "v1 address of the wrong family",
	[PROXY_E_VERSION] = "v2 unknown version",
	[PROXY_E_COMMAND] = "v2 unknown command",
	[PROXY_E_PROTOCOL] = "v2 unknown family or not a stream",
	[PROXY_E_LENGTH] = "v2 length shorter than its addresses",
	[PROXY_E_TLV] = "v2 TLV past the header's end"
};

const char *
proxy_error_name(enum proxy_error e)
{
	if ((size_t)e >= sizeof(errnames) / sizeof(errnames[0]))
		return ("unknown error");
	return (errnames[e]);
}

static enum proxy_result
fail(enum proxy_error *err, enum proxy_error e)
{
	*err = e;
	return (PROXY_ERROR);
}

/* The first n bytes of p match the first n of sig (n clipped to siglen). */
static int
prefix_ok(const uint8_t *p, size_t n, const void *sig, size_t siglen)
{
	return (memcmp(p, sig, n < siglen ? n : siglen) == 0);
}

/* A v1 port: "0" or 1..5 digits without a leading zero, at most 65535. */
static int
v1_port(const char *s, size_t len, uint16_t *port)
{
	uint32_t	v = 0;
	size_t		i;

	if (len == 0 || len > 5 || (s[0] == '0' && len > 1))
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > 65535)
		return (-1);
	*port = (uint16_t)v;
	return (0);
}

/* A v1 address of family fam (AF_INET, AF_INET6) into peer. */
static enum proxy_error
v1_addr(const char *s, size_t len, int fam, struct net_peer *peer)
{
	char	tmp[INET6_ADDRSTRLEN];
	uint8_t	bin[16];

	if (len == 0 || len >= sizeof(tmp))
		return (PROXY_E_ADDRESS);
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(fam, tmp, peer->addr) == 1) {
		peer->family = (uint8_t)fam;
		return (PROXY_E_NONE);
	}
	if (inet_pton(fam == AF_INET ? AF_INET6 : AF_INET, tmp, bin) == 1)
		return (PROXY_E_FAMILY);
	return (PROXY_E_ADDRESS);
}

/*
 * A complete v1 line (without its CRLF), checked against the grammar:
 * "PROXY" SP ("UNKNOWN" [SP any] | ("TCP4" | "TCP6") SP src SP dst SP
 * sport SP dport).
 */
static enum proxy_error
v1_line(const char *line, size_t len, struct proxy_hdr *h)
{
	const char	*f[6];
	size_t		 flen[6], i, nf = 0, start = 0;
	enum proxy_error e;
	int		 fam;

	/* "PROXY UNKNOWN" may be followed by anything printable. */
	if (len >= 13 && memcmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (len == 13 || line[13] == ' '))
		return (PROXY_E_NONE);
	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (nf == 6 || i == start)
			return (PROXY_E_SYNTAX);	/* extra or empty */
		f[nf] = line + start;
		flen[nf++] = i - start;
		start = i + 1;
	}
	if (nf != 6)
		return (PROXY_E_SYNTAX);
	if (flen[1] == 4 && memcmp(f[1], "TCP4", 4) == 0)
		fam = AF_INET;
	else if (flen[1] == 4 && memcmp(f[1], "TCP6", 4) == 0)
		fam = AF_INET6;
	else
		return (PROXY_E_SYNTAX);
	if ((e = v1_addr(f[2], flen[2], fam, &h->src)) != PROXY_E_NONE ||
	    (e = v1_addr(f[3], flen[3], fam, &h->dst)) != PROXY_E_NONE)
		return (e);
	if (v1_port(f[4], flen[4], &h->src.port) == -1 ||
	    v1_port(f[5], flen[5], &h->dst.port) == -1)
		return (PROXY_E_ADDRESS);
	return (PROXY_E_NONE);
}

/*
 * Version 1: find the CRLF within PROXY_V1_MAX bytes, refusing at the
 * first byte that cannot be in a line, then parse the line.
 */
static enum proxy_result
v1_parse(const uint8_t *p, size_t n, struct proxy_hdr *h,
    enum proxy_error *err)
{
	enum proxy_error e;
	size_t		 i;

	for (i = 0; i < n && i < PROXY_V1_MAX; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= PROXY_V1_MAX)
				return (fail(err, PROXY_E_TOO_LONG));
			if (i + 1 >= n)
				return (PROXY_MORE);
			if (p[i + 1] != '\n')
				return (fail(err, PROXY_E_SYNTAX));
			break;
		}
		if (p[i] < 0x20 || p[i] > 0x7e)
			return (fail(err, PROXY_E_SYNTAX));
	}
	if (i == PROXY_V1_MAX)
		return (fail(err, PROXY_E_TOO_LONG));
	if (i == n)
		return (PROXY_MORE);
	if ((e = v1_line((const char *)p, i, h)) != PROXY_E_NONE) {
		memset(h, 0, sizeof(*h));
		return (fail(err, e));
	}
	h->version = 1;
	h->len = i + 2;
	return (PROXY_DONE);
}

/* A v2 address block (INET or INET6) into src and dst. */
static void
v2_inet(const uint8_t *a, int fam, struct proxy_hdr *h)
{
	size_t	alen = fam == AF_INET ? 4 : 16;

	h->src.family = h->dst.family = (uint8_t)fam;
	memcpy(h->src.addr, a, alen);
	memcpy(h->dst.addr, a + alen, alen);
	h->src.port = (uint16_t)(a[2 * alen] << 8 | a[2 * alen + 1]);
	h->dst.port = (uint16_t)(a[2 * alen + 2] << 8 | a[2 * alen + 3]);
}

/*
 * Version 2: each byte is judged as soon as it is there, so a bad command
 * is refused without waiting for the length it announces.
 */
static enum proxy_result
v2_parse(const uint8_t *p, size_t n, struct proxy_hdr *h,
    enum proxy_error *err)
{
	size_t	len, alen, off, tlen;
	int	cmd, fam = 0, proto;

	if (n <= V2_SIG_LEN)
		return (PROXY_MORE);
	if (p[12] >> 4 != 2)
		return (fail(err, PROXY_E_VERSION));
	cmd = p[12] & 0xf;
	if (cmd != V2_LOCAL && cmd != V2_PROXY)
		return (fail(err, PROXY_E_COMMAND));
	if (n < 14)
		return (PROXY_MORE);
	/* LOCAL: the family and protocol are to be ignored. */
	if (cmd == V2_PROXY) {
		fam = p[13] >> 4;
		proto = p[13] & 0xf;
		if (fam > V2_UNIX || proto > V2_PROTO_MAX ||
		    (fam != V2_UNSPEC && proto != V2_STREAM))
			return (fail(err, PROXY_E_PROTOCOL));
	}
	if (n < PROXY_V2_HDR)
		return (PROXY_MORE);
	len = (size_t)p[14] << 8 | p[15];
	if (PROXY_V2_HDR + len > PROXY_MAX)
		return (fail(err, PROXY_E_TOO_LONG));
	if (n < PROXY_V2_HDR + len)
		return (PROXY_MORE);
	h->version = 2;
	h->len = PROXY_V2_HDR + len;
	if (cmd == V2_LOCAL || fam == V2_UNSPEC) {
		h->local = cmd == V2_LOCAL;
		return (PROXY_DONE);
	}
	alen = v2_addr_len[fam];
	if (len < alen) {
		memset(h, 0, sizeof(*h));
		return (fail(err, PROXY_E_LENGTH));
	}
	/* TLVs: type, 16-bit length, value; each must end within len. */
	for (off = alen; off < len; off += V2_TLV_HDR + tlen) {
		if (len - off < V2_TLV_HDR) {
			memset(h, 0, sizeof(*h));
			return (fail(err, PROXY_E_TLV));
		}
		tlen = (size_t)p[PROXY_V2_HDR + off + 1] << 8 |
		    p[PROXY_V2_HDR + off + 2];
		if (tlen > len - off - V2_TLV_HDR) {
			memset(h, 0, sizeof(*h));
			return (fail(err, PROXY_E_TLV));
		}
	}
	/* A unix path: nothing to check it against, src stays empty. */
	if (fam != V2_UNIX)
		v2_inet(p + PROXY_V2_HDR, fam == V2_INET ? AF_INET : AF_INET6,
		    h);
	return (PROXY_DONE);
}

/*
 * Judge the n bytes received so far.  DONE fills h (h->len bytes are the
 * header, what follows is the client's); ERROR sets *err; MORE: a valid
 * prefix, shorter than any header.
 */
enum proxy_result
proxy_parse(const uint8_t *p, size_t n, struct proxy_hdr *h,
    enum proxy_error *err)
{
	memset(h, 0, sizeof(*h));
	*err = PROXY_E_NONE;
	if (n == 0)
		return (PROXY_MORE);
	if (p[0] == v1_sig[0]) {
		if (!prefix_ok(p, n, v1_sig, sizeof(v1_sig) - 1))
			return (fail(err, PROXY_E_SIGNATURE));
		return (v1_parse(p, n, h, err));
	}
	if (!prefix_ok(p, n, v2_sig, V2_SIG_LEN))
		return (fail(err, PROXY_E_SIGNATURE));
	return (v2_parse(p, n, h, err));
}
