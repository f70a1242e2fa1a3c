/*
 * stats_render.c: a snapshot as text: the table of msgctl stats, the JSON
 * document (msgctl stats --json and the STATS op) and the Prometheus text
 * format 0.0.4.  It only reads snapshots (stats_snap.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "stats.h"
#include "stats_render.h"
#include "stats_snap.h"
#include "util.h"

/* printf into a buffer (buf.c). */
#define bprintf	buf_printf

/* JSON string body: escape quotes, backslashes and control bytes. */
static void
json_str(struct buf *b, const char *s)
{
	bprintf(b, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			bprintf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			bprintf(b, "\\u%04x", (unsigned char)*s);
		else
			bprintf(b, "%c", *s);
	}
	bprintf(b, "\"");
}

static const double pcts[] = { 50.0, 90.0, 99.0, 99.9 };
static const char *const pct_names[] = { "p50", "p90", "p99", "p99.9" };

static void
json_counters(const struct stats_snap *sn, const uint8_t *s, struct buf *b)
{
	const struct stats_desc	*d;
	uint32_t		 k;
	int			 first = 1;

	bprintf(b, "\"counters\": {");
	for (k = 0; k < sn->hdr.ndesc; k++) {
		d = &sn->hdr.desc[k];
		if (d->kind == STATS_HISTOGRAM)
			continue;
		bprintf(b, "%s", first ? "" : ", ");
		json_str(b, d->field);
		bprintf(b, ": %" PRIu64, snap_raw(s, d->offset));
		first = 0;
	}
	bprintf(b, "}, \"latency_us\": {");
	d = snap_hist(sn);
	if (d != NULL) {
		bprintf(b, "\"count\": %" PRIu64 ", \"sum\": %" PRIu64
		    ", \"max\": %" PRIu64, snap_raw(s, d->offset + SNAP_H_COUNT),
		    snap_raw(s, d->offset + SNAP_H_SUM), snap_raw(s, d->offset + SNAP_H_MAX));
		for (k = 0; k < nitems(pcts); k++)
			bprintf(b, ", \"%s\": %" PRIu64, pct_names[k],
			    snap_percentile(sn, s, pcts[k]));
	}
	bprintf(b, "}");
}

static uint64_t
age_ms(uint64_t now, uint64_t then)
{
	return (then != 0 && now > then ? now - then : 0);
}

/*
 * The stats document as JSON (msgctl stats --json and the STATS op).
 * Fields are described in msgctl(1).
 */
