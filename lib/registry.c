// SPDX-License-Identifier: MIT
/*
 * Registry API v2 (OCI distribution-spec, "pull" and "push" workflows) on
 * top of http.c.  Auth follows Docker's token spec: a 401 carries a
 * WWW-Authenticate challenge; Bearer means "get a token from realm for
 * service+scope" (with Basic credentials when we have some), Basic means
 * send the credentials directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "digest.h"
#include "http.h"
#include "internal.h"
#include "xarch/oci.h"
#include "xarch/registry.h"

#define MT_OCI_INDEX	   "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST	   "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST	   "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

#define DOCKER_HUB "registry-1.docker.io"

static void json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(json_putp)))

static bool is_index_type(const char *mt)
{
	return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
}

/* ---- references ------------------------------------------------------------------------ */

static bool name_ok(const char *n)
{
	/* distribution-spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/...)* */
	bool start = true;
	for (const char *p = n; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
		if (alnum) {
			start = false;
			continue;
		}
		if (start || !strchr("._-/", *p))
			return false;
		if (*p == '/')
			start = true;
		else if (!((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= '0' && p[1] <= '9') ||
			   p[1] == '-' || (*p == '_' && p[1] == '_')))
			return false;
	}
	return !start;
}

static bool tag_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 128 || *t == '.' || *t == '-')
		return false;
	for (const char *p = t; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
			return false;
	return true;
}

static bool host_ok(const char *h)
{
	if (!*h)
		return false;
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(".-:[]", *p)))
			return false;
	return true;
}

int xarch_registry_ref_parse(const char *s, struct xarch_registry_ref *ret, struct xarch_error *err)
{
	struct xarch_registry_ref r = {0};
	const char *in = s;
	if (!strncmp(s, "docker://", 9))
		s += 9;
	const char *slash = strchr(s, '/');
	const char *rest = s;
	if (slash) {
		size_t hl = (size_t)(slash - s);
		bool is_host = memchr(s, '.', hl) || memchr(s, ':', hl) ||
			       (hl == 9 && !strncmp(s, "localhost", 9));
		if (is_host) {
			if (hl >= sizeof(r.host))
				return xarch_err(err, ENAMETOOLONG,
						 "registry host too long in '%s'", in);
			memcpy(r.host, s, hl);
			rest = slash + 1;
		}
	}
	if (!r.host[0])
		strcpy(r.host, "docker.io");
	if (!host_ok(r.host))
		return xarch_err(err, EINVAL, "bad registry host '%s' in '%s'", r.host, in);

	const char *at = strchr(rest, '@');
	size_t nl = at ? (size_t)(at - rest) : strlen(rest);
	if (at) {
		if (xa_strcpy(r.digest, sizeof(r.digest), at + 1) < 0 ||
		    !xarch_digest_valid(r.digest))
			return xarch_err(err, EINVAL, "'%s': digest is not sha256:<64 hex digits>",
					 in);
	}
	/* a tag is after the last ':' that follows the last '/' */
	const char *lastslash = memrchr(rest, '/', nl);
	const char *colon = memchr(lastslash ? lastslash : rest, ':',
				   nl - (size_t)((lastslash ? lastslash : rest) - rest));
	if (colon) {
		size_t tl = nl - (size_t)(colon + 1 - rest);
		if (tl >= sizeof(r.tag))
			return xarch_err(err, EINVAL, "'%s': tag too long", in);
		memcpy(r.tag, colon + 1, tl);
		if (!tag_ok(r.tag))
			return xarch_err(err, EINVAL, "'%s': bad tag '%s'", in, r.tag);
		nl = (size_t)(colon - rest);
	}
	bool hub = !strcmp(r.host, "docker.io") || !strcmp(r.host, "index.docker.io");
	size_t pre = hub && !memchr(rest, '/', nl) ? 8 : 0;
	if (nl == 0)
		return xarch_err(err, EINVAL, "'%s' names no repository", in);
	if (nl + pre >= sizeof(r.name))
		return xarch_err(err, ENAMETOOLONG, "'%s': repository name too long", in);
	memcpy(r.name, "library/", pre);
	memcpy(r.name + pre, rest, nl);
	if (!name_ok(r.name))
		return xarch_err(err, EINVAL,
				 "'%s': bad repository name '%s' (lowercase letters, digits, "
				 "and . _ - / between them)",
				 in, r.name);
	if (hub)
		strcpy(r.host, DOCKER_HUB);
	if (!r.tag[0] && !r.digest[0])
		strcpy(r.tag, "latest");
	*ret = r;
	return 0;
}

/* ---- auth ------------------------------------------------------------------------------ */

