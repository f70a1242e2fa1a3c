/*
 * msgctl.c: the command-line client and control tool for msgd.
 */
#include <sys/syscall.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "msgd/client.h"
#include "client.h"
#include "config.h"
#include "log.h"
#include "pidfile.h"
#include "proto.h"
#include "stats.h"
#include "stats_render.h"
#include "stats_snap.h"
#include "util.h"

#ifndef MSGD_CONF_PATH
#define MSGD_CONF_PATH	"/etc/msgd/msgd.conf"
#endif

/* Exit codes, documented in msgctl(1). */
#define EX_OK		0
#define EX_STATUS	1	/* the server answered an error status */
#define EX_USAGE	2
#define EX_NOCONN	3	/* cannot connect */
#define EX_COMM		4	/* timeout, lost connection, bad answer */

#define LINE_MAX_LEN	65536

struct ctl {
	const char	*addr;
	int		 remote;	/* -H or -U given */
	int		 udp;		/* --udp */
	int		 use_tls;	/* --tls (or an option implying it) */
	struct client_tls tls;		/* --cacert, --cert, --key, ... */
	char		*token;		/* --token, MSGD_TOKEN, --token-file */
	char		 stats_file[CONF_PATH_MAX];
	char		 pidfile[CONF_PATH_MAX];
	uint32_t	 shutdown_ms;
	uint32_t	 exec_timeout_ms;
	int		 in_shell;	/* stdin holds the command lines */
	int		 timeout_ms;
	struct msgdc	*cl;
	int		 connected;
	int		 interactive;
};

struct ctl_cmd {
	const char	*name;
	const char	*args;
	int		 min_args;	/* after the command name */
	int		 max_args;	/* -1: any */
	int		(*fn)(struct ctl *, int, char **);
	const char	*help;
};

static int	ctl_status(const struct msgdc_reply *);
static int	cmd_ping(struct ctl *, int, char **);
static int	cmd_echo(struct ctl *, int, char **);
static int	cmd_upper(struct ctl *, int, char **);
static int	cmd_time(struct ctl *, int, char **);
static int	cmd_send(struct ctl *, int, char **);
static int	cmd_stats(struct ctl *, int, char **);
static int	cmd_put(struct ctl *, int, char **);
static int	cmd_get(struct ctl *, int, char **);
static int	cmd_ls(struct ctl *, int, char **);
static int	cmd_rm(struct ctl *, int, char **);
static int	cmd_exec(struct ctl *, int, char **);
static int	cmd_status(struct ctl *, int, char **);
static int	cmd_stop(struct ctl *, int, char **);
static int	cmd_reload(struct ctl *, int, char **);
static int	cmd_upgrade(struct ctl *, int, char **);
static void	status_upgrade(struct ctl *);

static const struct ctl_cmd cmds[] = {
	{ "ping",  "",			0, 0,  cmd_ping,
	    "check the server and print the round-trip time" },
	{ "echo",  "TEXT...",		0, -1, cmd_echo,
	    "send TEXT, print what comes back" },
	{ "upper", "TEXT...",		0, -1, cmd_upper,
	    "print TEXT in upper case, as the server made it" },
	{ "time",  "",			0, 0,  cmd_time,
	    "print the server's clock (RFC 3339, UTC)" },
	{ "send",  "OPCODE [KEY] [VALUE]", 1, 3, cmd_send,
	    "send a raw frame and show the whole answer" },
	{ "put",   "FILE [NAME]",	1, 2,  cmd_put,
	    "store FILE (\"-\": stdin) on the server as NAME" },
	{ "get",   "NAME [-o FILE]",	1, 3,  cmd_get,
	    "fetch NAME to stdout or FILE" },
	{ "ls",    "",			0, 0,  cmd_ls,
	    "list the server's files: name, size, time" },
	{ "rm",    "NAME",		1, 1,  cmd_rm,
	    "remove NAME on the server" },
	{ "exec",  "NAME",		1, 1, cmd_exec,
	    "run allow-listed NAME with our stdin; exit with its status" },
	{ "status", "",			0, 0,  cmd_status,
	    "is msgd running? (exit 0 yes, 3 no)" },
	{ "reload", "",			0, 0,  cmd_reload,
	    "reload the config; wait for the new workers or the errors" },
	{ "upgrade", "",		0, 0,  cmd_upgrade,
	    "run the msgd binary now on disk in place of the running one" },
	{ "stop",  "",			0, 0,  cmd_stop,
	    "stop msgd gracefully and wait until it has gone" },
};

static void
usage(FILE *fp)
{
	size_t	i;

	fprintf(fp, "usage: msgctl [-hV] [-c file | -H host:port | -U path] "
	    "[-T seconds] [TLS options] command [args]\n"
	    "  -c file        read the server address from this config "
	    "(default %s)\n"
	    "  -H host:port   connect over TCP ([v6addr]:port for IPv6)\n"
	    "  -U path        connect to a unix socket\n"
	    "  -T seconds     connect and answer timeout (default 5)\n"
	    "  --token TOKEN  authenticate first (or MSGD_TOKEN in the "
	    "environment)\n"
	    "  --token-file F authenticate with the first line of F\n"
	    "  --udp          ping, echo, upper, time over UDP\n"
	    "  --tls          connect with TLS (implied by the options below)\n"
	    "  --cacert FILE  verify the server against the CAs in FILE "
	    "(default:\n"
	    "                 the system's)\n"
	    "  --cert FILE    present this client certificate (mTLS)\n"
	    "  --key FILE     its private key (default: in the --cert file)\n"
	    "  --sni NAME     send and verify NAME (default: the host of "
	    "-H)\n"
	    "  --insecure     do not verify the server's certificate\n"
	    "  -h, --help     print this help and exit\n"
	    "  -V, --version  print the version and exit\n"
	    "commands ('msgctl COMMAND --help' says more of one):\n",
	    MSGD_CONF_PATH);
	for (i = 0; i < nitems(cmds); i++)
		fprintf(fp, "  %-6s %-21s %s\n", cmds[i].name, cmds[i].args,
		    cmds[i].help);
	fprintf(fp, "  %-6s %-21s %s\n", "shell", "",
	    "interactive prompt (the default on a terminal)");
	fprintf(fp, "  %-6s %-21s %s\n", "stats", "[options]",
	    "counters; 'msgctl stats -h' for options");
	fprintf(fp, "  %-6s %-21s %s\n", "bench", "[options]",
	    "load generator; 'msgctl bench -h' for options");
}

/* Map a client error to msgctl's exit code. */
static int
ctl_fail(struct ctl *ctl, int rc)
{
	fprintf(stderr, "msgctl: %s\n", msgdc_errstr(ctl->cl));
	/* The connection is unusable now; the shell reconnects. */
	msgdc_free(ctl->cl);
	ctl->cl = NULL;
	ctl->connected = 0;
	return (rc == MSGDC_ECONNECT ? EX_NOCONN : EX_COMM);
}