int
stats_render_json(const struct stats_snap *sn, struct buf *b)
{
	const struct stats_hdr	*h = &sn->hdr;
	const struct stats_listener *l;
	const uint8_t		*s;
	char			 ts[RFC3339_LEN + 1];
	struct timespec		 t;
	uint64_t		 acc_all, start;
	uint32_t		 i;
	int			 first;
	size_t			 mark = b->len;
	char			 subj[STATS_SUBJECT_LEN];

	t.tv_sec = (time_t)(h->master_start_us / 1000000);
	t.tv_nsec = (long)(h->master_start_us % 1000000) * 1000;
	if (fmt_rfc3339(ts, sizeof(ts), &t) == -1)
		ts[0] = '\0';
	bprintf(b, "{\"msgd\": {\"version\": ");
	json_str(b, h->version);
	bprintf(b, ", \"layout\": %u, \"binary\": ", h->layout);
	json_str(b, h->up.exe);
	bprintf(b, ", \"binary_version\": ");
	json_str(b, h->up.disk);
	bprintf(b, ", \"upgrades\": %u, \"upgraded_from\": ", h->up.count);
	json_str(b, h->up.from);
	t.tv_sec = (time_t)(h->up.last_us / 1000000);
	t.tv_nsec = (long)(h->up.last_us % 1000000) * 1000;
	if (h->up.last_us == 0 || fmt_rfc3339(ts, sizeof(ts), &t) == -1)
		ts[0] = '\0';
	bprintf(b, ", \"last_upgrade\": \"%s\"}, ", ts);
	t.tv_sec = (time_t)(h->master_start_us / 1000000);
	t.tv_nsec = (long)(h->master_start_us % 1000000) * 1000;
	if (fmt_rfc3339(ts, sizeof(ts), &t) == -1)
		ts[0] = '\0';
	bprintf(b, "\"master\": {\"pid\": %d, \"start_time\": \"%s\", "
	    "\"uptime_seconds\": %" PRIu64 ", \"generation\": %" PRIu64
	    ", \"workers\": %u, \"slots\": %u, \"heartbeat_age_ms\": %" PRIu64
	    "}, ", h->master_pid, ts,
	    (sn->now_us - h->master_start_us) / 1000000, h->generation,
	    h->workers, h->nslots, age_ms(sn->now_ms, h->master_heartbeat_ms));
	bprintf(b, "\"listeners\": [");
	for (i = 0; i < h->nlisteners; i++) {
		l = &h->listeners[i];
		bprintf(b, "%s{\"address\": ", i ? ", " : "");
		json_str(b, l->addr);
		if (l->tcp)
			bprintf(b, ", \"accept_queue\": %u, "
			    "\"accept_queue_max\": %u, \"accept_queue_peak\": %u",
			    l->queue, l->queue_max, l->queue_peak);
		bprintf(b, "}");
	}
	acc_all = 0;
	for (i = 0; i < h->nslots; i++)
		if (snap_live(snap_slot(sn, i)))
			acc_all += stats_get(sn, snap_slot(sn, i),
			    "conn_accepted");
	bprintf(b, "], \"workers\": [");
	first = 1;
	for (i = 0; i < h->nslots; i++) {
		s = snap_slot(sn, i);
		if (!snap_live(s))
			continue;
		start = snap_raw(s, offsetof(struct stats_slot, start_us));
		bprintf(b, "%s{\"slot\": %u, \"pid\": %u, \"state\": \"%s\", "
		    "\"generation\": %" PRIu64 ", \"uptime_seconds\": %" PRIu64
		    ", \"heartbeat_age_ms\": %" PRIu64
		    ", \"accept_share\": %.4f, ", first ? "" : ", ", i,
		    snap_u32(s, offsetof(struct stats_slot, pid)),
		    stats_state_name(snap_u32(s,
		    offsetof(struct stats_slot, state))),
		    snap_raw(s, offsetof(struct stats_slot, generation)),
		    start != 0 && sn->now_us > start ?
		    (sn->now_us - start) / 1000000 : 0,
		    age_ms(sn->now_ms, snap_raw(s,
		    offsetof(struct stats_slot, heartbeat_ms))),
		    acc_all ? (double)stats_get(sn, s, "conn_accepted") /
		    (double)acc_all : 0.0);
		bprintf(b, "\"tls_last_subject\": ");
		json_str(b, snap_subject(s, subj, sizeof(subj)));
		bprintf(b, ", ");
		json_counters(sn, s, b);
		bprintf(b, "}");
		first = 0;
	}
	bprintf(b, "], \"retired\": {");
	json_counters(sn, sn->retired, b);
	bprintf(b, "}, \"totals\": {");
	json_counters(sn, sn->total, b);
	bprintf(b, "}, \"torn_slots\": %d}\n", sn->torn);
	if (b->data == NULL || b->len == mark)
		return (-1);
	return (0);
}

/* A Prometheus label value (quote) or HELP text, escaped. */
static void
prom_str(struct buf *b, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || (quote && *s == '"'))
			bprintf(b, "\\%c", *s);
		else if (*s == '\n')
			bprintf(b, "\\n");
		else
			bprintf(b, "%c", *s);
	}
}