int xarch_auth_challenge_parse(const char *hdr, struct xarch_auth_challenge *ret)
{
	struct xarch_auth_challenge c = {0};
	const char *p = hdr;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t sl = strcspn(p, " \t,");
	if (sl == 0 || sl >= sizeof(c.scheme))
		return -EINVAL;
	memcpy(c.scheme, p, sl);
	p += sl;
	/* auth-params: name=token or name="quoted \" string", comma separated */
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *k = p;
		size_t kl = strcspn(p, "= \t,");
		p += kl;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=') {
			/* a new challenge ("Basic realm=x, Bearer ...") ends the first */
			break;
		}
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		char val[1024];
		size_t vl = 0;
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				if (vl + 1 >= sizeof(val))
					return -EMSGSIZE;
				val[vl++] = *p++;
			}
			if (*p != '"')
				return -EINVAL;
			p++;
		} else {
			while (*p && *p != ',' && *p != ' ' && *p != '\t') {
				if (vl + 1 >= sizeof(val))
					return -EMSGSIZE;
				val[vl++] = *p++;
			}
		}
		val[vl] = '\0';
		char *dst = NULL;
		size_t dl = 0;
		if (kl == 5 && !strncasecmp(k, "realm", 5))
			dst = c.realm, dl = sizeof(c.realm);
		else if (kl == 7 && !strncasecmp(k, "service", 7))
			dst = c.service, dl = sizeof(c.service);
		else if (kl == 5 && !strncasecmp(k, "scope", 5))
			dst = c.scope, dl = sizeof(c.scope);
		if (dst && xa_strcpy(dst, dl, val) < 0)
			return -EMSGSIZE;
	}
	*ret = c;
	return 0;
}

/* "https://index.docker.io/v1/" -> "index.docker.io" */
static void config_key_host(const char *key, char *out, size_t len)
{
	if (!strncmp(key, "https://", 8))
		key += 8;
	else if (!strncmp(key, "http://", 7))
		key += 7;
	size_t n = strcspn(key, "/");
	if (n >= len)
		n = len - 1;
	memcpy(out, key, n);
	out[n] = '\0';
}

static bool host_matches(const char *key_host, const char *host)
{
	if (!strcasecmp(key_host, host))
		return true;
	static const char *const hub[] = {"docker.io", "index.docker.io", DOCKER_HUB};
	bool a = false, b = false;
	for (size_t i = 0; i < ARRAY_SIZE(hub); i++) {
		a |= !strcasecmp(key_host, hub[i]);
		b |= !strcasecmp(host, hub[i]);
	}
	return a && b;
}

int xarch_docker_config_auth(const char *json, size_t len, const char *host, char *user,
			     size_t ulen, char *pass, size_t plen)
{
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	_cleanup_json_ json_object *root = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	json_object *auths, *e, *a;
	if (!root || !json_object_object_get_ex(root, "auths", &auths) ||
	    !json_object_is_type(auths, json_type_object))
		return -ENOENT;
	json_object_object_foreach(auths, key, val)
	{
		char kh[256];
		config_key_host(key, kh, sizeof(kh));
		if (!host_matches(kh, host))
			continue;
		e = val;
		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "auth", &a) ||
		    !json_object_is_type(a, json_type_string))
			continue;
		const char *s = json_object_get_string(a);
		char dec[1024];
		int n = xa_base64_decode(s, strlen(s), dec, sizeof(dec));
		if (n < 0)
			return -EINVAL;
		char *colon = memchr(dec, ':', (size_t)n);
		if (!colon || memchr(dec, '\0', (size_t)n))
			return -EINVAL;
		*colon = '\0';
		if (xa_strcpy(user, ulen, dec) < 0 || xa_strcpy(pass, plen, colon + 1) < 0)
			return -ENAMETOOLONG;
		return 0;
	}
	return -ENOENT;
}

/* ---- the client ------------------------------------------------------------------------ */

struct client {
	struct xarch_registry_ref ref;
	bool insecure, have_creds;
	const char *actions; /* "pull" or "pull,push" */
	char base[300];
	char user[256], pass[256];
	char *auth; /* Authorization value once we have one */
	const struct xarch_registry_opts *o; /* for progress; may be NULL */
	const char *blob;		     /* the blob in transit, for progress */
};

/* http progress -> the caller's, with the blob's digest */
static void blob_progress(void *data, uint64_t done, uint64_t total)
{
	const struct client *c = data;
	c->o->progress(c->o->progress_data, c->blob, done, total);
}

/* Report progress of `rq` as blob `digest` when the caller asked for it. */
static void track(struct client *c, struct xa_http_req *rq, const char *digest)
{
	if (!c->o || !c->o->progress)
		return;
	c->blob = digest;
	rq->progress = blob_progress;
	rq->progress_data = c;
}

static void client_release(struct client *c)
{
	free(c->auth);
	c->auth = NULL;
	explicit_bzero(c->pass, sizeof(c->pass));
}

static bool is_loopback(const char *host)
{
	return !strncmp(host, "localhost", 9) || !strncmp(host, "127.", 4) ||
	       !strncmp(host, "[::1]", 5);
}

