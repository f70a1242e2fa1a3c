/*
 * exporter.c: the metrics exporter process (exporter.h).
 *
 * HTTP is libmicrohttpd's: request parsing, header limits, keep-alive,
 * HEAD and the error answers to malformed requests are a well-kept
 * library's, not ours.  It runs without threads of its own (MHD_USE_EPOLL,
 * no internal thread): this process's one loop polls MHD's epoll
 * descriptor beside its signalfd and calls MHD_run(), so the seccomp
 * filter covers the only thread there is, signals are read where the
 * requests are, and the heartbeat to the master comes from the loop that
 * serves (a wedged loop stops beating and is killed).  Every connection
 * is non-blocking in that loop: a slow client holds one of
 * EXPORTER_CONN_MAX connections until EXPORTER_TIMEOUT_S, never the loop.
 * libmicrohttpd's own timeout is one of inactivity, which a byte now and
 * then puts off for ever; so the loop also gives each connection
 * EXPORTER_TIMEOUT_S for a whole request, from its open or its last
 * answer (ex_deadlines), or else cuts it.
 *
 * A scrape copies the stats segment (stats_snapshot: no lock a worker
 * could hold) and renders it with msgctl stats --prometheus's renderer,
 * followed by the exporter's own msgd_http_* counters.
 */
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "exporter.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "sandbox.h"
#include "sha256.h"
#include "stats_render.h"
#include "stats_snap.h"
#include "util.h"
#include "worker.h"

struct exporter {
	const struct msgd_conf	*conf;
	struct MHD_Daemon	*d;
	struct stats_seg	 seg;
	struct metrics_counters	 mc;
	int			 restricted;	/* protected mode: remote peers
						   get /health only */
	int			 active;	/* connections open */
	int			 sigfd;
	int			 beat;
	TAILQ_HEAD(, ex_conn)	 conns;		/* open, oldest first */
};

/*
 * What the exporter keeps per connection: did it ever answer, and since
 * when does its request's time run.
 */
struct ex_conn {
	int			answered;
	int			fd;
	int			cut;	/* shut down: libmicrohttpd closes it */
	uint64_t		since;	/* opened or last answered, mono ms */
	TAILQ_ENTRY(ex_conn)	entry;
};

static const int ex_ignored[] = { SIGHUP, SIGPIPE, SIGTTIN, SIGTTOU };
static const int ex_caught[] = { SIGTERM, SIGINT, SIGQUIT, SIGUSR1 };

/*
 * Signals, read from a signalfd: SIGTERM, SIGINT, SIGQUIT stop, SIGUSR1
 * reopens the log.  The master's are blocked since fork: the mask is
 * swapped at once, once the others are ignored.
 */
static int
ex_signals(void)
{
	sigset_t	set;
	size_t		i;
	int		fd;

	for (i = 0; i < nitems(ex_ignored); i++)
		signal(ex_ignored[i], SIG_IGN);
	sigemptyset(&set);
	for (i = 0; i < nitems(ex_caught); i++)
		sigaddset(&set, ex_caught[i]);
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    sigprocmask(SIG_SETMASK, &set, NULL) == -1)
		fatal("signals");
	return (fd);
}

/* libmicrohttpd's messages (a refused or broken connection): debug. */
static void
ex_mhd_log(void *arg, const char *fmt, va_list ap)
{
	char	msg[256];
	size_t	n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("http: %s", msg);
}

/*
 * A new connection: the allow list (as for the protocol listeners) and
 * the connection limit, each refusal counted.
 */
static enum MHD_Result
ex_accept(void *arg, const struct sockaddr *sa, socklen_t len)
{
	struct exporter	*ex = arg;
	struct net_peer	 peer;

	net_peer_set(&peer, sa, len);
	if (!net_peer_allowed(ex->conf->allow, ex->conf->nallow, &peer)) {
		ex->mc.refused_allow++;
		return (MHD_NO);
	}
	if (ex->active >= EXPORTER_CONN_MAX) {
		ex->mc.refused_limit++;
		return (MHD_NO);
	}
	return (MHD_YES);
}

/*
 * A connection opens or closes: count it, and those never answered;
 * keep it on the list whose request deadlines the loop enforces.
 */
