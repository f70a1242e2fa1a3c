/*
 * buf.h: a growable byte buffer with a read offset, used for connection
 * input and output.  Storage is allocated on first use and can be released
 * when empty, so an idle connection holds no buffer memory.
 * buf_reserve (and so buf_append) may compact: the unconsumed bytes move
 * to the front, so a position kept across an append must be relative to
 * off (buf_used), never an absolute len.
 */
#ifndef MSGD_BUF_H
#define MSGD_BUF_H

#include <stddef.h>
#include <stdint.h>

#define BUF_STD		16384	/* the block every small buffer uses */

struct buf {
	uint8_t	*data;
	size_t	 off;	/* first unconsumed byte */
	size_t	 len;	/* end of valid data */
	size_t	 cap;
};

#define buf_used(b)	((b)->len - (b)->off)
#define buf_head(b)	((b)->data + (b)->off)
#define buf_tail(b)	((b)->data + (b)->len)
#define buf_room(b)	((b)->cap - (b)->len)

int	buf_reserve(struct buf *, size_t);
int	buf_grow(struct buf *, size_t);
int	buf_append(struct buf *, const void *, size_t);
void	buf_consume(struct buf *, size_t);
void	buf_truncate(struct buf *, size_t);
void	buf_release(struct buf *);
void	buf_swap(struct buf *, struct buf *);
int	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif /* MSGD_BUF_H */