static int client_init(struct client *c, const char *ref, const struct xarch_registry_opts *o,
		       const char *actions, struct xarch_error *err)
{
	memset(c, 0, sizeof(*c));
	int r = xarch_registry_ref_parse(ref, &c->ref, err);
	if (r < 0)
		return r;
	c->insecure = o && o->insecure;
	c->o = o;
	c->actions = actions;
	/* loopback registries are plain http, like docker's default */
	bool plain = c->insecure || is_loopback(c->ref.host);
	snprintf(c->base, sizeof(c->base), "%s://%s", plain ? "http" : "https", c->ref.host);
	if (o && o->creds) {
		const char *colon = strchr(o->creds, ':');
		if (!colon)
			return xarch_err(err, EINVAL, "credentials must be USER:PASSWORD");
		size_t ul = (size_t)(colon - o->creds);
		if (ul >= sizeof(c->user) || xa_strcpy(c->pass, sizeof(c->pass), colon + 1) < 0)
			return xarch_err(err, ENAMETOOLONG, "credentials too long");
		memcpy(c->user, o->creds, ul);
		c->have_creds = true;
		return 0;
	}
	char path[4096];
	const char *dc = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	if (dc && *dc)
		r = xa_snprintf(path, sizeof(path), "%s/config.json", dc);
	else if (home && *home)
		r = xa_snprintf(path, sizeof(path), "%s/.docker/config.json", home);
	else
		return 0;
	if (r < 0)
		return 0;
	_cleanup_free_ char *json = NULL;
	size_t len;
	if (xa_read_file(path, 1u << 20, &json, &len, NULL) < 0)
		return 0; /* no config: anonymous */
	r = xarch_docker_config_auth(json, len, c->ref.host, c->user, sizeof(c->user), c->pass,
				     sizeof(c->pass));
	if (r == -EINVAL)
		return xarch_err(err, EINVAL, "'%s': bad auth entry for '%s'", path, c->ref.host);
	c->have_creds = r == 0;
	return 0;
}

static int url_escape(const char *s, char *out, size_t len)
{
	size_t n = 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || strchr("-._~", ch);
		if (n + 4 > len)
			return -ENAMETOOLONG;
		if (plain)
			out[n++] = (char)ch;
		else
			n += (size_t)snprintf(out + n, len - n, "%%%02X", ch);
	}
	out[n] = '\0';
	return 0;
}

static int basic_value(struct client *c, char **ret)
{
	char up[520], enc[720];
	if (xa_snprintf(up, sizeof(up), "%s:%s", c->user, c->pass) < 0 ||
	    xa_base64_encode(up, strlen(up), enc, sizeof(enc)) < 0)
		return -ENAMETOOLONG;
	explicit_bzero(up, sizeof(up));
	if (asprintf(ret, "Basic %s", enc) < 0)
		return -ENOMEM;
	return 0;
}

