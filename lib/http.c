// SPDX-License-Identifier: MIT
/*
 * A small HTTP/1.1 client (RFC 9112) for the registry API, see http.h.
 * Bodies never land in memory unbounded: in-memory bodies are capped by the
 * caller, streamed bodies are hashed as they are written.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "digest.h"
#include "http.h"
#include "internal.h"

/* ---- URLs ------------------------------------------------------------------------------ */

int xa_url_parse(const char *s, struct xa_url *ret, struct xarch_error *err)
{
	struct xa_url u = {0};
	const char *p;
	if (!strncasecmp(s, "https://", 8)) {
		u.tls = true;
		p = s + 8;
	} else if (!strncasecmp(s, "http://", 7)) {
		p = s + 7;
	} else {
		return xarch_err(err, EINVAL, "'%.200s' is not an http(s) URL", s);
	}
	size_t hl = strcspn(p, "/?#");
	const char *hp = p, *port = NULL;
	size_t hostlen = hl;
	if (*hp == '[') { /* [v6]:port */
		const char *e = memchr(hp, ']', hl);
		if (!e)
			return xarch_err(err, EINVAL, "bad IPv6 host in '%.200s'", s);
		hp++;
		hostlen = (size_t)(e - hp);
		if (e + 1 < p + hl) {
			if (e[1] != ':')
				return xarch_err(err, EINVAL, "bad host in '%.200s'", s);
			port = e + 2;
		}
	} else {
		const char *c = memchr(hp, ':', hl);
		if (c) {
			hostlen = (size_t)(c - hp);
			port = c + 1;
		}
	}
	if (hostlen == 0 || hostlen >= sizeof(u.host) || memchr(hp, '@', hostlen))
		return xarch_err(err, EINVAL, "bad host in '%.200s'", s);
	memcpy(u.host, hp, hostlen);
	if (port) {
		size_t pl = (size_t)(p + hl - port);
		if (pl == 0 || pl >= sizeof(u.port))
			return xarch_err(err, EINVAL, "bad port in '%.200s'", s);
		for (size_t i = 0; i < pl; i++)
			if (!isdigit((unsigned char)port[i]))
				return xarch_err(err, EINVAL, "bad port in '%.200s'", s);
		memcpy(u.port, port, pl);
	} else {
		strcpy(u.port, u.tls ? "443" : "80");
	}
	const char *path = p + hl;
	size_t plen = strcspn(path, "#");
	if (plen + 2 > sizeof(u.path))
		return xarch_err(err, ENAMETOOLONG, "URL too long: '%.200s'", s);
	if (*path != '/')
		u.path[0] = '/';
	memcpy(u.path + strlen(u.path), path, plen);
	for (const char *c = u.path; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return xarch_err(err, EINVAL, "bad character in URL '%.200s'", s);
	*ret = u;
	return 0;
}

int xa_url_resolve(const struct xa_url *base, const char *loc, struct xa_url *ret,
		   struct xarch_error *err)
{
	if (!strncasecmp(loc, "http://", 7) || !strncasecmp(loc, "https://", 8))
		return xa_url_parse(loc, ret, err);
	if (loc[0] != '/' || loc[1] == '/')
		return xarch_err(err, EPROTO, "unsupported redirect location '%.200s'", loc);
	struct xa_url u = *base;
	if (xa_strcpy(u.path, sizeof(u.path), loc) < 0)
		return xarch_err(err, ENAMETOOLONG, "redirect location too long");
	for (const char *c = u.path; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return xarch_err(err, EINVAL, "bad character in location '%.200s'", loc);
	*ret = u;
	return 0;
}

/* ---- base64 ---------------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int xa_base64_encode(const void *in, size_t n, char *out, size_t outlen)
{
	const unsigned char *s = in;
	if (n > (SIZE_MAX - 3) / 4 * 3 || (n + 2) / 3 * 4 + 1 > outlen)
		return -ENAMETOOLONG;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

int xa_base64_decode(const char *in, size_t n, char *out, size_t outlen)
{
	while (n && in[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -EINVAL;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(in[i]);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= outlen)
				return -ENAMETOOLONG;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (outlen == 0)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (int)o;
}

/* ---- connections ----------------------------------------------------------------------- */

void xa_conn_init_fd(struct xa_conn *c, int fd)
{
	c->fd = fd;
	c->ssl = NULL;
	c->pos = c->len = 0;
}

static void conn_close(struct xa_conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static ssize_t conn_read_raw(struct xa_conn *c, void *buf, size_t n)
{
	if (c->ssl) {
		size_t got = 0;
		int r = SSL_read_ex(c->ssl, buf, n, &got);
		if (r == 1)
			return (ssize_t)got;
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		/* peers that close without close_notify: treat as EOF,
		 * the body framing decides whether that was too early */
		if (e == SSL_ERROR_SYSCALL && errno == 0)
			return 0;
		return -(errno ? errno : EPROTO);
	}
	for (;;) {
		ssize_t r = read(c->fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : r;
	}
}

/* Fill the buffer if empty; returns bytes available, 0 at EOF, -errno. */
static ssize_t conn_fill(struct xa_conn *c)
{
	if (c->pos < c->len)
		return (ssize_t)(c->len - c->pos);
	c->pos = c->len = 0;
	ssize_t r = conn_read_raw(c, c->buf, sizeof(c->buf));
	if (r > 0)
		c->len = (size_t)r;
	return r;
}

static int conn_write(struct xa_conn *c, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w;
		if (c->ssl) {
			size_t done = 0;
			if (SSL_write_ex(c->ssl, p, n, &done) != 1)
				return -(errno ? errno : EPIPE);
			w = (ssize_t)done;
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int tcp_connect(const struct xa_url *u, int timeout_s, struct xarch_error *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC}, *res, *ai;
	int g = getaddrinfo(u->host, u->port, &hints, &res);
	if (g != 0)
		return xarch_err(err, EHOSTUNREACH, "cannot resolve '%s': %s", u->host,
				 gai_strerror(g));
	int fd = -1, last = ECONNREFUSED;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (r < 0 && errno == EINPROGRESS) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int k;
			do
				k = poll(&pfd, 1, timeout_s * 1000);
			while (k < 0 && errno == EINTR);
			if (k == 0) {
				errno = ETIMEDOUT;
			} else if (k > 0) {
				int e = 0;
				socklen_t el = sizeof(e);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
				errno = e;
				r = e ? -1 : 0;
			}
		}
		if (r == 0)
			break;
		last = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return xarch_err_sys(err, last, "cannot connect to '%s' port %s", u->host, u->port);
	/* back to blocking, with timeouts on every read and write */
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	struct timeval tv = {.tv_sec = timeout_s};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static SSL_CTX *tls_ctx(bool insecure, struct xarch_error *err)
{
	/* two contexts for the process: verified and not */
	static SSL_CTX *ctx[2];
	SSL_CTX **slot = &ctx[insecure];
	if (*slot)
		return *slot;
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (!c) {
		xarch_err(err, ENOMEM, "cannot set up TLS");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	if (!insecure) {
		/* a static OpenSSL has its build's paths; name Debian's */
		int ok = SSL_CTX_load_verify_locations(c, "/etc/ssl/certs/ca-certificates.crt",
						       "/etc/ssl/certs");
		ok |= SSL_CTX_set_default_verify_paths(c);
		if (!ok) {
			SSL_CTX_free(c);
			xarch_err(err, ENOENT, "no CA certificates in /etc/ssl/certs");
			xarch_err_hint(err, "install ca-certificates");
			return NULL;
		}
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	}
	*slot = c;
	return c;
}

static int tls_start(struct xa_conn *c, const struct xa_url *u, bool insecure,
		     struct xarch_error *err)
{
	SSL_CTX *ctx = tls_ctx(insecure, err);
	if (!ctx)
		return -err->code;
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return xarch_err(err, ENOMEM, "cannot set up TLS");
	c->ssl = ssl;
	SSL_set_fd(ssl, c->fd);
	SSL_set_tlsext_host_name(ssl, u->host);
	if (!insecure) {
		X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
		X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		/* an IP literal is checked against the certificate's IP SANs */
		if (!X509_VERIFY_PARAM_set1_ip_asc(p, u->host))
			X509_VERIFY_PARAM_set1_host(p, u->host, 0);
	}
	ERR_clear_error();
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		unsigned long e = ERR_get_error();
		char buf[256] = "";
		if (e)
			ERR_error_string_n(e, buf, sizeof(buf));
		if (v != X509_V_OK) {
			xarch_err(err, EPROTO, "TLS: certificate of '%s' not trusted: %s", u->host,
				  X509_verify_cert_error_string(v));
			xarch_err_hint(err, "use --insecure only for a registry you trust");
			return -EPROTO;
		}
		return xarch_err(err, EPROTO, "TLS handshake with '%s' failed%s%s", u->host,
				 buf[0] ? ": " : "", buf);
	}
	return 0;
}

/* ---- responses ------------------------------------------------------------------------- */

/* One line (CRLF or LF stripped) into `line`; -EMSGSIZE when longer than `max`. */
static int read_line(struct xa_conn *c, char *line, size_t max, size_t *ret_len)
{
	size_t n = 0;
	for (;;) {
		ssize_t a = conn_fill(c);
		if (a < 0)
			return (int)a;
		if (a == 0)
			return -EPROTO;
		char *s = c->buf + c->pos;
		char *nl = memchr(s, '\n', (size_t)a);
		size_t take = nl ? (size_t)(nl - s) + 1 : (size_t)a;
		if (n + take > max)
			return -EMSGSIZE;
		memcpy(line + n, s, take);
		n += take;
		c->pos += take;
		if (nl)
			break;
	}
	n--; /* the \n */
	if (n && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	*ret_len = n;
	return 0;
}

static void copy_trim(char *dst, size_t len, const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int parse_u64(const char *s, int base, uint64_t *ret)
{
	while (*s == ' ' || *s == '\t')
		s++;
	uint64_t v = 0;
	int digits = 0;
	for (; *s; s++, digits++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (__builtin_mul_overflow(v, (uint64_t)base, &v) ||
		    __builtin_add_overflow(v, (uint64_t)d, &v))
			return -EOVERFLOW;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (!digits || (*s && !(base == 16 && *s == ';')))
		return -EINVAL;
	*ret = v;
	return 0;
}

struct sink {
	const struct xa_http_req *req;
	struct xa_http_resp *resp;
	struct xa_sha256 sha;
	bool to_fd;
	size_t cap;
};

static int sink_put(struct sink *k, const char *p, size_t n, struct xarch_error *err)
{
	struct xa_http_resp *r = k->resp;
	if (k->to_fd) {
		uint64_t total;
		if (__builtin_add_overflow(r->out_len, (uint64_t)n, &total) ||
		    (k->req->out_max && total > k->req->out_max))
			return xarch_err(err, EFBIG,
					 "response body larger than the %llu bytes expected",
					 (unsigned long long)k->req->out_max);
		xa_sha256_update(&k->sha, p, n);
		while (n) {
			ssize_t w = write(k->req->out_fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return xarch_err_sys(err, errno, "cannot write the download");
			p += w;
			n -= (size_t)w;
			r->out_len += (uint64_t)w;
		}
		if (k->req->progress)
			k->req->progress(k->req->progress_data, r->out_len,
					 r->content_length > 0 ? (uint64_t)r->content_length
							       : k->req->out_max);
		return 0;
	}
	size_t max = k->req->mem_max ? k->req->mem_max : (1u << 20);
	if (n > max || r->body_len > max - n)
		return xarch_err(err, EFBIG, "response body larger than %zu bytes", max);
	if (r->body_len + n + 1 > k->cap) {
		size_t cap = k->cap ? k->cap : 4096;
		while (cap < r->body_len + n + 1)
			cap *= 2;
		char *b = realloc(r->body, cap);
		if (!b)
			return xarch_err(err, ENOMEM, "out of memory");
		r->body = b;
		k->cap = cap;
	}
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

/* Copy up to `n` bytes (or to EOF when `to_eof`) from the connection. */
static int body_copy(struct xa_conn *c, struct sink *k, uint64_t n, bool to_eof,
		     struct xarch_error *err)
{
	while (to_eof || n) {
		ssize_t a = conn_fill(c);
		if (a < 0)
			return xarch_err_sys(err, (int)-a, "cannot read the response");
		if (a == 0) {
			if (to_eof)
				return 0;
			return xarch_err(err, EPROTO,
					 "connection closed %llu bytes before the end "
					 "of the response",
					 (unsigned long long)n);
		}
		size_t take = (size_t)a;
		if (!to_eof && take > n)
			take = (size_t)n;
		int r = sink_put(k, c->buf + c->pos, take, err);
		if (r < 0)
			return r;
		c->pos += take;
		if (!to_eof)
			n -= take;
	}
	return 0;
}

static int body_chunked(struct xa_conn *c, struct sink *k, struct xarch_error *err)
{
	char line[XA_HTTP_LINE_MAX + 2];
	size_t len;
	for (;;) {
		int r = read_line(c, line, sizeof(line) - 1, &len);
		if (r < 0)
			return xarch_err(err, r == -EMSGSIZE ? EPROTO : -r, "bad chunk size line");
		uint64_t n;
		if (parse_u64(line, 16, &n) < 0)
			return xarch_err(err, EPROTO, "bad chunk size '%.40s'", line);
		if (n == 0)
			break;
		if ((r = body_copy(c, k, n, false, err)) < 0)
			return r;
		if ((r = read_line(c, line, sizeof(line) - 1, &len)) < 0 || len != 0)
			return xarch_err(err, EPROTO, "chunk not followed by CRLF");
	}
	/* trailers, bounded like the head */
	size_t total = 0;
	for (;;) {
		int r = read_line(c, line, sizeof(line) - 1, &len);
		if (r < 0)
			return xarch_err(err, EPROTO, "bad chunked trailer");
		if (len == 0)
			return 0;
		total += len;
		if (total > XA_HTTP_HEAD_MAX)
			return xarch_err(err, EPROTO, "chunked trailer too large");
	}
}

int xa_http_recv(struct xa_conn *c, const char *method, const struct xa_http_req *req,
		 struct xa_http_resp *resp, struct xarch_error *err)
{
	/* one buffer for the longest line the head may have */
	const size_t linemax = XA_HTTP_HEAD_MAX + 1;
	_cleanup_free_ char *line = malloc(linemax + 1);
	size_t len, total = 0;
	int r;
	bool chunked = false;
	if (!line)
		return xarch_err(err, ENOMEM, "out of memory");
	resp->content_length = -1;
	/* the status line; 1xx interim responses are skipped */
	for (;;) {
		if ((r = read_line(c, line, linemax, &len)) < 0)
			return xarch_err(err, EPROTO, "no HTTP response%s",
					 r == -EMSGSIZE ? ": status line too long" : "");
		total += len + 2;
		unsigned st;
		char sp;
		if (strncmp(line, "HTTP/1.", 7) || !isdigit((unsigned char)line[7]) ||
		    sscanf(line + 8, "%c%3u", &sp, &st) != 2 || sp != ' ' || st < 100 || st > 599 ||
		    (line[12] && line[12] != ' '))
			return xarch_err(err, EPROTO, "bad HTTP status line '%.60s'", line);
		resp->status = (int)st;
		if (st >= 200)
			break;
		/* skip the interim response's headers */
		do {
			if ((r = read_line(c, line, linemax, &len)) < 0)
				return xarch_err(err, EPROTO, "bad HTTP header block");
			total += len + 2;
			if (total > XA_HTTP_HEAD_MAX)
				return xarch_err(err, EMSGSIZE, "HTTP header block over %u bytes",
						 XA_HTTP_HEAD_MAX);
		} while (len);
	}
	for (;;) {
		r = read_line(c, line, XA_HTTP_HEAD_MAX - (total < XA_HTTP_HEAD_MAX ? total : 0),
			      &len);
		if (r == -EMSGSIZE)
			return xarch_err(err, EMSGSIZE, "HTTP header block over %u bytes",
					 XA_HTTP_HEAD_MAX);
		if (r < 0)
			return xarch_err(err, EPROTO, "truncated HTTP header block");
		total += len + 2;
		if (total > XA_HTTP_HEAD_MAX)
			return xarch_err(err, EMSGSIZE, "HTTP header block over %u bytes",
					 XA_HTTP_HEAD_MAX);
		if (len == 0)
			break;
		char *colon = strchr(line, ':');
		if (!colon || colon == line || line[0] == ' ' || line[0] == '\t')
			return xarch_err(err, EPROTO, "bad HTTP header line '%.60s'", line);
		*colon = '\0';
		const char *v = colon + 1;
		if (!strcasecmp(line, "Content-Length")) {
			uint64_t n;
			if (parse_u64(v, 10, &n) < 0 || n > INT64_MAX ||
			    (resp->content_length >= 0 && (uint64_t)resp->content_length != n))
				return xarch_err(err, EPROTO, "bad Content-Length '%.40s'", v);
			resp->content_length = (int64_t)n;
		} else if (!strcasecmp(line, "Transfer-Encoding")) {
			char te[64];
			copy_trim(te, sizeof(te), v);
			if (strcasecmp(te, "chunked"))
				return xarch_err(err, EPROTO, "unsupported Transfer-Encoding '%s'",
						 te);
			chunked = true;
		} else if (!strcasecmp(line, "Location")) {
			copy_trim(resp->location, sizeof(resp->location), v);
		} else if (!strcasecmp(line, "Content-Type")) {
			copy_trim(resp->content_type, sizeof(resp->content_type), v);
		} else if (!strcasecmp(line, "WWW-Authenticate")) {
			if (!resp->www_authenticate[0])
				copy_trim(resp->www_authenticate, sizeof(resp->www_authenticate),
					  v);
		} else if (!strcasecmp(line, "Docker-Content-Digest")) {
			copy_trim(resp->docker_digest, sizeof(resp->docker_digest), v);
		}
	}

	struct sink k = {.req = req, .resp = resp};
	k.to_fd = req->out_fd >= 0 && resp->status >= 200 && resp->status < 300;
	if (k.to_fd)
		xa_sha256_init(&k.sha);
	bool none = !strcmp(method, "HEAD") || resp->status == 204 || resp->status == 304;
	if (!none) {
		if (chunked)
			r = body_chunked(c, &k, err);
		else if (resp->content_length >= 0)
			r = body_copy(c, &k, (uint64_t)resp->content_length, false, err);
		else
			r = body_copy(c, &k, 0, true, err);
		if (r < 0)
			return r;
	}
	if (k.to_fd)
		xa_sha256_hex(&k.sha, resp->out_sha256);
	return 0;
}

void xa_http_resp_release(struct xa_http_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

/* ---- requests -------------------------------------------------------------------------- */

static int send_request(struct xa_conn *c, const char *method, const struct xa_url *u,
			const struct xa_http_req *req, bool with_auth, bool with_body,
			struct xarch_error *err)
{
	/* the head is built in one buffer; extra headers are bounded by it */
	size_t cap = XA_HTTP_HEAD_MAX;
	_cleanup_free_ char *h = malloc(cap);
	if (!h)
		return xarch_err(err, ENOMEM, "out of memory");
	size_t n = 0;
	bool dflt = (u->tls && !strcmp(u->port, "443")) || (!u->tls && !strcmp(u->port, "80"));
	bool v6 = strchr(u->host, ':') != NULL;
	int k = snprintf(h, cap,
			 "%s %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n"
			 "User-Agent: xarch/0.1\r\nConnection: close\r\n",
			 method, u->path, v6 ? "[" : "", u->host, v6 ? "]" : "", dflt ? "" : ":",
			 dflt ? "" : u->port);
	if (k < 0 || (size_t)k >= cap)
		return xarch_err(err, ENAMETOOLONG, "request too long");
	n = (size_t)k;
	if (with_auth && req->auth) {
		k = snprintf(h + n, cap - n, "Authorization: %s\r\n", req->auth);
		if (k < 0 || (size_t)k >= cap - n)
			return xarch_err(err, ENAMETOOLONG, "request too long");
		n += (size_t)k;
	}
	for (const char *const *e = req->headers; e && *e; e++) {
		if (strpbrk(*e, "\r\n"))
			return xarch_err(err, EINVAL, "header with a line break");
		k = snprintf(h + n, cap - n, "%s\r\n", *e);
		if (k < 0 || (size_t)k >= cap - n)
			return xarch_err(err, ENAMETOOLONG, "request too long");
		n += (size_t)k;
	}
	if (with_body) {
		uint64_t bl = req->body_fd >= 0 ? req->body_fd_len : req->body_len;
		k = snprintf(h + n, cap - n, "Content-Length: %llu\r\n", (unsigned long long)bl);
		if (k < 0 || (size_t)k >= cap - n)
			return xarch_err(err, ENAMETOOLONG, "request too long");
		n += (size_t)k;
	}
	if (n + 3 > cap)
		return xarch_err(err, ENAMETOOLONG, "request too long");
	memcpy(h + n, "\r\n", 3);
	n += 2;
	int r = conn_write(c, h, n);
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot send to '%s'", u->host);
	if (!with_body)
		return 0;
	if (req->body_fd < 0) {
		if (req->body_len && (r = conn_write(c, req->body, req->body_len)) < 0)
			return xarch_err_sys(err, -r, "cannot send to '%s'", u->host);
		return 0;
	}
	uint64_t left = req->body_fd_len;
	while (left) {
		size_t want = sizeof(c->buf) < left ? sizeof(c->buf) : (size_t)left;
		ssize_t got = read(req->body_fd, c->buf, want);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return xarch_err_sys(err, errno, "cannot read the upload");
		if (got == 0)
			return xarch_err(err, EPROTO, "upload shorter than its Content-Length");
		if ((r = conn_write(c, c->buf, (size_t)got)) < 0)
			return xarch_err_sys(err, -r, "cannot send to '%s'", u->host);
		left -= (uint64_t)got;
		if (req->progress)
			req->progress(req->progress_data, req->body_fd_len - left, req->body_fd_len);
	}
	return 0;
}

int xa_http_do(const struct xa_http_req *req, struct xa_http_resp *ret, struct xarch_error *err)
{
	const char *method = req->method ? req->method : "GET";
	bool follow = !req->no_redirect && (!strcmp(method, "GET") || !strcmp(method, "HEAD"));
	bool with_body = req->body || req->body_fd >= 0 || !strcmp(method, "PUT") ||
			 !strcmp(method, "POST") || !strcmp(method, "PATCH");
	int timeout = req->timeout_s > 0 ? req->timeout_s : 60;
	struct xa_url u, first;
	int r = xa_url_parse(req->url, &u, err);
	if (r < 0)
		return r;
	first = u;
	_cleanup_free_ struct xa_conn *c = malloc(sizeof(*c));
	if (!c)
		return xarch_err(err, ENOMEM, "out of memory");
	for (int hop = 0;; hop++) {
		struct xa_http_resp resp = {0};
		int fd = tcp_connect(&u, timeout, err);
		if (fd < 0)
			return fd;
		xa_conn_init_fd(c, fd);
		if (u.tls && (r = tls_start(c, &u, req->insecure, err)) < 0) {
			conn_close(c);
			return r;
		}
		/* credentials go to the host they were meant for only */
		bool same = !strcasecmp(u.host, first.host) && !strcmp(u.port, first.port) &&
			    u.tls == first.tls;
		r = send_request(c, method, &u, req, same, with_body, err);
		/* only a 2xx body goes to req->out_fd, so a redirect's does not */
		if (r >= 0)
			r = xa_http_recv(c, method, req, &resp, err);
		conn_close(c);
		if (r < 0) {
			xa_http_resp_release(&resp);
			return r;
		}
		bool v6 = strchr(u.host, ':') != NULL;
		snprintf(resp.url, sizeof(resp.url), "%s://%s%s%s:%s%s", u.tls ? "https" : "http",
			 v6 ? "[" : "", u.host, v6 ? "]" : "", u.port, u.path);
		bool is_redirect = resp.status == 301 || resp.status == 302 || resp.status == 303 ||
				   resp.status == 307 || resp.status == 308;
		if (!follow || !is_redirect || !resp.location[0]) {
			*ret = resp;
			return 0;
		}
		xa_http_resp_release(&resp);
		if (hop >= XA_HTTP_REDIRECTS)
			return xarch_err(err, ELOOP, "more than %d redirects from '%.200s'",
					 XA_HTTP_REDIRECTS, req->url);
		struct xa_url next;
		if ((r = xa_url_resolve(&u, resp.location, &next, err)) < 0)
			return r;
		if (u.tls && !next.tls)
			return xarch_err(err, EPROTO, "refusing a redirect from https to http");
		u = next;
	}
}
