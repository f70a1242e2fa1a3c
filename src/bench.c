/*
 * bench.c: msgctl bench, a closed-loop load generator.
 *
 * All connections are opened before the clock starts (all at once, or
 * with --ramp one at a time, each served before the next opens) and split
 * over the threads.  Each thread runs its own epoll loop: a connection keeps
 * `pipeline' requests in flight and sends a new one whenever an answer
 * arrives.  Every answer is verified as it streams in (request id in
 * order, opcode, status, value), so the body is never buffered and the
 * memory per connection is its ring of in-flight requests.
 *
 * The same loop drives other servers, so that the client's cost is the
 * same whatever it measures: --raw sends the value alone and expects the
 * same bytes back (an echo server, bench/echo_floor), --resp speaks the
 * Redis protocol (PING and ECHO).  Neither has request ids, but every
 * byte of their answers is known in advance, so the byte stream is
 * compared as it arrives.
 *
 * --op PUT and --op GET with --key load the file path: every request
 * stores (PUT) or reads (GET) the one file named, whose bytes are not
 * compared (a GET's length is).
 *
 * With TLS (msgctl --tls ...) every connection makes its handshake before
 * the clock starts, and the loop reads and writes through OpenSSL on the
 * same non-blocking sockets.  --reconnect measures the handshakes: each
 * request on a new connection, with --tls-resume resuming the session.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "bench.h"
#include "msgd/client.h"
#include "client.h"
#include "hist.h"
#include "net.h"
#include "proto.h"
#include "util.h"

/* Exit codes, as msgctl's. */
#define EX_OK		0
#define EX_FAIL		1	/* an answer failed verification, or worse */
#define EX_USAGE	2
#define EX_NOCONN	3

#define BENCH_CONNS_MAX		100000
#define BENCH_REQUESTS_MAX	1000000000000ULL
#define BENCH_SECONDS_MAX	86400
#define BENCH_PIPELINE_MAX	1024
#define BENCH_SIZE_MAX		(16 * 1024 * 1024)
#define BENCH_THREADS_MAX	64
#define BENCH_RAMP_MAX		60000	/* ms between connections */

/*
 * Request id r on connection c sends the value starting at byte
 * (r + c's salt) % BENCH_PAD of one random buffer, so neighbouring answers
 * differ and a misrouted or stale answer fails the comparison, without a
 * buffer per connection.
 */
#define BENCH_PAD	256
#define BENCH_RBUF	(256 * 1024)	/* one read, per thread */
#define BENCH_READS	8		/* reads per event, at most */
#define BENCH_IOV	512		/* iovecs per sendmsg, < IOV_MAX */
#define BENCH_EVENTS	256
#define BENCH_ERRLEN	256
#define BENCH_WBUF	(64 * 1024)	/* requests gathered per write */
#define BENCH_GATHER	1024		/* plain: gather pieces this small */

/* Extra descriptors beyond the connections: epoll, stdio, slack. */
#define BENCH_FD_SLACK	(BENCH_THREADS_MAX + 16)

enum {
	OPT_OP = 256,
	OPT_JSON,
	OPT_KEY,
	OPT_RAMP,
	OPT_RAW,
	OPT_RECONNECT,
	OPT_RESP,
	OPT_TLS_RESUME
};

/* What the requests and answers look like on the wire. */
enum bench_proto {
	BENCH_MSGD,	/* msgd frames: header, key, value */
	BENCH_RAW,	/* the value, echoed back as it is */
	BENCH_RESP	/* the Redis protocol: PING, ECHO */
};

/* Fixed bytes around a raw or RESP value ("$64\r\n" ... "\r\n"). */
#define BENCH_TMPL	48
struct bench_tmpl {
	uint8_t		b[BENCH_TMPL];
	uint32_t	len;
};

struct bench_opts {
	uint64_t	 conns;
	uint64_t	 requests;
	uint64_t	 seconds;	/* 0: run -n requests */
	uint64_t	 pipeline;
	uint64_t	 size;
	uint64_t	 threads;
	uint8_t		 op;
	int		 op_set;	/* --op given */
	const char	*key;		/* --key: PUT and GET's file name */
	int		 json;
	int		 proto;		/* enum bench_proto */
	int		 resp_inline;	/* --resp=inline */
	int		 ramp_set;	/* --ramp given */
	uint64_t	 ramp;		/* its ms between connections */
	int		 reconnect;	/* --reconnect: a connection per request */
	int		 tls_resume;	/* --tls-resume: resume the session */
};

/* What every thread reads and nobody writes once the run starts. */
struct bench_run {
	struct bench_opts	 o;
	int			 timeout_ms;
	uint32_t		 vlen;		/* request value bytes */
	uint32_t		 avlen;		/* answer value bytes (not PING) */
	uint32_t		 klen;		/* request key bytes (--key) */
	uint8_t			*pay;		/* vlen + BENCH_PAD, a-z */
	uint8_t			*upay;		/* pay in upper case */
	/*
	 * A request is qpre, the value, qpost: qlen bytes (msgd: the
	 * header comes from the request's slot).  A raw or RESP answer is
	 * apre, the value, apost: alen bytes.
	 */
	struct bench_tmpl	 qpre, qpost, apre, apost;
	uint32_t		 qlen;
	uint32_t		 alen;
	/*
	 * The answer every ECHO, UPPER or PING request must get: its msgd
	 * header but for the request id, and its length (aflen); its value
	 * is aval (+ the request's offset when avoff: bench_expect).  A
	 * file's answer is checked by length only: aflen 0, aval NULL.
	 */
	uint8_t			 ahdr[MSG_HDR_LEN];
	uint32_t		 aflen;
	const uint8_t		*aval;
	int			 avoff;
	uint64_t		 start_us;
	uint64_t		 deadline_us;	/* -d: stop sending; else 0 */
	struct bench_thread	*th0;		/* --reconnect: the threads */
	/* TLS (NULL: plain): the options, and their context for the loop. */
	const struct client_tls	*tls;
	SSL_CTX			*tls_ctx;
	char			 tls_name[CLIENT_TLS_NAME_MAX];
	const char		*addr;
};

struct bench_slot {
	uint64_t	t_sent;
	uint8_t		hdr[MSG_HDR_LEN];
};

/*
 * Request ids count up from 1 per connection: head is the oldest without
 * an answer, sent the first not completely written (woff bytes of it
 * are), tail the next to create.  head <= sent <= tail, tail - head <=
 * pipeline, and id & mask is the id's slot in the ring.
 */
struct bench_conn {
	int			 fd;		/* -1 once closed */
	SSL			*ssl;		/* TLS, or NULL */
	int			 num;		/* for messages */
	int			 pollout;
	uint32_t		 salt;		/* varies the value offsets */
	uint32_t		 head;
	uint32_t		 sent;
	uint32_t		 tail;
	uint32_t		 woff;
	uint32_t		 mask;
	struct bench_slot	*ring;
	/* The answer being read. */
	uint8_t			 hbuf[MSG_HDR_LEN];
	uint32_t		 hlen;
	uint32_t		 boff;		/* body (raw, RESP: answer) bytes */
	struct msg_hdr		 rh;
	const uint8_t		*expect;	/* value to compare, or NULL */
	int			 bad;		/* already judged wrong */
	int			 capture;	/* copy the value to the error */
};

struct bench_thread {
	const struct bench_run	*run;
	pthread_t		 tid;
	int			 ep;
	struct bench_conn	*conns;
	size_t			 nconns;
	size_t			 active;
	struct bench_slot	*slots;
	uint64_t		 quota;		/* -n: requests left to send */
	uint8_t			*rbuf;
	uint8_t			*wbuf;		/* requests gathered */
	struct msgdc		*cl;		/* --reconnect: its connection */
	uint64_t		 resumed;	/* --reconnect: resumed sessions */
	uint64_t		 last_us;	/* the latest answer, or start */
	/* Results, merged by bench_main. */
	struct hist		 hist;
	uint64_t		 answers;
	uint64_t		 bad;		/* answers failing verification */
	uint64_t		 lost;		/* connections lost */
	uint64_t		 stalled;	/* connections given up on */
	uint64_t		 unanswered;	/* requests never answered */
	uint64_t		 bytes;		/* value bytes out + in */
	uint64_t		 err_us;
	char			 err[BENCH_ERRLEN];	/* the first error */
};

struct bench_total {
	struct hist	hist;
	uint64_t	answers, bad, lost, stalled, unanswered, bytes, resumed;
	uint64_t	end_us;
	const char	*err;
	uint64_t	err_us;
};

static const char *const bench_proto_names[] = {
	"msgd", "raw", "resp"
};

static const struct {
	const char	*name;
	double		 p;
} bench_pcts[] = {
	{ "p50", 50.0 },
	{ "p90", 90.0 },
	{ "p99", 99.0 },
	{ "p99.9", 99.9 },
};