/* Connect ctl->cl as the options say; ctl_fail() reports a failure. */
static int
ctl_open(struct ctl *ctl)
{
	if ((ctl->cl = client_msgdc_open(ctl->addr, ctl->timeout_ms,
	    CLIENT_MAX_RESP_DEFAULT, ctl->use_tls ? &ctl->tls : NULL)) ==
	    NULL) {
		fprintf(stderr, "msgctl: out of memory\n");
		exit(EX_COMM);
	}
	return (msgdc_err(ctl->cl));
}

static int
ctl_connect(struct ctl *ctl)
{
	int	rc;

	if (ctl->connected)
		return (EX_OK);
	if ((rc = ctl_open(ctl)) != 0)
		return (ctl_fail(ctl, rc));
	ctl->connected = 1;
	if (ctl->token != NULL) {
		struct msgdc_reply	r;

		if ((rc = msgdc_call(ctl->cl, MSG_OP_AUTH, NULL, 0,
		    ctl->token, strlen(ctl->token), &r)) != 0)
			return (ctl_fail(ctl, rc));
		if (r.status != MSG_ST_OK) {
			rc = ctl_status(&r);
			msgdc_free(ctl->cl);
			ctl->cl = NULL;
			ctl->connected = 0;
			return (rc);
		}
	}
	return (EX_OK);
}

/* --udp: one datagram for ping/echo/upper/time. */
static int
ctl_udp(struct ctl *ctl, uint8_t op, const void *val, size_t vlen,
    struct msgdc_reply *r, uint8_t *buf, size_t len)
{
	char	err[256];
	int	rc;

	rc = msgdc_udp_call(ctl->addr, ctl->timeout_ms, op, val, vlen, buf,
	    len, r, err, sizeof(err));
	if (rc != MSGDC_OK) {
		fprintf(stderr, "msgctl: %s\n", err);
		return (rc == MSGDC_ECONNECT ? EX_NOCONN : EX_COMM);
	}
	if (r->status != MSG_ST_OK) {
		fprintf(stderr, "msgctl: server answered %s over UDP\n",
		    msg_status_name(r->status));
		return (EX_STATUS);
	}
	return (EX_OK);
}

/* Print an error answer; returns EX_STATUS. */
static int
ctl_status(const struct msgdc_reply *r)
{
	fprintf(stderr, "msgctl: server answered %s: %.*s\n",
	    msg_status_name(r->status), (int)r->vlen,
	    (const char *)r->val);
	return (EX_STATUS);
}

/* Join argv with spaces into a fresh buffer. */
static char *
join_args(int argc, char **argv, size_t *lenp)
{
	size_t	 len = 0, off = 0;
	char	*s;
	int	 i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	if ((s = malloc(len + 1)) == NULL)
		return (NULL);
	for (i = 0; i < argc; i++) {
		off += (size_t)snprintf(s + off, len + 1 - off, "%s%s",
		    i ? " " : "", argv[i]);
	}
	s[off] = '\0';
	*lenp = off;
	return (s);
}

