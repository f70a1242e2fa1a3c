/*
 * metrics.h: the pure parts of the HTTP exporter (exporter.c): which
 * format a scraper asks for (Accept), the Prometheus text turned into
 * OpenMetrics, what /health answers for the master's state, and the
 * exporter's own counters as msgd_http_* lines.  No I/O, no globals: the
 * unit tests drive them directly.
 */
#ifndef MSGD_METRICS_H
#define MSGD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "stats.h"

/* The master's heartbeat (once a second) older than this: not healthy. */
#define METRICS_MASTER_STALE_MS	5000

#define METRICS_CT_TEXT	"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_CT_OM	"application/openmetrics-text; version=1.0.0; " \
			"charset=utf-8"

/* The status codes the exporter answers, each counted. */
#define METRICS_CODES(X)	X(200) X(401) X(403) X(404) X(405) X(500) X(503)

enum metrics_code {
#define X(c)	METRICS_C##c,
	METRICS_CODES(X)
#undef X
	METRICS_NCODES
};

/* What the exporter counts about itself (since it started). */
struct metrics_counters {
	uint64_t	requests[METRICS_NCODES];	/* answered, by code */
	uint64_t	connections;		/* accepted */
	uint64_t	refused_allow;		/* outside the allow list */
	uint64_t	refused_limit;		/* past the connection limit */
	uint64_t	unanswered;		/* closed without our answer */
};

int	metrics_code_index(unsigned int);
int	metrics_accept_openmetrics(const char *);
int	metrics_openmetrics(const uint8_t *, size_t, struct buf *);
int	metrics_health(const struct stats_hdr *, uint64_t, const char **);
int	metrics_render_http(const struct metrics_counters *, struct buf *);

#endif /* MSGD_METRICS_H */
