/*
 * test_metrics.c: the exporter's pure parts (metrics.c): Accept
 * negotiation, the OpenMetrics rewrite of the text format, /health's
 * answer for each master state, the msgd_http_* counters, and
 * buf_printf, which they write with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "metrics.h"
#include "stats.h"

/* b's bytes as a NUL-terminated string (b keeps them). */
static const char *
str(struct buf *b)
{
	assert_int_equal(buf_reserve(b, 1), 0);
	*buf_tail(b) = '\0';
	return ((const char *)buf_head(b));
}

static void
test_metrics_accept(void **state)
{
	static const struct {
		const char	*accept;
		int		 om;
	} cases[] = {
		/* Prometheus 2.42's header. */
		{ "application/openmetrics-text;version=1.0.0,"
		  "application/openmetrics-text;version=0.0.1;q=0.75,"
		  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1", 1 },
		/* Older Prometheus: OpenMetrics 0.0.1 only, not served. */
		{ "application/openmetrics-text; version=0.0.1,"
		  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1", 0 },
		{ "application/openmetrics-text", 1 },
		{ "Application/OpenMetrics-Text ; Version=1.0.0", 1 },
		{ "text/plain", 0 },
		{ "*/*", 0 },
		{ "", 0 },
		{ "text/plain;q=0.9, application/openmetrics-text", 1 },
		{ "application/openmetrics-text;q=0.4, text/plain;q=0.9", 0 },
		{ "application/openmetrics-text;q=0", 0 },
		{ "application/openmetrics-text;q=abc", 0 },
		{ "application/openmetrics-text;q=2", 0 },
		{ "application/openmetrics-text, */*", 1 },
		{ "text/plain;version=0.0.5, application/openmetrics-text;"
		  "q=0.1", 1 },
		{ ",,;;=,", 0 },
	};
	char	long_accept[8192];
	size_t	i;

	(void)state;
	assert_int_equal(metrics_accept_openmetrics(NULL), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (metrics_accept_openmetrics(cases[i].accept) != cases[i].om)
			fail_msg("Accept: %s: want %d", cases[i].accept,
			    cases[i].om);
	/* Past ACCEPT_MAX: read up to it, never beyond. */
	memset(long_accept, 'a', sizeof(long_accept) - 1);
	long_accept[sizeof(long_accept) - 1] = '\0';
	memcpy(long_accept, "application/openmetrics-text,", 29);
	assert_int_equal(metrics_accept_openmetrics(long_accept), 1);
}

static void
test_metrics_openmetrics(void **state)
{
	const char	*in =
	    "# HELP msgd_info Release.\n"
	    "# TYPE msgd_info gauge\n"
	    "msgd_info{version=\"0.1\"} 1\n"
	    "# HELP msgd_requests_total Requests \"by\" op \\\" \\\\ x.\n"
	    "# TYPE msgd_requests_total counter\n"
	    "msgd_requests_total{op=\"PING\",worker=\"0\"} 3\n"
	    "msgd_requests_total{op=\"PING\",worker=\"retired\"} 0\n"
	    "\n"
	    "# a comment\n"
	    "# HELP msgd_x Odd.\n"
	    "# TYPE msgd_x untyped\n"
	    "msgd_x 1\n"
	    "# TYPE msgd_d_seconds histogram\n"
	    "msgd_d_seconds_bucket{le=\"+Inf\"} 2\n"
	    "msgd_d_seconds_count 2\n";
	const char	*want =
	    "# HELP msgd_info Release.\n"
	    "# TYPE msgd_info gauge\n"
	    "msgd_info{version=\"0.1\"} 1\n"
	    "# HELP msgd_requests Requests \\\"by\\\" op \\\" \\\\ x.\n"
	    "# TYPE msgd_requests counter\n"
	    "msgd_requests_total{op=\"PING\",worker=\"0\"} 3\n"
	    "msgd_requests_total{op=\"PING\",worker=\"retired\"} 0\n"
	    "# HELP msgd_x Odd.\n"
	    "# TYPE msgd_x unknown\n"
	    "msgd_x 1\n"
	    "# TYPE msgd_d_seconds histogram\n"
	    "msgd_d_seconds_bucket{le=\"+Inf\"} 2\n"
	    "msgd_d_seconds_count 2\n"
	    "# EOF\n";
	struct buf	out;

	(void)state;
	memset(&out, 0, sizeof(out));
	assert_int_equal(metrics_openmetrics((const uint8_t *)in, strlen(in),
	    &out), 0);
	assert_string_equal(str(&out), want);
	buf_release(&out);
	/* Empty, and without a final newline. */
	assert_int_equal(metrics_openmetrics((const uint8_t *)"", 0, &out), 0);
	assert_string_equal(str(&out), "# EOF\n");
	buf_release(&out);
	assert_int_equal(metrics_openmetrics((const uint8_t *)"m 1", 3,
	    &out), 0);
	assert_string_equal(str(&out), "m 1\n# EOF\n");
	buf_release(&out);
}

static void
test_metrics_health(void **state)
{
	static const struct {
		uint32_t	 mstate;
		int		 code;
		const char	*status;
	} cases[] = {
		{ STATS_M_STARTING, 503, "starting" },
		{ STATS_M_SERVING, 200, "serving" },
		{ STATS_M_DRAINING, 503, "draining" },
		{ STATS_M_STOPPING, 503, "stopping" },
		{ 77, 503, "unknown" },
	};
	struct stats_hdr	*h;
	const char		*status;
	size_t			 i;

	(void)state;
	h = calloc(1, sizeof(*h));
	assert_non_null(h);
	/* A fresh segment: no heartbeat yet. */
	assert_int_equal(metrics_health(h, 1000, &status), 503);
	assert_string_equal(status, "unresponsive");
	h->master_heartbeat_ms = 100000;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h->mstate = cases[i].mstate;
		assert_int_equal(metrics_health(h, 100500, &status),
		    cases[i].code);
		assert_string_equal(status, cases[i].status);
	}
	/* A master that stopped beating (SIGSTOP, wedged): 503. */
	h->mstate = STATS_M_SERVING;
	assert_int_equal(metrics_health(h, 100000 + METRICS_MASTER_STALE_MS,
	    &status), 200);
	assert_int_equal(metrics_health(h, 100001 + METRICS_MASTER_STALE_MS,
	    &status), 503);
	assert_string_equal(status, "unresponsive");
	/* A heartbeat from the reader's future (clocks agree): fine. */
	assert_int_equal(metrics_health(h, 99000, &status), 200);
	free(h);
}

static void
test_metrics_render_http(void **state)
{
	struct metrics_counters	mc;
	struct buf		b;
	const char		*s;

	(void)state;
	memset(&mc, 0, sizeof(mc));
	memset(&b, 0, sizeof(b));
	assert_int_equal(metrics_code_index(200), METRICS_C200);
	assert_int_equal(metrics_code_index(503), METRICS_C503);
	assert_int_equal(metrics_code_index(431), -1);
	mc.requests[METRICS_C404] = 7;
	mc.connections = 9;
	mc.refused_allow = 2;
	mc.refused_limit = 3;
	mc.unanswered = 4;
	assert_int_equal(metrics_render_http(&mc, &b), 0);
	s = str(&b);
	assert_non_null(strstr(s, "\nmsgd_http_requests_total{code=\"404\"} 7\n"));
	assert_non_null(strstr(s, "\nmsgd_http_requests_total{code=\"200\"} 0\n"));
	assert_non_null(strstr(s, "\nmsgd_http_connections_total 9\n"));
	assert_non_null(strstr(s, "{reason=\"allow\"} 2\n"));
	assert_non_null(strstr(s, "{reason=\"limit\"} 3\n"));
	assert_non_null(strstr(s, "\nmsgd_http_connections_unanswered_total 4\n"));
	assert_non_null(strstr(s, "# TYPE msgd_http_requests_total counter\n"));
	buf_release(&b);
	assert_int_equal(buf_printf(&b, "%s-%d", "x", 42), 0);
	assert_int_equal(buf_printf(&b, "%c", '!'), 0);
	assert_string_equal(str(&b), "x-42!");
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_accept),
		cmocka_unit_test(test_metrics_openmetrics),
		cmocka_unit_test(test_metrics_health),
		cmocka_unit_test(test_metrics_render_http),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