/* One request whose answer value is printed as a line. */
static int
ctl_simple(struct ctl *ctl, uint8_t op, const void *val, size_t vlen)
{
	struct msgdc_reply	r;
	static uint8_t		dgram[65536];
	int			rc;

	if (ctl->udp) {
		if ((rc = ctl_udp(ctl, op, val, vlen, &r, dgram,
		    sizeof(dgram))) != EX_OK)
			return (rc);
		fwrite(r.val, 1, r.vlen, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		return (EX_OK);
	}
	if ((rc = ctl_connect(ctl)) != EX_OK)
		return (rc);
	if ((rc = msgdc_call(ctl->cl, op, NULL, 0, val, vlen, &r)) != 0)
		return (ctl_fail(ctl, rc));
	if (r.status != MSG_ST_OK)
		return (ctl_status(&r));
	fwrite(r.val, 1, r.vlen, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	return (EX_OK);
}

static int
cmd_ping(struct ctl *ctl, int argc, char **argv)
{
	struct msgdc_reply	r;
	uint8_t			dgram[128];
	uint64_t		t0, t1;
	int			rc;

	if (ctl->udp) {
		t0 = mono_us();
		if ((rc = ctl_udp(ctl, MSG_OP_PING, NULL, 0, &r, dgram,
		    sizeof(dgram))) != EX_OK)
			return (rc);
		t1 = mono_us();
		printf("%.*s from %s over UDP: time=%.3f ms\n", (int)r.vlen,
		    (const char *)r.val, ctl->addr, (double)(t1 - t0) / 1000.0);
		fflush(stdout);
		return (EX_OK);
	}
	if ((rc = ctl_connect(ctl)) != EX_OK)
		return (rc);
	t0 = mono_us();
	if ((rc = msgdc_call(ctl->cl, MSG_OP_PING, NULL, 0, NULL, 0, &r)))
		return (ctl_fail(ctl, rc));
	t1 = mono_us();
	if (r.status != MSG_ST_OK)
		return (ctl_status(&r));
	if (msgdc_tls_version(ctl->cl) != NULL)
		printf("%.*s from %s over %s%s: time=%.3f ms\n", (int)r.vlen,
		    (const char *)r.val, ctl->addr,
		    msgdc_tls_version(ctl->cl),
		    msgdc_tls_resumed(ctl->cl) ? " (resumed)" : "",
		    (double)(t1 - t0) / 1000.0);
	else
		printf("%.*s from %s: time=%.3f ms\n", (int)r.vlen,
		    (const char *)r.val, ctl->addr,
		    (double)(t1 - t0) / 1000.0);
	fflush(stdout);
	return (EX_OK);
}

static int
cmd_text(struct ctl *ctl, uint8_t op, int argc, char **argv)
{
	char	*s;
	size_t	 len;
	int	 rc;

	if ((s = join_args(argc, argv, &len)) == NULL) {
		fprintf(stderr, "msgctl: out of memory\n");
		return (EX_COMM);
	}
	rc = ctl_simple(ctl, op, s, len);
	free(s);
	return (rc);
}

static int
cmd_echo(struct ctl *ctl, int argc, char **argv)
{
	return (cmd_text(ctl, MSG_OP_ECHO, argc, argv));
}

static int
cmd_upper(struct ctl *ctl, int argc, char **argv)
{
	return (cmd_text(ctl, MSG_OP_UPPER, argc, argv));
}

static int
cmd_time(struct ctl *ctl, int argc, char **argv)
{
	return (ctl_simple(ctl, MSG_OP_TIME, NULL, 0));
}

/* Print bytes with C escapes for anything not printable ASCII. */
static void
print_escaped(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\\')
			fputs("\\\\", stdout);
		else if (p[i] == '\n')
			fputs("\\n", stdout);
		else if (p[i] == '\t')
			fputs("\\t", stdout);
		else if (isprint(p[i]))
			fputc(p[i], stdout);
		else
			printf("\\x%02x", p[i]);
	}
}

static int
cmd_send(struct ctl *ctl, int argc, char **argv)
{
	struct msgdc_reply	 r;
	const char		*key = argc > 1 ? argv[1] : "";
	const char		*val = argc > 2 ? argv[2] : "";
	const char		*name;
	int			 op, rc;

	if ((op = msg_op_parse(argv[0])) == -1) {
		fprintf(stderr, "msgctl: send: \"%s\" is not an opcode name "
		    "or a number 0..255\n", argv[0]);
		return (EX_USAGE);
	}
	if (strlen(key) > MSG_KEY_MAX) {
		fprintf(stderr, "msgctl: send: key longer than %d bytes\n",
		    MSG_KEY_MAX);
		return (EX_USAGE);
	}
	if ((rc = ctl_connect(ctl)) != EX_OK)
		return (rc);
	if ((rc = msgdc_call(ctl->cl, (uint8_t)op, key, strlen(key), val,
	    strlen(val), &r)) != 0)
		return (ctl_fail(ctl, rc));
	name = msg_op_name(r.opcode);
	printf("status: %s (%u)\nopcode: %s (0x%02x)\nrequest_id: %u\n",
	    msg_status_name(r.status), r.status,
	    name != NULL ? name : "?", r.opcode, r.id);
	printf("key: (%zu bytes) ", r.klen);
	print_escaped(r.key, r.klen);
	printf("\nvalue: (%zu bytes) ", r.vlen);
	print_escaped(r.val, r.vlen);
	printf("\n");
	fflush(stdout);
	return (r.status == MSG_ST_OK ? EX_OK : EX_STATUS);
}

/* Read all of fd (a file or stdin) into memory, up to 1 GiB. */
static uint8_t *
slurp(int fd, size_t *lenp)
{
	uint8_t	*p = NULL, *np;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;

	for (;;) {
		if (len == cap) {
			if (cap >= (size_t)1 << 30) {
				errno = EFBIG;
				free(p);
				return (NULL);
			}
			cap = cap ? cap * 2 : 65536;
			if ((np = realloc(p, cap)) == NULL) {
				free(p);
				return (NULL);
			}
			p = np;
		}
		n = read(fd, p + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(p);
			return (NULL);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*lenp = len;
	return (p != NULL ? p : malloc(1));
}

/* One request whose answer must be OK; the answer is left in *r. */
static int
ctl_call(struct ctl *ctl, uint8_t op, const void *key, size_t klen,
    const void *val, size_t vlen, struct msgdc_reply *r)
{
	int	rc;

	if ((rc = ctl_connect(ctl)) != EX_OK)
		return (rc);
	if ((rc = msgdc_call(ctl->cl, op, key, klen, val, vlen, r)) != 0)
		return (ctl_fail(ctl, rc));
	if (r->status != MSG_ST_OK)
		return (ctl_status(r));
	return (EX_OK);
}

static int
cmd_put(struct ctl *ctl, int argc, char **argv)
{
	struct msgdc_reply	 r;
	const char		*name, *slash;
	uint8_t			*data;
	size_t			 len;
	int			 fd, rc;

	if (strcmp(argv[0], "-") == 0 && (argc < 2 || ctl->in_shell)) {
		fprintf(stderr, "msgctl: put -: %s\n", ctl->in_shell ?
		    "not in the shell (stdin holds the commands)" :
		    "give a NAME for stdin");
		return (EX_USAGE);
	}
	name = argc > 1 ? argv[1] : ((slash = strrchr(argv[0], '/')) != NULL ?
	    slash + 1 : argv[0]);
	if (!msg_valid_name((const uint8_t *)name, strlen(name))) {
		fprintf(stderr, "msgctl: put: \"%s\" is not a valid name "
		    "(1..255 bytes of [A-Za-z0-9._-], not starting with '.')\n",
		    name);
		return (EX_USAGE);
	}
	if (strcmp(argv[0], "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(argv[0], O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "msgctl: %s: %s\n", argv[0], strerror(errno));
		return (EX_USAGE);
	}
	data = slurp(fd, &len);
	if (fd != STDIN_FILENO)
		close(fd);
	if (data == NULL) {
		fprintf(stderr, "msgctl: %s: %s\n", argv[0], strerror(errno));
		return (EX_USAGE);
	}
	rc = ctl_call(ctl, MSG_OP_PUT, name, strlen(name), data, len, &r);
	free(data);
	return (rc);
}

/* Write data to path atomically (temporary file, rename). */
static int
write_file(const char *path, const uint8_t *data, size_t len)
{
	char	tmp[PATH_MAX];
	int	fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.msgctl.%ld", path,
	    (long)getpid()) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) ==
	    -1)
		return (-1);
	if (write_full(fd, data, len) == -1 || fsync(fd) == -1 ||
	    close(fd) == -1 || rename(tmp, path) == -1) {
		int saved = errno;

		unlink(tmp);
		errno = saved;
		return (-1);
	}
	return (0);
}

static int
cmd_get(struct ctl *ctl, int argc, char **argv)
{
	struct msgdc_reply	 r;
	const char		*out = NULL;
	int			 rc;

	if (argc == 3 && strcmp(argv[1], "-o") == 0)
		out = argv[2];
	else if (argc != 1) {
		fprintf(stderr, "msgctl: usage: get NAME [-o FILE]\n");
		return (EX_USAGE);
	}
	if ((rc = ctl_call(ctl, MSG_OP_GET, argv[0], strlen(argv[0]), NULL, 0,
	    &r)) != EX_OK)
		return (rc);
	if (out != NULL && strcmp(out, "-") != 0) {
		if (write_file(out, r.val, r.vlen) == -1) {
			fprintf(stderr, "msgctl: %s: %s\n", out,
			    strerror(errno));
			return (EX_COMM);
		}
		return (EX_OK);
	}
	if (write_full(STDOUT_FILENO, r.val, r.vlen) == -1) {
		fprintf(stderr, "msgctl: stdout: %s\n", strerror(errno));
		return (EX_COMM);
	}
	return (EX_OK);
}

/* ls: the LIST lines as a table with local times. */
static int
cmd_ls(struct ctl *ctl, int argc, char **argv)
{
	struct msgdc_reply	 r;
	const char		*p, *end, *nl, *t1, *t2;
	char			 when[32];
	struct tm		 tm;
	time_t			 mt;
	int			 rc, n = 0;

	if ((rc = ctl_call(ctl, MSG_OP_LIST, NULL, 0, NULL, 0, &r)) != EX_OK)
		return (rc);
	p = (const char *)r.val;
	end = p + r.vlen;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if ((t1 = memchr(p, '\t', (size_t)(nl - p))) == NULL ||
		    (t2 = memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1))) == NULL)
			continue;
		if (n++ == 0)
			printf("%-40s %12s  %s\n", "NAME", "SIZE", "MODIFIED");
		mt = (time_t)strtoll(t2 + 1, NULL, 10);
		if (localtime_r(&mt, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
			snprintf(when, sizeof(when), "%lld", (long long)mt);
		printf("%-40.*s %12.*s  %s\n", (int)(t1 - p), p,
		    (int)(t2 - t1 - 1), t1 + 1, when);
	}
	fflush(stdout);
	return (EX_OK);
}