static void
ex_conn_note(void *arg, struct MHD_Connection *c, void **ctx,
    enum MHD_ConnectionNotificationCode what)
{
	const union MHD_ConnectionInfo	*ci;
	struct exporter			*ex = arg;
	struct ex_conn			*ec = *ctx;

	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		ex->active++;
		ex->mc.connections++;
		if ((ec = calloc(1, sizeof(*ec))) != NULL) {
			ci = MHD_get_connection_info(c,
			    MHD_CONNECTION_INFO_CONNECTION_FD);
			ec->fd = ci != NULL ? ci->connect_fd : -1;
			ec->since = mono_ms();
			TAILQ_INSERT_TAIL(&ex->conns, ec, entry);
		}
		*ctx = ec;
		return;
	}
	ex->active--;
	if (ec == NULL || !ec->answered)
		ex->mc.unanswered++;
	if (ec != NULL)
		TAILQ_REMOVE(&ex->conns, ec, entry);
	free(ec);
	*ctx = NULL;
}

/*
 * Cut the connections whose request (or the wait for the next one) has
 * taken EXPORTER_TIMEOUT_S, however slowly their bytes came: shutdown(2)
 * ends both directions, the client sees the end, and libmicrohttpd,
 * woken by the hang-up, closes the connection (counted unanswered if it
 * never was).  A connection without a descriptor has only
 * libmicrohttpd's inactivity timeout.  Returns the ms until the next
 * deadline, at most max.
 */
static int
ex_deadlines(struct exporter *ex, uint64_t now, int max)
{
	const uint64_t	 limit = (uint64_t)EXPORTER_TIMEOUT_S * 1000;
	struct ex_conn	*ec;
	int		 wait = max;

	TAILQ_FOREACH(ec, &ex->conns, entry) {
		if (ec->cut || ec->fd == -1)
			continue;
		if (now - ec->since >= limit) {
			(void)shutdown(ec->fd, SHUT_RDWR);
			ec->cut = 1;
		} else if (ec->since + limit - now < (uint64_t)wait)
			wait = (int)(ec->since + limit - now);
	}
	return (wait);
}

/*
 * Queue an answer (body copied) with its content type and an optional
 * extra header, and count it.
 */
static enum MHD_Result
ex_reply(struct exporter *ex, struct MHD_Connection *c, unsigned int code,
    const char *type, const void *body, size_t len, const char *hname,
    const char *hvalue)
{
	const union MHD_ConnectionInfo	*ci;
	struct MHD_Response		*r;
	struct ex_conn			*ec;
	enum MHD_Result			 rc;
	int				 i;

	if ((r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
	    MHD_RESPMEM_MUST_COPY)) == NULL)
		return (MHD_NO);
	(void)MHD_add_response_header(r, "Content-Type", type);
	(void)MHD_add_response_header(r, "Cache-Control", "no-store");
	if (hname != NULL)
		(void)MHD_add_response_header(r, hname, hvalue);
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	if (rc == MHD_YES) {
		if ((i = metrics_code_index(code)) != -1)
			ex->mc.requests[i]++;
		ci = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		if (ci != NULL && (ec = ci->socket_context) != NULL) {
			ec->answered = 1;
			ec->since = mono_ms();	/* the next request's time */
		}
	}
	return (rc);
}

/* A short text answer (errors). */
static enum MHD_Result
ex_text(struct exporter *ex, struct MHD_Connection *c, unsigned int code,
    const char *text, const char *hname, const char *hvalue)
{
	return (ex_reply(ex, c, code, "text/plain; charset=utf-8", text,
	    strlen(text), hname, hvalue));
}

/*
 * GET /health: the master's state from the segment's header, as a code
 * (200 serving, 503 otherwise) and {"status": "..."}.
 */
static enum MHD_Result
ex_health(struct exporter *ex, struct MHD_Connection *c)
{
	struct stats_snap	 sn;
	const char		*status;
	char			 body[64], cause[128];
	int			 code;

	if (stats_snapshot(&ex->seg, &sn, cause, sizeof(cause)) == -1) {
		status = "unknown";
		code = 503;
	} else {
		code = metrics_health(&sn.hdr, sn.now_ms, &status);
		stats_snap_free(&sn);
	}
	snprintf(body, sizeof(body), "{\"status\": \"%s\"}\n", status);
	return (ex_reply(ex, c, (unsigned int)code, "application/json", body,
	    strlen(body), NULL, NULL));
}

