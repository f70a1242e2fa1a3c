/*
 * test_stats_render.c: the renderers (stats_render.c): the JSON document,
 * the Prometheus text format and the table.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "hist.h"
#include "proto.h"
#include "stats.h"
#include "stats_render.h"
#include "stats_snap.h"
#include "util.h"
#include "stats_fx.h"

/* --------------------------------------------------------------- JSON */

static void
test_stats_render_json_parses(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			 p[512], key[128], *out;
	uint32_t		 k;

	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_JSON);
	/* Key fields, counters by their field names. */
	assert_true(out[0] == '{');
	assert_non_null(strstr(out, "\"totals\": {\"counters\": {"));
	assert_non_null(strstr(out, "\"retired\": {\"counters\": {"));
	assert_non_null(strstr(out, "\"workers\": [{\"slot\": 0, "
	    "\"pid\": 1001, \"state\": \"idle\", \"generation\": 3, "));
	assert_non_null(strstr(out, "\"latency_us\": {\"count\": "));
	assert_non_null(strstr(out, "\"p99.9\": "));
	assert_non_null(strstr(out, "\"listeners\": ["));
	assert_non_null(strstr(out, "\"msgd\": {\"version\": \""));
	for (k = 0; k < sn.hdr.ndesc; k++) {
		if (sn.hdr.desc[k].kind == STATS_HISTOGRAM)
			continue;
		snprintf(key, sizeof(key), "\"%s\": ", sn.hdr.desc[k].field);
		assert_non_null(strstr(out, key));
	}
	/* The listener name is escaped. */
	assert_non_null(strstr(out, "\"unix:/run/msgd/\\\"sock\\\"\\\\1\""));
	fx_file(fx, "stats.json", p, sizeof(p));
	write_file(p, out, strlen(out));
	free(out);
	stats_snap_free(&sn);
	if (!have_python()) {
		print_message("python3 not found: not checking that the JSON "
		    "parses\n");
		return;
	}
	assert_int_equal(python_json(p, NULL), 0);
	assert_int_equal(python_json(p,
	    "d[\"totals\"][\"counters\"][\"req_echo\"] == 7 and "
	    "d[\"retired\"][\"counters\"][\"req_echo\"] == 4 and "
	    "d[\"retired\"][\"counters\"][\"conn_active\"] == 0 and "
	    "d[\"totals\"][\"counters\"][\"conn_accepted\"] == 9 and "
	    "d[\"totals\"][\"latency_us\"][\"count\"] == 10 and "
	    "d[\"totals\"][\"latency_us\"][\"max\"] == 70000 and "
	    "d[\"workers\"][1][\"pid\"] == 1002 and "
	    "d[\"workers\"][0][\"counters\"][\"bytes_out\"] == 2000 and "
	    "d[\"listeners\"][1][\"address\"] == "
	    "\"unix:/run/msgd/\\\"sock\\\"\\\\1\" and "
	    "d[\"master\"][\"workers\"] == 2 and d[\"torn_slots\"] == 0"), 0);
}

/* A folded slot is no worker: pid 0 means nobody is there (slot_live). */
static void
test_stats_render_json_folded_slot_not_listed(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			*out;

	busy_worker(fx, 0, 3011);
	busy_worker(fx, 1, 3012);
	stats_fold(&fx->seg, 0, NULL);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_JSON);
	assert_non_null(strstr(out, "\"workers\": [{\"slot\": 1, "));
	assert_null(strstr(out, "\"pid\": 0,"));
	free(out);
	out = render(&sn, NULL, R_PROM);
	assert_null(strstr(out, "worker=\"0\""));
	free(out);
	stats_snap_free(&sn);
}

/* ---------------------------------------------------------- Prometheus */

/* A sample line of the text format as msgd writes it. */
#define PROM_LINE							\
	"^msgd_[a-z_]+(\\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\\})?" \
	" [0-9]+(\\.[0-9]+)?$"
#define MAX_FAMILIES	64

struct family {
	char	name[128];
	char	type[16];
	int	help, ntype, samples;
};

static struct family *
family_get(struct family *f, int *n, const char *name)
{
	int	i;

	for (i = 0; i < *n; i++)
		if (strcmp(f[i].name, name) == 0)
			return (&f[i]);
	assert_true(*n < MAX_FAMILIES);
	memset(&f[*n], 0, sizeof(f[*n]));
	snprintf(f[*n].name, sizeof(f[*n].name), "%s", name);
	return (&f[(*n)++]);
}

