/*
 * buf.c: growable byte buffers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN	4096

/*
 * Make room for n more bytes after len.  Consumed space at the front is
 * reclaimed first (a move is cheaper than a larger allocation); growth
 * doubles so appends are amortised O(1).
 */
int
buf_reserve(struct buf *b, size_t n)
{
	size_t	 need, ncap;
	uint8_t	*p;

	if (buf_room(b) >= n)
		return (0);
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (buf_room(b) >= n)
			return (0);
	}
	if (n > SIZE_MAX - b->len) {
		errno = ENOMEM;
		return (-1);
	}
	need = b->len + n;
	ncap = b->cap < BUF_MIN ? BUF_MIN : b->cap;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if ((p = realloc(b->data, ncap)) == NULL)
		return (-1);
	b->data = p;
	b->cap = ncap;
	return (0);
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return (0);
	if (buf_reserve(b, n) == -1)
		return (-1);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return (0);
}

/* Drop n bytes from the front; an emptied buffer rewinds to offset 0. */
void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

/* Cut the valid data back to absolute length len (undo a partial append). */
void
buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len)
		b->len = len;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

/* Free the storage; the struct stays usable and empty. */
void
buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}