static const struct option bench_longopts[] = {
	{ "connections",	required_argument,	NULL,	'c' },
	{ "duration",		required_argument,	NULL,	'd' },
	{ "help",		no_argument,		NULL,	'h' },
	{ "json",		no_argument,		NULL,	OPT_JSON },
	{ "key",		required_argument,	NULL,	OPT_KEY },
	{ "op",			required_argument,	NULL,	OPT_OP },
	{ "pipeline",		required_argument,	NULL,	'P' },
	{ "ramp",		required_argument,	NULL,	OPT_RAMP },
	{ "raw",		no_argument,		NULL,	OPT_RAW },
	{ "reconnect",		no_argument,		NULL,	OPT_RECONNECT },
	{ "requests",		required_argument,	NULL,	'n' },
	{ "resp",		optional_argument,	NULL,	OPT_RESP },
	{ "size",		required_argument,	NULL,	's' },
	{ "threads",		required_argument,	NULL,	't' },
	{ "tls-resume",		no_argument,		NULL,	OPT_TLS_RESUME },
	{ NULL,			0,			NULL,	0 }
};

/* The help text, which also defines what the numbers mean. */
static void
bench_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: msgctl [-H addr | -U path] [-T seconds] [TLS options] "
	    "bench [-h]\n"
	    "           [-c conns] [-n requests | -d seconds] [-P depth] "
	    "[-s bytes]\n"
	    "           [-t threads] [--op PING|ECHO|UPPER] [--json]\n"
	    "           [--op PUT|GET --key name] [--ramp ms]\n"
	    "           [--raw | --resp[=array|inline]] "
	    "[--reconnect [--tls-resume]]\n"
	    "Closed-loop load: each connection keeps `depth' requests in "
	    "flight and sends\n"
	    "the next one as an answer arrives.  Every answer is verified "
	    "(request id in\n"
	    "order, opcode, status OK, value); a failed check, an error "
	    "status or a lost\n"
	    "or stalled connection counts as an error.  Lost connections "
	    "are not reopened.\n"
	    "  -c, --connections N  connections, opened before the clock "
	    "starts\n"
	    "                       (default 50, 1..%d)\n"
	    "  -n, --requests N     requests in all (default 100000)\n"
	    "  -d, --duration S     send for S seconds instead, then wait "
	    "for the answers\n"
	    "                       in flight (1..%d; overrides -n)\n"
	    "  -P, --pipeline N     requests in flight per connection "
	    "(default 1, 1..%d)\n"
	    "  -s, --size BYTES     value size, random a-z (default 64, "
	    "0..%d);\n"
	    "                       PING sends no value\n"
	    "  -t, --threads N      threads, each with its own epoll loop; "
	    "the connections\n"
	    "                       are split over them (default 1, 1..%d)\n"
	    "      --op OP          PING, ECHO or UPPER (default ECHO); "
	    "PUT or GET with --key\n"
	    "      --key NAME       PUT: store -s bytes in file NAME, "
	    "each request; GET:\n"
	    "                       read it, each answer must be -s bytes "
	    "long (its bytes\n"
	    "                       are not compared)\n"
	    "      --json           print the results as one JSON object\n"
	    "      --ramp MS        open the connections one at a time, MS "
	    "ms apart (0..%d),\n"
	    "                       each answering one PING (--raw: one "
	    "echoed byte) before\n"
	    "                       the next opens, as a connection pool "
	    "does\n"
	    "      --raw            no framing: send the value (-s bytes, at "
	    "least 1), expect\n"
	    "                       the same bytes back (an echo server)\n"
	    "      --resp[=array|inline]\n"
	    "                       the Redis protocol: PING expects +PONG, "
	    "ECHO the value\n"
	    "                       as a bulk string; commands as RESP arrays "
	    "(default) or\n"
	    "                       inline (ECHO: -s at least 1)\n"
	    "      --reconnect      a new connection for every request (PING, "
	    "ECHO, UPPER):\n"
	    "                       connect, TLS handshake, request, answer, "
	    "close; -c\n"
	    "                       connections at once, each its own thread "
	    "(1..%d);\n"
	    "                       reports handshakes/s\n"
	    "      --tls-resume     with --reconnect and TLS: resume the "
	    "session of the\n"
	    "                       thread's previous connection (default: "
	    "full handshakes)\n"
	    "  -h, --help           this help\n"
	    "Latency runs from the write of a request to the arrival of its "
	    "answer; with\n"
	    "-P above 1 it includes the time a request queues behind the "
	    "ones ahead of it\n"
	    "on its connection.  Percentiles are bucket upper bounds, at "
	    "most 6.25%% high.\n"
	    "MB/s counts value bytes only, sent plus received, in 10^6 "
	    "bytes; headers\n"
	    "and protocol bytes are not counted.  The -T timeout bounds each "
	    "connect\n"
	    "and the wait for the next answer: a run with no answer for that "
	    "long stops\n"
	    "with an error, as does a -d run still missing answers that long "
	    "after its\n"
	    "end.\n"
	    "With msgctl's TLS options (--tls, --cacert, ...) every "
	    "connection speaks\n"
	    "TLS; its handshake is made before the clock starts, but with "
	    "--reconnect.\n"
	    "Exit status: 0 all answers verified, 1 errors, 2 usage, 3 "
	    "cannot connect.\n",
	    BENCH_CONNS_MAX, BENCH_SECONDS_MAX, BENCH_PIPELINE_MAX,
	    BENCH_SIZE_MAX, BENCH_THREADS_MAX, BENCH_RAMP_MAX,
	    BENCH_THREADS_MAX);
}

/* The numeric options: letter, range and where the value goes. */
static const struct {
	int		 ch;
	uint64_t	 min;
	uint64_t	 max;
	size_t		 off;
} bench_nums[] = {
	{ 'c', 1, BENCH_CONNS_MAX,	offsetof(struct bench_opts, conns) },
	{ 'd', 1, BENCH_SECONDS_MAX,	offsetof(struct bench_opts, seconds) },
	{ 'n', 1, BENCH_REQUESTS_MAX,	offsetof(struct bench_opts, requests) },
	{ 'P', 1, BENCH_PIPELINE_MAX,	offsetof(struct bench_opts, pipeline) },
	{ 's', 0, BENCH_SIZE_MAX,	offsetof(struct bench_opts, size) },
	{ 't', 1, BENCH_THREADS_MAX,	offsetof(struct bench_opts, threads) },
};

/*
 * Store a numeric option's value; 0 if ch is not one, 1 if stored, -1
 * (the problem printed) if the value is out of range.
 */
static int
bench_number(struct bench_opts *o, int ch, const char *arg)
{
	const char	*errstr;
	uint64_t	*dst;
	size_t		 i;

	for (i = 0; i < nitems(bench_nums); i++)
		if (bench_nums[i].ch == ch)
			break;
	if (i == nitems(bench_nums))
		return (0);
	dst = (uint64_t *)((char *)o + bench_nums[i].off);
	if (parse_u64(arg, bench_nums[i].min, bench_nums[i].max, dst,
	    &errstr) == -1) {
		fprintf(stderr, "msgctl bench: -%c: must be %" PRIu64 "..%"
		    PRIu64 ", got \"%s\" (%s)\n", ch, bench_nums[i].min,
		    bench_nums[i].max, arg, errstr);
		return (-1);
	}
	return (1);
}

/* What --raw, --resp and --key can send; EX_OK or EX_USAGE. */
static int
bench_proto_check(const struct bench_opts *o)
{
	int	file = o->op == MSG_OP_PUT || o->op == MSG_OP_GET;

	if (file != (o->key != NULL)) {
		fprintf(stderr, "msgctl bench: --op PUT and GET need --key, "
		    "and --key needs one of them\n");
		return (EX_USAGE);
	}
	if (file && (o->proto != BENCH_MSGD ||
	    !msg_valid_name((const uint8_t *)o->key, strlen(o->key)))) {
		fprintf(stderr, "msgctl bench: --key: a file name of msgd "
		    "(1..255 bytes of [A-Za-z0-9._-], not starting with "
		    "'.'), got \"%s\"\n", o->key);
		return (EX_USAGE);
	}
	if (o->proto == BENCH_RAW) {
		if (o->op_set && o->op != MSG_OP_ECHO) {
			fprintf(stderr, "msgctl bench: --raw echoes bytes; "
			    "--op must be ECHO\n");
			return (EX_USAGE);
		}
		if (o->size == 0) {
			fprintf(stderr, "msgctl bench: --raw needs -s 1 or "
			    "more\n");
			return (EX_USAGE);
		}
	} else if (o->proto == BENCH_RESP) {
		if (o->op != MSG_OP_PING && o->op != MSG_OP_ECHO) {
			fprintf(stderr, "msgctl bench: --resp sends PING or "
			    "ECHO\n");
			return (EX_USAGE);
		}
		if (o->resp_inline && o->op == MSG_OP_ECHO && o->size == 0) {
			fprintf(stderr, "msgctl bench: --resp=inline ECHO "
			    "needs -s 1 or more\n");
			return (EX_USAGE);
		}
	}
	return (EX_OK);
}