/* React to a 401: get what the challenge asks for into c->auth. */
static int authenticate(struct client *c, const char *www, struct xarch_error *err)
{
	struct xarch_auth_challenge ch;
	if (!www[0] || xarch_auth_challenge_parse(www, &ch) < 0)
		return xarch_err(err, EACCES, "'%s' refused access without a usable challenge",
				 c->ref.host);
	if (!strcasecmp(ch.scheme, "Basic")) {
		if (!c->have_creds) {
			xarch_err(err, EACCES, "'%s' wants a user name and password", c->ref.host);
			xarch_err_hint(err, "pass --creds USER:PASS or log in with docker/skopeo");
			return -EACCES;
		}
		free(c->auth);
		c->auth = NULL;
		if (basic_value(c, &c->auth) < 0)
			return xarch_err(err, ENOMEM, "out of memory");
		return 0;
	}
	if (strcasecmp(ch.scheme, "Bearer"))
		return xarch_err(err, EACCES, "'%s' wants unsupported auth scheme '%s'",
				 c->ref.host, ch.scheme);
	if (!ch.realm[0])
		return xarch_err(err, EACCES, "'%s': Bearer challenge without a realm",
				 c->ref.host);
	char scope[600], es[1800], esvc[800];
	if (ch.scope[0])
		snprintf(scope, sizeof(scope), "%s", ch.scope);
	else
		snprintf(scope, sizeof(scope), "repository:%s:%s", c->ref.name, c->actions);
	if (url_escape(scope, es, sizeof(es)) < 0 || url_escape(ch.service, esvc, sizeof(esvc)) < 0)
		return xarch_err(err, ENAMETOOLONG, "token request too long");
	char url[4096];
	if (xa_snprintf(url, sizeof(url), "%s%sservice=%s&scope=%s", ch.realm,
			strchr(ch.realm, '?') ? "&" : "?", esvc, es) < 0)
		return xarch_err(err, ENAMETOOLONG, "token request too long");
	_cleanup_free_ char *basic = NULL;
	if (c->have_creds && basic_value(c, &basic) < 0)
		return xarch_err(err, ENOMEM, "out of memory");
	struct xa_http_req rq = {.url = url,
				 .auth = basic,
				 .body_fd = -1,
				 .out_fd = -1,
				 .mem_max = 1u << 20,
				 .insecure = c->insecure};
	struct xa_http_resp rs;
	int r = xa_http_do(&rq, &rs, err);
	if (r < 0) {
		xarch_err_hint(err, "getting a token from '%.200s'", ch.realm);
		return r;
	}
	if (rs.status != 200) {
		int st = rs.status;
		xa_http_resp_release(&rs);
		xarch_err(err, EACCES, "token server '%.200s' answered %d", ch.realm, st);
		if (st == 401 || st == 403)
			xarch_err_hint(err, c->have_creds ? "check the credentials"
							  : "pass --creds USER:PASS");
		return -EACCES;
	}
	struct json_tokener *tok = json_tokener_new();
	_cleanup_json_ json_object *o =
	    tok ? json_tokener_parse_ex(tok, rs.body ? rs.body : "", (int)rs.body_len) : NULL;
	if (tok)
		json_tokener_free(tok);
	xa_http_resp_release(&rs);
	json_object *t = NULL;
	if (!o || !((json_object_object_get_ex(o, "token", &t) &&
		     json_object_is_type(t, json_type_string)) ||
		    (json_object_object_get_ex(o, "access_token", &t) &&
		     json_object_is_type(t, json_type_string))))
		return xarch_err(err, EPROTO, "token server '%.200s' sent no token", ch.realm);
	const char *tv = json_object_get_string(t);
	if (!*tv || strlen(tv) > 32768 || strpbrk(tv, "\r\n"))
		return xarch_err(err, EPROTO, "token server '%.200s' sent a bad token", ch.realm);
	free(c->auth);
	c->auth = NULL;
	if (asprintf(&c->auth, "Bearer %s", tv) < 0)
		return xarch_err(err, ENOMEM, "out of memory");
	return 0;
}

/* A request to the registry; `path` is relative to base or an absolute
 * URL (upload locations).  A 401 is answered once by authenticating. */
static int reg_do(struct client *c, struct xa_http_req *rq, const char *path,
		  struct xa_http_resp *rs, struct xarch_error *err)
{
	char url[4400];
	if (!strncmp(path, "http://", 7) || !strncmp(path, "https://", 8)) {
		if (xa_strcpy(url, sizeof(url), path) < 0)
			return xarch_err(err, ENAMETOOLONG, "URL too long");
	} else if (xa_snprintf(url, sizeof(url), "%s%s", c->base, path) < 0) {
		return xarch_err(err, ENAMETOOLONG, "URL too long");
	}
	rq->url = url;
	rq->insecure = c->insecure;
	off_t start = rq->body_fd >= 0 ? lseek(rq->body_fd, 0, SEEK_CUR) : 0;
	for (int attempt = 0;; attempt++) {
		rq->auth = c->auth;
		int r = xa_http_do(rq, rs, err);
		if (r < 0)
			return r;
		if (rs->status != 401 || attempt > 0)
			return 0;
		char www[sizeof(rs->www_authenticate)];
		memcpy(www, rs->www_authenticate, sizeof(www));
		xa_http_resp_release(rs);
		if ((r = authenticate(c, www, err)) < 0)
			return r;
		if (rq->body_fd >= 0 && lseek(rq->body_fd, start, SEEK_SET) < 0)
			return xarch_err_sys(err, errno, "cannot rewind the upload");
		if (rq->out_fd >= 0 &&
		    (ftruncate(rq->out_fd, 0) < 0 || lseek(rq->out_fd, 0, SEEK_SET) < 0))
			return xarch_err_sys(err, errno, "cannot rewind the download");
	}
}

static int status_err(struct client *c, const struct xa_http_resp *rs, const char *what,
		      struct xarch_error *err)
{
	/* registries explain in {"errors":[{"code","message"}]} */
	char why[200] = "";
	if (rs->body && rs->body_len) {
		_cleanup_json_ json_object *o = json_tokener_parse(rs->body);
		json_object *a, *e, *m;
		if (o && json_object_object_get_ex(o, "errors", &a) &&
		    json_object_is_type(a, json_type_array) && json_object_array_length(a) > 0 &&
		    (e = json_object_array_get_idx(a, 0)) &&
		    json_object_object_get_ex(e, "message", &m))
			snprintf(why, sizeof(why), ": %s", json_object_get_string(m));
	}
	int code = rs->status == 404			    ? ENOENT
		   : rs->status == 401 || rs->status == 403 ? EACCES
							    : EPROTO;
	return xarch_err(err, code, "'%s/%s': %s: HTTP %d%s", c->ref.host, c->ref.name, what,
			 rs->status, why);
}

