/*
 * fuzz_metrics.c: libFuzzer target for what the metrics exporter reads
 * from a scraper, the Accept header (metrics_accept_openmetrics), and for
 * the OpenMetrics rewrite of a text document (metrics_openmetrics), which
 * must hold for any input, not only what stats_render writes.
 *
 * The input is used both ways: as an Accept header (up to its first NUL)
 * and as a document.  The rewrite must end with "# EOF", have no blank
 * line and no comment but HELP, TYPE and EOF, and grow at most by the
 * escapes of double quotes and the newlines it adds.
 *
 * Build and run: make fuzz && ./tests/fuzz/fuzz_metrics corpus-dir
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "metrics.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct buf	 out;
	char		*s;
	const char	*p, *end, *eol;
	int		 om;

	if ((s = malloc(len + 1)) == NULL)
		return (0);
	memcpy(s, data, len);
	s[len] = '\0';
	om = metrics_accept_openmetrics(s);
	CHECK(om == 0 || om == 1);
	CHECK(metrics_accept_openmetrics(s) == om);
	free(s);

	memset(&out, 0, sizeof(out));
	if (metrics_openmetrics(data, len, &out) == -1) {
		buf_release(&out);
		return (0);
	}
	p = (const char *)buf_head(&out);
	end = p + buf_used(&out);
	CHECK(buf_used(&out) <= 2 * len + len + 6);
	CHECK(buf_used(&out) >= 6 && memcmp(end - 6, "# EOF\n", 6) == 0);
	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		CHECK(eol != NULL);
		CHECK(eol > p);
		if (*p == '#')
			CHECK(strncmp(p, "# HELP ", 7) == 0 ||
			    strncmp(p, "# TYPE ", 7) == 0 ||
			    (eol - p == 5 && strncmp(p, "# EOF", 5) == 0));
	}
	buf_release(&out);
	return (0);
}