static int
cmd_rm(struct ctl *ctl, int argc, char **argv)
{
	struct msgdc_reply	r;

	return (ctl_call(ctl, MSG_OP_DEL, argv[0], strlen(argv[0]), NULL, 0,
	    &r));
}

/*
 * exec: like ssh, our stdin goes to the command, its stdout and stderr to
 * ours, and we exit with its status.  It takes no arguments (run_cmd
 * refuses them): the server runs the argv its configuration names, and
 * the protocol carries only the name and the input.
 */
static int
cmd_exec(struct ctl *ctl, int argc, char **argv)
{
	struct msgdc_reply	 r;
	struct msgdc_exec	 x;
	uint8_t			*in = NULL;
	size_t			 ilen = 0;
	int			 rc, saved;

	/* In the shell, stdin is the command lines: the command gets none. */
	if (!ctl->in_shell && !isatty(STDIN_FILENO) &&
	    (in = slurp(STDIN_FILENO, &ilen)) == NULL) {
		fprintf(stderr, "msgctl: stdin: %s\n", strerror(errno));
		return (EX_USAGE);
	}
	/* The server may take exec.timeout: wait at least that long. */
	if (ctl->timeout_ms < (int)ctl->exec_timeout_ms + 2000)
		ctl->timeout_ms = (int)ctl->exec_timeout_ms + 2000;
	saved = ctl->connected ? msgdc_timeout(ctl->cl) : 0;
	if (ctl->connected && saved < ctl->timeout_ms)
		(void)msgdc_set_timeout(ctl->cl, ctl->timeout_ms);
	rc = ctl_call(ctl, MSG_OP_EXEC, argv[0], strlen(argv[0]), in, ilen, &r);
	if (ctl->connected && saved > 0)
		(void)msgdc_set_timeout(ctl->cl, saved);
	free(in);
	if (rc != EX_OK)
		return (rc);
	if (msgdc_exec_parse(&r, &x) == -1) {
		fprintf(stderr, "msgctl: exec: malformed answer\n");
		return (EX_COMM);
	}
	(void)write_full(STDOUT_FILENO, x.out, x.olen);
	(void)write_full(STDERR_FILENO, x.err, x.elen);
	return (x.status);
}

static const struct ctl_cmd *
find_cmd(const char *name)
{
	size_t	i;

	for (i = 0; i < nitems(cmds); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return (&cmds[i]);
	return (NULL);
}

/* Run one command with its arguments (argv[0] is the command). */
static int
run_cmd(struct ctl *ctl, int argc, char **argv)
{
	const struct ctl_cmd	*cmd;
	int			 nargs = argc - 1;

	if ((cmd = find_cmd(argv[0])) == NULL) {
		fprintf(stderr, "msgctl: unknown command \"%s\"\n", argv[0]);
		return (EX_USAGE);
	}
	/* -h or --help first: the command's usage; "--": what follows is data. */
	if (nargs > 0 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		printf("usage: msgctl [options] %s%s%s\n  %s\n", cmd->name,
		    cmd->args[0] != '\0' ? " " : "", cmd->args, cmd->help);
		return (EX_OK);
	}
	if (nargs > 0 && strcmp(argv[1], "--") == 0) {
		argv[1] = argv[0];
		argv++;
		nargs--;
	}
	if (cmd == find_cmd("exec") && nargs > 1) {
		fprintf(stderr, "msgctl: exec takes no arguments: the server "
		    "runs the command line its exec.commands names; send "
		    "input on stdin\n");
		return (EX_USAGE);
	}
	if (nargs < cmd->min_args ||
	    (cmd->max_args >= 0 && nargs > cmd->max_args)) {
		fprintf(stderr, "msgctl: usage: %s %s\n", cmd->name, cmd->args);
		return (EX_USAGE);
	}
	return (cmd->fn(ctl, nargs, argv + 1));
}

/* Split a shell line on blanks; quotes group words ("a b" or 'a b'). */
static int
split_line(char *line, char **argv, int max)
{
	char	*p = line, *w;
	char	 q;
	int	 argc = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || argc == max)
			break;
		w = p;
		argv[argc++] = w;
		while (*p != '\0' && *p != ' ' && *p != '\t') {
			if (*p == '"' || *p == '\'') {
				q = *p++;
				while (*p != '\0' && *p != q)
					*w++ = *p++;
				if (*p == q)
					p++;
			} else
				*w++ = *p++;
		}
		if (*p != '\0')
			p++;
		*w = '\0';
	}
	return (argc);
}

/*
 * The interactive prompt: one connection reused across lines; a lost
 * connection is reported, and the next line connects again.
 */
static int
cmd_shell(struct ctl *ctl)
{
	char	*line = NULL, *argv[64];
	size_t	 cap = 0;
	ssize_t	 n;
	int	 argc, rc = EX_OK;

	ctl->interactive = isatty(STDIN_FILENO);
	ctl->in_shell = 1;
	for (;;) {
		if (ctl->interactive) {
			printf("msgd> ");
			fflush(stdout);
		}
		if ((n = getline(&line, &cap, stdin)) == -1)
			break;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if ((size_t)n > LINE_MAX_LEN) {
			fprintf(stderr, "msgctl: line longer than %d bytes\n",
			    LINE_MAX_LEN);
			continue;
		}
		argc = split_line(line, argv, (int)nitems(argv));
		if (argc == 0)
			continue;
		if (strcmp(argv[0], "quit") == 0 || strcmp(argv[0], "exit") == 0)
			break;
		if (strcmp(argv[0], "help") == 0) {
			usage(stdout);
			continue;
		}
		if (strcmp(argv[0], "stats") == 0)
			rc = cmd_stats(ctl, argc, argv);
		else
			rc = run_cmd(ctl, argc, argv);
	}
	if (ctl->interactive)
		printf("\n");
	free(line);
	return (rc);
}

/*
 * The defaults msgctl takes from the config: the first listen address of
 * the kind it speaks (a TLS one with --tls, else a clear one; a TLS one
 * turns TLS on when there is no other) and the stats file.  An
 * unreadable default config means msgd's defaults.
 */
static int
from_config(const char *path, int explicit, char *addr, size_t len,
    struct ctl *ctl)
{
	struct msgd_conf	conf;
	char			errs[CONF_ERRORS_MAX];
	int			i, pick = 0;