static int probe(struct client *c, struct xarch_error *err)
{
	struct xa_http_req rq = {.body_fd = -1, .out_fd = -1, .mem_max = 1u << 16};
	struct xa_http_resp rs;
	int r = reg_do(c, &rq, "/v2/", &rs, err);
	if (r < 0)
		return r;
	int st = rs.status;
	xa_http_resp_release(&rs);
	if (st == 200)
		return 0;
	if (st == 404)
		return xarch_err(err, ENOENT, "'%s' does not serve the registry API v2",
				 c->ref.host);
	return xarch_err(err, st == 401 || st == 403 ? EACCES : EPROTO,
			 "'%s' answered /v2/ with HTTP %d", c->ref.host, st);
}

/* ---- pull ------------------------------------------------------------------------------ */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p) < 0 ? 0 : 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void media_type_of(const char *content_type, char *out, size_t len)
{
	size_t n = strcspn(content_type, "; \t");
	if (n >= len)
		n = len - 1;
	memcpy(out, content_type, n);
	out[n] = '\0';
}

/* GET a manifest by tag or digest; verifies the digest when it is known. */
static int get_manifest(struct client *c, const char *what, char **ret, size_t *ret_len,
			char ret_mt[128], char ret_digest[XARCH_DIGEST_LEN + 1],
			struct xarch_error *err)
{
	static const char *const hdrs[] = {"Accept: " MT_OCI_INDEX ", " MT_OCI_MANIFEST
					   ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST,
					   NULL};
	char path[600];
	if (xa_snprintf(path, sizeof(path), "/v2/%s/manifests/%s", c->ref.name, what) < 0)
		return xarch_err(err, ENAMETOOLONG, "reference too long");
	struct xa_http_req rq = {
	    .headers = hdrs, .body_fd = -1, .out_fd = -1, .mem_max = XARCH_OCI_JSON_MAX};
	struct xa_http_resp rs;
	int r = reg_do(c, &rq, path, &rs, err);
	if (r < 0)
		return r;
	if (rs.status != 200) {
		r = status_err(c, &rs, what, err);
		xa_http_resp_release(&rs);
		return r;
	}
	char hex[65];
	xa_sha256_buf_hex(rs.body ? rs.body : "", rs.body_len, hex);
	char dg[XARCH_DIGEST_LEN + 1];
	snprintf(dg, sizeof(dg), "sha256:%s", hex);
	const char *want = xarch_digest_valid(what)		  ? what
			   : xarch_digest_valid(rs.docker_digest) ? rs.docker_digest
								  : NULL;
	if (want && strcmp(want, dg)) {
		xa_http_resp_release(&rs);
		return xarch_err(err, EBADMSG, "manifest '%s' of '%s' has digest %s, not %s", what,
				 c->ref.name, dg, want);
	}
	media_type_of(rs.content_type, ret_mt, 128);
	if (!strncmp(ret_mt, "application/vnd.docker.distribution.manifest.v1", 48)) {
		xa_http_resp_release(&rs);
		return xarch_err(err, ENOTSUP, "'%s': Docker schema 1 manifests are not supported",
				 what);
	}
	if (!rs.body) {
		rs.body = strdup("");
		if (!rs.body)
			return xarch_err(err, ENOMEM, "out of memory");
	}
	/* Content-Type may be generic; the document's own mediaType decides */
	_cleanup_json_ json_object *o = json_tokener_parse(rs.body);
	json_object *mt;
	if (o && json_object_object_get_ex(o, "mediaType", &mt) &&
	    json_object_is_type(mt, json_type_string))
		snprintf(ret_mt, 128, "%s", json_object_get_string(mt));
	else if (o && json_object_object_get_ex(o, "manifests", &mt))
		strcpy(ret_mt, MT_OCI_INDEX);
	else if (!is_index_type(ret_mt) && strcmp(ret_mt, MT_DOCKER_MANIFEST))
		strcpy(ret_mt, MT_OCI_MANIFEST);
	strcpy(ret_digest, dg);
	*ret = rs.body;
	*ret_len = rs.body_len;
	return 0;
}