/* One Prometheus sample line with optional extra label. */
static void
prom_line(struct buf *b, const char *name, const char *suffix,
    const char *label, const char *worker, uint64_t v)
{
	char	 key[STATS_NAME_LEN], *eq = NULL;

	/* A label is "key=value" with a key; anything else is left out. */
	snprintf(key, sizeof(key), "%s", label);
	if ((eq = strchr(key, '=')) == NULL || eq == key)
		key[0] = '\0';
	else
		*eq = '\0';
	bprintf(b, "msgd_%s%s", name, suffix);
	if (key[0] != '\0' || worker != NULL)
		bprintf(b, "{");
	if (key[0] != '\0') {
		bprintf(b, "%s=\"", key);
		prom_str(b, eq + 1, 1);
		bprintf(b, "\"");
	}
	if (worker != NULL)
		bprintf(b, "%sworker=\"%s\"", key[0] != '\0' ? "," : "",
		    worker);
	if (key[0] != '\0' || worker != NULL)
		bprintf(b, "}");
	bprintf(b, " %" PRIu64 "\n", v);
}

/*
 * The master's gauges: release and layout, start time, generation,
 * workers, binary upgrades.
 */
static void
prom_master(const struct stats_hdr *h, struct buf *b)
{
	bprintf(b, "# HELP msgd_info Release and stats layout of the "
	    "running msgd.\n# TYPE msgd_info gauge\nmsgd_info{version=\"");
	prom_str(b, h->version, 1);
	bprintf(b, "\",layout=\"%u\"} 1\n", h->layout);
	bprintf(b, "# HELP msgd_start_time_seconds Start time of the master "
	    "since the epoch.\n# TYPE msgd_start_time_seconds gauge\n"
	    "msgd_start_time_seconds %" PRIu64 "\n",
	    h->master_start_us / 1000000);
	bprintf(b, "# HELP msgd_generation Configuration generation.\n"
	    "# TYPE msgd_generation gauge\nmsgd_generation %" PRIu64 "\n",
	    h->generation);
	bprintf(b, "# HELP msgd_workers Configured number of workers.\n"
	    "# TYPE msgd_workers gauge\nmsgd_workers %u\n", h->workers);
	bprintf(b, "# HELP msgd_upgrades_total Binary upgrades in place since "
	    "the first binary started.\n# TYPE msgd_upgrades_total counter\n"
	    "msgd_upgrades_total %u\n", h->up.count);
	bprintf(b, "# HELP msgd_last_upgrade_time_seconds Time of the last "
	    "binary upgrade since the epoch (0: none).\n"
	    "# TYPE msgd_last_upgrade_time_seconds gauge\n"
	    "msgd_last_upgrade_time_seconds %" PRIu64 "\n",
	    h->up.last_us / 1000000);
}

/*
 * A gauge per live worker, in seconds with milliseconds: its heartbeat's
 * age (ms, from the monotonic clock) or, without age, its start time
 * since the epoch (a slot's restarts are changes() over it in Prometheus,
 * the usual way to see a crash loop from outside).
 */
static void
prom_worker_gauge(const struct stats_snap *sn, struct buf *b,
    const char *name, const char *help, int age)
{
	const uint8_t	*s;
	uint64_t	 v;
	uint32_t	 i;

	bprintf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (i = 0; i < sn->hdr.nslots; i++) {
		s = snap_slot(sn, i);
		if (!snap_live(s))
			continue;
		v = age ? age_ms(sn->now_ms, snap_raw(s,
		    offsetof(struct stats_slot, heartbeat_ms))) :
		    snap_raw(s, offsetof(struct stats_slot, start_us)) / 1000;
		bprintf(b, "%s{worker=\"%u\"} %" PRIu64 ".%03" PRIu64 "\n",
		    name, i, v / 1000, v % 1000);
	}
}

/* The subject of the last client certificate each worker verified. */
static void
prom_subjects(const struct stats_snap *sn, struct buf *b)
{
	char		subj[STATS_SUBJECT_LEN];
	uint32_t	i;
	int		first = 1;

	for (i = 0; i < sn->hdr.nslots; i++) {
		if (!snap_live(snap_slot(sn, i)) ||
		    *snap_subject(snap_slot(sn, i), subj, sizeof(subj)) == '\0')
			continue;
		if (first)
			bprintf(b, "# HELP msgd_tls_last_client_subject The "
			    "subject of the last client certificate each "
			    "worker verified.\n# TYPE "
			    "msgd_tls_last_client_subject gauge\n");
		first = 0;
		bprintf(b, "msgd_tls_last_client_subject{worker=\"%u\","
		    "subject=\"", i);
		prom_str(b, subj, 1);
		bprintf(b, "\"} 1\n");
	}
}