/*
 * --reconnect: msgd PING, ECHO or UPPER, one request per connection, each
 * connection its own thread.  EX_OK or EX_USAGE.
 */
static int
bench_reconnect_check(struct bench_opts *o)
{
	const char	*why = NULL;

	if (o->tls_resume && !o->reconnect)
		why = "--tls-resume goes with --reconnect";
	else if (!o->reconnect)
		return (EX_OK);
	else if (o->proto != BENCH_MSGD)
		why = "--reconnect speaks msgd only (not --raw or --resp)";
	else if (o->op != MSG_OP_PING && o->op != MSG_OP_ECHO &&
	    o->op != MSG_OP_UPPER)
		why = "--reconnect sends PING, ECHO or UPPER";
	else if (o->pipeline != 1 || o->ramp_set)
		why = "--reconnect sends one request per connection: no -P, "
		    "no --ramp";
	else if (o->conns > BENCH_THREADS_MAX)
		why = "--reconnect runs a thread per connection: -c at most 64";
	if (why != NULL) {
		fprintf(stderr, "msgctl bench: %s\n", why);
		return (EX_USAGE);
	}
	o->threads = o->conns;
	return (EX_OK);
}

/* Fill o from the command line; returns EX_OK, EX_USAGE or -1 for -h. */
static int
bench_options(int argc, char **argv, struct bench_opts *o)
{
	const char	*errstr;
	int		 ch, op, rc;

	memset(o, 0, sizeof(*o));
	o->conns = 50;
	o->requests = 100000;
	o->pipeline = 1;
	o->size = 64;
	o->threads = 1;
	o->op = MSG_OP_ECHO;

	optind = 0;	/* glibc: start over on this argv */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:d:hn:P:s:t:", bench_longopts,
	    NULL)) != -1) {
		if ((rc = bench_number(o, ch, optarg)) == -1)
			return (EX_USAGE);
		if (rc == 1)
			continue;
		switch (ch) {
		case 'h':
			return (-1);
		case OPT_OP:
			op = msg_op_parse(optarg);
			if (op != MSG_OP_PING && op != MSG_OP_ECHO &&
			    op != MSG_OP_UPPER && op != MSG_OP_PUT &&
			    op != MSG_OP_GET) {
				fprintf(stderr, "msgctl bench: --op: must be "
				    "PING, ECHO, UPPER, PUT or GET, got \"%s\"\n",
				    optarg);
				return (EX_USAGE);
			}
			o->op = (uint8_t)op;
			o->op_set = 1;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_KEY:
			o->key = optarg;
			break;
		case OPT_RAMP:
			if (parse_u64(optarg, 0, BENCH_RAMP_MAX, &o->ramp,
			    &errstr) == -1) {
				fprintf(stderr, "msgctl bench: --ramp: must be "
				    "0..%d, got \"%s\" (%s)\n", BENCH_RAMP_MAX,
				    optarg, errstr);
				return (EX_USAGE);
			}
			o->ramp_set = 1;
			break;
		case OPT_RAW:
			o->proto = BENCH_RAW;
			break;
		case OPT_RECONNECT:
			o->reconnect = 1;
			break;
		case OPT_TLS_RESUME:
			o->tls_resume = 1;
			break;
		case OPT_RESP:
			o->proto = BENCH_RESP;
			if (optarg == NULL || strcmp(optarg, "array") == 0)
				o->resp_inline = 0;
			else if (strcmp(optarg, "inline") == 0)
				o->resp_inline = 1;
			else {
				fprintf(stderr, "msgctl bench: --resp: must be "
				    "array or inline, got \"%s\"\n", optarg);
				return (EX_USAGE);
			}
			break;
		case ':':
			fprintf(stderr, "msgctl bench: %s needs a value\n",
			    argv[optind - 1]);
			return (EX_USAGE);
		default:
			if (optopt != 0)
				fprintf(stderr, "msgctl bench: unknown option "
				    "-%c; see msgctl bench -h\n", optopt);
			else
				fprintf(stderr, "msgctl bench: unknown option "
				    "%s; see msgctl bench -h\n",
				    argv[optind - 1]);
			return (EX_USAGE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "msgctl bench: unexpected argument \"%s\"\n",
		    argv[optind]);
		return (EX_USAGE);
	}
	if (o->threads > o->conns)
		o->threads = o->conns;
	if ((rc = bench_reconnect_check(o)) != EX_OK)
		return (rc);
	return (bench_proto_check(o));
}

/* Make room for one descriptor per connection, or say why not. */
static int
bench_fd_limit(uint64_t conns)
{
	struct rlimit	rl;
	rlim_t		need = (rlim_t)conns + BENCH_FD_SLACK;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (0);	/* connect will say what fails */
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
			fprintf(stderr, "msgctl bench: -c %" PRIu64 " needs "
			    "about %" PRIu64 " descriptors, the hard limit is "
			    "%" PRIu64 " (ulimit -Hn)\n", conns,
			    (uint64_t)need, (uint64_t)rl.rlim_max);
			return (-1);
		}
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			fprintf(stderr, "msgctl bench: setrlimit(NOFILE "
			    "%" PRIu64 "): %s\n", (uint64_t)need,
			    strerror(errno));
			return (-1);
		}
	}
	return (0);
}

/* A small fast generator: the payload needs variety, not secrecy. */
static uint64_t
bench_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (*x);
}

/* The shared request values: random lowercase, and their upper case. */
static int
bench_payload(struct bench_run *run)
{
	size_t		i, len = (size_t)run->vlen + BENCH_PAD;
	uint64_t	x = mono_us() ^ ((uint64_t)getpid() << 32) ^
		    0x9e3779b97f4a7c15ULL;

	if ((run->pay = malloc(len)) == NULL ||
	    (run->upay = malloc(len)) == NULL) {
		fprintf(stderr, "msgctl bench: out of memory\n");
		return (-1);
	}
	for (i = 0; i < len; i++) {
		run->pay[i] = (uint8_t)('a' + bench_rand(&x) % 26);
		run->upay[i] = (uint8_t)(run->pay[i] - 'a' + 'A');
	}
	return (0);
}

static void __attribute__((format(printf, 2, 3)))
bench_tmpl_set(struct bench_tmpl *tp, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf((char *)tp->b, sizeof(tp->b), fmt, ap);
	va_end(ap);
	tp->len = n > 0 ? (uint32_t)n : 0;
}

/* The fixed bytes around every value, both ways, for the protocol. */
static void
bench_templates(struct bench_run *run)
{
	const struct bench_opts	*o = &run->o;

	switch (o->proto) {
	case BENCH_MSGD:
		run->qpre.len = MSG_HDR_LEN;	/* each slot's own header */
		break;
	case BENCH_RAW:
		break;				/* the value, and only it */
	case BENCH_RESP:
		if (o->op == MSG_OP_PING) {
			bench_tmpl_set(&run->qpre, "%s", o->resp_inline ?
			    "PING\r\n" : "*1\r\n$4\r\nPING\r\n");
			bench_tmpl_set(&run->apre, "+PONG\r\n");
			break;
		}
		if (o->resp_inline)
			bench_tmpl_set(&run->qpre, "ECHO ");
		else
			bench_tmpl_set(&run->qpre, "*2\r\n$4\r\nECHO\r\n$%"
			    PRIu32 "\r\n", run->vlen);
		bench_tmpl_set(&run->qpost, "\r\n");
		bench_tmpl_set(&run->apre, "$%" PRIu32 "\r\n", run->vlen);
		bench_tmpl_set(&run->apost, "\r\n");
		break;
	}
	run->qlen = run->qpre.len + run->klen + run->vlen + run->qpost.len;
	run->alen = run->apre.len + run->vlen + run->apost.len;
}

/*
 * The answer every request of the run must get, when it is known in
 * advance (not a file's): the one place that says what comes back, for
 * bconn_feed (which compares it whole, as raw's stream is compared),
 * bconn_header and --reconnect.  After bench_payload (the values).
 */
static void
bench_answer_template(struct bench_run *run)
{
	const struct bench_opts	*o = &run->o;
	uint32_t		 body;

	run->aflen = 0;
	run->aval = NULL;
	switch (o->op) {
	case MSG_OP_PING:
		run->aval = (const uint8_t *)"PONG";
		run->avoff = 0;
		body = 4;
		break;
	case MSG_OP_ECHO:
	case MSG_OP_UPPER:
		run->aval = o->op == MSG_OP_UPPER ? run->upay : run->pay;
		run->avoff = 1;
		body = run->avlen;
		break;
	default:
		return;			/* a file: its length only */
	}
	(void)msg_encode_response(run->ahdr, o->op, MSG_ST_OK, 0, 0, body);
	run->aflen = MSG_HDR_LEN + body;
}

