/*
 * fuzz_stats.c: libFuzzer target for the statistics segment reader, as
 * msgctl stats uses it on a file it did not write (stats_open,
 * stats_snapshot, then the table, JSON and Prometheus renderers).
 *
 * The input is the whole segment file.  It is written to a memfd and
 * opened by its /proc/self/fd/N name, so stats_open() maps it exactly as
 * it maps a real stats_file.  A segment that stats_open() accepts must
 * render without touching memory outside it, and every document must keep
 * its format whatever the strings in the file hold: JSON that parses, a
 * Prometheus exposition whose every line is a comment or a well-formed
 * sample, a table with no control byte a terminal would obey.
 *
 * Seeds: real segments, made by fuzz_gen_seeds() below with the current
 * stats_create() (so they follow the current layout); stats_seeds writes
 * them into a directory, replay_stats runs them under make check.
 *
 * Build and run: make fuzz && ./tests/fuzz/stats_seeds dir &&
 *     ./tests/fuzz/fuzz_stats dir
 */
#include <sys/mman.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fuzz.h"
#include "stats.h"
#include "stats_render.h"
#include "stats_snap.h"
#include "util.h"

/* ------------------------------------------------------------ JSON check */

static const char	*json_p, *json_end;

static int	json_value(int);

static void
json_ws(void)
{
	while (json_p < json_end && (*json_p == ' ' || *json_p == '\n' ||
	    *json_p == '\t' || *json_p == '\r'))
		json_p++;
}

static int
json_lit(const char *s)
{
	size_t	n = strlen(s);

	if ((size_t)(json_end - json_p) < n || memcmp(json_p, s, n) != 0)
		return (-1);
	json_p += n;
	return (0);
}

/* A string: printable ASCII or escapes (the renderers write ASCII). */
static int
json_string(void)
{
	int	i;

	if (json_p >= json_end || *json_p++ != '"')
		return (-1);
	while (json_p < json_end && *json_p != '"') {
		if ((unsigned char)*json_p < 0x20 ||
		    (unsigned char)*json_p >= 0x7f)
			return (-1);
		if (*json_p++ != '\\')
			continue;
		if (json_p >= json_end)
			return (-1);
		if (*json_p == 'u') {
			for (i = 1; i <= 4; i++)
				if (json_p + i >= json_end ||
				    strchr("0123456789abcdefABCDEF",
				    json_p[i]) == NULL || json_p[i] == '\0')
					return (-1);
			json_p += 5;
		} else if (strchr("\"\\/bfnrt", *json_p) != NULL &&
		    *json_p != '\0')
			json_p++;
		else
			return (-1);
	}
	if (json_p >= json_end)
		return (-1);
	json_p++;
	return (0);
}

static int
json_digits(void)
{
	const char	*s = json_p;

	while (json_p < json_end && *json_p >= '0' && *json_p <= '9')
		json_p++;
	return (json_p > s ? 0 : -1);
}

static int
json_number(void)
{
	if (json_p < json_end && *json_p == '-')
		json_p++;
	if (json_digits() == -1)
		return (-1);
	if (json_p < json_end && *json_p == '.') {
		json_p++;
		if (json_digits() == -1)
			return (-1);
	}
	if (json_p < json_end && (*json_p == 'e' || *json_p == 'E')) {
		json_p++;
		if (json_p < json_end && (*json_p == '+' || *json_p == '-'))
			json_p++;
		if (json_digits() == -1)
			return (-1);
	}
	return (0);
}

static int
json_members(char close, int depth)
{
	json_ws();
	if (json_p < json_end && *json_p == close) {
		json_p++;
		return (0);
	}
	for (;;) {
		if (close == '}') {
			json_ws();
			if (json_string() == -1)
				return (-1);
			json_ws();
			if (json_p >= json_end || *json_p++ != ':')
				return (-1);
		}
		if (json_value(depth + 1) == -1)
			return (-1);
		json_ws();
		if (json_p >= json_end)
			return (-1);
		if (*json_p == close) {
			json_p++;
			return (0);
		}
		if (*json_p++ != ',')
			return (-1);
	}
}

static int
json_value(int depth)
{
	if (depth > 32)
		return (-1);
	json_ws();
	if (json_p >= json_end)
		return (-1);
	switch (*json_p) {
	case '{':
		json_p++;
		return (json_members('}', depth));
	case '[':
		json_p++;
		return (json_members(']', depth));
	case '"':
		return (json_string());
	case 't':
		return (json_lit("true"));
	case 'f':
		return (json_lit("false"));
	case 'n':
		return (json_lit("null"));
	default:
		return (json_number());
	}
}

/* Exactly one JSON document, then a newline. */
static void
check_json(const struct buf *b)
{
	json_p = (const char *)buf_head(b);
	json_end = json_p + buf_used(b);
	CHECK(json_value(0) == 0);
	json_ws();
	CHECK(json_p == json_end);
}

/* ------------------------------------------------------ Prometheus check */

static int
prom_name_char(char c, int first)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    c == '_' || c == ':' || (!first && c >= '0' && c <= '9'));
}

