/*
 * stats_carry.c: totals by name from one binary to the next
 * (stats_carry.h).  Pure: no I/O, no globals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "stats_carry.h"
#include "util.h"

/* The counters (not the gauges) by field name, as the X-macro lists them. */
static const struct carry_field {
	const char	*name;
	size_t		 off;
} carry_fields[] = {
#define X(f, m, l, k, u, h)						\
	{ STATS_##k == STATS_GAUGE ? NULL : #f,				\
	    offsetof(struct stats_counters, f) },
	STATS_COUNTERS(X)
#undef X
};

static uint64_t
carry_add(uint64_t a, uint64_t b)
{
	return (a + b < a ? UINT64_MAX : a + b);
}

/*
 * Encode the totals c into buf: returns the length, or -1 when len is too
 * small (CARRY_MAX always is enough).
 */
int
stats_carry_encode(const struct stats_counters *c, char *buf, size_t len)
{
	const struct hist	*h = &c->latency;
	size_t			 i, off = 0;
	uint64_t		 v;
	int			 n;

#define PUT(...) do {							\
	n = snprintf(buf + off, len - off, __VA_ARGS__);		\
	if (n < 0 || (size_t)n >= len - off)				\
		return (-1);						\
	off += (size_t)n;						\
} while (0)
	if (len == 0)
		return (-1);
	buf[0] = '\0';
	for (i = 0; i < nitems(carry_fields); i++) {
		if (carry_fields[i].name == NULL)
			continue;
		memcpy(&v, (const char *)c + carry_fields[i].off, sizeof(v));
		if (v != 0)
			PUT("c %s %llu\n", carry_fields[i].name,
			    (unsigned long long)v);
	}
	PUT("h count %llu\nh sum %llu\nh max %llu\n",
	    (unsigned long long)h->count, (unsigned long long)h->sum,
	    (unsigned long long)h->max);
	for (i = 0; i < HIST_NBUCKETS; i++)
		if (h->bucket[i] != 0)
			PUT("b %llu %llu\n",
			    (unsigned long long)hist_bucket_upper(i),
			    (unsigned long long)h->bucket[i]);
#undef PUT
	return ((int)off);
}

/* A decimal number that fits 64 bits, the whole of s. */
static int
carry_u64(const char *s, uint64_t *v)
{
	const char	*err;

	return (parse_u64(s, 0, UINT64_MAX, v, &err));
}

/* The bucket of ours a bucket of the old release (its upper bound) joins. */
static size_t
carry_bucket(uint64_t upper)
{
	size_t	i;

	for (i = 0; i < HIST_NBUCKETS; i++)
		if (hist_bucket_upper(i) >= upper)
			return (i);
	return (HIST_NBUCKETS - 1);
}

/* One line, its fields split at single spaces (three exactly). */
static int
carry_line(char *line, struct stats_counters *out, int *unknown)
{
	struct hist	*h = &out->latency;
	char		*kind, *name, *val;
	uint64_t	 v, upper, *dst;
	size_t		 i;

	kind = line;
	if ((name = strchr(kind, ' ')) == NULL)
		return (-1);
	*name++ = '\0';
	if ((val = strchr(name, ' ')) == NULL)
		return (-1);
	*val++ = '\0';
	if (strchr(val, ' ') != NULL || *name == '\0' || carry_u64(val, &v) == -1)
		return (-1);
	if (strcmp(kind, "c") == 0) {
		for (i = 0; i < nitems(carry_fields); i++)
			if (carry_fields[i].name != NULL &&
			    strcmp(carry_fields[i].name, name) == 0)
				break;
		if (i == nitems(carry_fields)) {
			(*unknown)++;	/* the old release's alone */
			return (0);
		}
		dst = (uint64_t *)(void *)((char *)out + carry_fields[i].off);
		*dst = carry_add(*dst, v);
	} else if (strcmp(kind, "h") == 0) {
		if (strcmp(name, "count") == 0)
			h->count = carry_add(h->count, v);
		else if (strcmp(name, "sum") == 0)
			h->sum = carry_add(h->sum, v);
		else if (strcmp(name, "max") == 0)
			h->max = v > h->max ? v : h->max;
		else
			(*unknown)++;
	} else if (strcmp(kind, "b") == 0) {
		if (carry_u64(name, &upper) == -1)
			return (-1);
		i = carry_bucket(upper);
		h->bucket[i] = carry_add(h->bucket[i], v);
	} else
		(*unknown)++;
	return (0);
}

/*
 * Decode len bytes of buf, adding every counter we know into out (the
 * caller zeroes it) and counting in *unknown the lines of counters we do
 * not.  -1 with cause on anything malformed: a line too long or without
 * its newline, too many lines, a field that is not a name or a number.
 * Nothing is trusted but the bounds checked here; sums saturate.
 */
int
stats_carry_decode(const char *buf, size_t len, struct stats_counters *out,
    int *unknown, char *cause, size_t clen)
{
	char		 line[CARRY_LINE_MAX + 1];
	const char	*p = buf, *nl, *end = buf + len;
	size_t		 n, i;
	int		 lines = 0;

	*unknown = 0;
	if (len > CARRY_MAX) {
		snprintf(cause, clen, "%zu bytes (at most %d)", len, CARRY_MAX);
		return (-1);
	}
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			snprintf(cause, clen, "line %d has no end", lines + 1);
			return (-1);
		}
		n = (size_t)(nl - p);
		if (n > CARRY_LINE_MAX || ++lines > CARRY_LINES_MAX) {
			snprintf(cause, clen, "line %d too long, or too many",
			    lines);
			return (-1);
		}
		memcpy(line, p, n);
		line[n] = '\0';
		for (i = 0; i < n; i++)
			if (!((line[i] >= 'a' && line[i] <= 'z') ||
			    (line[i] >= '0' && line[i] <= '9') ||
			    line[i] == '_' || line[i] == ' '))
				break;
		if (i != n || carry_line(line, out, unknown) == -1) {
			snprintf(cause, clen, "line %d is malformed", lines);
			return (-1);
		}
		p = nl + 1;
	}
	return (0);
}