/* The accept queue and its limit of each TCP listener. */
static void
prom_listeners(const struct stats_hdr *h, struct buf *b)
{
	uint32_t	i;

	bprintf(b, "# HELP msgd_listener_accept_queue Connections waiting "
	    "in a TCP listener's accept queue.\n"
	    "# TYPE msgd_listener_accept_queue gauge\n");
	for (i = 0; i < h->nlisteners; i++)
		if (h->listeners[i].tcp) {
			bprintf(b, "msgd_listener_accept_queue{listener=\"");
			prom_str(b, h->listeners[i].addr, 1);
			bprintf(b, "\"} %u\n", h->listeners[i].queue);
		}
	bprintf(b, "# HELP msgd_listener_accept_queue_max Accept queue "
	    "limit of a TCP listener.\n"
	    "# TYPE msgd_listener_accept_queue_max gauge\n");
	for (i = 0; i < h->nlisteners; i++)
		if (h->listeners[i].tcp) {
			bprintf(b, "msgd_listener_accept_queue_max{listener="
			    "\"");
			prom_str(b, h->listeners[i].addr, 1);
			bprintf(b, "\"} %u\n", h->listeners[i].queue_max);
		}
}

/*
 * Every counter and gauge of the descriptor table, per live worker; a
 * counter also for worker="retired".  HELP and TYPE once per name: the
 * requests by opcode share one, told apart by a label, as do the
 * responses by status.
 */
static void
prom_counters(const struct stats_snap *sn, struct buf *b)
{
	const struct stats_hdr	*h = &sn->hdr;
	const struct stats_desc	*d;
	const char		*prev = "";
	const char		*suffix;
	char			 wname[16];
	uint32_t		 i, k;

	for (k = 0; k < h->ndesc; k++) {
		d = &h->desc[k];
		if (d->kind == STATS_HISTOGRAM)
			continue;
		suffix = d->kind == STATS_COUNTER ? "_total" : "";
		if (strcmp(prev, d->name) != 0) {
			bprintf(b, "# HELP msgd_%s%s ", d->name, suffix);
			prom_str(b, d->help[0] ? d->help : d->name, 0);
			bprintf(b, "\n# TYPE msgd_%s%s %s\n", d->name, suffix,
			    d->kind == STATS_COUNTER ? "counter" : "gauge");
			prev = d->name;
		}
		for (i = 0; i < h->nslots; i++) {
			if (!snap_live(snap_slot(sn, i)))
				continue;
			snprintf(wname, sizeof(wname), "%u", i);
			prom_line(b, d->name, suffix, d->label, wname,
			    snap_raw(snap_slot(sn, i), d->offset));
		}
		if (d->kind == STATS_COUNTER)
			prom_line(b, d->name, suffix, d->label, "retired",
			    snap_raw(sn->retired, d->offset));
	}
}