/* "# HELP name text", "# TYPE name type" or name{l="v",...} value. */
static void
check_prom_line(const char *p, const char *end)
{
	const char	*s;

	for (s = p; s < end; s++)
		CHECK((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f);
	if (end - p >= 7 && (memcmp(p, "# HELP ", 7) == 0 ||
	    memcmp(p, "# TYPE ", 7) == 0)) {
		s = p + 7;
		CHECK(s < end && prom_name_char(*s, 1));
		while (s < end && prom_name_char(*s, 0))
			s++;
		CHECK(s < end && *s == ' ');
		if (p[2] == 'T') {
			s++;
			CHECK((end - s == 7 && memcmp(s, "counter", 7) == 0) ||
			    (end - s == 5 && memcmp(s, "gauge", 5) == 0) ||
			    (end - s == 9 && memcmp(s, "histogram", 9) == 0));
		} else
			/* HELP text: backslash only as \\ or \n. */
			for (s++; s < end; s++)
				if (*s == '\\') {
					CHECK(s + 1 < end &&
					    (s[1] == '\\' || s[1] == 'n'));
					s++;
				}
		return;
	}
	s = p;
	CHECK(s < end && prom_name_char(*s, 1));
	while (s < end && prom_name_char(*s, 0))
		s++;
	if (s < end && *s == '{') {
		s++;
		for (;;) {
			CHECK(s < end && prom_name_char(*s, 1) && *s != ':');
			while (s < end && prom_name_char(*s, 0) && *s != ':')
				s++;
			CHECK(s + 1 < end && s[0] == '=' && s[1] == '"');
			for (s += 2; s < end && *s != '"'; s++)
				if (*s == '\\') {
					CHECK(s + 1 < end && (s[1] == '\\' ||
					    s[1] == 'n' || s[1] == '"'));
					s++;
				}
			CHECK(s < end && *s == '"');
			s++;
			CHECK(s < end);
			if (*s == '}')
				break;
			CHECK(*s == ',');
			s++;
		}
		s++;
	}
	CHECK(s < end && *s == ' ');
	s++;
	CHECK(s < end);
	for (; s < end; s++)
		CHECK((*s >= '0' && *s <= '9') || *s == '.' || *s == '+' ||
		    *s == '-' || *s == 'e' || *s == 'I' || *s == 'n' ||
		    *s == 'f' || *s == 'N' || *s == 'a');
}

static void
check_prom(const struct buf *b)
{
	const char	*p = (const char *)buf_head(b), *end = p + buf_used(b);
	const char	*nl;

	CHECK(buf_used(b) > 0 && end[-1] == '\n');
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		CHECK(nl != NULL);
		check_prom_line(p, nl);
	}
}

/* ----------------------------------------------------------- table check */

/* Nothing a terminal would take as a control: printable ASCII and \n. */
static void
check_text(const struct buf *b)
{
	const uint8_t	*p = buf_head(b);
	size_t		 i;

	for (i = 0; i < buf_used(b); i++)
		CHECK(p[i] == '\n' || (p[i] >= 0x20 && p[i] < 0x7f));
}

/* ---------------------------------------------------------------- target */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 fd = -1;
	static char		 path[64];
	struct stats_seg	 seg;
	struct stats_snap	 sn, sn2;
	struct buf		 b;
	char			 cause[256];

	if (fd == -1) {
		if ((fd = memfd_create("fuzz-stats", MFD_CLOEXEC)) == -1)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		/* A torn slot is used as copied: do not wait for it. */
		stats_set_read_budget(0);
	}
	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, size, 0) !=
	    (ssize_t)size)
		abort();

	memset(cause, 0x5a, sizeof(cause));
	if (stats_open(&seg, path, cause, sizeof(cause)) == -1) {
		CHECK(memchr(cause, '\0', sizeof(cause)) != NULL);
		CHECK(seg.hdr == NULL);
		return (0);
	}
	CHECK(seg.hdr != NULL && seg.size == size && !seg.writable);
	if (stats_snapshot(&seg, &sn, cause, sizeof(cause)) == -1) {
		CHECK(sn.slots == NULL && sn.retired == NULL &&
		    sn.total == NULL);
		stats_close(&seg);
		return (0);
	}
	memset(&b, 0, sizeof(b));
	CHECK(stats_render_json(&sn, &b) == 0);
	check_json(&b);
	buf_release(&b);
	CHECK(stats_render_prometheus(&sn, &b) == 0);
	check_prom(&b);
	buf_release(&b);
	CHECK(stats_render_table(&sn, NULL, &b) == 0);
	check_text(&b);
	buf_release(&b);
	/* --watch: a second snapshot, rates against the first. */
	if (stats_snapshot(&seg, &sn2, cause, sizeof(cause)) == 0) {
		sn2.now_ms = sn.now_ms + 1000;
		CHECK(stats_render_table(&sn2, &sn, &b) == 0);
		check_text(&b);
		buf_release(&b);
		stats_snap_free(&sn2);
	}
	stats_snap_free(&sn);
	stats_close(&seg);
	return (0);
}