/* Where request id's value starts in the payload buffers. */
static size_t
bench_voff(const struct bench_conn *c, uint32_t id)
{
	return ((id + c->salt) % BENCH_PAD);
}

/* The value the answer to request id must hold, or NULL (a file's). */
static const uint8_t *
bench_expect(const struct bench_run *run, const struct bench_conn *c,
    uint32_t id)
{
	if (run->aval == NULL || !run->avoff)
		return (run->aval);
	return (run->aval + bench_voff(c, id));
}

/* Keep the first error of a thread, for the report. */
static void __attribute__((format(printf, 2, 3)))
bench_error(struct bench_thread *t, const char *fmt, ...)
{
	va_list	ap;

	if (t->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	t->err_us = mono_us();
}

/* Append the printable part of an error answer's value to the error. */
static void
bench_error_text(struct bench_thread *t, const uint8_t *p, size_t n)
{
	size_t	len = strlen(t->err);

	for (; n > 0 && len + 1 < sizeof(t->err); p++, n--)
		t->err[len++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
	t->err[len] = '\0';
}

/* Drop a connection's TLS state: a close_notify if it goes at once. */
static void
bconn_tls_free(struct bench_conn *c)
{
	if (c->ssl == NULL)
		return;
	(void)SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	c->ssl = NULL;
}

/* Close a connection, counting the requests it leaves unanswered. */
static void
bconn_close(struct bench_thread *t, struct bench_conn *c)
{
	t->unanswered += c->tail - c->head;
	bconn_tls_free(c);
	close(c->fd);
	c->fd = -1;
	t->active--;
}

/* A lost connection: an error; it is not reopened. */
static void
bconn_lost(struct bench_thread *t, struct bench_conn *c, const char *why)
{
	bench_error(t, "connection %d: %s with %" PRIu32 " request(s) "
	    "unanswered", c->num, why, c->tail - c->head);
	t->lost++;
	bconn_close(t, c);
}

/* Whether requests remain to be sent: the clock (-d) or the quota (-n). */
static int
bench_more(const struct bench_thread *t, uint64_t now)
{
	if (t->run->deadline_us != 0)
		return (now < t->run->deadline_us);
	return (t->quota > 0);
}

/* Whether one more request may start now; takes it from the quota. */
static int
bench_take(struct bench_thread *t, uint64_t now)
{
	if (!bench_more(t, now))
		return (0);
	if (t->run->deadline_us == 0)
		t->quota--;
	return (1);
}

/* Ask for EPOLLOUT only while output is stuck, to save epoll_ctl calls. */
static int
bconn_pollout(struct bench_thread *t, struct bench_conn *c, int on)
{
	struct epoll_event	ev;

	if (c->pollout == on)
		return (0);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
		bconn_lost(t, c, strerror(errno));
		return (-1);
	}
	c->pollout = on;
	return (0);
}

/* Copy the n iovecs into dst, up to cap bytes; returns the bytes copied. */
static size_t
bench_gather(uint8_t *dst, size_t cap, const struct iovec *iov, size_t n)
{
	size_t	len = 0, k, m;

	for (k = 0; k < n && len < cap; k++) {
		m = iov[k].iov_len < cap - len ? iov[k].iov_len : cap - len;
		memcpy(dst + len, iov[k].iov_base, m);
		len += m;
	}
	return (len);
}

/*
 * TLS: copy the iovecs (up to BENCH_WBUF bytes; *wantp becomes what
 * was copied) and write them as records.  Returns the bytes written; -1
 * with errno EAGAIN to wait for EPOLLOUT; -2 when TLS must read first
 * (EPOLLIN, always on, brings the connection back); -1 with the
 * connection lost on an error.  The bytes copied on a retry start with
 * the same ones as before and are never fewer, as OpenSSL requires.
 */
static ssize_t
bconn_tls_write(struct bench_thread *t, struct bench_conn *c,
    const struct iovec *iov, size_t n, size_t *wantp)
{
	char	why[BENCH_ERRLEN];
	size_t	len, w;
	int	rc, e;

	*wantp = len = bench_gather(t->wbuf, BENCH_WBUF, iov, n);
	errno = 0;
	if ((rc = SSL_write_ex(c->ssl, t->wbuf, len, &w)) == 1)
		return ((ssize_t)w);
	e = client_tls_failure(c->ssl, rc, "send to", t->run->addr, why,
	    sizeof(why));
	if (e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return (-1);
	}
	if (e == SSL_ERROR_WANT_READ)
		return (-2);
	bconn_lost(t, c, why);
	return (-1);
}

/*
 * Write the requests not yet written, many per call: each is its own
 * header plus a slice of the shared value buffer.  Large ones go out by
 * sendmsg from where they lie; small ones (pieces under BENCH_GATHER
 * bytes on average) are gathered into one buffer first, as the kernel's
 * copy of many small iovecs costs more than ours of the same bytes.  (A
 * protocol with more pieces per request, such as msgd's header and value,
 * must not pay more here than a raw echo.)  A short write means the
 * socket buffer is full: wait for EPOLLOUT.
 */
static int
bconn_write(struct bench_thread *t, struct bench_conn *c)
{
	const struct bench_run	*run = t->run;
	struct iovec		 iov[BENCH_IOV];
	struct msghdr		 mh;
	const uint8_t		*seg[4];
	uint32_t		 id, off, flen, slen[4];
	size_t			 n, want, k;
	ssize_t			 w;

	flen = run->qlen;
	slen[0] = run->qpre.len;
	slen[1] = run->klen;
	slen[2] = run->vlen;
	slen[3] = run->qpost.len;
	seg[0] = run->qpre.b;
	seg[1] = (const uint8_t *)run->o.key;
	seg[3] = run->qpost.b;
	while (c->sent != c->tail) {
		n = 0;
		want = 0;
		off = c->woff;	/* of the first request only */
		for (id = c->sent; id != c->tail && n + 4 <= nitems(iov);
		    id++) {
			if (run->o.proto == BENCH_MSGD)
				seg[0] = c->ring[id & c->mask].hdr;
			seg[2] = run->pay + bench_voff(c, id);
			for (k = 0; k < 4; k++) {
				if (off >= slen[k]) {
					off -= slen[k];
					continue;
				}
				iov[n].iov_base = (void *)(uintptr_t)
				    (seg[k] + off);
				iov[n].iov_len = slen[k] - off;
				want += iov[n++].iov_len;
				off = 0;
			}
		}
		if (c->ssl != NULL) {
			if ((w = bconn_tls_write(t, c, iov, n, &want)) == -2)
				return (bconn_pollout(t, c, 0));
			if (w == -1)
				return (-1);
		} else if (n > 1 && want <= BENCH_WBUF &&
		    want < n * BENCH_GATHER) {
			(void)bench_gather(t->wbuf, BENCH_WBUF, iov, n);
			w = send(c->fd, t->wbuf, want, MSG_NOSIGNAL);
		} else {
			memset(&mh, 0, sizeof(mh));
			mh.msg_iov = iov;
			mh.msg_iovlen = n;
			w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		}
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (bconn_pollout(t, c, 1));
			bconn_lost(t, c, strerror(errno));
			return (-1);
		}
		/* Advance sent/woff over the w bytes written. */
		off = c->woff + (uint32_t)((size_t)w % flen);
		c->sent += (uint32_t)((size_t)w / flen) + off / flen;
		c->woff = off % flen;
		if ((size_t)w < want)
			return (bconn_pollout(t, c, 1));
	}
	return (bconn_pollout(t, c, 0));
}

/*
 * Start as many requests as the pipeline, the quota and the clock allow,
 * then write them.  Returns -1 if the connection is gone.
 */
static int
bconn_send(struct bench_thread *t, struct bench_conn *c, uint64_t now)
{
	const struct bench_run	*run = t->run;
	struct bench_slot	*s;

	while (c->tail - c->head < run->o.pipeline && bench_take(t, now)) {
		s = &c->ring[c->tail & c->mask];
		s->t_sent = now;
		msg_encode_request(s->hdr, run->o.op, c->tail++,
		    (uint16_t)run->klen, run->klen + run->vlen);
	}
	if (c->sent == c->tail)
		return (0);
	return (bconn_write(t, c));
}

/* Close a connection that has nothing in flight and nothing more to send. */
static void
bconn_finish(struct bench_thread *t, struct bench_conn *c, uint64_t now)
{
	if (c->fd != -1 && c->head == c->tail && !bench_more(t, now))
		bconn_close(t, c);
}

/*
 * Judge a complete answer header against the oldest request in flight.
 * A framing error or an answer to nothing (fully) sent loses the stream:
 * returns -1 with the connection closed.  Other mismatches mark the
 * answer bad; its body is still read so the next answer can be checked.
 */