/* The request latency histogram of all workers (the totals), if any. */
static void
prom_histogram(const struct stats_snap *sn, struct buf *b)
{
	const struct stats_hdr	*h = &sn->hdr;
	const struct stats_desc	*d;
	uint64_t		 cum = 0, up;
	uint32_t		 i;

	if ((d = snap_hist(sn)) == NULL)
		return;
	bprintf(b, "# HELP msgd_request_duration_seconds Request "
	    "handling time, all workers.\n"
	    "# TYPE msgd_request_duration_seconds histogram\n");
	for (i = 0; i < d->nbuckets && i < h->nbuckets; i++) {
		cum += snap_bucket(sn->total, d, i);
		/*
		 * Octave edges only (inclusive bounds 2^k - 1): enough
		 * resolution, few lines.  The last bucket also holds
		 * everything clamped above 10 s: only +Inf covers it.
		 */
		if (i + 1 == d->nbuckets)
			break;
		if (((h->bucket_upper_us[i] + 1) &
		    h->bucket_upper_us[i]) != 0)
			continue;
		bprintf(b, "msgd_request_duration_seconds_bucket{le=\""
		    "%" PRIu64 ".%06" PRIu64 "\"} %" PRIu64 "\n",
		    h->bucket_upper_us[i] / 1000000,
		    h->bucket_upper_us[i] % 1000000, cum);
	}
	bprintf(b, "msgd_request_duration_seconds_bucket{le=\"+Inf\"} "
	    "%" PRIu64 "\n", snap_raw(sn->total, d->offset + SNAP_H_COUNT));
	up = snap_raw(sn->total, d->offset + SNAP_H_SUM);
	bprintf(b, "msgd_request_duration_seconds_sum %" PRIu64 ".%06"
	    PRIu64 "\n", up / 1000000, up % 1000000);
	bprintf(b, "msgd_request_duration_seconds_count %" PRIu64 "\n",
	    snap_raw(sn->total, d->offset + SNAP_H_COUNT));
}

/*
 * Prometheus text exposition format 0.0.4.  Counters are per live worker
 * (worker="N") plus worker="retired" for what dead workers counted, so the
 * sum over workers is the exact total and never goes backwards.
 */
int
stats_render_prometheus(const struct stats_snap *sn, struct buf *b)
{
	prom_master(&sn->hdr, b);
	prom_worker_gauge(sn, b, "msgd_worker_heartbeat_age_seconds",
	    "Time since each worker last showed life.", 1);
	prom_worker_gauge(sn, b, "msgd_worker_start_time_seconds",
	    "Start time of each worker since the epoch.", 0);
	prom_subjects(sn, b);
	prom_listeners(&sn->hdr, b);
	prom_counters(sn, b);
	prom_histogram(sn, b);
	return (b->data == NULL ? -1 : 0);
}

/* "3d04h", "2h03m", "4m05s", "12s". */
static void
fmt_dur(char *buf, size_t len, uint64_t secs)
{
	if (secs >= 86400)
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", secs / 86400,
		    secs % 86400 / 3600);
	else if (secs >= 3600)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", secs / 3600,
		    secs % 3600 / 60);
	else if (secs >= 60)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", secs / 60,
		    secs % 60);
	else
		snprintf(buf, len, "%" PRIu64 "s", secs);
}

/* 1234567 -> "1.2M": bytes and counts in 6 columns. */
static void
fmt_num(char *buf, size_t len, double v)
{
	const char	*units = " KMGTP";
	int		 u = 0;

	while (v >= 10000.0 && u < 5) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
}

static void
table_row(const struct stats_snap *sn, const uint8_t *s, const char *label,
    uint64_t acc_all, const struct stats_snap *prev, const uint8_t *ps,
    double dt, struct buf *b)
{
	char		up[16], req[16], bin[16], bout[16], rate[16], beat[16];
	uint64_t	start, hb, acc;

	start = snap_raw(s, offsetof(struct stats_slot, start_us));
	fmt_dur(up, sizeof(up), start && sn->now_us > start ?
	    (sn->now_us - start) / 1000000 : 0);
	fmt_num(req, sizeof(req), (double)snap_sum_name(sn, s, "requests"));
	fmt_num(bin, sizeof(bin), (double)stats_get(sn, s, "bytes_in"));
	fmt_num(bout, sizeof(bout), (double)stats_get(sn, s, "bytes_out"));
	acc = stats_get(sn, s, "conn_accepted");
	hb = snap_raw(s, offsetof(struct stats_slot, heartbeat_ms));
	if (label != NULL)
		bprintf(b, "%-5s %-7s %-9s %-7s", label, "", "", "");
	else {
		snprintf(beat, sizeof(beat), "%.1fs",
		    (double)age_ms(sn->now_ms, hb) / 1000.0);
		bprintf(b, "%-5u %-7u %-9s %-7s", (unsigned)((s - sn->slots) /
		    sn->hdr.slot_size), snap_u32(s,
		    offsetof(struct stats_slot, pid)), stats_state_name(
		    snap_u32(s, offsetof(struct stats_slot, state))), up);
	}
	if (label != NULL)	/* totals include retired workers: no share */
		bprintf(b, " %7" PRIu64 " %9" PRIu64 " %6s %9s %9s %9s",
		    stats_get(sn, s, "conn_active"), acc, "", req, bin, bout);
	else
		bprintf(b, " %7" PRIu64 " %9" PRIu64 " %5.0f%% %9s %9s %9s",
		    stats_get(sn, s, "conn_active"), acc,
		    acc_all ? 100.0 * (double)acc / (double)acc_all : 0.0, req,
		    bin, bout);
	if (prev != NULL && dt > 0) {
		fmt_num(rate, sizeof(rate), (double)(snap_sum_name(sn, s,
		    "requests") - (ps != NULL ? snap_sum_name(prev, ps,
		    "requests") : 0)) / dt);
		bprintf(b, " %9s", rate);
	}
	if (label == NULL)
		bprintf(b, " %6s", beat);
	bprintf(b, "\n");
}

