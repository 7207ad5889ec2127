// SPDX-License-Identifier: MIT
/* Registry client pieces: references, auth challenges, docker config auth,
 * base64, URLs, and the HTTP response reader (framing, chunked, limits). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "http.h"
#include "xarch/registry.h"

static const struct {
	const char *in;
	int rc;
	const char *host, *name, *tag, *digest;
} refs[] = {
    {"docker://debian", 0, "registry-1.docker.io", "library/debian", "latest", ""},
    {"debian:12", 0, "registry-1.docker.io", "library/debian", "12", ""},
    {"docker.io/user/img:v1.2", 0, "registry-1.docker.io", "user/img", "v1.2", ""},
    {"index.docker.io/alpine", 0, "registry-1.docker.io", "library/alpine", "latest", ""},
    {"127.0.0.1:5000/test/img:t", 0, "127.0.0.1:5000", "test/img", "t", ""},
    {"localhost/a/b/c", 0, "localhost", "a/b/c", "latest", ""},
    {"ghcr.io/o/r@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0,
     "ghcr.io", "o/r", "",
     "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
    {"quay.io/a_b/c-d.e:x", 0, "quay.io", "a_b/c-d.e", "x", ""},
    {"user/img", 0, "registry-1.docker.io", "user/img", "latest", ""},
    {"Upper/case", -EINVAL, NULL, NULL, NULL, NULL},
    {"host.io/", -EINVAL, NULL, NULL, NULL, NULL},
    {"host.io/a//b", -EINVAL, NULL, NULL, NULL, NULL},
    {"host.io/a:", -EINVAL, NULL, NULL, NULL, NULL},
    {"host.io/a:-bad", -EINVAL, NULL, NULL, NULL, NULL},
    {"host.io/a@sha256:1234", -EINVAL, NULL, NULL, NULL, NULL},
    {"host.io/a@md5:0123", -EINVAL, NULL, NULL, NULL, NULL},
    {"ho st.io/a", -EINVAL, NULL, NULL, NULL, NULL},
    {"host.io/-a", -EINVAL, NULL, NULL, NULL, NULL},
};

static void test_refs(void)
{
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		struct xarch_registry_ref r;
		struct xarch_error err = {0};
		int rc = xarch_registry_ref_parse(refs[i].in, &r, &err);
		CHECK_INT(rc, refs[i].rc, "ref '%s' %s", refs[i].in, rc < 0 ? err.msg : "");
		if (rc == 0 && refs[i].rc == 0) {
			CHECK_STR(r.host, refs[i].host, "ref '%s' host", refs[i].in);
			CHECK_STR(r.name, refs[i].name, "ref '%s' name", refs[i].in);
			CHECK_STR(r.tag, refs[i].tag, "ref '%s' tag", refs[i].in);
			CHECK_STR(r.digest, refs[i].digest, "ref '%s' digest", refs[i].in);
		}
	}
}

static void test_challenges(void)
{
	struct xarch_auth_challenge c;
	CHECK_INT(
	    xarch_auth_challenge_parse(
		"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
		"scope=\"repository:library/debian:pull\"",
		&c),
	    0, "docker hub challenge");
	CHECK_STR(c.scheme, "Bearer", "scheme");
	CHECK_STR(c.realm, "https://auth.docker.io/token", "realm");
	CHECK_STR(c.service, "registry.docker.io", "service");
	CHECK_STR(c.scope, "repository:library/debian:pull", "scope");
	CHECK_INT(xarch_auth_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0, "basic");
	CHECK_STR(c.scheme, "Basic", "basic scheme");
	CHECK_STR(c.realm, "Registry Realm", "basic realm with a space");
	CHECK_INT(xarch_auth_challenge_parse("bearer realm=http://x/t , service = s", &c), 0,
		  "unquoted, spaces");
	CHECK_STR(c.realm, "http://x/t", "unquoted realm");
	CHECK_STR(c.service, "s", "unquoted service");
	CHECK_INT(xarch_auth_challenge_parse("Bearer realm=\"a\\\"b\"", &c), 0, "escaped quote");
	CHECK_STR(c.realm, "a\"b", "escape removed");
	CHECK_INT(xarch_auth_challenge_parse("Bearer realm=\"open", &c), -EINVAL,
		  "unterminated quote");
	CHECK_INT(xarch_auth_challenge_parse("", &c), -EINVAL, "empty");
	char big[3000];
	memset(big, 'a', sizeof(big));
	memcpy(big, "Bearer realm=\"", 14);
	big[sizeof(big) - 2] = '"';
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(xarch_auth_challenge_parse(big, &c), -EMSGSIZE, "oversized realm refused");
}

static void test_config(void)
{
	/* "alice:s3cr:et" and "bob:pw" */
	const char *js = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"Ym9iOnB3\"},"
			 "\"127.0.0.1:5000\":{\"auth\":\"YWxpY2U6czNjcjpldA==\"},"
			 "\"bad.io\":{\"auth\":\"!!!\"},\"nocolon.io\":{\"auth\":\"Ym9i\"}}}";
	char u[64], p[64];
	CHECK_INT(
	    xarch_docker_config_auth(js, strlen(js), "127.0.0.1:5000", u, sizeof(u), p, sizeof(p)),
	    0, "exact host");
	CHECK_STR(u, "alice", "user");
	CHECK_STR(p, "s3cr:et", "password keeps its colon");
	CHECK_INT(xarch_docker_config_auth(js, strlen(js), "registry-1.docker.io", u, sizeof(u), p,
					   sizeof(p)),
		  0, "docker hub alias");
	CHECK_STR(u, "bob", "hub user");
	CHECK_INT(xarch_docker_config_auth(js, strlen(js), "other.io", u, sizeof(u), p, sizeof(p)),
		  -ENOENT, "no entry");
	CHECK_INT(xarch_docker_config_auth(js, strlen(js), "bad.io", u, sizeof(u), p, sizeof(p)),
		  -EINVAL, "bad base64");
	CHECK_INT(
	    xarch_docker_config_auth(js, strlen(js), "nocolon.io", u, sizeof(u), p, sizeof(p)),
	    -EINVAL, "no colon");
	CHECK_INT(xarch_docker_config_auth("[1]", 3, "x", u, sizeof(u), p, sizeof(p)), -ENOENT,
		  "not an object");
}

