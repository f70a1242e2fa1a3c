/*
 * test_sha256.c: SHA-256 against the FIPS 180-4 / NIST example vectors,
 * incremental hashing at every split, the padding boundaries, and the
 * constant-time digest comparison.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sha256.h"

#define HEX_LEN		(2 * SHA256_DIGEST_LEN + 1)

/* NIST "abc" multi-block examples: 448 and 896 bits. */
#define MSG_448		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define MSG_896		"abcdefghbcdefghicdefghijdefghijkefghijklfghijklm" \
			"ghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs" \
			"mnopqrstnopqrstu"

#define MILLION		1000000

/* Lowercase hex of a digest, for readable assertion failures. */
static void
to_hex(const uint8_t d[SHA256_DIGEST_LEN], char out[HEX_LEN])
{
	static const char	xd[] = "0123456789abcdef";
	int			i;

	for (i = 0; i < SHA256_DIGEST_LEN; i++) {
		out[2 * i] = xd[d[i] >> 4];
		out[2 * i + 1] = xd[d[i] & 0x0f];
	}
	out[2 * SHA256_DIGEST_LEN] = '\0';
}

/* Assert that the one-shot digest of n bytes at msg is the hex want. */
static void
check_oneshot(const void *msg, size_t n, const char *want)
{
	uint8_t	d[SHA256_DIGEST_LEN];
	char	hex[HEX_LEN];

	sha256(msg, n, d);
	to_hex(d, hex);
	assert_string_equal(hex, want);
}

/* Digest of n bytes at msg fed to sha256_update() one byte at a time. */
static void
bytewise(const uint8_t *msg, size_t n, uint8_t out[SHA256_DIGEST_LEN])
{
	struct sha256	ctx;
	size_t		i;

	sha256_init(&ctx);
	for (i = 0; i < n; i++)
		sha256_update(&ctx, msg + i, 1);
	sha256_final(&ctx, out);
}

/* A message whose bytes all differ from their neighbours and block peers. */
static void
fill_pattern(uint8_t *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + 3);
}

