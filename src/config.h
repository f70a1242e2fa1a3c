/*
 * config.h: msgd's configuration as a plain struct.  libconfig is used only
 * inside config.c; nothing of its types escapes.  See msgd.conf(5).
 */
#ifndef MSGD_CONFIG_H
#define MSGD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONF_LISTEN_MAX		16
#define CONF_ADDR_MAX		128	/* "unix:/path" or "[v6]:port" */
#define CONF_PATH_MAX		256
#define CONF_NAME_MAX		33	/* user and group names */
#define CONF_ERRORS_MAX		4096	/* all messages of one load */

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
	uint32_t	 idle_timeout_ms;	/* 0: never */
	uint32_t	 read_timeout_ms;
	uint32_t	 shutdown_timeout_ms;
	uint32_t	 worker_timeout_ms;	/* 0: no hang detection */
	uint32_t	 respawn_throttle_ms;
	uint32_t	 max_requests;		/* per worker, 0: no limit */
	char		 pidfile[CONF_PATH_MAX];
	char		 user[CONF_NAME_MAX];	/* "": keep the starting user */
	char		 group[CONF_NAME_MAX];
	int		 allow_root;
	int		 log_level;
	int		 log_target;		/* enum log_target */
	char		 log_file[CONF_PATH_MAX];
};

void	conf_defaults(struct msgd_conf *);
int	conf_load(const char *, struct msgd_conf *, char *, size_t);

#endif /* MSGD_CONFIG_H */
