/*
 * config.h: msgd's configuration as a plain struct.  libconfig is used only
 * inside config.c; nothing of its types escapes.  See msgd.conf(5).
 */
#ifndef MSGD_CONFIG_H
#define MSGD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define CONF_LISTEN_MAX		16
#define CONF_ADDR_MAX		128	/* "unix:/path" or "[v6]:port" */
#define CONF_PATH_MAX		256
#define CONF_NAME_MAX		33	/* user and group names */
#define CONF_ERRORS_MAX		4096	/* all messages of one load */
#define CONF_ALLOW_MAX		64
#define CONF_CMDS_MAX		64	/* exec.commands entries */
#define CONF_CMD_ARGS		32	/* argv entries per command */
#define CONF_CMD_POOL		16384	/* bytes for all their strings */
#define CONF_CIPHERS_MAX	512	/* tls.ciphers, tls.ciphersuites */
#define CONF_WHERE_MAX		(CONF_PATH_MAX + 16)	/* "file:line" */

/* cpu_affinity: the index of its word in the row. */
#define CONF_AFFINITY_OFF	0
#define CONF_AFFINITY_AUTO	1

/* tls.verify_client: the index of its word in the row. */
#define CONF_VERIFY_OFF		0
#define CONF_VERIFY_OPTIONAL	1
#define CONF_VERIFY_REQUIRE	2

/* tls.min_protocol: the index of its word in the row. */
#define CONF_TLS12		0
#define CONF_TLS13		1

/*
 * Where each TLS setting was read ("file:line"), for the checks tls.c
 * makes of the files they name (msgd -t, reload): libconfig's positions
 * do not outlive the load.
 */
enum conf_tls_where {
	CONF_AT_CERT,
	CONF_AT_KEY,
	CONF_AT_CA,
	CONF_AT_CIPHERS,
	CONF_AT_SUITES,
	CONF_AT_COUNT
};

/* An allow-listed command: name and argv as offsets into exec_pool. */
struct conf_cmd {
	uint16_t	name;
	uint16_t	argv[CONF_CMD_ARGS];
	uint16_t	argc;
};

struct msgd_conf {
	char		 path[CONF_PATH_MAX];
	char		 listen[CONF_LISTEN_MAX][CONF_ADDR_MAX];
	int		 nlisten;
	int		 workers;
	int		 max_workers;		/* stats slots */
	char		 stats_file[CONF_PATH_MAX];
	int		 backlog;
	uint32_t	 max_body;
	uint32_t	 max_connections;	/* per worker */
	uint64_t	 output_limit;		/* stop reading past this */
	uint64_t	 buffer_budget;		/* per worker, 0: derived */
	uint32_t	 idle_timeout_ms;	/* 0: never */
	uint32_t	 read_timeout_ms;
	uint32_t	 shutdown_timeout_ms;
	uint32_t	 worker_timeout_ms;	/* 0: no hang detection */
	uint32_t	 respawn_throttle_ms;
	uint32_t	 max_requests;		/* per worker, 0: no limit */
	int		 io_uring;		/* batch socket I/O (iob.c) */
	int		 cpu_affinity;		/* CONF_AFFINITY_* */
	char		 pidfile[CONF_PATH_MAX];
	char		 user[CONF_NAME_MAX];	/* "": keep the starting user */
	char		 group[CONF_NAME_MAX];
	int		 allow_root;
	uint32_t	 socket_mode;		/* of unix listeners */
	int		 log_level;
	int		 log_target;		/* enum log_target */
	char		 log_file[CONF_PATH_MAX];

	/* Remote functions (files, exec, UDP, authentication). */
	char		 udp_listen[CONF_LISTEN_MAX][CONF_ADDR_MAX];
	int		 nudp;
	int		 files_enabled;
	char		 files_dir[CONF_PATH_MAX];
	uint32_t	 files_max_size;
	uint32_t	 files_max_count;
	uint32_t	 files_threads;	/* per worker, off the loop */
	uint32_t	 files_queue;	/* jobs waiting: more is BUSY */
	int		 exec_enabled;
	uint32_t	 exec_timeout_ms;
	uint32_t	 exec_max_output;
	uint32_t	 exec_max_running;	/* per worker */
	struct conf_cmd	 exec_cmds[CONF_CMDS_MAX];
	int		 nexec_cmds;
	char		 exec_pool[CONF_CMD_POOL];
	size_t		 exec_pool_used;
	int		 auth_set;		/* a token is configured */
	uint8_t		 auth_digest[32];	/* SHA-256 of the token */
	char		 auth_token_file[CONF_PATH_MAX];
	struct net_cidr	 allow[CONF_ALLOW_MAX];
	int		 nallow;		/* 0: everyone */
	int		 protected_mode;