	if (conf_load_flags(path, &conf, errs, sizeof(errs),
	    CONF_NO_SECRETS) == -1) {
		if (explicit) {
			fprintf(stderr, "msgctl: %s", errs);
			return (-1);
		}
		/* Absent is normal (a client-only host); broken is not. */
		if (access(path, F_OK) == 0)
			fprintf(stderr, "msgctl: warning: %s has errors, using "
			    "the default address and stats file\n", path);
		conf_defaults(&conf);
	}
	/* A proxy: listener wants a balancer's header first: not ours. */
	for (i = conf.nlisten - 1; i >= 0; i--)
		if (!conf.listen_proxy[i])
			pick = i;
	for (i = conf.nlisten - 1; i >= 0; i--)
		if (!conf.listen_proxy[i] && conf.listen_tls[i] == ctl->use_tls)
			pick = i;
	if (ctl->addr == NULL && conf.nlisten > 0 &&
	    conf.listen_tls[pick] && !ctl->use_tls && !ctl->udp)
		ctl->use_tls = 1;
	snprintf(addr, len, "%s", conf.listen[pick]);
	snprintf(ctl->stats_file, sizeof(ctl->stats_file), "%s",
	    conf.stats_file);
	snprintf(ctl->pidfile, sizeof(ctl->pidfile), "%s", conf.pidfile);
	ctl->shutdown_ms = conf.shutdown_timeout_ms;
	ctl->exec_timeout_ms = conf.exec_timeout_ms;
	return (0);
}

/* The running master's pid from the pidfile lock: >0, 0 (none) or -1. */
static pid_t
ctl_master(struct ctl *ctl)
{
	char	cause[512];
	pid_t	pid;

	if ((pid = pidfile_running(ctl->pidfile, cause, sizeof(cause))) == -1)
		fprintf(stderr, "msgctl: %s\n", cause);
	return (pid);
}

/*
 * Send sig to the msgd master pid.  The process is pinned with a pidfd
 * before pidfile_verify looks at it, so a pid reused after the check can
 * never get the signal: the pidfd's process is then gone (ESRCH).
 */
static int
ctl_signal(struct ctl *ctl, pid_t pid, int sig)
{
	char	cause[512];
	int	pfd, rc = -1;

	if ((pfd = (int)syscall(SYS_pidfd_open, pid, 0)) == -1) {
		fprintf(stderr, "msgctl: pid %ld: %s\n", (long)pid,
		    strerror(errno));
		return (-1);
	}
	if (pidfile_verify(ctl->pidfile, pid, cause, sizeof(cause)) == -1)
		fprintf(stderr, "msgctl: %s\n", cause);
	else if (syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0) == -1)
		fprintf(stderr, "msgctl: kill %ld: %s\n", (long)pid,
		    strerror(errno));
	else
		rc = 0;
	close(pfd);
	return (rc);
}

/* The master's pid, or 0 (not running: said) or -1 (an error: said). */
static pid_t
ctl_running(struct ctl *ctl)
{
	pid_t	pid;

	if ((pid = ctl_master(ctl)) == 0)
		fprintf(stderr, "msgctl: msgd is not running (pidfile %s)\n",
		    ctl->pidfile);
	return (pid);
}

static void
sleep_ms(long ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	nanosleep(&ts, NULL);
}

/* status: like an init script, 0 when running, 3 when not. */
static int
cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct stats_seg	 seg;
	struct stats_snap	 sn;
	char			 cause[512];
	pid_t			 pid;
	uint64_t		 up;
	uint32_t		 i;
	int			 live = 0;

	if ((pid = ctl_master(ctl)) == -1)
		return (EX_COMM);
	if (pid == 0) {
		printf("msgd is not running (pidfile %s)\n", ctl->pidfile);
		return (EX_NOCONN);
	}
	if (stats_open(&seg, ctl->stats_file, cause, sizeof(cause)) == -1 ||
	    stats_snapshot(&seg, &sn, cause, sizeof(cause)) == -1) {
		printf("msgd is running as pid %ld (no statistics: %s)\n",
		    (long)pid, cause);
		return (EX_OK);
	}
	for (i = 0; i < sn.hdr.nslots; i++) {
		int32_t	wpid;

		memcpy(&wpid, sn.slots + (size_t)i * sn.hdr.slot_size +
		    offsetof(struct stats_slot, pid), sizeof(wpid));
		if (wpid != 0)
			live++;
	}
	up = (sn.now_us - sn.hdr.master_start_us) / 1000000;
	printf("msgd is running as pid %ld, up %llus, generation %llu, "
	    "%u workers configured, %d running\n", (long)pid,
	    (unsigned long long)up, (unsigned long long)sn.hdr.generation,
	    sn.hdr.workers, live);
	stats_snap_free(&sn);	/* sn.hdr is a copy: still there */
	stats_close(&seg);
	status_upgrade(ctl);
	printf("state: %s\n", stats_mstate_name(sn.hdr.mstate));
	if (sn.hdr.metrics_addr[0] != '\0' && sn.hdr.metrics_pid > 0)
		printf("metrics exporter: pid %ld on %s, up %llus, %llu "
		    "restarts\n", (long)sn.hdr.metrics_pid, sn.hdr.metrics_addr,
		    (unsigned long long)((sn.now_us - sn.hdr.metrics_start_us) /
		    1000000), (unsigned long long)sn.hdr.metrics_restarts);
	else if (sn.hdr.metrics_addr[0] != '\0')
		printf("metrics exporter: not running (%s), %llu restarts\n",
		    sn.hdr.metrics_addr,
		    (unsigned long long)sn.hdr.metrics_restarts);
	return (EX_OK);
}

/* "2026-12-03T08:00:00Z" for a CLOCK_REALTIME time in us. */
static void
fmt_us(char *buf, size_t len, uint64_t us)
{
	struct tm	tm;
	time_t		sec = (time_t)(us / 1000000);

	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "?");
}

/*
 * status, continued: the running release, the one on disk if it differs
 * (what msgctl upgrade would run), the last upgrade.  From the frozen
 * preamble, so it reads a master of another layout too.
 */
static void
status_upgrade(struct ctl *ctl)
{
	struct stats_preamble	pr;
	char			cause[512], when[RFC3339_LEN + 1];
	int			fd;

	if ((fd = stats_preamble_open(ctl->stats_file, cause,
	    sizeof(cause))) == -1)
		return;
	if (stats_preamble_read(fd, &pr, cause, sizeof(cause)) == 0) {
		printf("running msgd %s", pr.version);
		if (pr.up.disk[0] != '\0' && strcmp(pr.up.disk, pr.version) != 0)
			printf(", on disk msgd %s (%s): msgctl upgrade runs it",
			    pr.up.disk, pr.up.exe);
		else if (pr.up.disk[0] == '\0' && pr.up.exe[0] != '\0')
			printf(", on disk: %s is not a readable msgd",
			    pr.up.exe);
		printf("\n");
		if (pr.up.count > 0) {
			fmt_us(when, sizeof(when), pr.up.last_us);
			printf("last upgrade %s from msgd %s (%u since the "
			    "first start", when, pr.up.from, pr.up.count);
			fmt_us(when, sizeof(when), pr.up.first_start_us);
			printf(" at %s)\n", when);
		}
	}
	close(fd);
}