/* The family a sample belongs to: its name less a histogram suffix. */
static void
sample_family(const struct family *cur, const char *line, char *fam,
    size_t len)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	size_t	n = strcspn(line, "{ "), i, sl;

	snprintf(fam, len, "%.*s", (int)n, line);
	if (cur == NULL || strcmp(cur->type, "histogram") != 0)
		return;
	for (i = 0; i < nitems(suffixes); i++) {
		sl = strlen(suffixes[i]);
		if (n > sl && strcmp(fam + n - sl, suffixes[i]) == 0 &&
		    strncmp(fam, cur->name, n - sl) == 0 &&
		    cur->name[n - sl] == '\0') {
			fam[n - sl] = '\0';
			return;
		}
	}
}

/*
 * Every sample line has the exposition syntax; each family has one HELP
 * and one TYPE, before its samples, and its samples come together.
 */
static void
check_prometheus(const char *text)
{
	struct family	 f[MAX_FAMILIES], *cur = NULL, *g;
	regex_t		 re;
	char		*copy, *line, *save = NULL, name[128], fam[128];
	int		 nf = 0, i, nsamples = 0;

	assert_int_equal(regcomp(&re, PROM_LINE, REG_EXTENDED | REG_NOSUB),
	    0);
	/* The pattern itself tells good lines from bad ones. */
	assert_int_equal(regexec(&re, "msgd_a_b{c=\"d e\",f=\"\"} 12.5", 0,
	    NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "msgd_a{c=d} 1", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "msgd_a -1", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "msgd_a{c=\"d\"}  1", 0, NULL, 0),
	    0);
	assert_non_null(copy = strdup(text));
	assert_true(text[strlen(text) - 1] == '\n');
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", name), 1);
			g = family_get(f, &nf, name);
			assert_int_equal(g->samples, 0);
			assert_int_equal(g->ntype, 0);
			g->help++;
			if (g->help != 1)
				fail_msg("second HELP for %s", name);
			cur = g;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", name), 1);
			g = family_get(f, &nf, name);
			if (g != cur || g->help != 1 || g->ntype != 0)
				fail_msg("TYPE for %s not right after its only "
				    "HELP", name);
			g->ntype++;
			assert_int_equal(sscanf(line + 7, "%*s %15s", g->type),
			    1);
			assert_true(strcmp(g->type, "counter") == 0 ||
			    strcmp(g->type, "gauge") == 0 ||
			    strcmp(g->type, "histogram") == 0);
			continue;
		}
		if (line[0] == '#')
			fail_msg("stray comment: %s", line);
		if (regexec(&re, line, 0, NULL, 0) != 0)
			fail_msg("not a sample line: \"%s\"", line);
		sample_family(cur, line, fam, sizeof(fam));
		if (cur == NULL || strcmp(cur->name, fam) != 0)
			fail_msg("sample \"%s\" outside its family's block",
			    line);
		if (cur->ntype != 1)
			fail_msg("sample \"%s\" before its TYPE", line);
		if (strcmp(cur->type, "counter") == 0 &&
		    strstr(fam, "_total") == NULL)
			fail_msg("counter %s without _total", fam);
		cur->samples++;
		nsamples++;
	}
	for (i = 0; i < nf; i++)
		if (f[i].help != 1 || f[i].ntype != 1)
			fail_msg("%s: %d HELP, %d TYPE", f[i].name, f[i].help,
			    f[i].ntype);
	assert_true(nsamples > 0);
	free(copy);
	regfree(&re);
}

static void
test_stats_render_prometheus_format(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			*out;

	/* An empty segment, then a busy one. */
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_PROM);
	check_prometheus(out);
	free(out);
	stats_snap_free(&sn);
	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_PROM);
	check_prometheus(out);
	assert_non_null(strstr(out, "\n# TYPE msgd_requests_total counter\n"));
	assert_non_null(strstr(out, "\n# TYPE msgd_connections_active "
	    "gauge\n"));
	assert_non_null(strstr(out, "\n# TYPE msgd_request_duration_seconds "
	    "histogram\n"));
	assert_non_null(strstr(out, "\nmsgd_info{version=\""));
	assert_non_null(strstr(out, "\n# TYPE msgd_upgrades_total counter\n"
	    "msgd_upgrades_total 0\n"));
	assert_non_null(strstr(out, "\nmsgd_last_upgrade_time_seconds 0\n"));
	free(out);
	stats_snap_free(&sn);
}

