/*
 * stats_render.h: a snapshot (stats_snap.h) as the msgctl table, the JSON
 * document or Prometheus text, appended to a buffer; 0 or -1 (out of
 * memory).
 */
#ifndef MSGD_STATS_RENDER_H
#define MSGD_STATS_RENDER_H

#include "buf.h"
#include "stats_snap.h"

int	stats_render_json(const struct stats_snap *, struct buf *);
int	stats_render_prometheus(const struct stats_snap *, struct buf *);
int	stats_render_table(const struct stats_snap *,
	    const struct stats_snap *, struct buf *);

#endif /* MSGD_STATS_RENDER_H */
