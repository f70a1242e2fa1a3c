/*
 * buf.c: growable byte buffers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_EXACT	65536	/* above this, grow to the size needed */
#define BUF_CACHE_MAX	64	/* standard blocks kept per process */

/*
 * Standard blocks given back by released buffers, for the next request:
 * a connection takes a block for a request and returns it when idle, so
 * an idle connection holds no buffer and a busy one costs no malloc.
 * One per thread, at most 1 MiB: the event loop's (a pool thread's
 * stays empty, as the loop releases what the threads fill).
 */
static __thread uint8_t	*buf_cache[BUF_CACHE_MAX];
static __thread int	 buf_ncache;

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
	if (n > SIZE_MAX - b->len - 4096) {
		errno = ENOMEM;
		return (-1);
	}
	need = b->len + n;
	if (b->data == NULL && need <= BUF_STD && buf_ncache > 0) {
		b->data = buf_cache[--buf_ncache];
		b->cap = BUF_STD;
		return (0);
	}
	ncap = b->cap < BUF_STD ? BUF_STD : b->cap;
	if (ncap < need) {
		/*
		 * Gradual growth doubles (appends stay amortised O(1)); one
		 * big jump (a large frame whose size the header gave) gets
		 * what it needs, page-rounded, not twice that.
		 */
		if (need > ncap * 2 && need > BUF_EXACT)
			ncap = (need + 4095) & ~(size_t)4095;
		else
			while (ncap < need)
				ncap *= 2;
	}
	if ((p = realloc(b->data, ncap)) == NULL)
		return (-1);
	b->data = p;
	b->cap = ncap;
	return (0);
}

/*
 * Make room to read into, for data that will take at most max bytes in all
 * (a frame whose header gave its size): reclaim consumed space, else take
 * a standard block, else double, but never past max.  Memory then follows
 * the bytes that really arrive: a header announcing a large body reserves
 * nothing before the body comes, and a large frame costs a few doublings,
 * its last one exact.
 */
int
buf_grow(struct buf *b, size_t max)
{
	size_t	 ncap;
	uint8_t	*p;

	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (buf_room(b) > 0)
		return (0);
	if (b->data == NULL && buf_ncache > 0) {
		b->data = buf_cache[--buf_ncache];
		b->cap = BUF_STD;
		return (0);
	}
	if (b->cap > SIZE_MAX / 2 - 4096) {
		errno = ENOMEM;
		return (-1);
	}
	ncap = b->cap < BUF_STD ? BUF_STD : b->cap * 2;
	if (ncap > max)
		ncap = max > b->len ? max : b->len + BUF_STD;
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

/* Swap the contents of two buffers (a response built in the input). */
void
buf_swap(struct buf *a, struct buf *b)
{
	struct buf	t = *a;

	*a = *b;
	*b = t;
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

/* Free the storage (a standard block goes to the cache); stays usable. */
void
buf_release(struct buf *b)
{
	if (b->data != NULL && b->cap == BUF_STD &&
	    buf_ncache < BUF_CACHE_MAX)
		buf_cache[buf_ncache++] = b->data;
	else
		free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

/*
 * printf at the end of b; 0, or -1 (out of memory, or a bad format).
 * Formatted once into the room there is, again only when it did not fit:
 * renderers write thousands of short lines this way.
 */
int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	size_t	room = b->data != NULL ? buf_room(b) : 0;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(room > 0 ? (char *)buf_tail(b) : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return (-1);
	if ((size_t)n >= room) {
		if (buf_reserve(b, (size_t)n + 1) == -1)
			return (-1);
		va_start(ap, fmt);
		vsnprintf((char *)buf_tail(b), (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return (0);
}
