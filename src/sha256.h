/*
 * sha256.h: SHA-256 (FIPS 180-4) and a constant-time digest comparison.
 *
 * Pure functions over caller-owned state: no I/O, no allocation, no
 * mutable globals.  Byte order is handled byte by byte, so the result does
 * not depend on the host's endianness or alignment.
 *
 * Authentication tokens are compared by their digests rather than as raw
 * strings: a digest is always SHA256_DIGEST_LEN bytes whatever the token's
 * length, so the comparison takes the same time for every candidate and
 * leaks neither where the first differing byte is nor how long the
 * configured token is.  Use sha256_equal() for that comparison, never
 * memcmp(), which may return at the first difference.
 */
#ifndef MSGD_SHA256_H
#define MSGD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN	32
#define SHA256_BLOCK_LEN	64

struct sha256 {
	uint32_t	h[8];		/* intermediate hash value */
	uint64_t	len;		/* message bytes hashed so far */
	uint8_t		buf[SHA256_BLOCK_LEN];	/* partial block */
	size_t		used;		/* bytes in buf */
};

void	sha256_init(struct sha256 *);
void	sha256_update(struct sha256 *, const void *, size_t);
void	sha256_final(struct sha256 *, uint8_t [SHA256_DIGEST_LEN]);
void	sha256(const void *, size_t, uint8_t [SHA256_DIGEST_LEN]);
int	sha256_equal(const uint8_t [SHA256_DIGEST_LEN],
	    const uint8_t [SHA256_DIGEST_LEN]);

#endif /* MSGD_SHA256_H */