	/*
	 * PROXY protocol: which listeners ("proxy:" prefix, stripped) take
	 * the client's address from a header, and from whom.
	 */
	int		 listen_proxy[CONF_LISTEN_MAX];	/* 1: header first */
	int		 nproxy;
	struct net_cidr	 proxy_trusted[CONF_ALLOW_MAX];
	int		 nproxy_trusted;

	/* TLS: which listeners ("tls:" prefix, stripped), the tls group. */
	int		 listen_tls[CONF_LISTEN_MAX];	/* 1: speaks TLS */
	int		 ntls;
	char		 tls_cert[CONF_PATH_MAX];	/* chain, PEM */
	char		 tls_key[CONF_PATH_MAX];
	char		 tls_ca[CONF_PATH_MAX];		/* client certificates */
	int		 tls_verify;			/* CONF_VERIFY_* */
	int		 tls_min_proto;			/* CONF_TLS1* */
	char		 tls_ciphers[CONF_CIPHERS_MAX];	/* TLS 1.2 */
	char		 tls_suites[CONF_CIPHERS_MAX];	/* TLS 1.3 */
	char		 tls_at[CONF_AT_COUNT][CONF_WHERE_MAX];

	/* The HTTP exporter's address ("": none; exporter.c). */
	char		 metrics_listen[CONF_ADDR_MAX];
};

/*
 * The settings table (config.c): one row per setting, as in tmux's
 * options-table.c.  A row is the whole of what msgd knows about a
 * setting: its name, type, range and default (conf_defaults() walks the
 * rows; the load checks each value against its row and names the row's
 * range when it refuses one), the word msgd.conf(5) uses for its value,
 * and where it is stored.
 */
enum conf_type {
	CT_UINT,	/* integer in [min, max] */
	CT_SECONDS,	/* integer or float seconds, stored as milliseconds */
	CT_WORKERS,	/* integer in [min, max] or "auto" */
	CT_LISTEN,	/* list of address strings */
	CT_LOGLEVEL,	/* "error" | "warning" | "info" | "debug" */
	CT_LOGTARGET,	/* "stderr" | "syslog" | "file" */
	CT_PATH,	/* non-empty string shorter than the field */
	CT_NAME,	/* user or group name, "" allowed */
	CT_BOOL,	/* true | false */
	CT_UDPLISTEN,	/* list of host:port / [v6]:port */
	CT_ALLOW,	/* list of CIDR blocks, their count at count */
	CT_COMMANDS,	/* group of name = [ "/abs/path", "arg", ... ] */
	CT_TOKEN,	/* a secret: only its SHA-256 is kept */
	CT_TOKENFILE,	/* a file holding the secret */
	CT_MODE,	/* file mode, written in octal: 0660 */
	CT_STRING,	/* string shorter than the field, "" allowed */
	CT_WORD,	/* one of words, stored as its index */
	CT_GROUP	/* nested table */
};

struct conf_item {
	const char		*name;
	enum conf_type		 type;
	const char		*arg;	/* the value in msgd.conf(5): "bytes" */
	uint64_t		 min;	/* lists: entries; CT_TOKEN: bytes */
	uint64_t		 max;	/* CT_SECONDS: both in milliseconds */
	uint64_t		 def;	/* default number, boolean or mode */
	const char		*defstr; /* default word or path (NULL: none) */
	const char *const	*deflist; /* default list, NULL-ended */
	size_t			 off;	/* into struct msgd_conf */
	size_t			 size;	/* of the field */
	size_t			 count;	/* CT_ALLOW: the int counting them */
	const struct conf_item	*sub;	/* CT_GROUP */
	const char *const	*words;	/* CT_WORD, NULL-ended */
};

extern const struct conf_item conf_table[];

const struct conf_item *conf_item_find(const struct conf_item *,
	    const char *);
const struct conf_cmd *conf_cmd_find(const struct msgd_conf *, const char *,
	    size_t);
#define conf_str(c, off)	((c)->exec_pool + (off))

#define CONF_NO_SECRETS	0x01	/* do not read auth_token_file (clients) */

void	conf_defaults(struct msgd_conf *);
int	conf_certified(const struct msgd_conf *, int);
int	conf_load(const char *, struct msgd_conf *, char *, size_t);
int	conf_load_flags(const char *, struct msgd_conf *, char *, size_t,
	    int);

#endif /* MSGD_CONFIG_H */
