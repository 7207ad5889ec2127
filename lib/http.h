/* SPDX-License-Identifier: MIT */
/*
 * Private: a small HTTP/1.1 client (http.c) for the registry API.  One
 * connection per request ("Connection: close"); bodies with Content-Length,
 * chunked, or up to EOF; redirects for GET/HEAD (Authorization dropped when
 * the host changes); https through OpenSSL with SNI and verification
 * against the system CA bundle.  Every size from the peer is bounded.
 */
#ifndef XARCH_HTTP_H
#define XARCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/error.h"

#define XA_HTTP_HEAD_MAX  (64u << 10) /* status line + header block */
#define XA_HTTP_LINE_MAX  1024	      /* one chunk-size line or trailer */
#define XA_HTTP_REDIRECTS 5

struct xa_url {
	bool tls;
	char host[256]; /* without brackets for IPv6 literals */
	char port[8];
	char path[4096]; /* path and query, starts with '/' */
};

/* "http[s]://HOST[:PORT][/PATH]" */
int xa_url_parse(const char *s, struct xa_url *ret, struct xarch_error *err);
/* Resolve a Location header against `base` (absolute URL or absolute path). */
int xa_url_resolve(const struct xa_url *base, const char *loc, struct xa_url *ret,
		   struct xarch_error *err);

struct xa_http_req {
	const char *method; /* NULL: GET */
	const char *url;
	const char *auth;	    /* Authorization value; not sent after a host change */
	const char *const *headers; /* extra "Name: value" lines, NULL-terminated */
	const void *body;	    /* request body from memory ... */
	size_t body_len;
	int body_fd; /* ... or from this fd (when >= 0) */
	uint64_t body_fd_len;
	int out_fd;	  /* >= 0: a 2xx body is streamed here and hashed */
	uint64_t out_max; /* largest body accepted into out_fd (0: no limit) */
	size_t mem_max;	  /* largest body kept in memory otherwise */
	bool insecure;	  /* https without certificate verification */
	bool no_redirect;
	int timeout_s; /* connect and each read/write; 0: 60 */
	/* called as body bytes go out (body_fd) or come in (out_fd); total is
	 * 0 when unknown.  May be NULL. */
	void (*progress)(void *data, uint64_t done, uint64_t total);
	void *progress_data;
};

struct xa_http_resp {
	int status;
	char url[4400]; /* the final URL after redirects */
	char location[4096];
	char content_type[256];
	char www_authenticate[2048];
	char docker_digest[128]; /* Docker-Content-Digest */
	int64_t content_length;	 /* -1 when none */
	char *body;		 /* NUL-terminated (out_fd < 0); free() it */
	size_t body_len;
	uint64_t out_len;    /* bytes written to out_fd */
	char out_sha256[65]; /* their sha256 */
};

/* Perform a request.  Any status is success at this level (check
 * resp->status); transport and protocol errors return -errno. */
int xa_http_do(const struct xa_http_req *req, struct xa_http_resp *ret, struct xarch_error *err);
void xa_http_resp_release(struct xa_http_resp *r);

/* A connection: plain fd, or TLS on top of it.  Exposed so the response
 * reader can be tested on a file. */
struct xa_conn {
	int fd;
	void *ssl;
	char buf[16384];
	size_t pos, len;
};
void xa_conn_init_fd(struct xa_conn *c, int fd);
/* Read a response head and body from `c` for a request `method`. */
int xa_http_recv(struct xa_conn *c, const char *method, const struct xa_http_req *req,
		 struct xa_http_resp *resp, struct xarch_error *err);

/* Base64 (RFC 4648, with padding). */
int xa_base64_encode(const void *in, size_t n, char *out, size_t outlen);
/* Returns the decoded length or -EINVAL; `out` gets a NUL after it. */
int xa_base64_decode(const char *in, size_t n, char *out, size_t outlen);

#endif
