/*
 * metrics.c: the HTTP exporter's pure parts (metrics.h).
 *
 * OpenMetrics 1.0 differs from the Prometheus text format 0.0.4 that
 * stats_render.c writes in what a scraper's parser checks: a counter's
 * family (its HELP and TYPE lines) is named without the "_total" its
 * samples carry, HELP text escapes double quotes too, "untyped" is
 * "unknown", and the document ends with "# EOF".  The samples, labels
 * and values are the same, so the OpenMetrics document is the text one
 * rewritten line by line: one renderer, two formats that cannot drift.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics.h"

#define ACCEPT_MAX	4096	/* longer Accept headers: read this much */
#define OM_COUNTERS_MAX	256	/* counter families of one document */

static const unsigned int metrics_codes[METRICS_NCODES] = {
#define X(c)	c,
	METRICS_CODES(X)
#undef X
};

/* The counter index of an HTTP status code, -1 for one not counted. */
int
metrics_code_index(unsigned int code)
{
	int	i;

	for (i = 0; i < METRICS_NCODES; i++)
		if (metrics_codes[i] == code)
			return (i);
	return (-1);
}

/* s without leading and trailing blanks, in place (s is writable). */
static char *
trim(char *s)
{
	char	*e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return (s);
}

/*
 * One media range of an Accept header ("type/sub; version=1.0.0;
 * q=0.5"), in place: its type, the version parameter (NULL if none) and
 * q (1 if none; a malformed q is 0, so it never wins).
 */
static void
accept_range(char *r, char **type, char **version, double *q)
{
	char	*p, *v, *end;

	*version = NULL;
	*q = 1.0;
	p = strchr(r, ';');
	if (p != NULL)
		*p++ = '\0';
	*type = trim(r);
	while (p != NULL) {
		v = p;
		if ((p = strchr(p, ';')) != NULL)
			*p++ = '\0';
		v = trim(v);
		if (strncasecmp(v, "q=", 2) == 0) {
			*q = strtod(v + 2, &end);
			if (end == v + 2 || *trim(end) != '\0' || *q < 0 ||
			    *q > 1)
				*q = 0;
		} else if (strncasecmp(v, "version=", 8) == 0)
			*version = trim(v + 8);
	}
}

/*
 * Does the Accept header ask for OpenMetrics 1.0 over the text format?
 * Yes when application/openmetrics-text (unversioned or version=1.0.0)
 * has a q above 0 and at least that of text/plain (unversioned or
 * 0.0.4), text/ * and * / *: Prometheus sends OpenMetrics first.  No
 * header, or one that names neither, gets the text format.  An
 * OpenMetrics version other than 1.0.0 (0.0.1) is not served as such.
 */
int
metrics_accept_openmetrics(const char *accept)
{
	char	 copy[ACCEPT_MAX], *r, *next, *type, *version;
	double	 q, q_om = 0, q_text = 0;

	if (accept == NULL)
		return (0);
	snprintf(copy, sizeof(copy), "%s", accept);
	for (r = copy; r != NULL; r = next) {
		if ((next = strchr(r, ',')) != NULL)
			*next++ = '\0';
		accept_range(r, &type, &version, &q);
		if (strcasecmp(type, "application/openmetrics-text") == 0) {
			if ((version == NULL || strcmp(version, "1.0.0") ==
			    0) && q > q_om)
				q_om = q;
		} else if ((strcasecmp(type, "text/plain") == 0 &&
		    (version == NULL || strcmp(version, "0.0.4") == 0)) ||
		    strcasecmp(type, "text/*") == 0 ||
		    strcmp(type, "*/*") == 0) {
			if (q > q_text)
				q_text = q;
		}
	}
	return (q_om > 0 && q_om >= q_text);
}

/* Length of the metric name at s. */
static size_t
name_len(const char *s, const char *end)
{
	const char	*p = s;

	while (p < end && (isalnum((unsigned char)*p) || *p == '_' ||
	    *p == ':'))
		p++;
	return ((size_t)(p - s));
}

/* A "# TYPE name counter" line: the name's span, else NULL. */
static const char *
counter_type(const char *line, const char *end, size_t *len)
{
	const char	*name;
	size_t		 n;

	if ((size_t)(end - line) < 7 || memcmp(line, "# TYPE ", 7) != 0)
		return (NULL);
	name = line + 7;
	n = name_len(name, end);
	if ((size_t)(end - name) != n + 8 || memcmp(name + n, " counter", 8))
		return (NULL);
	*len = n;
	return (name);
}

/* Is name (len) one of the counter families found? */
static int
is_counter(const char *const *names, const size_t *lens, int n,
    const char *name, size_t len)
{
	int	i;

	for (i = 0; i < n; i++)
		if (lens[i] == len && memcmp(names[i], name, len) == 0)
			return (1);
	return (0);
}

/*
 * "# HELP name text" or "# TYPE name type" with a counter's name
 * written without its "_total"; HELP text with double quotes escaped.
 */