/* The totals of n counters into v; non-zero if any is. */
static uint64_t
table_totals(const struct stats_snap *sn, const char *const *f, size_t n,
    uint64_t *v)
{
	uint64_t	any = 0;
	size_t		i;

	for (i = 0; i < n; i++)
		any |= v[i] = stats_get(sn, sn->total, f[i]);
	return (any);
}

/* The table's TLS line, when TLS has been used at all. */
static void
table_tls(const struct stats_snap *sn, struct buf *b)
{
	static const char *const f[] = { "tls_active", "tls_handshakes",
	    "tls_resumed", "tls_v12", "tls_v13", "tls_client_certs",
	    "tls_fail_protocol", "tls_fail_cert", "tls_fail_timeout",
	    "tls_bad_records", "tls_renegotiations" };
	uint64_t	v[nitems(f)];
	char		subj[STATS_SUBJECT_LEN];
	uint32_t	w;

	if (table_totals(sn, f, nitems(f), v) == 0)
		return;
	bprintf(b, "tls: active %" PRIu64 ", handshakes %" PRIu64
	    " (resumed %" PRIu64 ", TLSv1.2 %" PRIu64 ", TLSv1.3 %" PRIu64
	    "), client certificates %" PRIu64 "; failed: protocol %" PRIu64
	    ", certificate %" PRIu64 ", timeout %" PRIu64 "; bad records %"
	    PRIu64 ", renegotiations refused %" PRIu64 "\n", v[0], v[1], v[2],
	    v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]);
	for (w = 0; w < sn->hdr.nslots; w++)
		if (snap_live(snap_slot(sn, w)) && *snap_subject(snap_slot(sn,
		    w), subj, sizeof(subj)) != '\0')
			bprintf(b, "tls: worker %u last client certificate: "
			    "%s\n", w, subj);
}