static int write_blob(int blobs, const char *digest, const char *data, size_t len,
		      struct xarch_error *err)
{
	_cleanup_close_ int fd =
	    openat(blobs, digest + 7, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot write blob %s", digest);
	for (size_t done = 0; done < len;) {
		ssize_t w = write(fd, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return xarch_err_sys(err, errno, "cannot write blob %s", digest);
		done += (size_t)w;
	}
	return 0;
}

static int get_blob(struct client *c, int blobs, const struct xarch_oci_descriptor *d,
		    struct xarch_error *err)
{
	if (faccessat(blobs, d->digest + 7, F_OK, 0) == 0)
		return 0; /* the same layer twice */
	_cleanup_close_ int fd =
	    openat(blobs, d->digest + 7, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot create blob %s", d->digest);
	char path[600];
	if (xa_snprintf(path, sizeof(path), "/v2/%s/blobs/%s", c->ref.name, d->digest) < 0)
		return xarch_err(err, ENAMETOOLONG, "reference too long");
	struct xa_http_req rq = {
	    .body_fd = -1, .out_fd = fd, .out_max = d->size, .mem_max = 1u << 16};
	track(c, &rq, d->digest);
	struct xa_http_resp rs;
	int r = reg_do(c, &rq, path, &rs, err);
	if (r < 0) {
		xarch_err_hint(err, "blob %s", d->digest);
		return r;
	}
	if (rs.status != 200) {
		r = status_err(c, &rs, d->digest, err);
		xa_http_resp_release(&rs);
		return r;
	}
	xa_http_resp_release(&rs);
	if (rs.out_len != d->size)
		return xarch_err(err, EBADMSG, "blob %s has %llu bytes, not %llu", d->digest,
				 (unsigned long long)rs.out_len, (unsigned long long)d->size);
	if (strcmp(rs.out_sha256, d->digest + 7))
		return xarch_err(err, EBADMSG, "blob %s arrived with digest sha256:%s", d->digest,
				 rs.out_sha256);
	return 0;
}

static int parent_dir(const char *dest, char *out, size_t len)
{
	if (xa_strcpy(out, len, dest) < 0)
		return -ENAMETOOLONG;
	size_t n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	char *slash = strrchr(out, '/');
	if (!slash)
		strcpy(out, ".");
	else if (slash == out)
		out[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

static int pull_into(struct client *c, const char *tmp, const struct xarch_registry_opts *o,
		     struct xarch_error *err)
{
	_cleanup_close_ int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || mkdirat(dfd, "blobs", 0755) < 0 || mkdirat(dfd, "blobs/sha256", 0755) < 0)
		return xarch_err_sys(err, errno, "cannot make a layout in '%s'", tmp);
	_cleanup_close_ int blobs = openat(dfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (blobs < 0)
		return xarch_err_sys(err, errno, "cannot open '%s/blobs/sha256'", tmp);
	int r = probe(c, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *body = NULL;
	size_t len;
	char mt[128], dg[XARCH_DIGEST_LEN + 1];
	r = get_manifest(c, c->ref.digest[0] ? c->ref.digest : c->ref.tag, &body, &len, mt, dg,
			 err);
	if (r < 0)
		return r;
	/* an index (or a list of lists, bounded): choose the platform */
	for (int depth = 0; is_index_type(mt); depth++) {
		if (depth >= 2)
			return xarch_err(err, ELOOP, "image indexes nested too deep in '%s'",
					 c->ref.name);
		struct xarch_oci_index x;
		if ((r = xarch_oci_index_parse(body, len, &x, err)) < 0)
			return r;
		int k = 0;
		if (x.n == 0)
			k = xarch_err(err, ENOENT, "the index of '%s' lists no images",
				      c->ref.name);
		else if (x.n > 1 || (o && o->platform))
			k = xarch_oci_index_select(&x, o ? o->platform : NULL, err);
		char want[XARCH_DIGEST_LEN + 1];
		if (k >= 0)
			strcpy(want, x.manifests[k].digest);
		xarch_oci_index_release(&x);
		if (k < 0)
			return k;
		free(body);
		body = NULL;
		if ((r = get_manifest(c, want, &body, &len, mt, dg, err)) < 0)
			return r;
	}
	if ((r = write_blob(blobs, dg, body, len, err)) < 0)
		return r;
	struct xarch_oci_manifest m;
	if ((r = xarch_oci_manifest_parse(body, len, &m, err)) < 0) {
		xarch_err_hint(err, "manifest %s", dg);
		return r;
	}
	r = get_blob(c, blobs, &m.config, err);
	for (size_t i = 0; r >= 0 && i < m.n_layers; i++)
		r = get_blob(c, blobs, &m.layers[i], err);
	xarch_oci_manifest_release(&m);
	if (r < 0)
		return r;
	char idx[512];
	snprintf(idx, sizeof(idx),
		 "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":"
		 "[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
		 mt, dg, len);
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	_cleanup_close_ int f1 = openat(dfd, "oci-layout", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	_cleanup_close_ int f2 = openat(dfd, "index.json", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (f1 < 0 || f2 < 0 || write(f1, layout, strlen(layout)) != (ssize_t)strlen(layout) ||
	    write(f2, idx, strlen(idx)) != (ssize_t)strlen(idx))
		return xarch_err_sys(err, errno, "cannot write the layout in '%s'", tmp);
	return 0;
}

int xarch_registry_pull(const char *ref, const char *dest, const struct xarch_registry_opts *o,
			const struct xarch_layer_opts *lo, struct xarch_error *err)
{
	struct stat st;
	if (lstat(dest, &st) == 0)
		return xarch_err(err, EEXIST, "'%s' already exists", dest);
	struct client c;
	int r = client_init(&c, ref, o, "pull", err);
	if (r < 0) {
		client_release(&c);
		return r;
	}
	char parent[4096], tmp[4200];
	if (o && o->tmpdir)
		r = xa_strcpy(parent, sizeof(parent), o->tmpdir);
	else
		r = parent_dir(dest, parent, sizeof(parent));
	if (r < 0 || xa_snprintf(tmp, sizeof(tmp), "%s/.xarch-pull-XXXXXX", parent) < 0) {
		client_release(&c);
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", dest);
	}
	if (!mkdtemp(tmp)) {
		client_release(&c);
		return xarch_err_sys(err, errno, "cannot create a directory in '%s'", parent);
	}
	r = pull_into(&c, tmp, o, err);
	client_release(&c);
	if (r >= 0) {
		char src[4300];
		snprintf(src, sizeof(src), "oci:%s", tmp);
		struct xarch_image_opts io = {.platform = o ? o->platform : NULL, .tmpdir = parent};
		r = xarch_image_pull(src, dest, &io, lo, err);
	}
	rm_tree(tmp);
	return r;
}

/* ---- push ------------------------------------------------------------------------------ */

static int blob_exists(struct client *c, const char *digest, struct xarch_error *err)
{
	char path[600];
	if (xa_snprintf(path, sizeof(path), "/v2/%s/blobs/%s", c->ref.name, digest) < 0)
		return xarch_err(err, ENAMETOOLONG, "reference too long");
	struct xa_http_req rq = {.method = "HEAD", .body_fd = -1, .out_fd = -1};
	struct xa_http_resp rs;
	int r = reg_do(c, &rq, path, &rs, err);
	if (r < 0)
		return r;
	int stt = rs.status;
	xa_http_resp_release(&rs);
	return stt == 200;
}

static int put_blob(struct client *c, int blobs, const struct xarch_oci_descriptor *d,
		    struct xarch_error *err)
{
	int r = blob_exists(c, d->digest, err);
	if (r != 0)
		return r < 0 ? r : 0;
	_cleanup_close_ int fd = openat(blobs, d->digest + 7, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot open blob %s", d->digest);
	/* what we send is what the manifest promises */
	if ((r = xarch_blob_verify_fd(fd, d->digest, d->size, err)) < 0)
		return r;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return xarch_err_sys(err, errno, "cannot rewind blob %s", d->digest);
	char path[600];
	if (xa_snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", c->ref.name) < 0)
		return xarch_err(err, ENAMETOOLONG, "reference too long");
	struct xa_http_req rq = {.method = "POST", .body_fd = -1, .out_fd = -1};
	struct xa_http_resp rs;
	if ((r = reg_do(c, &rq, path, &rs, err)) < 0)
		return r;
	if (rs.status != 202 || !rs.location[0]) {
		r = status_err(c, &rs, "starting an upload", err);
		xa_http_resp_release(&rs);
		return r;
	}
	/* the Location may be relative, and may already carry a query */
	struct xa_url base, loc;
	char put[4400];
	if ((r = xa_url_parse(rs.url, &base, err)) < 0 ||
	    (r = xa_url_resolve(&base, rs.location, &loc, err)) < 0) {
		xa_http_resp_release(&rs);
		return r;
	}
	xa_http_resp_release(&rs);
	bool v6 = strchr(loc.host, ':') != NULL;
	if (xa_snprintf(put, sizeof(put), "%s://%s%s%s:%s%s%sdigest=sha256%%3A%s",
			loc.tls ? "https" : "http", v6 ? "[" : "", loc.host, v6 ? "]" : "",
			loc.port, loc.path, strchr(loc.path, '?') ? "&" : "?", d->digest + 7) < 0)
		return xarch_err(err, ENAMETOOLONG, "upload URL too long");
	static const char *const hdrs[] = {"Content-Type: application/octet-stream", NULL};
	struct xa_http_req up = {
	    .method = "PUT", .headers = hdrs, .body_fd = fd, .body_fd_len = d->size, .out_fd = -1};
	track(c, &up, d->digest);
	if ((r = reg_do(c, &up, put, &rs, err)) < 0)
		return r;
	if (rs.status != 201) {
		r = status_err(c, &rs, d->digest, err);
		xa_http_resp_release(&rs);
		return r;
	}
	xa_http_resp_release(&rs);
	return 0;
}

static int read_blob(int blobs, const struct xarch_oci_descriptor *d, char **ret, size_t *ret_len,
		     struct xarch_error *err)
{
	if (d->size > XARCH_OCI_JSON_MAX)
		return xarch_err(err, EFBIG, "%s: %llu bytes is too large for a manifest",
				 d->digest, (unsigned long long)d->size);
	_cleanup_free_ char *b = NULL;
	size_t len;
	int r = xa_read_file_at(blobs, d->digest + 7, XARCH_OCI_JSON_MAX, &b, &len, err);
	if (r < 0)
		return r;
	char hex[65];
	xa_sha256_buf_hex(b, len, hex);
	if (len != d->size || strcmp(hex, d->digest + 7))
		return xarch_err(err, EBADMSG, "blob %s does not match its digest or size",
				 d->digest);
	*ret = TAKE_PTR(b);
	*ret_len = len;
	return 0;
}

static int put_manifest(struct client *c, const char *target, const char *mt, const char *body,
			size_t len, struct xarch_error *err)
{
	char path[600], ct[200];
	if (xa_snprintf(path, sizeof(path), "/v2/%s/manifests/%s", c->ref.name, target) < 0 ||
	    xa_snprintf(ct, sizeof(ct), "Content-Type: %s", mt) < 0)
		return xarch_err(err, ENAMETOOLONG, "reference too long");
	const char *hdrs[] = {ct, NULL};
	struct xa_http_req rq = {.method = "PUT",
				 .headers = hdrs,
				 .body = body,
				 .body_len = len,
				 .body_fd = -1,
				 .out_fd = -1};
	struct xa_http_resp rs;
	int r = reg_do(c, &rq, path, &rs, err);
	if (r < 0)
		return r;
	if (rs.status != 201 && rs.status != 200) {
		r = status_err(c, &rs, "uploading the manifest", err);
		xa_http_resp_release(&rs);
		return r;
	}
	xa_http_resp_release(&rs);
	return 0;
}

static int push_desc(struct client *c, int blobs, const struct xarch_oci_descriptor *d,
		     const char *target, int depth, struct xarch_error *err)
{
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	int r = read_blob(blobs, d, &body, &len, err);
	if (r < 0)
		return r;
	const char *mt = d->media_type[0] ? d->media_type : MT_OCI_MANIFEST;
	if (is_index_type(mt)) {
		if (depth >= 2)
			return xarch_err(err, ELOOP, "image indexes nested too deep");
		struct xarch_oci_index x;
		if ((r = xarch_oci_index_parse(body, len, &x, err)) < 0)
			return r;
		for (size_t i = 0; r >= 0 && i < x.n; i++)
			r = push_desc(c, blobs, &x.manifests[i], x.manifests[i].digest, depth + 1,
				      err);
		xarch_oci_index_release(&x);
	} else {
		struct xarch_oci_manifest m;
		if ((r = xarch_oci_manifest_parse(body, len, &m, err)) < 0)
			return r;
		r = put_blob(c, blobs, &m.config, err);
		for (size_t i = 0; r >= 0 && i < m.n_layers; i++)
			r = put_blob(c, blobs, &m.layers[i], err);
		xarch_oci_manifest_release(&m);
	}
	if (r < 0)
		return r;
	return put_manifest(c, target, mt, body, len, err);
}

int xarch_registry_push_layout(const char *oci_layout_dir, const char *tag_in_layout,
			       const char *ref, const struct xarch_registry_opts *o,
			       struct xarch_error *err)
{
	_cleanup_close_ int dfd = open(oci_layout_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", oci_layout_dir);
	_cleanup_close_ int blobs = openat(dfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (blobs < 0)
		return xarch_err_sys(err, errno, "'%s' is not an OCI image layout", oci_layout_dir);
	_cleanup_free_ char *json = NULL;
	size_t len;
	int r = xa_read_file_at(dfd, "index.json", XARCH_OCI_JSON_MAX, &json, &len, err);
	if (r < 0)
		return r;
	struct xarch_oci_index x;
	if ((r = xarch_oci_index_parse(json, len, &x, err)) < 0) {
		xarch_err_hint(err, "in '%s'", oci_layout_dir);
		return r;
	}
	const struct xarch_oci_descriptor *d = NULL;
	for (size_t i = 0; i < x.n; i++) {
		if (tag_in_layout && *tag_in_layout) {
			if (!strcmp(x.manifests[i].ref_name, tag_in_layout))
				d = &x.manifests[i];
		} else if (x.n == 1) {
			d = &x.manifests[0];
		}
	}
	if (!d) {
		r = tag_in_layout && *tag_in_layout
			? xarch_err(err, ENOENT, "no image tagged '%s' in '%s'", tag_in_layout,
				    oci_layout_dir)
			: xarch_err(err, EINVAL, "'%s' holds %zu images; name one with :TAG",
				    oci_layout_dir, x.n);
		xarch_oci_index_release(&x);
		return r;
	}
	struct client c;
	r = client_init(&c, ref, o, "pull,push", err);
	if (r >= 0)
		r = probe(&c, err);
	if (r >= 0)
		r = push_desc(&c, blobs, d, c.ref.digest[0] ? c.ref.digest : c.ref.tag, 0, err);
	client_release(&c);
	xarch_oci_index_release(&x);
	return r;
}