static int
bconn_header(struct bench_thread *t, struct bench_conn *c)
{
	const struct bench_run	*run = t->run;
	struct msg_hdr		*h = &c->rh;
	const char		*why;
	uint32_t		 vlen;

	if (msg_check_response(c->hbuf, MSG_HDR_LEN, h, &why) == -1) {
		t->bad++;
		bench_error(t, "connection %d: %s", c->num, why);
		bconn_close(t, c);
		return (-1);
	}
	if (c->head == c->sent) {
		t->bad++;
		bench_error(t, "connection %d: answer %s to request_id %" PRIu32
		    " before request %" PRIu32 " was fully sent", c->num,
		    msg_status_name(h->status), h->request_id, c->head);
		bconn_close(t, c);
		return (-1);
	}
	vlen = h->body_len - h->key_len;
	c->expect = NULL;
	c->bad = 1;
	if (h->status != MSG_ST_OK) {
		c->capture = t->err[0] == '\0';
		bench_error(t, "connection %d: request %" PRIu32 ": answered "
		    "%s (request_id %" PRIu32 "): ", c->num, c->head,
		    msg_status_name(h->status), h->request_id);
	} else if (h->request_id != c->head)
		bench_error(t, "connection %d: answer to request_id %" PRIu32
		    ", expected %" PRIu32, c->num, h->request_id, c->head);
	else if (h->opcode != run->o.op)
		bench_error(t, "connection %d: request %" PRIu32 ": answer "
		    "opcode 0x%02x, expected 0x%02x", c->num, c->head,
		    h->opcode, run->o.op);
	else if (h->flags != MSG_F_RESPONSE)
		bench_error(t, "connection %d: request %" PRIu32 ": reserved "
		    "flags 0x%02x in answer", c->num, c->head, h->flags);
	else if (run->o.op == MSG_OP_PING && vlen != 4)
		bench_error(t, "connection %d: request %" PRIu32 ": PING "
		    "answer of %" PRIu32 " bytes", c->num, c->head, vlen);
	else if (run->o.op != MSG_OP_PING && vlen != run->avlen)
		bench_error(t, "connection %d: request %" PRIu32 ": value of "
		    "%" PRIu32 " bytes, expected %" PRIu32, c->num, c->head,
		    vlen, run->avlen);
	else {
		c->bad = 0;
		c->expect = bench_expect(run, c, c->head);
	}
	return (0);
}

/* Compare n body bytes at offset c->boff with what the answer must hold. */
static void
bconn_body(struct bench_thread *t, struct bench_conn *c, const uint8_t *p,
    uint32_t n)
{
	uint32_t	off = c->boff, skip = 0;

	if (off < c->rh.key_len) {
		skip = c->rh.key_len - off < n ? c->rh.key_len - off : n;
		p += skip;
		n -= skip;
		off += skip;
	}
	if (n == 0)
		return;
	off -= c->rh.key_len;
	if (c->capture)
		bench_error_text(t, p, n);
	if (c->expect != NULL && !c->bad &&
	    memcmp(p, c->expect + off, n) != 0) {
		c->bad = 1;
		bench_error(t, "connection %d: request %" PRIu32 ": value "
		    "differs from the expected one within bytes %" PRIu32
		    "..%" PRIu32, c->num, c->head, off, off + n - 1);
	}
}

/*
 * A whole answer is in: record its latency and retire its request; bytes
 * are the value bytes it moved, out and back.
 */
static void
bconn_answered(struct bench_thread *t, struct bench_conn *c, uint64_t now,
    uint64_t bytes)
{
	struct bench_slot	*s = &c->ring[c->head & c->mask];

	hist_add(&t->hist, now > s->t_sent ? now - s->t_sent : 0);
	t->answers++;
	if (c->bad)
		t->bad++;
	else
		t->bytes += bytes;
	c->head++;
	c->hlen = 0;
	c->boff = 0;
	c->bad = 0;
	c->capture = 0;
	t->last_us = now;
}

/*
 * Is the answer at p, all of whose run->aflen bytes are there, byte for
 * byte the one the oldest request must get: the header with its id (as
 * in the request's own header), then the value?  Then bconn_header and
 * bconn_body would find nothing wrong either.
 */
static int
bconn_answer_is(const struct bench_run *run, const struct bench_conn *c,
    const uint8_t *p)
{
	const uint8_t	*id = c->ring[c->head & c->mask].hdr + 8;

	if (memcmp(p, run->ahdr, 8) != 0 || memcmp(p + 8, id, 4) != 0 ||
	    memcmp(p + 12, run->ahdr + 12, 4) != 0)
		return (0);
	return (memcmp(p + MSG_HDR_LEN, bench_expect(run, c, c->head),
	    run->aflen - MSG_HDR_LEN) == 0);
}

/*
 * Feed bytes read from a connection through the answer checks.  A whole
 * answer known in advance is compared in one go, as a raw answer is; the
 * field by field way below takes the rest (split answers, files, keys)
 * and names what differs.
 */
static int
bconn_feed(struct bench_thread *t, struct bench_conn *c, const uint8_t *p,
    size_t len, uint64_t now)
{
	const struct bench_run	*run = t->run;
	uint32_t		 n;

	while (len > 0) {
		if (c->hlen == 0 && run->aflen != 0 && len >= run->aflen &&
		    c->head != c->sent && bconn_answer_is(run, c, p)) {
			bconn_answered(t, c, now, (uint64_t)run->vlen +
			    run->aflen - MSG_HDR_LEN);
			p += run->aflen;
			len -= run->aflen;
			continue;
		}
		if (c->hlen < MSG_HDR_LEN) {
			n = MSG_HDR_LEN - c->hlen;
			if (n > len)
				n = (uint32_t)len;
			memcpy(c->hbuf + c->hlen, p, n);
			c->hlen += n;
			if (c->hlen == MSG_HDR_LEN &&
			    bconn_header(t, c) == -1)
				return (-1);
		} else {
			n = c->rh.body_len - c->boff;
			if (n > len)
				n = (uint32_t)len;
			bconn_body(t, c, p, n);
			c->boff += n;
		}
		p += n;
		len -= n;
		if (c->hlen == MSG_HDR_LEN && c->boff == c->rh.body_len)
			bconn_answered(t, c, now, (uint64_t)run->vlen +
			    c->rh.body_len - c->rh.key_len);
	}
	return (0);
}

/*
 * Raw and RESP: all alen bytes of an answer are known before it comes
 * (the fixed bytes around the value, and the value that was sent), so
 * the stream is compared as it arrives.  There are no ids or lengths to
 * resynchronise on: a difference, or bytes before their request was sent
 * (an echo may return part of a request still being written, no more),
 * loses the stream and closes the connection.
 */
static int
bconn_feed_stream(struct bench_thread *t, struct bench_conn *c,
    const uint8_t *p, size_t len, uint64_t now)
{
	const struct bench_run	*run = t->run;
	const uint8_t		*want;
	uint32_t		 limit, off, n, i;

	while (len > 0) {
		if (c->head != c->sent)
			limit = run->alen;
		else
			limit = run->o.proto == BENCH_RAW ? c->woff : 0;
		if (c->boff >= limit) {
			c->capture = t->err[0] == '\0';
			bench_error(t, "connection %d: %zu byte(s) beyond what "
			    "was sent, after %" PRIu32 " answer(s): ", c->num,
			    len, c->head - 1);
			goto lost;
		}
		off = c->boff;
		if (off < run->apre.len) {
			want = run->apre.b + off;
			n = run->apre.len - off;
		} else if ((off -= run->apre.len) < run->vlen) {
			want = run->pay + bench_voff(c, c->head) + off;
			n = run->vlen - off;
		} else {
			off -= run->vlen;
			want = run->apost.b + off;
			n = run->apost.len - off;
		}
		if (n > len)
			n = (uint32_t)len;
		if (n > limit - c->boff)
			n = limit - c->boff;
		if (memcmp(p, want, n) != 0) {
			for (i = 0; p[i] == want[i]; i++)
				;
			c->capture = t->err[0] == '\0';
			bench_error(t, "connection %d: request %" PRIu32 ": "
			    "answer byte %" PRIu32 " differs from the expected "
			    "one (0x%02x, not 0x%02x); from there: ", c->num,
			    c->head, c->boff + i, p[i], want[i]);
			p += i;
			len -= i;
			goto lost;
		}
		c->boff += n;
		p += n;
		len -= n;
		if (c->boff == run->alen)
			bconn_answered(t, c, now, 2 * (uint64_t)run->vlen);
	}
	return (0);
lost:
	if (c->capture)
		bench_error_text(t, p, len < 64 ? len : 64);
	c->capture = 0;
	t->bad++;
	bconn_close(t, c);
	return (-1);
}

/*
 * TLS: read what has arrived into t->rbuf.  Returns the bytes, 0 at the
 * server's close, -1 with errno EAGAIN when it must wait, or -2 with the
 * connection lost.
 */
static ssize_t
bconn_tls_read(struct bench_thread *t, struct bench_conn *c)
{
	char	why[BENCH_ERRLEN];
	ssize_t	n;

	n = client_tls_read(c->ssl, t->rbuf, BENCH_RBUF, t->run->addr, NULL,
	    why, sizeof(why));
	if (n == -2)
		bconn_lost(t, c, why);
	return (n);
}