/*
 * upgrade: SIGUSR2, then follow the outcome in the running master's own
 * stats file (kept open: the new master puts its file at the path when it
 * takes over): the new binary serving, or why not.
 */
static int
cmd_upgrade(struct ctl *ctl, int argc, char **argv)
{
	struct stats_preamble	 pr;
	char			 cause[512];
	uint64_t		 before, deadline;
	pid_t			 pid;
	int			 fd;

	if ((pid = ctl_running(ctl)) <= 0)
		return (pid == 0 ? EX_NOCONN : EX_COMM);
	if ((fd = stats_preamble_open(ctl->stats_file, cause,
	    sizeof(cause))) == -1 ||
	    stats_preamble_read(fd, &pr, cause, sizeof(cause)) == -1) {
		fprintf(stderr, "msgctl: cannot follow the upgrade: %s\n",
		    cause);
		if (fd != -1)
			close(fd);
		return (EX_COMM);
	}
	before = pr.up.seq;
	if (ctl_signal(ctl, pid, SIGUSR2) == -1) {
		close(fd);
		return (EX_COMM);
	}
	/*
	 * The check (10 s), the new workers' probe (30 s at most), the old
	 * workers' drain (shutdown_timeout), the take-over: a margin on top.
	 */
	deadline = mono_ms() + 60000 + ctl->shutdown_ms;
	for (;;) {
		if (stats_preamble_read(fd, &pr, cause, sizeof(cause)) == 0 &&
		    pr.up.seq > before)
			break;
		if (mono_ms() > deadline) {
			fprintf(stderr, "msgctl: no upgrade outcome after %u "
			    "s; see the log\n", 60 + ctl->shutdown_ms / 1000);
			close(fd);
			return (EX_COMM);
		}
		sleep_ms(20);
	}
	close(fd);
	if (!pr.up.ok) {
		fprintf(stderr, "msgctl: upgrade failed: %s\n", pr.up.msg);
		return (EX_STATUS);
	}
	printf("upgraded: %s\n", pr.up.msg);
	return (EX_OK);
}

/* stop: SIGTERM, then wait until the master has gone. */
static int
cmd_stop(struct ctl *ctl, int argc, char **argv)
{
	uint64_t	deadline;
	pid_t		pid;

	if ((pid = ctl_master(ctl)) == -1)
		return (EX_COMM);
	if (pid == 0) {
		printf("msgd is not running\n");
		return (EX_OK);
	}
	if (ctl_signal(ctl, pid, SIGTERM) == -1)
		return (EX_COMM);
	/* The workers drain within shutdown_timeout; then some margin. */
	deadline = mono_ms() + ctl->shutdown_ms + 5000;
	while (mono_ms() < deadline) {
		if (ctl_master(ctl) == 0) {
			printf("msgd (pid %ld) stopped\n", (long)pid);
			return (EX_OK);
		}
		sleep_ms(50);
	}
	fprintf(stderr, "msgctl: msgd (pid %ld) is still running after %u ms\n",
	    (long)pid, ctl->shutdown_ms + 5000);
	return (EX_COMM);
}

/*
 * reload: SIGHUP, then wait for the master to publish the outcome in the
 * stats segment: the new generation serving, or why not.
 */
static int
cmd_reload(struct ctl *ctl, int argc, char **argv)
{
	struct stats_seg	 seg;
	char			 cause[512], msg[sizeof(seg.hdr->reload_msg)];
	uint64_t		 before, deadline, seq;
	pid_t			 pid;
	int			 ok;

	if ((pid = ctl_running(ctl)) <= 0)
		return (pid == 0 ? EX_NOCONN : EX_COMM);
	if (stats_open(&seg, ctl->stats_file, cause, sizeof(cause)) == -1) {
		fprintf(stderr, "msgctl: cannot follow the reload: %s\n",
		    cause);
		return (EX_COMM);
	}
	before = seg.hdr->reload_seq;
	if (ctl_signal(ctl, pid, SIGHUP) == -1) {
		stats_close(&seg);
		return (EX_COMM);
	}
	/* New workers have 10 s to answer their probe; a margin on top. */
	deadline = mono_ms() + 30000;
	for (;;) {
		uint64_t	a, b;

		a = atomic_load(&seg.hdr->mseq);
		seq = seg.hdr->reload_seq;
		ok = (int)seg.hdr->reload_ok;
		memcpy(msg, seg.hdr->reload_msg, sizeof(msg));
		b = atomic_load(&seg.hdr->mseq);
		if (!(a & 1) && a == b && seq > before)
			break;
		if (mono_ms() > deadline) {
			fprintf(stderr, "msgctl: no reload outcome after 30 s; "
			    "see the log\n");
			stats_close(&seg);
			return (EX_COMM);
		}
		sleep_ms(20);
	}
	stats_close(&seg);
	msg[sizeof(msg) - 1] = '\0';
	if (!ok) {
		fprintf(stderr, "msgctl: reload failed: %s\n", msg);
		return (EX_STATUS);
	}
	printf("reloaded: %s\n", msg);
	return (EX_OK);
}

static void
stats_usage(FILE *fp)
{
	fprintf(fp, "usage: msgctl [-c file] stats [--json | --prometheus] "
	    "[--watch seconds [--count n]] [--file path]\n"
	    "       msgctl -H host:port | -U path stats\n"
	    "  --json        the stats document as JSON (as the STATS op "
	    "returns it)\n"
	    "  --prometheus  Prometheus text format 0.0.4\n"
	    "  --watch S     redraw every S seconds with rates, like top\n"
	    "  --count N     with --watch: stop after N redraws\n"
	    "  --file PATH   the stats segment (default: stats_file of the "
	    "config)\n"
	    "Without -H/-U the segment is read directly (same host); with "
	    "them the\nSTATS operation asks the server, which answers "
	    "JSON.\n");
}

/* Ask the server for its stats document (any host). */
static int
stats_remote(struct ctl *ctl)
{
	struct msgdc_reply	r;
	int			rc;

	if ((rc = ctl_connect(ctl)) != EX_OK)
		return (rc);
	if ((rc = msgdc_call(ctl->cl, MSG_OP_STATS, NULL, 0, NULL, 0, &r)))
		return (ctl_fail(ctl, rc));
	if (r.status != MSG_ST_OK)
		return (ctl_status(&r));
	fwrite(r.val, 1, r.vlen, stdout);
	fflush(stdout);
	return (EX_OK);
}

static volatile sig_atomic_t stats_stop;

static void
stats_onsig(int sig)
{
	stats_stop = 1;
}

/* Render one snapshot of seg in the chosen format. */
static int
stats_print(struct stats_seg *seg, int fmt, struct stats_snap *prev,
    struct stats_snap *cur, int clear)
{
	struct buf	b;
	char		cause[256];
	int		rc;