/*
 * May this client scrape?  A configured token must come as "Bearer
 * <token>" (401 otherwise), as the protocol's STATS needs AUTH; without
 * one, protected mode keeps remote peers to /health (403).  0 if so.
 */
static unsigned int
ex_may_scrape(struct exporter *ex, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo	*ci;
	const char			*h;
	uint8_t				 digest[SHA256_DIGEST_LEN];
	struct net_peer			 peer;

	if (ex->conf->auth_set) {
		h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    "Authorization");
		if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
			return (401);
		for (h += 7; *h == ' '; h++)
			;
		sha256(h, strlen(h), digest);
		return (sha256_equal(digest, ex->conf->auth_digest) ? 0 : 401);
	}
	if (!ex->restricted)
		return (0);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return (403);
	net_peer_set(&peer, ci->client_addr, sizeof(struct sockaddr_storage));
	return (net_peer_is_loopback(&peer) ? 0 : 403);
}

/*
 * GET /metrics: the segment as msgctl stats --prometheus renders it, the
 * exporter's counters after it; OpenMetrics when the Accept header asks
 * for it.
 */
static enum MHD_Result
ex_metrics(struct exporter *ex, struct MHD_Connection *c)
{
	struct stats_snap	 sn;
	struct buf		 text, om;
	const struct buf	*out = &text;
	const char		*accept;
	char			 cause[128];
	enum MHD_Result		 rc;
	int			 want_om, bad;

	if (stats_snapshot(&ex->seg, &sn, cause, sizeof(cause)) == -1) {
		log_debug("/metrics: %s", cause);
		return (ex_text(ex, c, 503, "statistics unavailable\n", NULL,
		    NULL));
	}
	memset(&text, 0, sizeof(text));
	memset(&om, 0, sizeof(om));
	bad = stats_render_prometheus(&sn, &text) == -1 ||
	    metrics_render_http(&ex->mc, &text) == -1;
	stats_snap_free(&sn);
	accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
	want_om = metrics_accept_openmetrics(accept);
	if (!bad && want_om) {
		bad = metrics_openmetrics(buf_head(&text), buf_used(&text),
		    &om) == -1;
		out = &om;
	}
	if (bad)
		rc = ex_text(ex, c, 500, "out of memory\n", NULL, NULL);
	else
		rc = ex_reply(ex, c, 200, want_om ? METRICS_CT_OM :
		    METRICS_CT_TEXT, buf_head(out), buf_used(out), "Vary",
		    "Accept");
	buf_release(&text);
	buf_release(&om);
	return (rc);
}

/*
 * Every request: GET or HEAD (libmicrohttpd leaves out HEAD's body) of
 * /metrics or /health; other methods 405, other paths 404.  A request
 * with a body is answered at once, with its headers: the body is never
 * read, and libmicrohttpd closes the connection after the answer.  One
 * without is answered at the second call, once libmicrohttpd has read it
 * all, so that the connection can stay open for the next scrape.
 */
static enum MHD_Result
ex_request(void *arg, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **req)
{
	static int	 seen;
	struct exporter	*ex = arg;
	unsigned int	 code;
	int		 body;

	body = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "Content-Length") != NULL || MHD_lookup_connection_value(c,
	    MHD_HEADER_KIND, "Transfer-Encoding") != NULL;
	if (*req == NULL && !body) {
		*req = &seen;
		return (MHD_YES);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return (ex_text(ex, c, 405, "method not allowed\n", "Allow",
		    "GET, HEAD"));
	if (strcmp(url, "/health") == 0)
		return (ex_health(ex, c));
	if (strcmp(url, "/metrics") != 0)
		return (ex_text(ex, c, 404, "not found\n", NULL, NULL));
	if ((code = ex_may_scrape(ex, c)) == 401)
		return (ex_text(ex, c, 401, "a bearer token is required\n",
		    "WWW-Authenticate", "Bearer realm=\"msgd\""));
	if (code != 0)
		return (ex_text(ex, c, code, "protected mode: /metrics is "
		    "served to loopback peers only\n", NULL, NULL));
	return (ex_metrics(ex, c));
}

/*
 * Protected mode, as for the protocol listeners: on, no token, and the
 * address beyond loopback.
 */
static int
ex_protected(const struct msgd_conf *conf)
{
	struct net_addr	a;
	char		cause[128];

	if (!conf->protected_mode || conf->auth_set)
		return (0);
	if (net_parse_addr(conf->metrics_listen, &a, cause, sizeof(cause)) ==
	    -1)
		return (1);
	return (!net_addr_is_loopback(&a));
}