/*
 * Read what arrived, verify it and refill the pipeline (closed loop).  A
 * full buffer means more is waiting: read again, a few times, before
 * going back to epoll.  Over TLS, read on while OpenSSL holds input (read
 * ahead, which epoll does not see), until it waits for the socket.
 */
static void
bconn_read(struct bench_thread *t, struct bench_conn *c)
{
	ssize_t		n;
	uint64_t	now = 0;
	int		round, rc;

	for (round = 0; round < BENCH_READS ||
	    (c->ssl != NULL && SSL_has_pending(c->ssl)); round++) {
		if (c->ssl != NULL) {
			if ((n = bconn_tls_read(t, c)) == -2)
				return;
			if (n == -1)
				break;
		} else
			n = read(c->fd, t->rbuf, BENCH_RBUF);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				bconn_lost(t, c, strerror(errno));
				return;
			}
			break;
		}
		if (n == 0) {
			bconn_lost(t, c, "closed by the server");
			return;
		}
		now = mono_us();
		if (t->run->o.proto == BENCH_MSGD)
			rc = bconn_feed(t, c, t->rbuf, (size_t)n, now);
		else
			rc = bconn_feed_stream(t, c, t->rbuf, (size_t)n, now);
		if (rc == -1 || bconn_send(t, c, now) == -1)
			return;
		/*
		 * The socket is empty (a short read; over TLS, nothing read
		 * ahead): skip the read that would say EAGAIN.
		 */
		if (c->ssl == NULL ? n < BENCH_RBUF : !SSL_has_pending(c->ssl))
			break;
	}
	if (now != 0)
		bconn_finish(t, c, now);
}

/* Give up on every connection still open: the answers stopped coming. */
static void __attribute__((format(printf, 2, 3)))
bench_stall(struct bench_thread *t, const char *fmt, ...)
{
	va_list		ap;
	char		why[BENCH_ERRLEN];
	uint64_t	inflight = 0;
	size_t		i;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	for (i = 0; i < t->nconns; i++)
		if (t->conns[i].fd != -1)
			inflight += t->conns[i].tail - t->conns[i].head;
	bench_error(t, "%s; %" PRIu64 " request(s) in flight on %zu "
	    "connection(s)", why, inflight, t->active);
	for (i = 0; i < t->nconns; i++) {
		if (t->conns[i].fd == -1)
			continue;
		t->stalled++;
		bconn_close(t, &t->conns[i]);
	}
}

/*
 * How long epoll may sleep before a guard trips: no answer for timeout_ms,
 * or (-d) answers still missing timeout_ms after the deadline.
 */
static int
bench_wait_ms(const struct bench_thread *t, uint64_t now)
{
	const struct bench_run	*run = t->run;
	uint64_t		 limit, tmo = (uint64_t)run->timeout_ms * 1000;

	limit = t->last_us + tmo;
	if (run->deadline_us != 0 && run->deadline_us + tmo < limit)
		limit = run->deadline_us + tmo;
	if (now >= limit)
		return (0);
	return ((int)((limit - now + 999) / 1000));
}

