/*
 * test_buf.c: growable buffers: reserve, append, consume, truncate and
 * release, growth that keeps the contents, and compaction of consumed
 * space before growing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

/* The buffer holds exactly the string s, unconsumed. */
static void
assert_buf_holds(const struct buf *b, const char *s)
{
	assert_int_equal(buf_used(b), strlen(s));
	assert_memory_equal(buf_head(b), s, strlen(s));
}

static void
append_str(struct buf *b, const char *s)
{
	assert_int_equal(buf_append(b, s, strlen(s)), 0);
}

static void
assert_buf_empty(const struct buf *b)
{
	assert_int_equal(buf_used(b), 0);
	assert_int_equal(b->off, 0);
	assert_int_equal(b->len, 0);
}

static void
test_buf_append_first_use(void **state)
{
	struct buf	b = { 0 };

	(void)state;
	assert_null(b.data);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	assert_non_null(b.data);
	assert_true(b.cap >= 3);
	assert_buf_holds(&b, "abc");
	append_str(&b, "def");
	assert_buf_holds(&b, "abcdef");
	buf_release(&b);
}

static void
test_buf_append_empty(void **state)
{
	struct buf	b = { 0 };

	(void)state;
	/* Nothing to add allocates nothing. */
	assert_int_equal(buf_append(&b, NULL, 0), 0);
	assert_null(b.data);
	assert_int_equal(buf_reserve(&b, 0), 0);
	assert_buf_empty(&b);
}

static void
test_buf_append_grows(void **state)
{
	struct buf	b = { 0 };
	uint8_t		chunk[97];
	size_t		i, j, total = 0, caps = 0, lastcap = 0;

	(void)state;
	for (i = 0; i < 1000; i++) {
		for (j = 0; j < sizeof(chunk); j++)
			chunk[j] = (uint8_t)(total + j);
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
		total += sizeof(chunk);
		assert_true(b.cap >= b.len);
		if (b.cap != lastcap) {
			caps++;
			lastcap = b.cap;
		}
	}
	assert_int_equal(buf_used(&b), total);
	for (i = 0; i < total; i++)
		if (b.data[i] != (uint8_t)i)
			fail_msg("byte %zu lost in growth", i);
	/* Doubling: 97000 bytes take a handful of allocations, not 1000. */
	assert_true(caps > 1);
	assert_true(caps < 10);
	buf_release(&b);
}

static void
test_buf_reserve_room(void **state)
{
	struct buf	b = { 0 };

	(void)state;
	assert_int_equal(buf_reserve(&b, 10000), 0);
	assert_true(buf_room(&b) >= 10000);
	assert_buf_empty(&b);
	/* Writing into the tail directly, as read(2) does. */
	memcpy(buf_tail(&b), "xyz", 3);
	b.len += 3;
	assert_buf_holds(&b, "xyz");
	buf_release(&b);
}

static void
test_buf_reserve_overflow(void **state)
{
	struct buf	b = { 0 };

	(void)state;
	append_str(&b, "a");
	errno = 0;
	assert_int_equal(buf_reserve(&b, SIZE_MAX), -1);
	assert_int_equal(errno, ENOMEM);
	/* The contents survive the failure. */
	assert_buf_holds(&b, "a");
	buf_release(&b);
}

static void
test_buf_consume_partial(void **state)
{
	struct buf	b = { 0 };

	(void)state;
	append_str(&b, "hello world");
	buf_consume(&b, 6);
	assert_buf_holds(&b, "world");
	assert_int_equal(b.off, 6);
	buf_consume(&b, 0);
	assert_buf_holds(&b, "world");
	buf_release(&b);
}

static void
test_buf_consume_all_rewinds(void **state)
{
	struct buf	b = { 0 };
	size_t		cap;

	(void)state;
	append_str(&b, "hello");
	cap = b.cap;
	buf_consume(&b, 2);
	buf_consume(&b, 3);
	assert_buf_empty(&b);
	/* The storage is kept for the next input. */
	assert_non_null(b.data);
	assert_int_equal(b.cap, cap);
	append_str(&b, "again");
	assert_buf_holds(&b, "again");
	assert_ptr_equal(buf_head(&b), b.data);
	buf_release(&b);
}

static void
test_buf_consume_too_much(void **state)
{
	struct buf	b = { 0 };

	(void)state;
	append_str(&b, "abc");
	buf_consume(&b, 100);
	assert_buf_empty(&b);
	buf_release(&b);
}