static void test_base64(void)
{
	static const char *const v[][2] = {{"", ""},
					   {"f", "Zg=="},
					   {"fo", "Zm8="},
					   {"foo", "Zm9v"},
					   {"foob", "Zm9vYg=="},
					   {"fooba", "Zm9vYmE="},
					   {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char e[32], d[32];
		xa_base64_encode(v[i][0], strlen(v[i][0]), e, sizeof(e));
		CHECK_STR(e, v[i][1], "base64 encode '%s'", v[i][0]);
		CHECK_INT(xa_base64_decode(v[i][1], strlen(v[i][1]), d, sizeof(d)),
			  (int)strlen(v[i][0]), "base64 decode '%s'", v[i][1]);
		CHECK_STR(d, v[i][0], "base64 round trip '%s'", v[i][0]);
	}
	char d[4];
	CHECK_INT(xa_base64_decode("Zm9vYmFy", 8, d, sizeof(d)), -ENAMETOOLONG, "decode bounded");
	CHECK_INT(xa_base64_decode("Z", 1, d, sizeof(d)), -EINVAL, "bad length");
}

static void test_urls(void)
{
	struct xa_url u, v;
	struct xarch_error err = {0};
	CHECK_INT(xa_url_parse("https://reg.io/v2/", &u, &err), 0, "https url");
	CHECK(u.tls && !strcmp(u.port, "443") && !strcmp(u.path, "/v2/"), "https parts");
	CHECK_INT(xa_url_parse("http://[::1]:5000", &u, &err), 0, "v6 url");
	CHECK(!u.tls && !strcmp(u.host, "::1") && !strcmp(u.port, "5000") && !strcmp(u.path, "/"),
	      "v6 parts");
	CHECK_INT(xa_url_parse("ftp://x/", &u, &err), -EINVAL, "ftp refused");
	CHECK_INT(xa_url_parse("http://u@x/", &u, &err), -EINVAL, "userinfo refused");
	CHECK_INT(xa_url_parse("http://x:99999999/", &u, &err), -EINVAL, "long port refused");
	CHECK_INT(xa_url_parse("http://x/a b", &u, &err), -EINVAL, "space refused");
	xa_url_parse("http://reg:5000/v2/x/blobs/uploads/", &u, &err);
	CHECK_INT(xa_url_resolve(&u, "/v2/x/blobs/uploads/abc?state=1", &v, &err), 0,
		  "relative location");
	CHECK(!strcmp(v.host, "reg") && !strcmp(v.port, "5000") &&
		  !strcmp(v.path, "/v2/x/blobs/uploads/abc?state=1"),
	      "relative location keeps host");
	CHECK_INT(xa_url_resolve(&u, "https://s3.example/b?sig=1", &v, &err), 0,
		  "absolute location");
	CHECK(v.tls && !strcmp(v.host, "s3.example"), "absolute location host");
	CHECK_INT(xa_url_resolve(&u, "//evil/x", &v, &err), -EPROTO, "scheme-relative refused");
}

/* Feed `resp` to the reader from a file. */
static int recv_from(const char *resp, size_t len, const char *method, int out_fd, uint64_t out_max,
		     struct xa_http_resp *rs, struct xarch_error *err)
{
	char path[] = "/tmp/xarch-test-http.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (write(fd, resp, len) != (ssize_t)len)
		return -EIO;
	lseek(fd, 0, SEEK_SET);
	static struct xa_conn c;
	xa_conn_init_fd(&c, fd);
	struct xa_http_req rq = {
	    .body_fd = -1, .out_fd = out_fd, .out_max = out_max, .mem_max = 1024};
	memset(rs, 0, sizeof(*rs));
	int r = xa_http_recv(&c, method, &rq, rs, err);
	close(fd);
	return r;
}

static void test_http(void)
{
	struct xa_http_resp rs;
	struct xarch_error err = {0};
	const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: a/b; x=y\r\n"
			 "Docker-Content-Digest: sha256:00\r\n\r\nhelloEXTRA";
	CHECK_INT(recv_from(r1, strlen(r1), "GET", -1, 0, &rs, &err), 0, "content-length");
	CHECK(rs.status == 200 && rs.body_len == 5 && !strcmp(rs.body, "hello"),
	      "content-length body");
	CHECK_STR(rs.content_type, "a/b; x=y", "content-type kept");
	CHECK_STR(rs.docker_digest, "sha256:00", "docker-content-digest");
	xa_http_resp_release(&rs);

	const char *r2 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
	CHECK_INT(recv_from(r2, strlen(r2), "GET", -1, 0, &rs, &err), 0, "chunked %s", err.msg);
	CHECK_STR(rs.body, "hello, world", "chunked body");
	xa_http_resp_release(&rs);

	const char *r3 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX";
	CHECK(recv_from(r3, strlen(r3), "GET", -1, 0, &rs, &err) < 0, "chunk without CRLF");
	xa_http_resp_release(&rs);
	const char *r4 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "ffffffffffffffffff\r\n";
	CHECK(recv_from(r4, strlen(r4), "GET", -1, 0, &rs, &err) < 0, "chunk size overflow");
	xa_http_resp_release(&rs);
	const char *r5 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
	CHECK(recv_from(r5, strlen(r5), "GET", -1, 0, &rs, &err) < 0, "bad chunk size");
	xa_http_resp_release(&rs);
	const char *r6 = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
	CHECK(recv_from(r6, strlen(r6), "GET", -1, 0, &rs, &err) < 0, "truncated body");
	xa_http_resp_release(&rs);
	const char *r7 = "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n";
	char big7[2100];
	memset(big7, 'x', sizeof(big7));
	memcpy(big7, r7, strlen(r7));
	CHECK_INT(recv_from(big7, sizeof(big7), "GET", -1, 0, &rs, &err), -EFBIG,
		  "in-memory body over mem_max");
	xa_http_resp_release(&rs);
	const char *r8 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello";
	CHECK(recv_from(r8, strlen(r8), "GET", -1, 0, &rs, &err) < 0,
	      "conflicting content-lengths");
	xa_http_resp_release(&rs);
	const char *r9 = "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n";
	CHECK(recv_from(r9, strlen(r9), "GET", -1, 0, &rs, &err) < 0, "content-length overflow");
	xa_http_resp_release(&rs);
	const char *r10 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
	CHECK_INT(recv_from(r10, strlen(r10), "HEAD", -1, 0, &rs, &err), 0, "HEAD has no body");
	xa_http_resp_release(&rs);
	const char *r11 = "HTTP/1.0 200 OK\r\n\r\nuntil eof";
	CHECK_INT(recv_from(r11, strlen(r11), "GET", -1, 0, &rs, &err), 0, "body to EOF");
	CHECK_STR(rs.body, "until eof", "body to EOF text");
	xa_http_resp_release(&rs);
	const char *r12 = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
			  "Location: /v2/x\r\nContent-Length: 0\r\n\r\n";
	CHECK_INT(recv_from(r12, strlen(r12), "PUT", -1, 0, &rs, &err), 0, "100 continue skipped");
	CHECK(rs.status == 201 && !strcmp(rs.location, "/v2/x"), "final status and location");
	xa_http_resp_release(&rs);
	static const char *const bad[] = {"HTTP/2 200 OK\r\n\r\n",
					  "HTTP/1.1 2000 OK\r\n\r\n",
					  "garbage\r\n\r\n",
					  "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
					  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
					  ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(recv_from(bad[i], strlen(bad[i]), "GET", -1, 0, &rs, &err) < 0,
		      "bad response %zu refused", i);
		xa_http_resp_release(&rs);
	}

	/* header block: 64 KiB is the limit, one line or many */
	size_t n = 70000;
	char *h = malloc(n + 100);
	strcpy(h, "HTTP/1.1 200 OK\r\nX-Big: ");
	size_t off = strlen(h);
	memset(h + off, 'a', n - off);
	memcpy(h + n, "\r\n\r\n", 5);
	CHECK_INT(recv_from(h, strlen(h), "GET", -1, 0, &rs, &err), -EMSGSIZE,
		  "one huge header refused");
	xa_http_resp_release(&rs);
	strcpy(h, "HTTP/1.1 200 OK\r\n");
	off = strlen(h);
	while (off + 20 < n) {
		memcpy(h + off, "X-Many: aaaaaaaaa\r\n", 19);
		off += 19;
	}
	memcpy(h + off, "\r\n", 3);
	CHECK_INT(recv_from(h, strlen(h), "GET", -1, 0, &rs, &err), -EMSGSIZE,
		  "many headers over 64 KiB refused");
	xa_http_resp_release(&rs);
	free(h);

	/* streamed to a file: hashed, and bounded by out_max */
	char path[] = "/tmp/xarch-test-out.XXXXXX";
	int out = mkstemp(path);
	unlink(path);
	const char *r13 = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
	CHECK_INT(recv_from(r13, strlen(r13), "GET", out, 3, &rs, &err), 0, "streamed");
	CHECK(rs.out_len == 3 && !rs.body, "streamed length, nothing in memory");
	CHECK_STR(rs.out_sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "streamed sha256");
	xa_http_resp_release(&rs);
	CHECK_INT(recv_from(r13, strlen(r13), "GET", out, 2, &rs, &err), -EFBIG,
		  "stream over out_max refused");
	xa_http_resp_release(&rs);
	const char *r14 = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}";
	CHECK_INT(recv_from(r14, strlen(r14), "GET", out, 1, &rs, &err), 0, "error body");
	CHECK(rs.body && !strcmp(rs.body, "{}"), "error body kept in memory, not the file");
	xa_http_resp_release(&rs);
	close(out);
}

int main(void)
{
	test_refs();
	test_challenges();
	test_config();
	test_base64();
	test_urls();
	test_http();
	return check_done();
}