/* The table's PROXY protocol line, when a header was ever expected. */
static void
table_proxy(const struct stats_snap *sn, struct buf *b)
{
	static const char *const f[] = { "proxy_ok", "proxy_local",
	    "proxy_untrusted", "proxy_none", "proxy_malformed",
	    "proxy_too_long", "proxy_truncated", "proxy_timeout" };
	uint64_t	v[nitems(f)];

	if (table_totals(sn, f, nitems(f), v) == 0)
		return;
	bprintf(b, "proxy: headers %" PRIu64 " (local %" PRIu64 "); refused: "
	    "untrusted %" PRIu64 ", none %" PRIu64 ", malformed %" PRIu64
	    ", too long %" PRIu64 ", truncated %" PRIu64 ", timeout %" PRIu64
	    "\n", v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
}

/*
 * The human-readable table.  With prev (an earlier snapshot, --watch),
 * per-second rates over the interval are added.
 */
int
stats_render_table(const struct stats_snap *sn, const struct stats_snap *prev,
    struct buf *b)
{
	const struct stats_hdr	*h = &sn->hdr;
	const struct stats_listener *l;
	const uint8_t		*s, *ps;
	char			 up[16], v1[16], v2[16];
	double			 dt = 0;
	uint64_t		 acc_all = 0;
	uint32_t		 i;

	if (prev != NULL && sn->now_ms > prev->now_ms)
		dt = (double)(sn->now_ms - prev->now_ms) / 1000.0;
	fmt_dur(up, sizeof(up), (sn->now_us - h->master_start_us) / 1000000);
	bprintf(b, "msgd %s (stats layout %u)  master pid %d  up %s  "
	    "generation %" PRIu64 "  workers %u  master heartbeat %.1fs ago\n",
	    h->version, h->layout, h->master_pid, up, h->generation,
	    h->workers, (double)age_ms(sn->now_ms, h->master_heartbeat_ms) /
	    1000.0);
	for (i = 0; i < h->nlisteners; i++) {
		l = &h->listeners[i];
		if (l->tcp)
			bprintf(b, "listen %-30s accept queue %u/%u (peak %u)\n",
			    l->addr, l->queue, l->queue_max, l->queue_peak);
		else
			bprintf(b, "listen %s\n", l->addr);
	}
	for (i = 0; i < h->nslots; i++)
		if (snap_live(snap_slot(sn, i)))
			acc_all += stats_get(sn, snap_slot(sn, i),
			    "conn_accepted");
	bprintf(b, "\n%-5s %-7s %-9s %-7s %7s %9s %6s %9s %9s %9s", "slot",
	    "pid", "state", "uptime", "active", "accepted", "share",
	    "requests", "bytes_in", "bytes_out");
	if (dt > 0)
		bprintf(b, " %9s", "req/s");
	bprintf(b, " %6s\n", "beat");
	for (i = 0; i < h->nslots; i++) {
		s = snap_slot(sn, i);
		if (!snap_live(s))
			continue;
		ps = NULL;
		if (prev != NULL && i < prev->hdr.nslots &&
		    snap_u32(prev->slots + (size_t)i * prev->hdr.slot_size,
		    offsetof(struct stats_slot, pid)) ==
		    snap_u32(s, offsetof(struct stats_slot, pid)))
			ps = prev->slots + (size_t)i * prev->hdr.slot_size;
		table_row(sn, s, NULL, acc_all, prev, ps, dt, b);
	}
	table_row(sn, sn->total, "total", acc_all, prev,
	    prev != NULL ? prev->total : NULL, dt, b);
	if (dt > 0) {
		fmt_num(v1, sizeof(v1), (double)(stats_get(sn, sn->total,
		    "bytes_in") - stats_get(prev, prev->total, "bytes_in")) / dt);
		fmt_num(v2, sizeof(v2), (double)(stats_get(sn, sn->total,
		    "bytes_out") - stats_get(prev, prev->total, "bytes_out")) /
		    dt);
		bprintf(b, "rates over %.1fs: bytes in %s/s, out %s/s\n", dt,
		    v1, v2);
	}
	bprintf(b, "\nlatency (all requests since start):");
	for (i = 0; i < nitems(pcts); i++)
		bprintf(b, " %s %" PRIu64 "us", pct_names[i],
		    snap_percentile(sn, sn->total, pcts[i]));
	bprintf(b, "\nerrors: protocol %" PRIu64 ", busy %" PRIu64
	    ", idle timeouts %" PRIu64 ", read timeouts %" PRIu64 "\n",
	    stats_get(sn, sn->total, "proto_errors"),
	    stats_get(sn, sn->total, "conn_busy"),
	    stats_get(sn, sn->total, "idle_timeouts"),
	    stats_get(sn, sn->total, "read_timeouts"));
	table_tls(sn, b);
	table_proxy(sn, b);
	if (sn->torn > 0)
		bprintf(b, "warning: %d slot(s) were mid-update (worker "
		    "stuck?); their figures may be inexact\n", sn->torn);
	return (b->data == NULL ? -1 : 0);
}