	memset(&b, 0, sizeof(b));
	if (stats_snapshot(seg, cur, cause, sizeof(cause)) == -1) {
		fprintf(stderr, "msgctl: stats: %s\n", cause);
		return (EX_COMM);
	}
	if (fmt == 'j')
		rc = stats_render_json(cur, &b);
	else if (fmt == 'p')
		rc = stats_render_prometheus(cur, &b);
	else
		rc = stats_render_table(cur, prev, &b);
	if (rc == -1) {
		fprintf(stderr, "msgctl: stats: out of memory\n");
		buf_release(&b);
		return (EX_COMM);
	}
	if (clear)
		fputs("\033[H\033[2J", stdout);
	fwrite(buf_head(&b), 1, buf_used(&b), stdout);
	fflush(stdout);
	buf_release(&b);
	return (EX_OK);
}

/* What msgctl stats was asked for. */
struct cmd_stats_opts {
	int		 fmt;		/* 't'able, 'j'son, 'p'rometheus */
	uint64_t	 watch;		/* seconds between redraws, 0: once */
	uint64_t	 count;		/* redraws, 0: until Ctrl-C */
	const char	*file;		/* the segment */
};

/*
 * Parse stats' own options into sa.  Returns -1 to go on, else the exit
 * code (--help, a usage error).
 */
static int
cmd_stats_args(int argc, char **argv, struct cmd_stats_opts *sa)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "prometheus",	no_argument,		NULL, 'p' },
		{ "watch",	required_argument,	NULL, 'w' },
		{ "count",	required_argument,	NULL, 'n' },
		{ "file",	required_argument,	NULL, 'f' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*errstr;
	uint64_t	 v;
	int		 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
		case 'p':
			sa->fmt = ch;
			break;
		case 'w':
		case 'n':
			if (parse_u64(optarg, 1, 86400, &v, &errstr) == -1) {
				fprintf(stderr, "msgctl: stats: --%s: must be "
				    "1..86400, got \"%s\" (%s)\n", ch == 'w' ?
				    "watch" : "count", optarg, errstr);
				return (EX_USAGE);
			}
			if (ch == 'w')
				sa->watch = v;
			else
				sa->count = v;
			break;
		case 'f':
			sa->file = optarg;
			break;
		case 'h':
			stats_usage(stdout);
			return (EX_OK);
		default:
			stats_usage(stderr);
			return (EX_USAGE);
		}
	}
	if (optind != argc || (sa->count > 0 && sa->watch == 0)) {
		stats_usage(stderr);
		return (EX_USAGE);
	}
	return (-1);
}

/*
 * --watch: redraw every sa->watch seconds, with rates from the previous
 * snapshot, until sa->count redraws or Ctrl-C.
 */
static int
cmd_stats_watch(struct stats_seg *seg, const struct cmd_stats_opts *sa)
{
	struct stats_snap	 snaps[2];
	struct sigaction	 act, oint, oterm;
	struct timespec		 ts;
	int			 rc, i, cur = 0, have_prev = 0;

	/* Ctrl-C ends the watch (and, in the shell, only the watch). */
	stats_stop = 0;
	act.sa_handler = stats_onsig;
	sigemptyset(&act.sa_mask);
	act.sa_flags = 0;
	sigaction(SIGINT, &act, &oint);
	sigaction(SIGTERM, &act, &oterm);
	rc = EX_OK;
	for (i = 0; !stats_stop && (sa->count == 0 || (uint64_t)i < sa->count);
	    i++) {
		if (i > 0) {
			ts.tv_sec = (time_t)sa->watch;
			ts.tv_nsec = 0;
			if (nanosleep(&ts, NULL) == -1 && stats_stop)
				break;
		}
		rc = stats_print(seg, sa->fmt, have_prev ? &snaps[!cur] : NULL,
		    &snaps[cur], isatty(STDOUT_FILENO));
		if (rc != EX_OK)
			break;
		if (have_prev)
			stats_snap_free(&snaps[!cur]);
		have_prev = 1;
		cur = !cur;
	}
	if (have_prev)
		stats_snap_free(&snaps[!cur]);
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGTERM, &oterm, NULL);
	return (rc);
}

/* msgctl stats: the local segment, once or watched, or the STATS op. */
static int
cmd_stats(struct ctl *ctl, int argc, char **argv)
{
	struct cmd_stats_opts	 sa;
	struct stats_seg	 seg;
	struct stats_snap	 snap;
	char			 cause[512];
	int			 rc;

	memset(&sa, 0, sizeof(sa));
	sa.fmt = 't';
	sa.file = ctl->stats_file;
	if ((rc = cmd_stats_args(argc, argv, &sa)) != -1)
		return (rc);
	if (ctl->remote) {
		if (sa.fmt != 'j' && sa.fmt != 't') {
			fprintf(stderr, "msgctl: stats: --prometheus needs the "
			    "local segment; remote hosts answer JSON\n");
			return (EX_USAGE);
		}
		if (sa.watch > 0) {
			fprintf(stderr, "msgctl: stats: --watch needs the local "
			    "segment\n");
			return (EX_USAGE);
		}
		return (stats_remote(ctl));
	}
	if (stats_open(&seg, sa.file, cause, sizeof(cause)) == -1) {
		fprintf(stderr, "msgctl: stats: %s\n", cause);
		return (EX_NOCONN);
	}
	/* A worker preempted mid-update: wait for it (never for a lock). */
	stats_set_read_budget(200000);
	if (sa.watch == 0) {
		rc = stats_print(&seg, sa.fmt, NULL, &snap, 0);
		if (rc == EX_OK)
			stats_snap_free(&snap);
	} else
		rc = cmd_stats_watch(&seg, &sa);
	stats_close(&seg);
	return (rc);
}

enum {
	OPT_TOKEN = 256,
	OPT_TOKEN_FILE,
	OPT_UDP,
	OPT_TLS,
	OPT_CACERT,
	OPT_CERT,
	OPT_KEY,
	OPT_SNI,
	OPT_INSECURE
};

static const struct option global_opts[] = {
	{ "token",	required_argument,	NULL, OPT_TOKEN },
	{ "token-file",	required_argument,	NULL, OPT_TOKEN_FILE },
	{ "udp",	no_argument,		NULL, OPT_UDP },
	{ "tls",	no_argument,		NULL, OPT_TLS },
	{ "cacert",	required_argument,	NULL, OPT_CACERT },
	{ "cert",	required_argument,	NULL, OPT_CERT },
	{ "key",	required_argument,	NULL, OPT_KEY },
	{ "sni",	required_argument,	NULL, OPT_SNI },
	{ "insecure",	no_argument,		NULL, OPT_INSECURE },
	{ "help",	no_argument,		NULL, 'h' },
	{ "version",	no_argument,		NULL, 'V' },
	{ NULL,		0,			NULL, 0 }
};

