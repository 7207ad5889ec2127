/* SPDX-License-Identifier: MIT */
/* Private: SHA-256 for blob digests (digest.c). */
#ifndef XARCH_DIGEST_H
#define XARCH_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* OpenSSL's SHA256_CTX under a name of our own; the low-level interface
 * needs no allocation, so a context can live on the stack. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

struct xa_sha256 {
	SHA256_CTX ctx;
};

void xa_sha256_init(struct xa_sha256 *c);
void xa_sha256_update(struct xa_sha256 *c, const void *data, size_t n);
void xa_sha256_final(struct xa_sha256 *c, uint8_t out[32]);
/* final, as 64 lowercase hex digits */
void xa_sha256_hex(struct xa_sha256 *c, char out[65]);
void xa_sha256_buf_hex(const void *data, size_t n, char out[65]);

#endif