/* Start libmicrohttpd on the inherited socket; exit if it cannot. */
static void
ex_start(struct exporter *ex, int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("fcntl(O_NONBLOCK) on the metrics socket");
	ex->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
	    ex_accept, ex, ex_request, ex,
	    MHD_OPTION_EXTERNAL_LOGGER, ex_mhd_log, ex,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)EXPORTER_CONN_MAX + 1,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)EXPORTER_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)EXPORTER_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_CONNECTION, ex_conn_note, ex,
	    MHD_OPTION_END);
	if (ex->d == NULL) {
		log_warnx("cannot start the HTTP server on %s",
		    ex->conf->metrics_listen);
		exit(WORKER_EXIT_FATAL);
	}
}

/* Set up as the master's child: identity, segment, privileges, sandbox. */
static void
ex_setup(struct exporter *ex, const struct exporter_args *a)
{
	char	cause[512];

	memset(ex, 0, sizeof(*ex));
	TAILQ_INIT(&ex->conns);
	ex->conf = a->conf;
	ex->beat = a->beat;
	log_procname("metrics");
	proctitle_set("msgd: metrics");
	ex->sigfd = ex_signals();
	priv_deathsig(a->master);
	/*
	 * Read-only: the exporter writes nothing of the segment.  Its own
	 * master's, through the descriptor the master passed, never by path:
	 * during a binary upgrade the path still names the old master's.
	 */
	if (stats_open_fd(&ex->seg, a->stats, a->conf->stats_file, cause,
	    sizeof(cause)) == -1) {
		log_warnx("%s", cause);
		exit(WORKER_EXIT_FATAL);
	}
	close(a->stats);
	priv_become(a->priv, a->master, WORKER_EXIT_FATAL);
	log_setlevel(a->conf->log_level);
	ex->restricted = ex_protected(a->conf);
	ex_start(ex, a->fd);
	/*
	 * Last: everything is open; from here on only what serving needs
	 * (the workers' filter: it has all the calls of this loop).  Worker
	 * 0 already says what the kernel lacks.
	 */
	sandbox_enter(-1, 0, WORKER_EXIT_FATAL);
}

/* Read the signals: 1 when told to stop. */
static int
ex_signal(struct exporter *ex)
{
	struct signalfd_siginfo	si;

	while (read(ex->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGUSR1:
			if (ex->conf->log_target == LOG_TO_FILE &&
			    log_reopen(ex->conf->log_file) == -1)
				log_warn("reopen %s", ex->conf->log_file);
			break;
		default:
			return (1);
		}
	}
	return (0);
}

/* Run the exporter until the master stops it (or dies). */
void
exporter_main(const struct exporter_args *a)
{
	const union MHD_DaemonInfo	*di;
	struct exporter			 ex;
	struct pollfd			 pfd[2];
	MHD_UNSIGNED_LONG_LONG		 mto;
	uint64_t			 now, next_beat = 0;
	int				 wait;

	ex_setup(&ex, a);
	if ((di = MHD_get_daemon_info(ex.d, MHD_DAEMON_INFO_EPOLL_FD)) ==
	    NULL)
		fatalx("no epoll descriptor from libmicrohttpd");
	pfd[0].fd = ex.sigfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = di->epoll_fd;
	pfd[1].events = POLLIN;
	log_debug("serving /metrics and /health on %s", a->conf->metrics_listen);
	for (;;) {
		now = mono_ms();
		if (now >= next_beat) {
			/* Full (the master is busy): it has beats to read. */
			(void)write(ex.beat, "b", 1);
			next_beat = now + EXPORTER_BEAT_MS;
		}
		wait = (int)(next_beat - now);
		if (MHD_get_timeout(ex.d, &mto) == MHD_YES &&
		    mto < (MHD_UNSIGNED_LONG_LONG)wait)
			wait = (int)mto;
		wait = ex_deadlines(&ex, now, wait);
		if (poll(pfd, 2, wait) == -1 && errno != EINTR)
			fatal("poll");
		if (pfd[0].revents != 0 && ex_signal(&ex))
			break;
		(void)MHD_run(ex.d);
	}
	/* Open connections are closed: nothing of theirs to flush. */
	MHD_stop_daemon(ex.d);
	stats_close(&ex.seg);
	exit(0);
}