/* --token-file: the token is the file's first line. */
static int
read_token(const char *path, struct ctl *ctl)
{
	char	 buf[1100];
	FILE	*fp;

	if ((fp = fopen(path, "re")) == NULL) {
		fprintf(stderr, "msgctl: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	buf[strcspn(buf, "\r\n")] = '\0';
	if ((ctl->token = strdup(buf)) == NULL)
		return (-1);
	explicit_bzero(buf, sizeof(buf));
	return (0);
}

/* The global options, before the command. */
struct ctl_opts {
	const char	*cpath;		/* -c, or the default config */
	int		 cflag;		/* -c given */
	const char	*token;		/* --token */
	const char	*token_file;	/* --token-file */
	char		 addr[CONF_ADDR_MAX + 8];	/* -U as "unix:path" */
};

/* One TLS option; each but --tls implies --tls. */
static void
ctl_tls_option(struct ctl *ctl, int ch, const char *arg)
{
	ctl->use_tls = 1;
	switch (ch) {
	case OPT_CACERT:
		ctl->tls.ca_file = arg;
		break;
	case OPT_CERT:
		ctl->tls.cert_file = arg;
		break;
	case OPT_KEY:
		ctl->tls.key_file = arg;
		break;
	case OPT_SNI:
		ctl->tls.sni = arg;
		break;
	case OPT_INSECURE:
		ctl->tls.insecure = 1;
		break;
	}
}

/* TLS options that cannot go together; -1 to go on, else EX_USAGE. */
static int
ctl_tls_check(const struct ctl *ctl)
{
	const char	*why = NULL;

	if (!ctl->use_tls)
		return (-1);
	if (ctl->udp)
		why = "--udp is clear text (msgd has no DTLS); drop the TLS "
		    "options or --udp";
	else if (ctl->tls.insecure && ctl->tls.ca_file != NULL)
		why = "--insecure verifies nothing, so --cacert would be "
		    "ignored; give one of them";
	else if (ctl->tls.key_file != NULL && ctl->tls.cert_file == NULL)
		why = "--key needs --cert (the certificate it belongs to)";
	else if (ctl->tls.sni != NULL && ctl->tls.sni[0] == '\0')
		why = "--sni needs a name";
	if (why == NULL)
		return (-1);
	fprintf(stderr, "msgctl: %s\n", why);
	return (EX_USAGE);
}

/*
 * Parse the global options into ctl and o, stopping at the command (its
 * own options are its own).  Returns -1 to go on, else the exit code
 * (-h, -V, a usage error).
 */
static int
ctl_options(int argc, char **argv, struct ctl *ctl, struct ctl_opts *o)
{
	const char	*errstr;
	uint64_t	 secs;
	int		 ch;

	/* '+': stop at the command, so its own options reach it. */
	while ((ch = getopt_long(argc, argv, "+c:H:hT:U:V", global_opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->cpath = optarg;
			o->cflag = 1;
			break;
		case 'H':
			ctl->addr = optarg;
			ctl->remote = 1;
			break;
		case 'h':
			usage(stdout);
			return (EX_OK);
		case 'T':
			if (parse_u64(optarg, 1, 3600, &secs, &errstr) == -1) {
				fprintf(stderr, "msgctl: -T: must be 1..3600 "
				    "seconds, got \"%s\" (%s)\n", optarg,
				    errstr);
				return (EX_USAGE);
			}
			ctl->timeout_ms = (int)secs * 1000;
			break;
		case 'U':
			snprintf(o->addr, sizeof(o->addr), "unix:%s", optarg);
			ctl->addr = o->addr;
			ctl->remote = 1;
			break;
		case 'V':
			printf("msgctl %s\n", PACKAGE_VERSION);
			return (EX_OK);
		case OPT_TOKEN:
			o->token = optarg;
			break;
		case OPT_TOKEN_FILE:
			o->token_file = optarg;
			break;
		case OPT_UDP:
			ctl->udp = 1;
			break;
		case OPT_TLS:
		case OPT_CACERT:
		case OPT_CERT:
		case OPT_KEY:
		case OPT_SNI:
		case OPT_INSECURE:
			ctl_tls_option(ctl, ch, optarg);
			break;
		default:
			usage(stderr);
			return (EX_USAGE);
		}
	}
	return (ctl_tls_check(ctl));
}

/* The token: --token-file, else --token, else $MSGD_TOKEN; -1 on error. */
static int
ctl_token(struct ctl *ctl, const struct ctl_opts *o)
{
	const char	*token = o->token;

	if (token == NULL && o->token_file == NULL)
		token = getenv("MSGD_TOKEN");
	if (o->token_file != NULL)
		return (read_token(o->token_file, ctl));
	if (token != NULL && (ctl->token = strdup(token)) == NULL)
		return (-1);
	return (0);
}

/* Run the command argv names; none: the shell on a terminal. */
static int
ctl_run(struct ctl *ctl, int argc, char **argv)
{
	if (argc == 0) {
		if (!isatty(STDIN_FILENO)) {
			usage(stderr);
			return (EX_USAGE);
		}
		return (cmd_shell(ctl));
	}
	if (strcmp(argv[0], "shell") == 0) {
		if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
		    strcmp(argv[1], "--help") == 0)) {
			printf("usage: msgctl [options] shell\n  an interactive "
			    "prompt: one command per line, 'help' lists them\n");
			return (EX_OK);
		}
		if (argc > 1) {
			fprintf(stderr, "msgctl: usage: shell\n");
			return (EX_USAGE);
		}
		return (cmd_shell(ctl));
	}
	if (strcmp(argv[0], "stats") == 0)
		return (cmd_stats(ctl, argc, argv));
	if (strcmp(argv[0], "bench") == 0)
		return (bench_main(argc, argv, ctl->addr, ctl->timeout_ms,
		    ctl->use_tls ? &ctl->tls : NULL));
	return (run_cmd(ctl, argc, argv));
}

int
main(int argc, char *argv[])
{
	struct ctl	 ctl;
	struct ctl_opts	 o;
	char		 cfgaddr[CONF_ADDR_MAX];
	int		 rc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.timeout_ms = 5000;
	ctl.addr = NULL;
	memset(&o, 0, sizeof(o));
	o.cpath = MSGD_CONF_PATH;
	log_init("msgctl", LOG_TO_STDERR, LOG_LVL_WARN);

	if ((rc = ctl_options(argc, argv, &ctl, &o)) != -1)
		return (rc);
	argc -= optind;
	argv += optind;
	if (ctl_token(&ctl, &o) == -1)
		return (EX_USAGE);

	if (from_config(o.cpath, o.cflag && !ctl.remote, cfgaddr,
	    sizeof(cfgaddr), &ctl) == -1)
		return (EX_USAGE);
	if (ctl.addr == NULL)
		ctl.addr = cfgaddr;

	rc = ctl_run(&ctl, argc, argv);
	msgdc_free(ctl.cl);
	if (ctl.token != NULL) {
		explicit_bzero(ctl.token, strlen(ctl.token));
		free(ctl.token);
	}
	return (rc);
}