/* One thread's run: an epoll loop until every connection is done. */
static void *
bench_thread_main(void *arg)
{
	struct bench_thread	*t = arg;
	const struct bench_run	*run = t->run;
	struct epoll_event	 ev[BENCH_EVENTS];
	struct bench_conn	*c;
	uint64_t		 now;
	size_t			 i;
	int			 n, j;

	t->last_us = run->start_us;
	for (i = 0; i < t->nconns; i++) {
		c = &t->conns[i];
		now = mono_us();
		if (bconn_send(t, c, now) == 0)
			bconn_finish(t, c, now);
	}
	while (t->active > 0) {
		now = mono_us();
		if (bench_wait_ms(t, now) == 0) {
			if (now < t->last_us + (uint64_t)run->timeout_ms * 1000)
				bench_stall(t, "answers still missing %d ms "
				    "after the end of the run", run->timeout_ms);
			else
				bench_stall(t, "stalled: no answer for %d ms",
				    run->timeout_ms);
			break;
		}
		n = epoll_wait(t->ep, ev, BENCH_EVENTS, bench_wait_ms(t, now));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			bench_stall(t, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (j = 0; j < n; j++) {
			c = ev[j].data.ptr;
			if (c->fd != -1 && (ev[j].events & EPOLLOUT))
				(void)bconn_write(t, c);
			if (c->fd != -1 && (ev[j].events &
			    (EPOLLIN | EPOLLERR | EPOLLHUP)))
				bconn_read(t, c);
		}
	}
	return (NULL);
}

/* Give thread i its share of connections, ring slots and requests. */
static int
bench_thread_init(struct bench_run *run, struct bench_thread *t, size_t i,
    struct bench_conn *conns)
{
	const struct bench_opts	*o = &run->o;
	size_t			 first, last, k, ring = 1;
	struct epoll_event	 ev;

	first = (size_t)(o->conns * i / o->threads);
	last = (size_t)(o->conns * (i + 1) / o->threads);
	t->run = run;
	t->conns = conns + first;
	t->nconns = last - first;
	t->quota = o->requests * (i + 1) / o->threads -
	    o->requests * i / o->threads;
	hist_init(&t->hist);
	while (ring < o->pipeline)
		ring <<= 1;
	if ((t->ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		fprintf(stderr, "msgctl bench: epoll_create1: %s\n",
		    strerror(errno));
		return (-1);
	}
	if ((t->rbuf = malloc(BENCH_RBUF)) == NULL ||
	    (t->wbuf = malloc(BENCH_WBUF)) == NULL ||
	    (t->slots = calloc(t->nconns, ring * sizeof(*t->slots))) == NULL) {
		fprintf(stderr, "msgctl bench: out of memory\n");
		return (-1);
	}
	for (k = 0; k < t->nconns; k++) {
		t->conns[k].ring = t->slots + k * ring;
		t->conns[k].mask = (uint32_t)(ring - 1);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = &t->conns[k];
		if (epoll_ctl(t->ep, EPOLL_CTL_ADD, t->conns[k].fd, &ev) ==
		    -1) {
			fprintf(stderr, "msgctl bench: epoll_ctl: %s\n",
			    strerror(errno));
			return (-1);
		}
		t->active++;
	}
	return (0);
}

/* --ramp: send the first request, in clear or over TLS.  0 or -1. */
static int
bench_hello_send(const struct bench_run *run, const struct bench_conn *c,
    const void *q, size_t qn, char *cause, size_t len)
{
	size_t	w;
	int	rc;

	if (c->ssl == NULL) {
		if (send(c->fd, q, qn, MSG_NOSIGNAL) == (ssize_t)qn)
			return (0);
		snprintf(cause, len, "send: %s", strerror(errno));
		return (-1);
	}
	/* After the handshake the socket's buffer is empty too. */
	errno = 0;
	if ((rc = SSL_write_ex(c->ssl, q, qn, &w)) == 1 && w == qn)
		return (0);
	(void)client_tls_failure(c->ssl, rc, "send to", run->addr, cause, len);
	return (-1);
}

/*
 * --ramp: read part of the first answer, in clear or over TLS, as recv:
 * bytes, 0 at the close, -1 with errno (EAGAIN: wait); -2 with cause.
 */
static ssize_t
bench_hello_recv(const struct bench_run *run, const struct bench_conn *c,
    void *buf, size_t n, char *cause, size_t len)
{
	if (c->ssl == NULL)
		return (recv(c->fd, buf, n, 0));
	return (client_tls_read(c->ssl, buf, n, run->addr, NULL, cause, len));
}

/*
 * --ramp: one request and its answer on a new connection (an msgd or RESP
 * PING, one echoed byte), so that the server has taken the connection in
 * and served it before the next one opens.  0, or -1 with cause.
 */
static int
bench_hello(const struct bench_run *run, const struct bench_conn *c,
    int timeout_ms, char *cause, size_t len)
{
	uint8_t		 q[MSG_HDR_LEN], a[MSG_HDR_LEN + 4], got[sizeof(a)];
	size_t		 qn, an, off = 0;
	uint64_t	 deadline = mono_ms() + (uint64_t)timeout_ms;
	struct pollfd	 pfd;
	ssize_t		 r;

	if (run->o.proto == BENCH_MSGD) {
		qn = msg_encode_request(q, MSG_OP_PING, 0, 0, 0);
		an = msg_encode_response(a, MSG_OP_PING, MSG_ST_OK, 0, 0, 4);
		memcpy(a + an, "PONG", 4);
		an += 4;
	} else if (run->o.proto == BENCH_RESP) {
		qn = 6;
		an = 7;
		memcpy(q, "PING\r\n", qn);
		memcpy(a, "+PONG\r\n", an);
	} else {
		q[0] = a[0] = 'x';
		qn = an = 1;
	}
	/* A new socket's send buffer is empty: the few bytes go at once. */
	if (bench_hello_send(run, c, q, qn, cause, len) == -1)
		return (-1);
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	while (off < an) {
		if ((r = bench_hello_recv(run, c, got + off, an - off, cause,
		    len)) == -2)
			return (-1);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			snprintf(cause, len, "closed before its first "
			    "answer%s%s", r == 0 ? "" : ": ",
			    r == 0 ? "" : strerror(errno));
			return (-1);
		}
		if (mono_ms() >= deadline || poll(&pfd, 1,
		    (int)(deadline - mono_ms())) == 0) {
			snprintf(cause, len, "no answer in %d ms", timeout_ms);
			return (-1);
		}
	}
	if (memcmp(got, a, an) != 0) {
		snprintf(cause, len, "unexpected answer to its first request");
		return (-1);
	}
	return (0);
}

/* --ramp: the pause between two connections. */
static void
bench_pause(uint64_t ms)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* TLS: the handshake of a new connection, before the clock starts. */
static int
bench_tls_open(const struct bench_run *run, struct bench_conn *c,
    int timeout_ms, char *cause, size_t len)
{
	if ((c->ssl = client_tls_new(run->tls_ctx, c->fd, run->tls_name,
	    !run->tls->insecure, cause, len)) == NULL)
		return (-1);
	return (client_tls_connect(c->ssl, c->fd, timeout_ms, run->addr,
	    cause, len));
}

/*
 * Open every connection before the clock starts, with --ramp one at a
 * time; the first failure ends it.
 */
static int
bench_connect(struct bench_run *run, const char *addr, int timeout_ms,
    struct bench_conn *conns, size_t n)
{
	struct net_addr	na;
	char		cause[256];
	size_t		i;

	if (net_parse_addr(addr, &na, cause, sizeof(cause)) == -1 ||
	    (run->tls != NULL && client_tls_name(run->tls, &na, run->tls_name,
	    sizeof(run->tls_name), cause, sizeof(cause)) == -1)) {
		fprintf(stderr, "msgctl bench: %s\n", cause);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		conns[i].num = (int)i;
		conns[i].salt = (uint32_t)(i * 61 % BENCH_PAD);
		conns[i].head = conns[i].sent = conns[i].tail = 1;
		if ((conns[i].fd = net_connect(&na, timeout_ms, cause,
		    sizeof(cause))) == -1 || (run->tls_ctx != NULL &&
		    bench_tls_open(run, &conns[i], timeout_ms, cause,
		    sizeof(cause)) == -1) || (run->o.ramp_set &&
		    bench_hello(run, &conns[i], timeout_ms, cause,
		    sizeof(cause)) == -1)) {
			fprintf(stderr, "msgctl bench: connection %zu: %s\n",
			    i, cause);
			return (-1);
		}
		if (run->o.ramp_set && run->o.ramp > 0 && i + 1 < n)
			bench_pause(run->o.ramp);
	}
	return (0);
}

/*
 * --reconnect: the answer to one request on a fresh connection, checked
 * like the loop's (status, opcode, id, value).  0, or -1 with the error.
 */
static int
bench_reconnect_check_answer(struct bench_thread *t,
    const struct msgdc_reply *r, int num)
{
	const struct bench_run	*run = t->run;
	/* The value sent is the payload's first vlen bytes (offset 0). */
	const uint8_t		*want = run->aval;
	size_t			 wlen = run->aflen - MSG_HDR_LEN;

	if (r->status != MSG_ST_OK) {
		bench_error(t, "connection %d: answered %s: ", num,
		    msg_status_name(r->status));
		bench_error_text(t, r->val, r->vlen);
		return (-1);
	}
	if (r->opcode != run->o.op || r->vlen != wlen ||
	    memcmp(r->val, want, wlen) != 0) {
		bench_error(t, "connection %d: answer op 0x%02x, %zu bytes: "
		    "not the one expected", num, r->opcode, r->vlen);
		return (-1);
	}
	return (0);
}

/*
 * --reconnect: one thread per connection, which connects (and with TLS
 * makes a full handshake, or with --tls-resume resumes the session of
 * the connection before), sends one request, reads and checks its answer
 * and closes, until the quota or the clock runs out.  The latency is the
 * whole of it.  The first connection was opened before the clock started.
 */
static void *
bench_reconnect_main(void *arg)
{
	struct bench_thread	*t = arg;
	const struct bench_run	*run = t->run;
	struct msgdc_reply	 r;
	uint64_t		 t0, now;
	int			 num = (int)(t - t->run->th0), rc;

	t->last_us = run->start_us;
	for (now = mono_us(); bench_take(t, now); ) {
		t0 = now;
		if (!run->o.tls_resume)
			msgdc_tls_forget(t->cl);
		if ((rc = msgdc_reconnect(t->cl)) == CLIENT_OK &&
		    msgdc_tls_resumed(t->cl))
			t->resumed++;
		if (rc == CLIENT_OK)
			rc = msgdc_call(t->cl, run->o.op, NULL, 0, run->pay,
			    run->vlen, &r);
		if (rc != CLIENT_OK) {
			bench_error(t, "connection %d: %s", num, msgdc_errstr(t->cl));
			t->lost++;
			break;
		}
		now = mono_us();
		hist_add(&t->hist, now - t0);
		t->answers++;
		t->last_us = now;
		if (bench_reconnect_check_answer(t, &r, num) == -1) {
			t->bad++;
			break;
		}
		t->bytes += (uint64_t)run->vlen + r.vlen;
	}
	msgdc_free(t->cl);
	t->cl = NULL;
	return (NULL);
}

/* --reconnect: each thread's first connection, before the clock. */
static int
bench_reconnect_open(struct bench_run *run, struct bench_thread *th,
    const char *addr, int timeout_ms)
{
	struct msgdc_reply	r;
	size_t			i;
	int			rc;

	run->th0 = th;
	for (i = 0; i < run->o.threads; i++) {
		th[i].run = run;
		th[i].quota = run->o.requests * (i + 1) / run->o.threads -
		    run->o.requests * i / run->o.threads;
		hist_init(&th[i].hist);
		if ((th[i].cl = client_msgdc_open(addr, timeout_ms,
		    CLIENT_MAX_RESP_DEFAULT, run->tls)) == NULL)
			rc = CLIENT_ENOMEM;
		else
			rc = msgdc_err(th[i].cl);
		if (rc == CLIENT_OK)
			rc = msgdc_call(th[i].cl, MSG_OP_PING, NULL, 0, NULL,
			    0, &r);
		if (rc != CLIENT_OK) {
			fprintf(stderr, "msgctl bench: connection %zu: %s\n",
			    i, th[i].cl != NULL ? msgdc_errstr(th[i].cl) : "out of memory");
			do {
				msgdc_free(th[i].cl);
			} while (i-- > 0);
			return (-1);
		}
	}
	return (0);
}

/* Sum the threads' results; the run ends with the latest answer. */
static void
bench_total(struct bench_thread *th, size_t n, struct bench_total *tot)
{
	size_t	i;

	memset(tot, 0, sizeof(*tot));
	hist_init(&tot->hist);
	for (i = 0; i < n; i++) {
		hist_merge(&tot->hist, &th[i].hist);
		tot->answers += th[i].answers;
		tot->bad += th[i].bad;
		tot->lost += th[i].lost;
		tot->stalled += th[i].stalled;
		tot->unanswered += th[i].unanswered;
		tot->bytes += th[i].bytes;
		tot->resumed += th[i].resumed;
		if (th[i].last_us > tot->end_us)
			tot->end_us = th[i].last_us;
		if (th[i].err[0] != '\0' &&
		    (tot->err == NULL || th[i].err_us < tot->err_us)) {
			tot->err = th[i].err;
			tot->err_us = th[i].err_us;
		}
	}
}

/* Print the results: four lines of text, or one JSON object. */
static void
bench_report(const struct bench_run *run, const struct bench_total *tot)
{
	const struct bench_opts	*o = &run->o;
	const char		*name = msg_op_name(o->op);
	const char		*proto = bench_proto_names[o->proto];
	uint64_t		 errors = tot->bad + tot->lost + tot->stalled;
	/* The value size asked for: what goes out, or (GET) comes back. */
	uint32_t		 vbytes = run->vlen > run->avlen ?
				     run->vlen : run->avlen;
	double			 secs, rps, mbps;
	size_t			 i;

	secs = tot->end_us > run->start_us ?
	    (double)(tot->end_us - run->start_us) / 1e6 : 1e-6;
	rps = (double)tot->answers / secs;
	mbps = (double)tot->bytes / 1e6 / secs;
	if (o->json) {
		printf("{\"op\":\"%s\",\"protocol\":\"%s\",\"value_bytes\":%"
		    PRIu32 ",\"connections\":%" PRIu64 ",\"pipeline\":%"
		    PRIu64 ",\"threads\":%" PRIu64 ",\"requests\":%" PRIu64
		    ",\"seconds\":%.6f,\"requests_per_s\":%.1f"
		    ",\"mb_per_s\":%.3f,\"value_bytes_moved\":%" PRIu64
		    ",\"latency_us\":{", name, proto, vbytes,
		    o->conns, o->pipeline, o->threads, tot->answers, secs, rps,
		    mbps, tot->bytes);
		for (i = 0; i < nitems(bench_pcts); i++)
			printf("\"%s\":%" PRIu64 ",", bench_pcts[i].name,
			    hist_percentile(&tot->hist, bench_pcts[i].p));
		if (o->reconnect)
			printf("\"max\":%" PRIu64 ",\"mean\":%" PRIu64 "},"
			    "\"reconnect\":true,\"tls\":%s,"
			    "\"handshakes_per_s\":%.1f,\"resumed\":%" PRIu64
			    ",", hist_max(&tot->hist), hist_mean(&tot->hist),
			    run->tls != NULL ? "true" : "false", rps,
			    tot->resumed);
		else
			printf("\"max\":%" PRIu64 ",\"mean\":%" PRIu64 "},"
			    "\"tls\":%s,", hist_max(&tot->hist),
			    hist_mean(&tot->hist),
			    run->tls != NULL ? "true" : "false");
		printf(
		    "\"errors\":%" PRIu64 ",\"bad_answers\":%" PRIu64
		    ",\"lost_connections\":%" PRIu64
		    ",\"stalled_connections\":%" PRIu64
		    ",\"unanswered\":%" PRIu64 "}\n", errors,
		    tot->bad, tot->lost, tot->stalled, tot->unanswered);
	} else {
		printf("%s%s%s %" PRIu32 " B, %" PRIu64 " connections, "
		    "pipeline %" PRIu64 ", %" PRIu64 " thread(s): %" PRIu64
		    " requests in %.3f s\n",
		    o->proto == BENCH_MSGD ? "" : proto,
		    o->proto == BENCH_MSGD ? "" : " ", name, vbytes,
		    o->conns, o->pipeline, o->threads, tot->answers, secs);
		printf("requests/s: %.0f   MB/s: %.2f\n", rps, mbps);
		if (o->reconnect)
			printf("handshakes/s: %.0f (%s, a new connection per "
			    "request; %" PRIu64 " of %" PRIu64 " resumed)\n",
			    rps, run->tls != NULL ? "TLS" : "TCP, no TLS",
			    tot->resumed, tot->answers);
		printf("latency us:");
		for (i = 0; i < nitems(bench_pcts); i++)
			printf(" %s %" PRIu64 " ", bench_pcts[i].name,
			    hist_percentile(&tot->hist, bench_pcts[i].p));
		printf(" max %" PRIu64 "\n", hist_max(&tot->hist));
		printf("errors: %" PRIu64, errors);
		if (errors > 0)
			printf(" (%" PRIu64 " bad answer(s), %" PRIu64 " lost "
			    "connection(s), %" PRIu64 " stalled; %" PRIu64
			    " request(s) unanswered)", tot->bad, tot->lost,
			    tot->stalled, tot->unanswered);
		printf("\n");
	}
	fflush(stdout);
	if (tot->err != NULL)
		fprintf(stderr, "msgctl bench: first error: %s\n", tot->err);
}

/* Run fn in n threads; thread 0 is this one. */
static int
bench_threads(struct bench_thread *th, size_t n, void *(*fn)(void *))
{
	size_t	i, started;
	int	rc, ret = 0;

	for (started = 1; started < n; started++) {
		rc = pthread_create(&th[started].tid, NULL, fn, &th[started]);
		if (rc != 0) {
			fprintf(stderr, "msgctl bench: pthread_create: %s\n",
			    strerror(rc));
			ret = -1;
			break;
		}
	}
	if (ret == 0)
		(void)fn(&th[0]);
	for (i = 1; i < started; i++)
		pthread_join(th[i].tid, NULL);
	return (ret);
}

/* Release what bench_main set up, whatever stage it reached. */
static void
bench_free(struct bench_run *run, struct bench_thread *th,
    struct bench_conn *conns)
{
	size_t	i;

	for (i = 0; conns != NULL && i < run->o.conns; i++) {
		bconn_tls_free(&conns[i]);
		if (conns[i].fd != -1)
			close(conns[i].fd);
	}
	for (i = 0; th != NULL && i < run->o.threads; i++) {
		if (th[i].ep != -1)
			close(th[i].ep);
		free(th[i].rbuf);
		free(th[i].wbuf);
		free(th[i].slots);
	}
	free(th);
	free(conns);
	free(run->pay);
	free(run->upay);
	SSL_CTX_free(run->tls_ctx);
}

/*
 * TLS for the run: the context the loop's connections share (--reconnect
 * makes its own per thread, through the client library), and the
 * combinations that cannot work.  0, or -1 with the problem printed.
 */
static int
bench_tls_setup(struct bench_run *run, const struct client_tls *tls,
    const char *addr)
{
	char	err[256];

	run->addr = addr;
	if (tls == NULL) {
		if (run->o.tls_resume) {
			fprintf(stderr, "msgctl bench: --tls-resume needs TLS "
			    "(--tls)\n");
			return (-1);
		}
		return (0);
	}
	run->tls = tls;
	/* OpenSSL writes with write(2): a lost server is an error, not a
	 * SIGPIPE that ends the run. */
	signal(SIGPIPE, SIG_IGN);
	if (run->o.reconnect)
		return (0);
	if ((run->tls_ctx = client_tls_ctx(tls, err, sizeof(err))) == NULL) {
		fprintf(stderr, "msgctl bench: %s\n", err);
		return (-1);
	}
	/*
	 * One read(2) for what the socket has, not two per record: the load
	 * generator should cost no more than it must.  bconn_read reads on
	 * while OpenSSL holds input (epoll cannot see it).  (Not in
	 * client.c: a library caller may poll the socket before reading.)
	 */
	SSL_CTX_set_read_ahead(run->tls_ctx, 1);
	return (0);
}

/* msgctl bench: parse, connect everything, run, verify, report. */
int
bench_main(int argc, char **argv, const char *addr, int timeout_ms,
    const struct client_tls *tls)
{
	struct bench_run	 run;
	struct bench_total	 tot;
	struct bench_thread	*th = NULL;
	struct bench_conn	*conns = NULL;
	size_t			 i;
	int			 rc;

	memset(&run, 0, sizeof(run));
	if ((rc = bench_options(argc, argv, &run.o)) != EX_OK) {
		if (rc == -1) {
			bench_usage(stdout);
			return (EX_OK);
		}
		return (rc);
	}
	if (bench_fd_limit(run.o.conns) == -1 ||
	    bench_tls_setup(&run, tls, addr) == -1)
		return (EX_USAGE);
	run.timeout_ms = timeout_ms;
	/* PING sends and gets no -s value, PUT sends one, GET gets one. */
	run.vlen = run.o.op == MSG_OP_PING || run.o.op == MSG_OP_GET ? 0 :
	    (uint32_t)run.o.size;
	run.avlen = run.o.op == MSG_OP_PING || run.o.op == MSG_OP_PUT ? 0 :
	    (uint32_t)run.o.size;
	run.klen = run.o.key != NULL ? (uint32_t)strlen(run.o.key) : 0;
	bench_templates(&run);
	rc = EX_FAIL;
	if (bench_payload(&run) == -1)
		goto done;
	bench_answer_template(&run);
	if ((conns = calloc(run.o.conns, sizeof(*conns))) == NULL ||
	    (th = calloc(run.o.threads, sizeof(*th))) == NULL) {
		fprintf(stderr, "msgctl bench: out of memory\n");
		goto done;
	}
	for (i = 0; i < run.o.conns; i++)
		conns[i].fd = -1;
	for (i = 0; i < run.o.threads; i++)
		th[i].ep = -1;
	if (run.o.reconnect) {
		if (bench_reconnect_open(&run, th, addr, timeout_ms) == -1) {
			rc = EX_NOCONN;
			goto done;
		}
	} else {
		if (bench_connect(&run, addr, timeout_ms, conns,
		    run.o.conns) == -1) {
			rc = EX_NOCONN;
			goto done;
		}
		for (i = 0; i < run.o.threads; i++)
			if (bench_thread_init(&run, &th[i], i, conns) == -1)
				goto done;
	}

	run.start_us = mono_us();
	if (run.o.seconds != 0)
		run.deadline_us = run.start_us + run.o.seconds * 1000000;
	if (bench_threads(th, run.o.threads, run.o.reconnect ?
	    bench_reconnect_main : bench_thread_main) == -1)
		goto done;
	bench_total(th, run.o.threads, &tot);
	bench_report(&run, &tot);
	rc = tot.bad + tot.lost + tot.stalled > 0 ? EX_FAIL : EX_OK;
done:
	bench_free(&run, th, conns);
	return (rc);
}