static int
om_meta(struct buf *out, const char *line, const char *end,
    const char *const *names, const size_t *lens, int n)
{
	const char	*name = line + 7, *p;
	size_t		 len = name_len(name, end), keep = len;
	int		 help = line[2] == 'H', rc = 0;

	if (is_counter(names, lens, n, name, len) && len > 6 &&
	    memcmp(name + len - 6, "_total", 6) == 0)
		keep = len - 6;
	rc |= buf_append(out, line, 7);
	rc |= buf_append(out, name, keep);
	p = name + len;
	if (!help) {
		if ((size_t)(end - p) == 8 && memcmp(p, " untyped", 8) == 0)
			rc |= buf_append(out, " unknown", 8);
		else
			rc |= buf_append(out, p, (size_t)(end - p));
		return (rc);
	}
	for (; p < end; p++) {
		/* A quote after a backslash is escaped already (\\ pairs). */
		if (*p == '\\' && p + 1 < end) {
			rc |= buf_append(out, p, 2);
			p++;
		} else if (*p == '"')
			rc |= buf_append(out, "\\\"", 2);
		else
			rc |= buf_append(out, p, 1);
	}
	return (rc);
}

/*
 * The Prometheus text document in (as stats_render_prometheus writes it,
 * with msgd_http_* after it) as OpenMetrics 1.0, appended to out.  Every
 * counter of msgd ends in "_total" in the text format, so its samples
 * keep their names and only the family is renamed.  0, or -1 (out of
 * memory, or too many counter families).
 */
int
metrics_openmetrics(const uint8_t *in, size_t len, struct buf *out)
{
	const char	*names[OM_COUNTERS_MAX], *s = (const char *)in;
	const char	*end = s + len, *line, *eol, *name;
	size_t		 lens[OM_COUNTERS_MAX], nl;
	int		 n = 0, rc = 0;

	for (line = s; line < end; line = eol + 1) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			eol = end;
		if ((name = counter_type(line, eol, &nl)) == NULL)
			continue;
		if (n == OM_COUNTERS_MAX)
			return (-1);
		names[n] = name;
		lens[n++] = nl;
	}
	/* About the input's size: one allocation, not a doubling series. */
	if (buf_reserve(out, len + len / 16 + 64) == -1)
		return (-1);
	for (line = s; line < end; line = eol + 1) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			eol = end;
		if (eol == line)
			continue;	/* OpenMetrics has no blank lines */
		if ((size_t)(eol - line) > 7 && (memcmp(line, "# HELP ", 7) ==
		    0 || memcmp(line, "# TYPE ", 7) == 0))
			rc |= om_meta(out, line, eol, names, lens, n);
		else if (line[0] == '#')
			continue;	/* other comments are not allowed */
		else
			rc |= buf_append(out, line, (size_t)(eol - line));
		rc |= buf_append(out, "\n", 1);
	}
	rc |= buf_append(out, "# EOF\n", 6);
	return (rc != 0 ? -1 : 0);
}

/*
 * What /health answers for the master's state in header h at now (mono
 * ms): 200 while serving, 503 while starting, draining or stopping, or
 * when the master's heartbeat is stale (a stopped or wedged master); the
 * word for the JSON body in *status.
 */
int
metrics_health(const struct stats_hdr *h, uint64_t now, const char **status)
{
	uint64_t	hb = h->master_heartbeat_ms;

	if (hb == 0 || (now > hb && now - hb > METRICS_MASTER_STALE_MS)) {
		*status = "unresponsive";
		return (503);
	}
	*status = stats_mstate_name(h->mstate);
	return (h->mstate == STATS_M_SERVING ? 200 : 503);
}

/*
 * The exporter's own counters, in the text format 0.0.4: requests by
 * status code, connections accepted, refused (allow list, limit) and
 * closed without an answer of ours (malformed, too large, too slow, or
 * the client left).
 */
int
metrics_render_http(const struct metrics_counters *mc, struct buf *b)
{
	int	i, rc = 0;

	rc |= buf_printf(b, "# HELP msgd_http_requests_total HTTP requests "
	    "the metrics exporter answered, by status code.\n"
	    "# TYPE msgd_http_requests_total counter\n");
	for (i = 0; i < METRICS_NCODES; i++)
		rc |= buf_printf(b, "msgd_http_requests_total{code=\"%u\"} "
		    "%" PRIu64 "\n", metrics_codes[i], mc->requests[i]);
	rc |= buf_printf(b, "# HELP msgd_http_connections_total HTTP "
	    "connections the metrics exporter accepted.\n"
	    "# TYPE msgd_http_connections_total counter\n"
	    "msgd_http_connections_total %" PRIu64 "\n", mc->connections);
	rc |= buf_printf(b, "# HELP msgd_http_connections_refused_total HTTP "
	    "connections closed at accept, by reason.\n"
	    "# TYPE msgd_http_connections_refused_total counter\n"
	    "msgd_http_connections_refused_total{reason=\"allow\"} %" PRIu64
	    "\nmsgd_http_connections_refused_total{reason=\"limit\"} %" PRIu64
	    "\n", mc->refused_allow, mc->refused_limit);
	rc |= buf_printf(b, "# HELP msgd_http_connections_unanswered_total "
	    "HTTP connections closed without an answer of the exporter "
	    "(malformed, too large, too slow, or the client left).\n"
	    "# TYPE msgd_http_connections_unanswered_total counter\n"
	    "msgd_http_connections_unanswered_total %" PRIu64 "\n",
	    mc->unanswered);
	return (rc != 0 ? -1 : 0);
}