static void
test_buf_reserve_compacts(void **state)
{
	struct buf	b = { 0 };
	uint8_t		fill[256];
	size_t		cap, half, i;

	(void)state;
	memset(fill, 'a', sizeof(fill));
	assert_int_equal(buf_reserve(&b, 1), 0);
	cap = b.cap;
	/* Fill it to the brim, the last 4 bytes recognisable. */
	while (buf_room(&b) > 4) {
		i = buf_room(&b) - 4;
		if (i > sizeof(fill))
			i = sizeof(fill);
		assert_int_equal(buf_append(&b, fill, i), 0);
	}
	append_str(&b, "WXYZ");
	assert_int_equal(buf_room(&b), 0);
	half = cap / 2;
	buf_consume(&b, cap - 4);
	/* Room is made by moving the data to the front, not by growing. */
	assert_int_equal(buf_reserve(&b, half), 0);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.off, 0);
	assert_buf_holds(&b, "WXYZ");
	assert_true(buf_room(&b) >= half);
	buf_release(&b);
}

static void
test_buf_reserve_compacts_then_grows(void **state)
{
	struct buf	b = { 0 };
	size_t		cap;

	(void)state;
	append_str(&b, "0123456789");
	cap = b.cap;
	buf_consume(&b, 4);
	/* More than the whole capacity: compact, then grow, keep data. */
	assert_int_equal(buf_reserve(&b, cap), 0);
	assert_true(b.cap >= cap + 6);
	assert_int_equal(b.off, 0);
	assert_buf_holds(&b, "456789");
	buf_release(&b);
}

static void
test_buf_truncate_semantics(void **state)
{
	struct buf	b = { 0 };

	(void)state;
	append_str(&b, "hello world");
	buf_truncate(&b, 5);
	assert_buf_holds(&b, "hello");
	/* Truncating to more than there is changes nothing. */
	buf_truncate(&b, 50);
	assert_buf_holds(&b, "hello");
	/* The length is absolute, counted from the start of storage. */
	buf_consume(&b, 2);
	buf_truncate(&b, 4);
	assert_buf_holds(&b, "ll");
	/* Cutting into the consumed part leaves it empty and rewound. */
	buf_truncate(&b, 1);
	assert_buf_empty(&b);
	buf_release(&b);
}

static void
test_buf_truncate_undo_append(void **state)
{
	struct buf	b = { 0 };
	size_t		mark;

	(void)state;
	append_str(&b, "header");
	mark = b.len;
	append_str(&b, "partial");
	buf_truncate(&b, mark);
	assert_buf_holds(&b, "header");
	buf_release(&b);
}

static void
test_buf_release_resets(void **state)
{
	struct buf	b = { 0 };

	(void)state;
	append_str(&b, "data");
	buf_consume(&b, 1);
	buf_release(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	assert_buf_empty(&b);
	/* Released twice and reused. */
	buf_release(&b);
	append_str(&b, "more");
	assert_buf_holds(&b, "more");
	buf_release(&b);
}

/*
 * Reading a frame whose header announced 1 MiB + 16: the buffer starts at
 * a block and doubles with the bytes that arrive, its last step exact;
 * it never holds more than the frame, and never the whole frame before
 * its bytes came.
 */
static void
test_buf_grow_follows_data(void **state)
{
	struct buf	b;
	size_t		frame = (1 << 20) + 16, prev = 0;
	int		steps = 0;

	(void)state;
	memset(&b, 0, sizeof(b));
	while (b.len < frame) {
		if (buf_room(&b) == 0) {
			assert_int_equal(buf_grow(&b, frame), 0);
			assert_true(b.cap > prev);
			/* At most twice what has arrived, never past the frame. */
			assert_true(b.cap <= BUF_STD || b.cap <= 2 * b.len);
			assert_true(b.cap <= frame);
			prev = b.cap;
			steps++;
		}
		/* A read fills what room there is, at most 64 KiB. */
		b.len += buf_room(&b) < 65536 ? buf_room(&b) : 65536;
		if (b.len > frame)
			b.len = frame;
	}
	assert_int_equal(b.cap, frame);
	assert_true(steps <= 8);
	buf_release(&b);

	/* Consumed space is reclaimed before any growth. */
	assert_int_equal(buf_grow(&b, BUF_STD), 0);
	b.len = b.cap;
	buf_consume(&b, 100);
	assert_int_equal(buf_grow(&b, BUF_STD), 0);
	assert_int_equal(b.cap, BUF_STD);
	assert_int_equal(b.off, 0);
	assert_int_equal(buf_room(&b), 100);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append_first_use),
		cmocka_unit_test(test_buf_append_empty),
		cmocka_unit_test(test_buf_append_grows),
		cmocka_unit_test(test_buf_reserve_room),
		cmocka_unit_test(test_buf_reserve_overflow),
		cmocka_unit_test(test_buf_consume_partial),
		cmocka_unit_test(test_buf_consume_all_rewinds),
		cmocka_unit_test(test_buf_consume_too_much),
		cmocka_unit_test(test_buf_reserve_compacts),
		cmocka_unit_test(test_buf_reserve_compacts_then_grows),
		cmocka_unit_test(test_buf_truncate_semantics),
		cmocka_unit_test(test_buf_truncate_undo_append),
		cmocka_unit_test(test_buf_release_resets),
		cmocka_unit_test(test_buf_grow_follows_data),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