/* Per-worker samples and worker="retired" add up to the totals. */
static void
test_stats_render_prometheus_sums(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			*out;

	populate(fx);
	stats_slot(&fx->seg, 1)->start_us = 1700000000250000ULL;
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_PROM);
	assert_non_null(strstr(out, "\nmsgd_requests_total{op=\"ECHO\","
	    "worker=\"0\"} 3\n"));
	assert_non_null(strstr(out, "\nmsgd_requests_total{op=\"ECHO\","
	    "worker=\"1\"} 0\n"));
	assert_non_null(strstr(out, "\nmsgd_requests_total{op=\"ECHO\","
	    "worker=\"retired\"} 4\n"));
	assert_non_null(strstr(out, "\nmsgd_requests_total{op=\"other\","
	    "worker=\"1\"} 1\n"));
	assert_non_null(strstr(out, "\nmsgd_responses_total{status="
	    "\"NOT_FOUND\",worker=\"1\"} 1\n"));
	assert_non_null(strstr(out, "\nmsgd_connections_accepted_total{"
	    "worker=\"retired\"} 3\n"));
	assert_non_null(strstr(out, "\nmsgd_connections_active{worker=\"0\"} "
	    "2\n"));
	/* Gauges have no retired sample. */
	assert_null(strstr(out, "msgd_connections_active{worker=\"retired\""));
	assert_non_null(strstr(out, "\nmsgd_worker_heartbeat_age_seconds{"
	    "worker=\"1\"} "));
	/* A crash loop shows as changes() of a slot's start time. */
	assert_non_null(strstr(out, "\n# TYPE msgd_worker_start_time_seconds "
	    "gauge\nmsgd_worker_start_time_seconds{worker=\"0\"} "));
	assert_non_null(strstr(out, "\nmsgd_worker_start_time_seconds{"
	    "worker=\"1\"} 1700000000.250\n"));
	assert_null(strstr(out, "worker=\"3\""));
	free(out);
	stats_snap_free(&sn);
}

struct le_bucket {
	double		le;		/* -1: +Inf */
	uint64_t	n;
};

/* The histogram's bucket lines, in order; returns how many. */
static int
prom_buckets(const char *text, struct le_bucket *bk, int max,
    uint64_t *count, double *sum)
{
	static const char	 pfx[] = "msgd_request_duration_seconds_bucket"
				    "{le=\"";
	const char		*p;
	char			 le[32];
	int			 n = 0;

	for (p = strstr(text, pfx); p != NULL; p = strstr(p + 1, pfx)) {
		assert_true(n < max);
		assert_int_equal(sscanf(p + sizeof(pfx) - 1, "%31[^\"]\"} %"
		    SCNu64, le, &bk[n].n), 2);
		bk[n].le = strcmp(le, "+Inf") == 0 ? -1 : strtod(le, NULL);
		n++;
	}
	p = strstr(text, "\nmsgd_request_duration_seconds_count ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "\nmsgd_request_duration_seconds_count %"
	    SCNu64, count), 1);
	p = strstr(text, "\nmsgd_request_duration_seconds_sum ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "\nmsgd_request_duration_seconds_sum %lf",
	    sum), 1);
	return (n);
}

static void
test_stats_render_prometheus_histogram(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	struct le_bucket	 bk[HIST_NBUCKETS + 1];
	uint64_t		 count;
	double			 sum;
	char			*out;
	int			 n, i;

	populate(fx);
	/* Beyond the histogram's range: clamped into its last bucket. */
	requests(stats_slot(&fx->seg, 1), MSG_OP_EXEC, MSG_ST_TIMEOUT,
	    20000000, 1);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_PROM);
	n = prom_buckets(out, bk, (int)nitems(bk), &count, &sum);
	assert_true(n >= 2);
	for (i = 1; i < n - 1; i++) {
		assert_true(bk[i].le > bk[i - 1].le);
		assert_true(bk[i].n >= bk[i - 1].n);
	}
	assert_true(bk[n - 1].le == -1);
	assert_true(bk[n - 1].n >= bk[n - 2].n);
	assert_int_equal(bk[n - 1].n, count);
	assert_int_equal(count, POP_REQUESTS + 1);
	assert_int_equal(count, lat_count(&sn, sn.total));
	/* 2*100 + 5000 + 50 + 70000 + 3 + 4*250 us, and 20 s */
	assert_true(sum > 20.076253 - 1e-9 && sum < 20.076253 + 1e-9);
	/* The 20 s request is under no finite bound, all the others are. */
	assert_true(bk[n - 2].le <= 10.0);
	assert_int_equal(bk[n - 2].n, count - 1);
	/* Nothing is as quick as 1 us. */
	assert_true(bk[0].le == 0.000001);
	assert_int_equal(bk[0].n, 0);
	free(out);
	stats_snap_free(&sn);
}

