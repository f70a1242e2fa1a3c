/*
 * sha256.c: SHA-256 as specified in FIPS 180-4, sections 4.1.2 (functions),
 * 4.2.2 (constants), 5.1.1 (padding), 5.3.3 (initial hash value) and 6.2
 * (computation).  Words are loaded and stored big-endian one byte at a
 * time, so the code is independent of host byte order and alignment.
 */
#include <string.h>

#include "sha256.h"

/* First 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
	0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
	0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
	0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

/* First 32 bits of the fractional parts of the square roots of the first 8 primes. */
static const uint32_t sha256_h0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
};

#define ROTR(x, n)	(((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z)	(((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z)	(((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x)	(ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x)	(ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x)	(ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x)	(ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))

/* The big-endian 32-bit word at p. */
static uint32_t
load_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

/* Store v big-endian at p. */
static void
store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Clear n bytes at p in a way the compiler may not elide as a dead store. */
static void
sha256_wipe(void *p, size_t n)
{
	volatile uint8_t	*v = p;

	while (n-- > 0)
		*v++ = 0;
}

/* Fold one 64-byte block into the hash value (FIPS 180-4 6.2.2). */
static void
sha256_block(uint32_t h[8], const uint8_t *blk)
{
	uint32_t	w[64];
	uint32_t	a, b, c, d, e, f, g, hh, t1, t2;
	int		t;

	for (t = 0; t < 16; t++)
		w[t] = load_be32(blk + 4 * t);
	for (t = 16; t < 64; t++)
		w[t] = SSIG1(w[t - 2]) + w[t - 7] + SSIG0(w[t - 15]) +
		    w[t - 16];

	a = h[0];
	b = h[1];
	c = h[2];
	d = h[3];
	e = h[4];
	f = h[5];
	g = h[6];
	hh = h[7];
	for (t = 0; t < 64; t++) {
		t1 = hh + BSIG1(e) + CH(e, f, g) + sha256_k[t] + w[t];
		t2 = BSIG0(a) + MAJ(a, b, c);
		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;

	sha256_wipe(w, sizeof(w));
}

/* Start a new hash computation in ctx. */
void
sha256_init(struct sha256 *ctx)
{
	memcpy(ctx->h, sha256_h0, sizeof(ctx->h));
	ctx->len = 0;
	memset(ctx->buf, 0, sizeof(ctx->buf));
	ctx->used = 0;
}

/* Hash n more bytes of the message; any split gives the same digest. */
void
sha256_update(struct sha256 *ctx, const void *data, size_t n)
{
	const uint8_t	*p = data;
	size_t		 take;

	if (n == 0)
		return;
	ctx->len += (uint64_t)n;

	/* Complete a partial block first. */
	if (ctx->used > 0) {
		take = SHA256_BLOCK_LEN - ctx->used;
		if (take > n)
			take = n;
		memcpy(ctx->buf + ctx->used, p, take);
		ctx->used += take;
		p += take;
		n -= take;
		if (ctx->used < SHA256_BLOCK_LEN)
			return;
		sha256_block(ctx->h, ctx->buf);
		ctx->used = 0;
	}

	/* Whole blocks straight from the input. */
	while (n >= SHA256_BLOCK_LEN) {
		sha256_block(ctx->h, p);
		p += SHA256_BLOCK_LEN;
		n -= SHA256_BLOCK_LEN;
	}

	if (n > 0) {
		memcpy(ctx->buf, p, n);
		ctx->used = n;
	}
}

/*
 * Pad the message (FIPS 180-4 5.1.1: a 1 bit, zeros up to 56 mod 64 bytes,
 * the length in bits as a big-endian 64-bit integer), write the digest to
 * out and wipe ctx; sha256_init() must be called again before reuse.
 */
void
sha256_final(struct sha256 *ctx, uint8_t out[SHA256_DIGEST_LEN])
{
	uint64_t	bits;
	int		i;

	bits = ctx->len << 3;

	ctx->buf[ctx->used++] = 0x80;
	if (ctx->used > SHA256_BLOCK_LEN - 8) {
		memset(ctx->buf + ctx->used, 0, SHA256_BLOCK_LEN - ctx->used);
		sha256_block(ctx->h, ctx->buf);
		ctx->used = 0;
	}
	memset(ctx->buf + ctx->used, 0, SHA256_BLOCK_LEN - 8 - ctx->used);
	for (i = 0; i < 8; i++)
		ctx->buf[SHA256_BLOCK_LEN - 1 - i] = (uint8_t)(bits >> (8 * i));
	sha256_block(ctx->h, ctx->buf);

	for (i = 0; i < 8; i++)
		store_be32(out + 4 * i, ctx->h[i]);

	sha256_wipe(ctx, sizeof(*ctx));
}

/* One-shot digest of n bytes at data. */
void
sha256(const void *data, size_t n, uint8_t out[SHA256_DIGEST_LEN])
{
	struct sha256	ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, data, n);
	sha256_final(&ctx, out);
}

/*
 * 1 if the digests are equal, else 0.  Every byte is examined and the
 * differences are OR-ed together with no early exit or data-dependent
 * branch, so the time taken does not depend on where they differ.
 */
int
sha256_equal(const uint8_t a[SHA256_DIGEST_LEN],
    const uint8_t b[SHA256_DIGEST_LEN])
{
	unsigned int	diff = 0;
	int		i;

	for (i = 0; i < SHA256_DIGEST_LEN; i++)
		diff |= (unsigned int)(a[i] ^ b[i]);
	/* diff is 0 .. 255: diff - 1 wraps (bit 8 set) only when it is 0. */
	return ((int)(((diff - 1) >> 8) & 1));
}