static void
test_sha256_empty(void **state)
{
	(void)state;
	check_oneshot("", 0,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void
test_sha256_empty_null(void **state)
{
	(void)state;
	/* No bytes to read: a null pointer must not be dereferenced. */
	check_oneshot(NULL, 0,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void
test_sha256_abc(void **state)
{
	(void)state;
	check_oneshot("abc", 3,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
test_sha256_448_bits(void **state)
{
	(void)state;
	/* 56 bytes: the length no longer fits, padding takes a second block. */
	assert_int_equal(strlen(MSG_448), 56);
	check_oneshot(MSG_448, strlen(MSG_448),
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void
test_sha256_896_bits(void **state)
{
	(void)state;
	assert_int_equal(strlen(MSG_896), 112);
	check_oneshot(MSG_896, strlen(MSG_896),
	    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void
test_sha256_million_a(void **state)
{
	uint8_t	*msg;

	(void)state;
	msg = malloc(MILLION);
	assert_non_null(msg);
	memset(msg, 'a', MILLION);
	check_oneshot(msg, MILLION,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(msg);
}

static void
test_sha256_update_million_a_chunks(void **state)
{
	struct sha256	ctx;
	uint8_t		chunk[1000], d[SHA256_DIGEST_LEN];
	char		hex[HEX_LEN];
	int		i;

	(void)state;
	/* 1000 updates of 1000 bytes: never block-aligned (1000 mod 64 = 40). */
	memset(chunk, 'a', sizeof(chunk));
	sha256_init(&ctx);
	for (i = 0; i < MILLION / (int)sizeof(chunk); i++)
		sha256_update(&ctx, chunk, sizeof(chunk));
	sha256_final(&ctx, d);
	to_hex(d, hex);
	assert_string_equal(hex,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void
test_sha256_unaligned_input(void **state)
{
	uint8_t	buf[4 + 3];
	size_t	off;

	(void)state;
	/* The same message at every alignment. */
	for (off = 0; off < 4; off++) {
		memcpy(buf + off, "abc", 3);
		check_oneshot(buf + off, 3, "ba7816bf8f01cfea414140de5dae2223"
		    "b00361a396177a9cb410ff61f20015ad");
	}
}

static void
test_sha256_update_split_every_offset(void **state)
{
	struct sha256	ctx;
	uint8_t		msg[200], want[SHA256_DIGEST_LEN], got[SHA256_DIGEST_LEN];
	size_t		k;

	(void)state;
	fill_pattern(msg, sizeof(msg));
	sha256(msg, sizeof(msg), want);
	for (k = 0; k <= sizeof(msg); k++) {
		sha256_init(&ctx);
		sha256_update(&ctx, msg, k);
		sha256_update(&ctx, msg + k, sizeof(msg) - k);
		sha256_final(&ctx, got);
		assert_memory_equal(got, want, SHA256_DIGEST_LEN);
	}
}

static void
test_sha256_update_split_every_pair(void **state)
{
	struct sha256	ctx;
	uint8_t		msg[200], want[SHA256_DIGEST_LEN], got[SHA256_DIGEST_LEN];
	size_t		i, j;

	(void)state;
	/* Three pieces, so a partial block is completed and refilled. */
	fill_pattern(msg, sizeof(msg));
	sha256(msg, sizeof(msg), want);
	for (i = 0; i <= sizeof(msg); i++) {
		for (j = i; j <= sizeof(msg); j++) {
			sha256_init(&ctx);
			sha256_update(&ctx, msg, i);
			sha256_update(&ctx, msg + i, j - i);
			sha256_update(&ctx, msg + j, sizeof(msg) - j);
			sha256_final(&ctx, got);
			assert_memory_equal(got, want, SHA256_DIGEST_LEN);
		}
	}
}

static void
test_sha256_final_padding_boundaries(void **state)
{
	/*
	 * n 'a' bytes.  55 is the longest message whose padding fits in one
	 * block; 56 .. 63 need a second; 64 fills a block with data alone.
	 * Expected digests generated independently with Python's hashlib.
	 */
	static const struct {
		size_t		 n;
		const char	*hex;
	} v[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9a"
		      "e9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f"
		      "590ce20f1bde7090ef7970686ec6738a" },
		{ 63, "7d3e74a05d7db15bce4ad9ec0658ea98"
		      "e3f06eeecf16b4c6fff2da457ddc2f34" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209"
		      "f439851db43d0ba5997337df154668eb" },
		{ 65, "635361c48bb9eab14198e76ea8ab7f1a"
		      "41685d6ad62aa9146d301d4f17eb0ae0" },
		{ 119, "31eba51c313a5c08226adf18d4a359cf"
		       "dfd8d2e816b13f4af952f7ea6584dcfb" },
		{ 120, "2f3d335432c70b580af0e8e1b3674a7c"
		       "020d683aa5f73aaaedfdc55af904c21c" },
	};
	uint8_t	msg[128], one[SHA256_DIGEST_LEN], byte[SHA256_DIGEST_LEN];
	char	hex[HEX_LEN];
	size_t	i;

	(void)state;
	memset(msg, 'a', sizeof(msg));
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sha256(msg, v[i].n, one);
		bytewise(msg, v[i].n, byte);
		assert_memory_equal(one, byte, SHA256_DIGEST_LEN);
		to_hex(one, hex);
		assert_string_equal(hex, v[i].hex);
	}
}

static void
test_sha256_final_lengths_consistent(void **state)
{
	uint8_t	msg[300], one[SHA256_DIGEST_LEN], byte[SHA256_DIGEST_LEN];
	uint8_t	prev[SHA256_DIGEST_LEN];
	size_t	n;

	(void)state;
	/* Every length over several blocks: bytewise agrees, lengths differ. */
	fill_pattern(msg, sizeof(msg));
	for (n = 0; n <= sizeof(msg); n++) {
		sha256(msg, n, one);
		bytewise(msg, n, byte);
		assert_memory_equal(one, byte, SHA256_DIGEST_LEN);
		if (n > 0)
			assert_memory_not_equal(one, prev, SHA256_DIGEST_LEN);
		memcpy(prev, one, sizeof(prev));
	}
}

static void
test_sha256_init_reuse(void **state)
{
	struct sha256	ctx;
	uint8_t		d[SHA256_DIGEST_LEN];
	char		hex[HEX_LEN];

	(void)state;
	/* A context is reusable after final once it is initialised again. */
	sha256_init(&ctx);
	sha256_update(&ctx, "something else", 14);
	sha256_final(&ctx, d);
	sha256_init(&ctx);
	sha256_update(&ctx, "abc", 3);
	sha256_final(&ctx, d);
	to_hex(d, hex);
	assert_string_equal(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
test_sha256_equal_identical(void **state)
{
	uint8_t	a[SHA256_DIGEST_LEN], b[SHA256_DIGEST_LEN];

	(void)state;
	sha256("token", 5, a);
	memcpy(b, a, sizeof(b));
	assert_int_equal(sha256_equal(a, b), 1);
	assert_int_equal(sha256_equal(a, a), 1);
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(sha256_equal(a, b), 1);
	memset(a, 0xff, sizeof(a));
	memset(b, 0xff, sizeof(b));
	assert_int_equal(sha256_equal(a, b), 1);
}

static void
test_sha256_equal_single_bit(void **state)
{
	uint8_t	a[SHA256_DIGEST_LEN], b[SHA256_DIGEST_LEN];
	int	i, bit;

	(void)state;
	/* Every single-bit difference, at every byte, in either argument. */
	sha256("token", 5, a);
	for (i = 0; i < SHA256_DIGEST_LEN; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(b, a, sizeof(b));
			b[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(sha256_equal(a, b), 0);
			assert_int_equal(sha256_equal(b, a), 0);
		}
	}
}

static void
test_sha256_equal_all_differ(void **state)
{
	uint8_t	a[SHA256_DIGEST_LEN], b[SHA256_DIGEST_LEN];

	(void)state;
	memset(a, 0x00, sizeof(a));
	memset(b, 0xff, sizeof(b));
	assert_int_equal(sha256_equal(a, b), 0);
	sha256("token", 5, a);
	sha256("tokem", 5, b);
	assert_int_equal(sha256_equal(a, b), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_empty),
		cmocka_unit_test(test_sha256_empty_null),
		cmocka_unit_test(test_sha256_abc),
		cmocka_unit_test(test_sha256_448_bits),
		cmocka_unit_test(test_sha256_896_bits),
		cmocka_unit_test(test_sha256_million_a),
		cmocka_unit_test(test_sha256_update_million_a_chunks),
		cmocka_unit_test(test_sha256_unaligned_input),
		cmocka_unit_test(test_sha256_update_split_every_offset),
		cmocka_unit_test(test_sha256_update_split_every_pair),
		cmocka_unit_test(test_sha256_final_padding_boundaries),
		cmocka_unit_test(test_sha256_final_lengths_consistent),
		cmocka_unit_test(test_sha256_init_reuse),
		cmocka_unit_test(test_sha256_equal_identical),
		cmocka_unit_test(test_sha256_equal_single_bit),
		cmocka_unit_test(test_sha256_equal_all_differ),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