/*
 * "Octave edges only: enough resolution, few lines": one bucket line per
 * power of two from 1 us to 10 s, so adjacent bounds are at most about a
 * factor of two apart and a 100 us and a 70 ms request are told apart.
 */
static void
test_stats_render_prometheus_octave_buckets(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	struct le_bucket	 bk[HIST_NBUCKETS + 1];
	uint64_t		 count;
	double			 sum;
	char			*out;
	int			 n, i, split = 0;

	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_PROM);
	n = prom_buckets(out, bk, (int)nitems(bk), &count, &sum);
	print_message("%d bucket lines, last finite le=%f\n", n,
	    n > 1 ? bk[n - 2].le : 0.0);
	for (i = 1; i < n - 1; i++) {
		if (bk[i].le > 3.0 * bk[i - 1].le + 1e-9)
			fail_msg("no bucket between le=%f and le=%f",
			    bk[i - 1].le, bk[i].le);
		/* Some bound parts the 5 ms requests from the 70 ms one. */
		if (bk[i].le > 0.005 && bk[i].le < 0.07 &&
		    bk[i].n == count - 1)
			split = 1;
	}
	assert_true(split);
	assert_true(n - 1 >= 20);
	free(out);
	stats_snap_free(&sn);
}

/* --------------------------------------------------------------- table */

/*
 * The total row's words less its share column (which may be blank):
 * total, active, accepted, requests, bytes_in, bytes_out[, req/s].  A
 * share shown goes to *share, else -1.
 */
static int
total_row(const char *out, char *line, size_t len, char **w, long *share)
{
	char	*all[16];
	int	 n, i, k = 0;

	*share = -1;
	assert_int_equal(find_line(out, "total ", line, len), 0);
	n = words(line, all, 16);
	for (i = 0; i < n; i++) {
		if (all[i][strlen(all[i]) - 1] == '%')
			*share = strtol(all[i], NULL, 10);
		else
			w[k++] = all[i];
	}
	return (k);
}

static void
test_stats_render_table_rows(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			 line[512], *w[16], *out;
	long			 share;
	int			 n;

	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_TABLE);
	assert_non_null(strstr(out, "msgd " PACKAGE_VERSION " (stats layout "));
	assert_int_equal(find_line(out, "slot ", line, sizeof(line)), 0);
	n = words(line, w, 16);
	assert_int_equal(n, 11);
	assert_string_equal(w[1], "pid");
	assert_string_equal(w[2], "state");
	assert_string_equal(w[4], "active");
	assert_string_equal(w[5], "accepted");
	assert_string_equal(w[7], "requests");
	assert_string_equal(w[10], "beat");
	/* One row per live worker: slot, pid, state, ..., requests. */
	assert_int_equal(find_line(out, "0 ", line, sizeof(line)), 0);
	n = words(line, w, 16);
	assert_int_equal(n, 11);
	assert_string_equal(w[1], "1001");
	assert_string_equal(w[2], "idle");
	assert_string_equal(w[4], "2");
	assert_string_equal(w[5], "4");
	assert_string_equal(w[7], "3");
	assert_string_equal(w[8], "1000");
	assert_int_equal(find_line(out, "1 ", line, sizeof(line)), 0);
	assert_int_equal(find_line(out, "3 ", line, sizeof(line)), -1);
	/* The total: retired included. */
	assert_int_equal(total_row(out, line, sizeof(line), w, &share), 6);
	assert_string_equal(w[1], "3");
	assert_string_equal(w[2], "9");
	assert_string_equal(w[3], "10");
	assert_string_equal(w[4], "1000");
	assert_non_null(strstr(out, "\nlatency (all requests since start): "
	    "p50 "));
	assert_non_null(strstr(out, "\nerrors: protocol 1, busy 0, "
	    "idle timeouts 0, read timeouts 0\n"));
	assert_null(strstr(out, "mid-update"));
	assert_null(strstr(out, "req/s"));
	/* No TLS used: no TLS line; no PROXY header: no proxy line. */
	assert_null(strstr(out, "\ntls: "));
	assert_null(strstr(out, "\nproxy: "));
	free(out);
	stats_snap_free(&sn);
}

/* The TLS line: when TLS was used, its totals, retired workers' too. */
static void
test_stats_render_table_tls(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	struct stats_slot	*s0, *s1;
	char			*out;

	populate(fx);
	s0 = stats_slot(&fx->seg, 0);
	s1 = stats_slot(&fx->seg, 1);
	WADD(s0, tls_active, 1);
	WADD(s0, tls_handshakes, 5);
	WADD(s1, tls_handshakes, 2);
	WADD(s0, tls_resumed, 3);
	WADD(s0, tls_v12, 1);
	WADD(s0, tls_v13, 6);
	WADD(s1, tls_client_certs, 2);
	WADD(s0, tls_fail_protocol, 4);
	WADD(s1, tls_fail_cert, 1);
	WADD(s1, tls_fail_timeout, 7);
	WADD(s0, tls_bad_records, 8);
	WADD(s1, tls_renegotiations, 9);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_TABLE);
	assert_non_null(strstr(out, "\ntls: active 1, handshakes 7 (resumed 3, "
	    "TLSv1.2 1, TLSv1.3 6), client certificates 2; failed: protocol 4, "
	    "certificate 1, timeout 7; bad records 8, renegotiations refused "
	    "9\n"));
	free(out);
	out = render(&sn, NULL, R_PROM);
	assert_non_null(strstr(out, "msgd_tls_handshake_failures_total{"
	    "reason=\"timeout\",worker=\"1\"} 7\n"));
	assert_non_null(strstr(out, "# TYPE msgd_tls_connections_active "
	    "gauge\n"));
	free(out);
	stats_snap_free(&sn);
}

/*
 * The last client certificate subject a worker wrote is shown in every
 * rendering, but as untrusted text: bytes outside printable ASCII become
 * '?', quotes and backslashes are escaped, and a field without its NUL
 * is cut, never read past.
 */
static void
test_stats_render_tls_subject(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	struct stats_slot	*s0, *s1;
	char			*out, want[STATS_SUBJECT_LEN + 64];

	populate(fx);
	s0 = stats_slot(&fx->seg, 0);
	s1 = stats_slot(&fx->seg, 1);
	WADD(s0, tls_client_certs, 1);
	stats_slot_subject(s0, "CN=a\"b\\c\n\x01\xff,O=x");
	memset(s1->tls_subject, 'A', sizeof(s1->tls_subject));
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_TABLE);
	assert_non_null(strstr(out, "\ntls: worker 0 last client certificate: "
	    "CN=a\"b\\c???,O=x\n"));
	memset(want, 'A', STATS_SUBJECT_LEN - 1);
	want[STATS_SUBJECT_LEN - 1] = '\0';
	assert_non_null(strstr(out, want));
	assert_null(strstr(out, "AAAA\x01"));
	free(out);
	out = render(&sn, NULL, R_PROM);
	assert_non_null(strstr(out, "# TYPE msgd_tls_last_client_subject "
	    "gauge\nmsgd_tls_last_client_subject{worker=\"0\",subject=\""
	    "CN=a\\\"b\\\\c???,O=x\"} 1\n"));
	free(out);
	out = render(&sn, NULL, R_JSON);
	assert_non_null(strstr(out, "\"tls_last_subject\": \"CN=a\\\"b\\\\c???,"
	    "O=x\""));
	snprintf(want, sizeof(want), "\"tls_last_subject\": \"%.*s\"",
	    STATS_SUBJECT_LEN - 1, s1->tls_subject);
	assert_non_null(strstr(out, want));
	free(out);
	stats_snap_free(&sn);
}

/* The PROXY line: when a header was expected, its totals and refusals. */
static void
test_stats_render_table_proxy(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	struct stats_slot	*s0, *s1;
	char			*out;

	populate(fx);
	s0 = stats_slot(&fx->seg, 0);
	s1 = stats_slot(&fx->seg, 1);
	WADD(s0, proxy_ok, 5);
	WADD(s1, proxy_ok, 4);
	WADD(s1, proxy_local, 3);
	WADD(s0, proxy_untrusted, 1);
	WADD(s1, proxy_none, 2);
	WADD(s0, proxy_malformed, 3);
	WADD(s0, proxy_too_long, 4);
	WADD(s1, proxy_truncated, 5);
	WADD(s0, proxy_timeout, 6);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_TABLE);
	assert_non_null(strstr(out, "\nproxy: headers 9 (local 3); refused: "
	    "untrusted 1, none 2, malformed 3, too long 4, truncated 5, "
	    "timeout 6\n"));
	free(out);
	out = render(&sn, NULL, R_PROM);
	assert_non_null(strstr(out, "msgd_proxy_refused_total{"
	    "reason=\"too_long\",worker=\"0\"} 4\n"));
	assert_non_null(strstr(out, "msgd_proxy_headers_total{"
	    "worker=\"1\"} 4\n"));
	free(out);
	stats_snap_free(&sn);
}

/* A slot's row in a --watch table ends with req/s and beat. */
static const char *
slot_rate(const char *out, const char *prefix, char *line, size_t len)
{
	char	*w[16];

	assert_int_equal(find_line(out, prefix, line, len), 0);
	assert_int_equal(words(line, w, 16), 12);
	return (w[10]);
}

/*
 * --watch rates: a worker's rate is its requests since the last refresh,
 * whether or not it went from idle to busy meanwhile.
 */
static void
test_stats_render_table_rate(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s0, *s1;
	struct stats_snap	 a, b;
	char			 line[512], *w[16], *out;
	long			 share;

	s0 = stats_slot(&fx->seg, 0);
	s1 = stats_slot(&fx->seg, 1);
	stats_slot_start(s0, 4001, 1);
	stats_slot_start(s1, 4002, 1);
	requests(s0, MSG_OP_ECHO, MSG_ST_OK, 10, 1000);
	requests(s1, MSG_OP_ECHO, MSG_ST_OK, 10, 2000);
	take(&fx->seg, &a);
	requests(s0, MSG_OP_ECHO, MSG_ST_OK, 10, 10);
	requests(s1, MSG_OP_ECHO, MSG_ST_OK, 10, 20);
	stats_slot_state(s0, STATS_BUSY);	/* s1 stays idle */
	take(&fx->seg, &b);
	b.now_ms = a.now_ms + 1000;
	out = render(&b, &a, R_TABLE);
	assert_non_null(strstr(out, " req/s "));
	assert_non_null(strstr(out, "\nrates over 1.0s: "));
	assert_string_equal(slot_rate(out, "1 ", line, sizeof(line)), "20");
	assert_int_equal(total_row(out, line, sizeof(line), w, &share), 7);
	assert_string_equal(w[6], "30");
	assert_string_equal(slot_rate(out, "0 ", line, sizeof(line)), "10");
	free(out);
	stats_snap_free(&a);
	stats_snap_free(&b);
}

/*
 * Shares are of the live workers' accepted connections; the total row,
 * which includes retired workers, may show none but never over 100%.
 */
static void
test_stats_render_table_total_share(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			 line[512], *w[16], *out;
	long			 share;

	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_TABLE);
	assert_int_equal(find_line(out, "0 ", line, sizeof(line)), 0);
	assert_int_equal(words(line, w, 16), 11);
	assert_string_equal(w[6], "67%");
	assert_int_equal(find_line(out, "1 ", line, sizeof(line)), 0);
	assert_int_equal(words(line, w, 16), 11);
	assert_string_equal(w[6], "33%");
	assert_int_equal(total_row(out, line, sizeof(line), w, &share), 6);
	if (share > 100)
		fail_msg("total row share %ld%%", share);
	free(out);
	stats_snap_free(&sn);
}

int
main(void)
{
#define T(f)	cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_stats_render_json_parses),
		T(test_stats_render_json_folded_slot_not_listed),
		T(test_stats_render_prometheus_format),
		T(test_stats_render_prometheus_sums),
		T(test_stats_render_prometheus_histogram),
		T(test_stats_render_prometheus_octave_buckets),
		T(test_stats_render_table_rows),
		T(test_stats_render_table_tls),
	T(test_stats_render_tls_subject),
		T(test_stats_render_table_proxy),
		T(test_stats_render_table_rate),
		T(test_stats_render_table_total_share),
	};
#undef T

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
