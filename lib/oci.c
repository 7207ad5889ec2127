// SPDX-License-Identifier: MIT
/*
 * Local image transports: OCI image layouts (image-spec image-layout.md),
 * tars of them, and `docker save` archives.  Nothing from an image is
 * trusted until it is checked: JSON documents are size-capped and
 * type-checked, digests must be sha256:[0-9a-f]{64} before a path is built
 * from them, and every blob is hashed (and its size counted) before use.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"
#include "internal.h"
#include "xarch/arch.h"
#include "xarch/oci.h"

#define MT_OCI_INDEX	   "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST	   "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG	   "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST	   "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define REF_NAME	   "org.opencontainers.image.ref.name"

/* Layer media types we can unpack; anything else (an artifact, a foreign
 * Windows layer) is refused by name rather than unpacked as garbage. */
static const char *const layer_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

bool xarch_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0)
		return false;
	d += 7;
	for (int i = 0; i < 64; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return false;
	return d[64] == '\0';
}

static bool is_index_type(const char *mt)
{
	return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
}

/* ---- JSON ------------------------------------------------------------------- */

static int json_parse(const char *s, size_t len, const char *what, json_object **ret,
		      struct xarch_error *err)
{
	if (len > XARCH_OCI_JSON_MAX)
		return xarch_err(err, EFBIG, "%s is larger than %u bytes", what,
				 XARCH_OCI_JSON_MAX);
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return xarch_err(err, ENOMEM, "out of memory");
	json_object *o = json_tokener_parse_ex(tok, s, (int)len);
	enum json_tokener_error e = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || e != json_tokener_success) {
		json_object_put(o);
		return xarch_err(err, EINVAL, "%s is not valid JSON: %s", what,
				 e == json_tokener_continue ? "unexpected end"
							    : json_tokener_error_desc(e));
	}
	for (; end < len; end++)
		if (!strchr(" \t\r\n", s[end])) {
			json_object_put(o);
			return xarch_err(err, EINVAL, "%s has data after the JSON value", what);
		}
	if (!json_object_is_type(o, json_type_object) && !json_object_is_type(o, json_type_array)) {
		json_object_put(o);
		return xarch_err(err, EINVAL, "%s is not a JSON object", what);
	}
	*ret = o;
	return 0;
}

static void json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(json_putp)))

/* Field `key` of `o`: NULL when absent (or null), -EINVAL when present with
 * another type than `type`. */
static int get_field(json_object *o, const char *key, json_type type, bool required,
		     const char *what, json_object **ret, struct xarch_error *err)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		*ret = NULL;
		if (required)
			return xarch_err(err, EINVAL, "%s has no \"%s\"", what, key);
		return 0;
	}
	if (!json_object_is_type(v, type))
		return xarch_err(err, EINVAL, "%s: \"%s\" is not a %s", what, key,
				 json_type_to_name(type));
	*ret = v;
	return 0;
}

static int get_str(json_object *o, const char *key, bool required, char *buf, size_t len,
		   const char *what, struct xarch_error *err)
{
	json_object *v;
	int r = get_field(o, key, json_type_string, required, what, &v, err);
	if (r < 0)
		return r;
	buf[0] = '\0';
	if (!v)
		return 0;
	const char *s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return xarch_err(err, EINVAL, "%s: \"%s\" contains a NUL byte", what, key);
	if (xa_strcpy(buf, len, s) < 0)
		return xarch_err(err, EINVAL, "%s: \"%s\" is longer than %zu bytes", what, key,
				 len - 1);
	return 0;
}

static int get_schema_version(json_object *o, const char *what, struct xarch_error *err)
{
	json_object *v;
	int r = get_field(o, "schemaVersion", json_type_int, true, what, &v, err);
	if (r < 0)
		return r;
	if (json_object_get_int64(v) != 2)
		return xarch_err(err, EINVAL, "%s: schemaVersion %lld is not 2", what,
				 (long long)json_object_get_int64(v));
	return 0;
}

static int get_array(json_object *o, const char *key, bool required, size_t max, const char *what,
		     json_object **ret, size_t *ret_n, struct xarch_error *err)
{
	int r = get_field(o, key, json_type_array, required, what, ret, err);
	if (r < 0)
		return r;
	*ret_n = *ret ? json_object_array_length(*ret) : 0;
	if (*ret_n > max)
		return xarch_err(err, E2BIG, "%s: \"%s\" has %zu entries, more than %zu", what, key,
				 *ret_n, max);
	return 0;
}

static int parse_descriptor(json_object *o, const char *what, bool need_type,
			    struct xarch_oci_descriptor *d, struct xarch_error *err)
{
	memset(d, 0, sizeof(*d));
	if (!json_object_is_type(o, json_type_object))
		return xarch_err(err, EINVAL, "%s is not an object", what);
	int r = get_str(o, "mediaType", need_type, d->media_type, sizeof(d->media_type), what, err);
	if (r < 0)
		return r;
	r = get_str(o, "digest", true, d->digest, sizeof(d->digest), what, err);
	if (r < 0)
		return r;
	if (!xarch_digest_valid(d->digest))
		return xarch_err(err, EINVAL, "%s: digest '%s' is not sha256:<64 hex digits>", what,
				 d->digest);
	json_object *v;
	r = get_field(o, "size", json_type_int, true, what, &v, err);
	if (r < 0)
		return r;
	int64_t size = json_object_get_int64(v);
	if (size < 0)
		return xarch_err(err, EINVAL, "%s: size %lld is negative", what, (long long)size);
	d->size = (uint64_t)size;

	json_object *p;
	r = get_field(o, "platform", json_type_object, false, what, &p, err);
	if (r < 0)
		return r;
	if (p) {
		if ((r = get_str(p, "os", true, d->os, sizeof(d->os), what, err)) < 0 ||
		    (r = get_str(p, "architecture", true, d->arch, sizeof(d->arch), what, err)) <
			0 ||
		    (r = get_str(p, "variant", false, d->variant, sizeof(d->variant), what, err)) <
			0)
			return r;
	}
	json_object *a;
	r = get_field(o, "annotations", json_type_object, false, what, &a, err);
	if (r < 0)
		return r;
	if (a)
		r = get_str(a, REF_NAME, false, d->ref_name, sizeof(d->ref_name), what, err);
	return r;
}

int xarch_oci_index_parse(const char *json, size_t len, struct xarch_oci_index *ret,
			  struct xarch_error *err)
{
	_cleanup_json_ json_object *o = NULL;
	int r = json_parse(json, len, "image index", &o, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(o, json_type_object))
		return xarch_err(err, EINVAL, "image index is not a JSON object");
	if ((r = get_schema_version(o, "image index", err)) < 0)
		return r;
	char mt[128];
	if ((r = get_str(o, "mediaType", false, mt, sizeof(mt), "image index", err)) < 0)
		return r;
	if (mt[0] && !is_index_type(mt))
		return xarch_err(err, EINVAL, "image index has mediaType '%s'", mt);
	json_object *arr;
	size_t n;
	r = get_array(o, "manifests", true, XARCH_OCI_MANIFESTS_MAX, "image index", &arr, &n, err);
	if (r < 0)
		return r;
	_cleanup_free_ struct xarch_oci_descriptor *m = calloc(n ? n : 1, sizeof(*m));
	if (!m)
		return xarch_err(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char what[64];
		snprintf(what, sizeof(what), "image index entry %zu", i);
		r = parse_descriptor(json_object_array_get_idx(arr, i), what, true, &m[i], err);
		if (r < 0)
			return r;
	}
	ret->n = n;
	ret->manifests = TAKE_PTR(m);
	return 0;
}

void xarch_oci_index_release(struct xarch_oci_index *x)
{
	free(x->manifests);
	x->manifests = NULL;
	x->n = 0;
}

int xarch_oci_manifest_parse(const char *json, size_t len, struct xarch_oci_manifest *ret,
			     struct xarch_error *err)
{
	_cleanup_json_ json_object *o = NULL;
	int r = json_parse(json, len, "image manifest", &o, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(o, json_type_object))
		return xarch_err(err, EINVAL, "image manifest is not a JSON object");
	if ((r = get_schema_version(o, "image manifest", err)) < 0)
		return r;
	char mt[128];
	if ((r = get_str(o, "mediaType", false, mt, sizeof(mt), "image manifest", err)) < 0)
		return r;
	if (mt[0] && strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST))
		return xarch_err(err, EINVAL, "image manifest has unknown mediaType '%s'", mt);
	bool docker = !strcmp(mt, MT_DOCKER_MANIFEST);

	struct xarch_oci_descriptor config;
	json_object *c;
	if ((r = get_field(o, "config", json_type_object, true, "image manifest", &c, err)) < 0)
		return r;
	if ((r = parse_descriptor(c, "manifest config", true, &config, err)) < 0)
		return r;
	if (strcmp(config.media_type, MT_OCI_CONFIG) && strcmp(config.media_type, MT_DOCKER_CONFIG))
		return xarch_err(err, EINVAL,
				 "manifest config has mediaType '%s': not a container image",
				 config.media_type);
	json_object *arr;
	size_t n;
	r = get_array(o, "layers", true, XARCH_OCI_LAYERS_MAX, "image manifest", &arr, &n, err);
	if (r < 0)
		return r;
	_cleanup_free_ struct xarch_oci_descriptor *l = calloc(n ? n : 1, sizeof(*l));
	if (!l)
		return xarch_err(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char what[64];
		snprintf(what, sizeof(what), "manifest layer %zu", i);
		r = parse_descriptor(json_object_array_get_idx(arr, i), what, true, &l[i], err);
		if (r < 0)
			return r;
		bool known = false;
		for (size_t t = 0; t < ARRAY_SIZE(layer_types); t++)
			known |= !strcmp(l[i].media_type, layer_types[t]);
		if (!known)
			return xarch_err(err, EINVAL, "%s has unknown mediaType '%s'", what,
					 l[i].media_type);
	}
	ret->docker = docker;
	ret->config = config;
	ret->n_layers = n;
	ret->layers = TAKE_PTR(l);
	return 0;
}

void xarch_oci_manifest_release(struct xarch_oci_manifest *m)
{
	free(m->layers);
	m->layers = NULL;
	m->n_layers = 0;
}

int xarch_oci_config_parse(const char *json, size_t len, struct xarch_oci_config *ret,
			   struct xarch_error *err)
{
	_cleanup_json_ json_object *o = NULL;
	const char *what = "image config";
	int r = json_parse(json, len, what, &o, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(o, json_type_object))
		return xarch_err(err, EINVAL, "image config is not a JSON object");
	struct xarch_oci_config c = {0};
	if ((r = get_str(o, "os", true, c.os, sizeof(c.os), what, err)) < 0 ||
	    (r = get_str(o, "architecture", true, c.arch, sizeof(c.arch), what, err)) < 0 ||
	    (r = get_str(o, "variant", false, c.variant, sizeof(c.variant), what, err)) < 0)
		return r;
	json_object *rootfs, *arr;
	if ((r = get_field(o, "rootfs", json_type_object, true, what, &rootfs, err)) < 0)
		return r;
	char type[32];
	if ((r = get_str(rootfs, "type", true, type, sizeof(type), "image config rootfs", err)) < 0)
		return r;
	if (strcmp(type, "layers"))
		return xarch_err(err, EINVAL, "image config: rootfs type '%s' is not 'layers'",
				 type);
	size_t n;
	r = get_array(rootfs, "diff_ids", true, XARCH_OCI_LAYERS_MAX, "image config rootfs", &arr,
		      &n, err);
	if (r < 0)
		return r;
	c.diff_ids = calloc(n ? n : 1, sizeof(*c.diff_ids));
	if (!c.diff_ids)
		return xarch_err(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		const char *s =
		    json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
		if (!xarch_digest_valid(s)) {
			free(c.diff_ids);
			return xarch_err(err, EINVAL,
					 "image config: diff_id %zu is not sha256:<64 hex digits>",
					 i);
		}
		memcpy(c.diff_ids[i], s, XARCH_DIGEST_LEN + 1);
	}
	c.n_diff_ids = n;
	*ret = c;
	return 0;
}

void xarch_oci_config_release(struct xarch_oci_config *c)
{
	free(c->diff_ids);
	c->diff_ids = NULL;
	c->n_diff_ids = 0;
}

/* ---- platforms ---------------------------------------------------------------- */

struct platform {
	char os[32], arch[32], variant[32];
};

/* The variant an image without one is taken to have (containerd's defaults). */
static const char *default_variant(const char *arch)
{
	if (!strcmp(arch, "arm64"))
		return "v8";
	if (!strcmp(arch, "arm"))
		return "v7";
	return "";
}

/* OCI names for an architecture written any way xarch_arch_lookup() knows. */
static void normalize_arch(char *arch, size_t len)
{
	const struct xarch_arch *a = xarch_arch_lookup(arch);
	if (a && a->oci_arch)
		xa_strcpy(arch, len, a->oci_arch);
}

static int platform_parse(const char *s, struct platform *p, struct xarch_error *err)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->os, "linux");
	if (!s) {
		const struct xarch_arch *h = xarch_arch_host();
		if (!h)
			return xarch_err(err, EINVAL,
					 "the host's architecture is unknown; use --platform");
		xa_strcpy(p->arch, sizeof(p->arch), h->oci_arch ? h->oci_arch : h->name);
		return 0;
	}
	if (!strchr(s, '/')) {
		const struct xarch_arch *a = xarch_arch_lookup(s);
		if (!a)
			return xarch_err(err, EINVAL, "unknown platform '%s'", s);
		xa_strcpy(p->arch, sizeof(p->arch), a->oci_arch ? a->oci_arch : a->name);
		return 0;
	}
	char parts[3][32] = {"", "", ""};
	int n = 0;
	for (const char *q = s; n < 3; n++) {
		size_t l = strcspn(q, "/");
		if (l == 0 || l >= sizeof(parts[0]))
			return xarch_err(err, EINVAL, "invalid platform '%s'", s);
		memcpy(parts[n], q, l);
		q += l;
		if (!*q) {
			n++;
			break;
		}
		q++;
		if (n == 2)
			return xarch_err(err, EINVAL, "invalid platform '%s'", s);
	}
	static const char *const oses[] = {"linux", "windows", "darwin", "freebsd"};
	bool has_os = false;
	for (size_t i = 0; i < ARRAY_SIZE(oses); i++)
		has_os |= !strcmp(parts[0], oses[i]);
	int k = 0;
	if (has_os)
		strcpy(p->os, parts[k++]);
	if (k >= n || n - k > 2)
		return xarch_err(err, EINVAL, "invalid platform '%s'", s);
	strcpy(p->arch, parts[k]);
	normalize_arch(p->arch, sizeof(p->arch));
	if (k + 1 < n)
		strcpy(p->variant, parts[k + 1]);
	return 0;
}

/* -1: does not run there; 1: runs; 2: the best fit when no variant was asked. */
static int platform_score(const struct platform *want, const char *os, const char *arch,
			  const char *variant)
{
	char a[32];
	if (strcmp(want->os, os) || xa_strcpy(a, sizeof(a), arch) < 0)
		return -1;
	normalize_arch(a, sizeof(a));
	if (strcmp(want->arch, a))
		return -1;
	const char *v = variant[0] ? variant : default_variant(a);
	if (want->variant[0])
		return strcmp(want->variant, v) == 0 ? 2 : -1;
	return !strcmp(v, default_variant(a)) ? 2 : 1;
}

static void platform_str(const char *os, const char *arch, const char *variant, char *buf,
			 size_t len)
{
	snprintf(buf, len, "%s/%s%s%s", os, arch, variant[0] ? "/" : "", variant);
}

int xarch_oci_index_select(const struct xarch_oci_index *x, const char *platform,
			   struct xarch_error *err)
{
	struct platform want;
	int r = platform_parse(platform, &want, err);
	if (r < 0)
		return r;
	int best = -1, best_score = 0;
	for (size_t i = 0; i < x->n; i++) {
		const struct xarch_oci_descriptor *d = &x->manifests[i];
		if (!d->arch[0])
			continue;
		int s = platform_score(&want, d->os, d->arch, d->variant);
		if (s > best_score) {
			best = (int)i;
			best_score = s;
		}
	}
	if (best >= 0)
		return best;
	char w[100], list[400] = "";
	platform_str(want.os, want.arch, want.variant, w, sizeof(w));
	size_t used = 0;
	for (size_t i = 0; i < x->n && used < sizeof(list) - 1; i++) {
		const struct xarch_oci_descriptor *d = &x->manifests[i];
		char p[100];
		if (d->arch[0])
			platform_str(d->os, d->arch, d->variant, p, sizeof(p));
		else
			snprintf(p, sizeof(p), "%s", "an image without platform");
		int m = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", p);
		used += m > 0 ? (size_t)m : 0;
	}
	if (used >= sizeof(list) - 1)
		strcpy(list + sizeof(list) - 5, "...");
	if (!x->n)
		return xarch_err(err, ENOENT, "the image index is empty");
	return xarch_err(err, ENOENT, "no %s image in index; it has %s", w, list);
}

/* ---- blobs ----------------------------------------------------------------------- */

/* The size and sha256 of a file, read from its current offset. */
static int hash_fd(int fd, uint64_t *ret_size, char ret_hex[65], struct xarch_error *err)
{
	struct xa_sha256 c;
	xa_sha256_init(&c);
	_cleanup_free_ uint8_t *buf = malloc(1 << 17);
	if (!buf)
		return xarch_err(err, ENOMEM, "out of memory");
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 17);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xarch_err_sys(err, errno, "cannot read blob");
		if (n == 0)
			break;
		xa_sha256_update(&c, buf, (size_t)n);
		total += (uint64_t)n;
	}
	*ret_size = total;
	xa_sha256_hex(&c, ret_hex);
	return 0;
}

int xarch_blob_verify_fd(int fd, const char *digest, uint64_t size, struct xarch_error *err)
{
	uint64_t got;
	char hex[65];
	if (!xarch_digest_valid(digest))
		return xarch_err(err, EINVAL, "invalid digest '%s'", digest ? digest : "");
	int r = hash_fd(fd, &got, hex, err);
	if (r < 0)
		return r;
	if (got != size)
		return xarch_err(err, EBADMSG, "blob %s has %llu bytes, want %llu", digest,
				 (unsigned long long)got, (unsigned long long)size);
	if (strcmp(hex, digest + 7))
		return xarch_err(err, EBADMSG, "blob %s is corrupt: its sha256 is %s", digest, hex);
	return 0;
}

/* Verify a layer file's digest and size when known (`digest` may be NULL,
 * `size` UINT64_MAX).  Its diff_id is checked later, by the layer applier,
 * in the same pass that applies it: inflating every layer twice cost a
 * third of an import. */
static int layer_verify(int dirfd, const char *path, const char *digest, uint64_t size,
			struct xarch_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot open layer '%s'", digest ? digest : path);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return xarch_err(err, EINVAL, "layer '%s' is not a regular file",
				 digest ? digest : path);
	if (!digest)
		return 0;
	uint64_t got;
	char hex[65];
	int r = hash_fd(fd, &got, hex, err);
	if (r < 0)
		return r;
	if (got != size)
		return xarch_err(err, EBADMSG, "blob %s has %llu bytes, want %llu", digest,
				 (unsigned long long)got, (unsigned long long)size);
	if (strcmp(hex, digest + 7))
		return xarch_err(err, EBADMSG, "blob %s is corrupt: its sha256 is %s", digest, hex);
	return 0;
}

/* Read a small blob named by a descriptor and check it. */
static int blob_read(int dirfd, const struct xarch_oci_descriptor *d, char **ret, size_t *ret_len,
		     struct xarch_error *err)
{
	if (!xarch_digest_valid(d->digest))
		return xarch_err(err, EINVAL, "invalid digest '%s'", d->digest);
	if (d->size > XARCH_OCI_JSON_MAX)
		return xarch_err(err, EFBIG, "blob %s is %llu bytes, more than %u", d->digest,
				 (unsigned long long)d->size, XARCH_OCI_JSON_MAX);
	char path[100];
	snprintf(path, sizeof(path), "blobs/sha256/%s", d->digest + 7);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = xa_read_file_at(dirfd, path, d->size + 1, &buf, &len, err);
	if (r == -EFBIG || (r >= 0 && len != d->size))
		return xarch_err(err, EBADMSG, "blob %s does not have %llu bytes", d->digest,
				 (unsigned long long)d->size);
	if (r < 0) {
		xarch_err(err, -r, "missing blob %s", d->digest);
		return r;
	}
	char hex[65];
	xa_sha256_buf_hex(buf, len, hex);
	if (strcmp(hex, d->digest + 7))
		return xarch_err(err, EBADMSG, "blob %s is corrupt: its sha256 is %s", d->digest,
				 hex);
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* ---- references -------------------------------------------------------------------- */

struct xarch_image {
	char *tmpdir; /* unpacked archive, removed by free */
	char **layers;
	char **diff_ids; /* checked by the layer applier while it applies */
	size_t n;
	char platform[100];
	char digest[XARCH_DIGEST_LEN + 1]; /* manifest's, or config's for docker-archive */
};

struct transport {
	const char *name;
	enum xarch_image_transport id;
	int (*open)(struct xarch_image *img, const struct xarch_image_ref *ref,
		    const struct xarch_image_opts *o, struct xarch_error *err);
};

static int open_oci(struct xarch_image *, const struct xarch_image_ref *,
		    const struct xarch_image_opts *, struct xarch_error *);
static int open_oci_archive(struct xarch_image *, const struct xarch_image_ref *,
			    const struct xarch_image_opts *, struct xarch_error *);
static int open_docker_archive(struct xarch_image *, const struct xarch_image_ref *,
			       const struct xarch_image_opts *, struct xarch_error *);

static const struct transport transports[] = {
    {"oci", XARCH_IMAGE_OCI, open_oci},
    {"oci-archive", XARCH_IMAGE_OCI_ARCHIVE, open_oci_archive},
    {"docker-archive", XARCH_IMAGE_DOCKER_ARCHIVE, open_docker_archive},
};

const char *xarch_image_transport_name(enum xarch_image_transport t)
{
	for (size_t i = 0; i < ARRAY_SIZE(transports); i++)
		if (transports[i].id == t)
			return transports[i].name;
	return NULL;
}

int xarch_image_ref_parse(const char *s, struct xarch_image_ref *ret, struct xarch_error *err)
{
	const char *colon = strchr(s, ':');
	const struct transport *t = NULL;
	for (size_t i = 0; colon && i < ARRAY_SIZE(transports); i++)
		if (strlen(transports[i].name) == (size_t)(colon - s) &&
		    !strncmp(s, transports[i].name, (size_t)(colon - s)))
			t = &transports[i];
	if (!t)
		return xarch_err(err, EINVAL,
				 "'%s' is not an image reference: want oci:DIR[:TAG], "
				 "oci-archive:FILE[:TAG] or docker-archive:FILE[:REF]",
				 s);
	struct xarch_image_ref r = {.transport = t->id};
	const char *path = colon + 1, *tag = strchr(path, ':');
	size_t plen = tag ? (size_t)(tag - path) : strlen(path);
	if (plen == 0)
		return xarch_err(err, EINVAL, "'%s' names no path", s);
	if (plen >= sizeof(r.path))
		return xarch_err(err, ENAMETOOLONG, "path too long in '%s'", s);
	memcpy(r.path, path, plen);
	if (tag) {
		tag++;
		if (!*tag)
			return xarch_err(err, EINVAL, "'%s' has an empty tag", s);
		if (xa_strcpy(r.tag, sizeof(r.tag), tag) < 0)
			return xarch_err(err, ENAMETOOLONG, "tag too long in '%s'", s);
	}
	*ret = r;
	return 0;
}

/* ---- OCI layouts ----------------------------------------------------------------------- */

static int add_layer(struct xarch_image *img, const char *root, const char *rel,
		     const char *diff_id, struct xarch_error *err)
{
	char **nl = reallocarray(img->layers, img->n + 1, sizeof(*nl));
	if (!nl)
		return xarch_err(err, ENOMEM, "out of memory");
	img->layers = nl;
	char **nd = reallocarray(img->diff_ids, img->n + 1, sizeof(*nd));
	if (!nd)
		return xarch_err(err, ENOMEM, "out of memory");
	img->diff_ids = nd;
	img->diff_ids[img->n] = strdup(diff_id);
	if (!img->diff_ids[img->n] || asprintf(&img->layers[img->n], "%s/%s", root, rel) < 0) {
		free(img->diff_ids[img->n]);
		return xarch_err(err, ENOMEM, "out of memory");
	}
	img->n++;
	return 0;
}

/* After the manifest: read and check the config, every layer, the platform. */
static int image_finish(struct xarch_image *img, int dirfd, const char *root, const char *cfg_json,
			size_t cfg_len, char *const *layer_paths,
			const struct xarch_oci_descriptor *layer_desc, size_t n,
			const struct xarch_image_opts *o, struct xarch_error *err)
{
	struct xarch_oci_config c;
	int r = xarch_oci_config_parse(cfg_json, cfg_len, &c, err);
	if (r < 0)
		return r;
	if (c.n_diff_ids != n) {
		r = xarch_err(err, EINVAL, "the image has %zu layers but its config %zu diff_ids",
			      n, c.n_diff_ids);
		goto out;
	}
	platform_str(c.os, c.arch, c.variant, img->platform, sizeof(img->platform));
	if (o && o->platform) {
		struct platform want;
		if ((r = platform_parse(o->platform, &want, err)) < 0)
			goto out;
		if (platform_score(&want, c.os, c.arch, c.variant) < 0) {
			r = xarch_err(err, ENOENT, "the image is %s, not %s", img->platform,
				      o->platform);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char rel[100];
		const char *path = layer_paths ? layer_paths[i] : rel;
		if (!layer_paths)
			snprintf(rel, sizeof(rel), "blobs/sha256/%s", layer_desc[i].digest + 7);
		r = layer_verify(dirfd, path, layer_desc ? layer_desc[i].digest : NULL,
				 layer_desc ? layer_desc[i].size : UINT64_MAX, err);
		if (r < 0)
			goto out;
		if ((r = add_layer(img, root, path, c.diff_ids[i], err)) < 0)
			goto out;
	}
out:
	xarch_oci_config_release(&c);
	return r;
}

/* `shown` names the layout in messages: the archive it came from. */
static int open_layout(struct xarch_image *img, const char *root, const char *shown,
		       const char *tag, const struct xarch_image_opts *o, struct xarch_error *err)
{
	_cleanup_close_ int dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", root);
	_cleanup_free_ char *layout = NULL, *json = NULL, *mjson = NULL, *cjson = NULL;
	size_t len, mlen, clen;
	int r = xa_read_file_at(dirfd, "oci-layout", 4096, &layout, &len, err);
	if (r < 0) {
		xarch_err(err, -r, "'%s' is not an OCI image layout: no oci-layout file", shown);
		return r;
	}
	_cleanup_json_ json_object *lo = NULL;
	char version[32];
	if ((r = json_parse(layout, len, "oci-layout", &lo, err)) < 0 ||
	    (r = get_str(lo, "imageLayoutVersion", true, version, sizeof(version), "oci-layout",
			 err)) < 0) {
		xarch_err_hint(err, "in '%s'", shown);
		return r;
	}
	r = xa_read_file_at(dirfd, "index.json", XARCH_OCI_JSON_MAX, &json, &len, err);
	if (r < 0)
		return r;
	struct xarch_oci_index x = {0}, sel = {0};
	r = xarch_oci_index_parse(json, len, &x, err);
	if (r < 0) {
		xarch_err_hint(err, "in '%s'", shown);
		return r;
	}
	/* the tag filters index.json's entries; the rest is platform choice */
	sel.manifests = calloc(x.n ? x.n : 1, sizeof(*sel.manifests));
	if (!sel.manifests) {
		r = xarch_err(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < x.n; i++)
		if (!tag || !tag[0] || !strcmp(x.manifests[i].ref_name, tag))
			sel.manifests[sel.n++] = x.manifests[i];
	if (sel.n == 0) {
		char list[300] = "";
		size_t used = 0;
		for (size_t i = 0; i < x.n && used < sizeof(list) - 1; i++) {
			int m = snprintf(list + used, sizeof(list) - used, "%s'%s'",
					 used ? ", " : "", x.manifests[i].ref_name);
			used += m > 0 ? (size_t)m : 0;
		}
		r = xarch_err(err, ENOENT, "no image tagged '%s' in '%s'; it has %s", tag, shown,
			      x.n ? list : "none");
		goto out;
	}

	struct xarch_oci_descriptor d;
	for (int depth = 0;; depth++) {
		if (sel.n == 1 && (!sel.manifests[0].arch[0] || !o || !o->platform)) {
			/* a lone image: taken whatever its arch, checked against
			 * an explicit --platform from its config */
			d = sel.manifests[0];
		} else {
			int k = xarch_oci_index_select(&sel, o ? o->platform : NULL, err);
			if (k < 0) {
				r = k;
				goto out;
			}
			d = sel.manifests[k];
		}
		if (!is_index_type(d.media_type))
			break;
		if (depth >= 2) {
			r = xarch_err(err, ELOOP, "image indexes nested too deep in '%s'", shown);
			goto out;
		}
		_cleanup_free_ char *sub = NULL;
		size_t sublen;
		if ((r = blob_read(dirfd, &d, &sub, &sublen, err)) < 0)
			goto out;
		xarch_oci_index_release(&sel);
		if ((r = xarch_oci_index_parse(sub, sublen, &sel, err)) < 0)
			goto out;
	}

	if ((r = blob_read(dirfd, &d, &mjson, &mlen, err)) < 0)
		goto out;
	memcpy(img->digest, d.digest, sizeof(img->digest));
	struct xarch_oci_manifest m;
	if ((r = xarch_oci_manifest_parse(mjson, mlen, &m, err)) < 0) {
		xarch_err_hint(err, "manifest %s", d.digest);
		goto out;
	}
	r = blob_read(dirfd, &m.config, &cjson, &clen, err);
	if (r >= 0)
		r = image_finish(img, dirfd, root, cjson, clen, NULL, m.layers, m.n_layers, o, err);
	xarch_oci_manifest_release(&m);
out:
	xarch_oci_index_release(&x);
	xarch_oci_index_release(&sel);
	return r;
}

static int open_oci(struct xarch_image *img, const struct xarch_image_ref *ref,
		    const struct xarch_image_opts *o, struct xarch_error *err)
{
	return open_layout(img, ref->path, ref->path, ref->tag, o, err);
}

/* ---- archives ------------------------------------------------------------------------- */

/* Names inside an archive: relative, no "." or ".." or empty components. */
static bool safe_relpath(const char *p)
{
	if (!p || !*p || *p == '/' || strlen(p) >= PATH_MAX)
		return false;
	while (*p) {
		size_t l = strcspn(p, "/");
		if (l == 0 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += l;
		if (*p == '/' && !*++p)
			return true; /* trailing slash of a directory */
	}
	return true;
}

/* "./a/b" -> "a/b" */
static const char *strip_dot(const char *p)
{
	while (p && p[0] == '.' && p[1] == '/')
		p += 2;
	return p;
}

static int mkdir_parents_at(int dirfd, const char *rel, bool self)
{
	char buf[PATH_MAX];
	if (xa_strcpy(buf, sizeof(buf), rel) < 0)
		return -ENAMETOOLONG;
	for (char *s = buf; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdirat(dirfd, buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (self && mkdirat(dirfd, buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int xa_rm_rf_at(int pfd, const char *name)
{
	if (unlinkat(pfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			xa_rm_rf_at(dirfd(d), e->d_name);
	closedir(d);
	return unlinkat(pfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* Unpack the regular files and directories of a tar (any compression
 * libarchive reads) into `dirfd`; symlinks and hard links between its
 * own files become hard links.  Nothing is created outside `dirfd`. */
static int extract_archive(const char *file, int dirfd, struct xarch_error *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return xarch_err(err, ENOMEM, "out of memory");
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	int r = 0;
	struct link {
		char *name, *target;
		bool sym;
	} *links = NULL;
	size_t n_links = 0;
	if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK) {
		if (archive_errno(a) == EILSEQ) /* libarchive: unrecognized format */
			r = xarch_err(err, EINVAL, "'%s' is not a tar archive", file);
		else if (archive_errno(a) > 0)
			r = xarch_err_sys(err, archive_errno(a), "cannot open '%s'", file);
		else
			r = xarch_err(err, EINVAL, "cannot read '%s': %s", file,
				      archive_error_string(a));
		goto out;
	}
	struct archive_entry *e;
	for (size_t count = 0;; count++) {
		int ar = archive_read_next_header(a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			r = xarch_err(err, EINVAL, "'%s': %s", file, archive_error_string(a));
			goto out;
		}
		if (count > 100000) {
			r = xarch_err(err, E2BIG, "'%s' has more than 100000 entries", file);
			goto out;
		}
		const char *name = strip_dot(archive_entry_pathname(e));
		if (!name || !strcmp(name, ".") || !strcmp(name, "./") || !*name)
			continue;
		if (!safe_relpath(name)) {
			r = xarch_err(err, EINVAL, "'%s' contains an unsafe name '%s'", file, name);
			goto out;
		}
		const char *hl = archive_entry_hardlink(e);
		mode_t type = archive_entry_filetype(e);
		if (hl || type == AE_IFLNK) {
			struct link *nl = reallocarray(links, n_links + 1, sizeof(*nl));
			if (!nl) {
				r = xarch_err(err, ENOMEM, "out of memory");
				goto out;
			}
			links = nl;
			links[n_links].name = strdup(name);
			links[n_links].target = strdup(hl ? strip_dot(hl)
							  : archive_entry_symlink(e) ?: "");
			links[n_links].sym = !hl;
			n_links++;
			if (!links[n_links - 1].name || !links[n_links - 1].target) {
				r = xarch_err(err, ENOMEM, "out of memory");
				goto out;
			}
			continue;
		}
		if (type == AE_IFDIR) {
			if ((r = mkdir_parents_at(dirfd, name, true)) < 0) {
				xarch_err_sys(err, -r, "cannot create '%s'", name);
				goto out;
			}
			continue;
		}
		if (type != AE_IFREG)
			continue;
		if ((r = mkdir_parents_at(dirfd, name, false)) < 0) {
			xarch_err_sys(err, -r, "cannot create '%s'", name);
			goto out;
		}
		unlinkat(dirfd, name, 0);
		_cleanup_close_ int fd =
		    openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = xarch_err_sys(err, errno, "cannot create '%s'", name);
			goto out;
		}
		if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK) {
			r = xarch_err(err, EIO, "cannot unpack '%s' from '%s': %s", name, file,
				      archive_error_string(a));
			goto out;
		}
	}
	/* links last, resolved as names inside the archive: old `docker save`
	 * links identical layers as ../ID/layer.tar */
	for (size_t i = 0; i < n_links; i++) {
		char t[PATH_MAX];
		const char *target = links[i].target;
		if (links[i].sym) {
			if (target[0] == '/')
				continue;
			const char *slash = strrchr(links[i].name, '/');
			int dl = slash ? (int)(slash - links[i].name) : 0;
			if (xa_snprintf(t, sizeof(t), "%.*s%s%s", dl, links[i].name, dl ? "/" : "",
					target) < 0)
				continue;
			/* fold "dir/../" */
			char *p;
			while ((p = strstr(t, "/../"))) {
				char *q = p;
				while (q > t && q[-1] != '/')
					q--;
				if (q == p)
					break;
				memmove(q, p + 4, strlen(p + 4) + 1);
			}
			target = strip_dot(t);
		}
		if (!safe_relpath(target))
			continue;
		if (mkdir_parents_at(dirfd, links[i].name, false) < 0)
			continue;
		/* a target that is missing or a directory is simply not linked */
		linkat(dirfd, target, dirfd, links[i].name, 0);
	}
out:
	for (size_t i = 0; i < n_links; i++) {
		free(links[i].name);
		free(links[i].target);
	}
	free(links);
	archive_read_free(a);
	return r;
}

static int make_tmpdir(struct xarch_image *img, const struct xarch_image_opts *o,
		       struct xarch_error *err)
{
	const char *base = o && o->tmpdir ? o->tmpdir : getenv("TMPDIR");
	if (!base || !*base)
		base = "/var/tmp";
	if (asprintf(&img->tmpdir, "%s/.xarch-image-XXXXXX", base) < 0) {
		img->tmpdir = NULL;
		return xarch_err(err, ENOMEM, "out of memory");
	}
	if (!mkdtemp(img->tmpdir)) {
		int e = errno;
		int r = xarch_err_sys(err, e, "cannot create a directory in '%s'", base);
		free(img->tmpdir);
		img->tmpdir = NULL;
		return r;
	}
	return 0;
}

static int unpack_archive(struct xarch_image *img, const char *file,
			  const struct xarch_image_opts *o, int *ret_fd, struct xarch_error *err)
{
	int r = make_tmpdir(img, o, err);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(img->tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", img->tmpdir);
	if ((r = extract_archive(file, fd, err)) < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int open_oci_archive(struct xarch_image *img, const struct xarch_image_ref *ref,
			    const struct xarch_image_opts *o, struct xarch_error *err)
{
	_cleanup_close_ int fd = -1;
	int r = unpack_archive(img, ref->path, o, &fd, err);
	if (r < 0)
		return r;
	return open_layout(img, img->tmpdir, ref->path, ref->tag, o, err);
}

/* Does a RepoTags entry name `want`?  "t" means "t:latest", and
 * "docker.io/library/" is implied. */
static bool tag_matches(const char *have, const char *want)
{
	char a[512], b[512];
	const char *pre[] = {"docker.io/library/", "docker.io/", ""};
	for (int i = 0; i < 2; i++) {
		const char *s = i ? want : have;
		char *dst = i ? b : a;
		for (size_t k = 0; k < ARRAY_SIZE(pre); k++)
			if (!strncmp(s, pre[k], strlen(pre[k]))) {
				s += strlen(pre[k]);
				break;
			}
		const char *slash = strrchr(s, '/');
		bool has_tag = strchr(slash ? slash : s, ':') || strchr(s, '@');
		if (xa_snprintf(dst, sizeof(a), "%s%s", s, has_tag ? "" : ":latest") < 0)
			return false;
	}
	return !strcmp(a, b);
}

/* manifest.json of `docker save`: [{"Config": "...", "RepoTags": [...],
 * "Layers": [...]}, ...]; returns the chosen entry's fields. */
static int docker_manifest_select(json_object *root, const char *tag, json_object **ret,
				  struct xarch_error *err)
{
	if (!json_object_is_type(root, json_type_array))
		return xarch_err(err, EINVAL, "manifest.json is not a JSON array");
	size_t n = json_object_array_length(root);
	if (n == 0)
		return xarch_err(err, ENOENT, "manifest.json lists no image");
	if (n > XARCH_OCI_MANIFESTS_MAX)
		return xarch_err(err, E2BIG, "manifest.json lists more than %u images",
				 XARCH_OCI_MANIFESTS_MAX);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(root, i), *tags;
		if (!json_object_is_type(e, json_type_object))
			return xarch_err(err, EINVAL, "manifest.json entry %zu is not an object",
					 i);
		if (!tag || !*tag) {
			if (n > 1)
				return xarch_err(err, EINVAL,
						 "the archive holds %zu images; name one with "
						 "docker-archive:FILE:REF",
						 n);
			*ret = e;
			return 0;
		}
		size_t nt;
		int r = get_array(e, "RepoTags", false, 4096, "manifest.json", &tags, &nt, err);
		if (r < 0)
			return r;
		for (size_t k = 0; k < nt; k++) {
			json_object *t = json_object_array_get_idx(tags, k);
			if (json_object_is_type(t, json_type_string) &&
			    tag_matches(json_object_get_string(t), tag)) {
				*ret = e;
				return 0;
			}
		}
	}
	return xarch_err(err, ENOENT, "no image tagged '%s' in the archive", tag);
}

/* "blobs/sha256/HEX" or "HEX.json"/"HEX.tar": the digest the name promises. */
static bool digest_from_name(const char *path, const char *suffix, char out[XARCH_DIGEST_LEN + 1])
{
	const char *base = path;
	if (!strncmp(path, "blobs/sha256/", 13))
		base = path + 13;
	else if (strchr(path, '/'))
		return false;
	size_t l = strlen(base), sl = strlen(suffix);
	if (base == path && (l != 64 + sl || strcmp(base + 64, suffix)))
		return false;
	snprintf(out, XARCH_DIGEST_LEN + 1, "sha256:%.64s", base);
	return xarch_digest_valid(out);
}

static int open_docker_archive(struct xarch_image *img, const struct xarch_image_ref *ref,
			       const struct xarch_image_opts *o, struct xarch_error *err)
{
	_cleanup_close_ int fd = -1;
	int r = unpack_archive(img, ref->path, o, &fd, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *json = NULL, *cjson = NULL;
	size_t len, clen;
	if (faccessat(fd, "manifest.json", F_OK, 0) < 0) {
		if (faccessat(fd, "index.json", F_OK, 0) == 0)
			return open_layout(img, img->tmpdir, ref->path, ref->tag, o, err);
		return xarch_err(err, EINVAL, "'%s' is not a docker archive: no manifest.json",
				 ref->path);
	}
	r = xa_read_file_at(fd, "manifest.json", XARCH_OCI_JSON_MAX, &json, &len, err);
	if (r < 0)
		return r;
	_cleanup_json_ json_object *root = NULL;
	if ((r = json_parse(json, len, "manifest.json", &root, err)) < 0)
		return r;
	json_object *e = NULL, *layers;
	if ((r = docker_manifest_select(root, ref->tag, &e, err)) < 0)
		return r;
	char config[PATH_MAX];
	if ((r = get_str(e, "Config", true, config, sizeof(config), "manifest.json", err)) < 0)
		return r;
	size_t n;
	r = get_array(e, "Layers", true, XARCH_OCI_LAYERS_MAX, "manifest.json", &layers, &n, err);
	if (r < 0)
		return r;
	if (!safe_relpath(config))
		return xarch_err(err, EINVAL, "manifest.json: unsafe Config path '%s'", config);
	_cleanup_free_ char **paths = calloc(n ? n : 1, sizeof(*paths));
	if (!paths)
		return xarch_err(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *l = json_object_array_get_idx(layers, i);
		const char *s =
		    json_object_is_type(l, json_type_string) ? json_object_get_string(l) : NULL;
		if (!safe_relpath(s))
			return xarch_err(err, EINVAL, "manifest.json: layer %zu has an unsafe path",
					 i);
		paths[i] = (char *)s;
	}
	if ((r = xa_read_file_at(fd, config, XARCH_OCI_JSON_MAX, &cjson, &clen, err)) < 0)
		return r;
	char want[XARCH_DIGEST_LEN + 1], hex[65];
	if (digest_from_name(config, ".json", want)) {
		xa_sha256_buf_hex(cjson, clen, hex);
		if (strcmp(hex, want + 7))
			return xarch_err(err, EBADMSG, "config %s is corrupt: its sha256 is %s",
					 want, hex);
	}
	xa_sha256_buf_hex(cjson, clen, hex);
	snprintf(img->digest, sizeof(img->digest), "sha256:%s", hex);
	/* layer names are not digests in every docker version; their
	 * diff_ids in the (checked) config are, and are always verified */
	return image_finish(img, fd, img->tmpdir, cjson, clen, paths, NULL, n, o, err);
}

/* ---- images -------------------------------------------------------------------------- */

void xarch_image_free(struct xarch_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->n; i++) {
		free(img->layers[i]);
		free(img->diff_ids[i]);
	}
	free(img->layers);
	free(img->diff_ids);
	if (img->tmpdir) {
		xa_rm_rf_at(AT_FDCWD, img->tmpdir);
		free(img->tmpdir);
	}
	free(img);
}

int xarch_image_open(const struct xarch_image_ref *ref, const struct xarch_image_opts *o,
		     struct xarch_image **ret, struct xarch_error *err)
{
	const struct transport *t = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(transports); i++)
		if (transports[i].id == ref->transport)
			t = &transports[i];
	if (!t)
		return xarch_err(err, EINVAL, "unknown image transport %d", (int)ref->transport);
	struct xarch_image *img = calloc(1, sizeof(*img));
	if (!img)
		return xarch_err(err, ENOMEM, "out of memory");
	int r = t->open(img, ref, o, err);
	if (r < 0) {
		xarch_image_free(img);
		return r;
	}
	*ret = img;
	return 0;
}

const char *const *xarch_image_diff_ids(const struct xarch_image *img)
{
	return (const char *const *)img->diff_ids;
}

const char *const *xarch_image_layers(const struct xarch_image *img, size_t *ret_n)
{
	*ret_n = img->n;
	return (const char *const *)img->layers;
}

const char *xarch_image_platform(const struct xarch_image *img)
{
	return img->platform;
}

const char *xarch_image_digest(const struct xarch_image *img)
{
	return img->digest;
}

int xarch_image_pull(const char *src, const char *dest, const struct xarch_image_opts *o,
		     const struct xarch_layer_opts *lo, struct xarch_error *err)
{
	struct xarch_image_ref ref;
	int r = xarch_image_ref_parse(src, &ref, err);
	if (r < 0)
		return r;
	struct stat st;
	if (lstat(dest, &st) == 0)
		return xarch_err(err, EEXIST, "'%s' already exists", dest);
	/* unpack archives next to the destination: same filesystem, and it
	 * has room for the image if it has room for the tree */
	struct xarch_image_opts opts = o ? *o : (struct xarch_image_opts){0};
	_cleanup_free_ char *parent = strdup(dest);
	if (!parent)
		return xarch_err(err, ENOMEM, "out of memory");
	if (!opts.tmpdir) {
		char *slash = strrchr(parent, '/');
		while (slash && slash > parent && slash[1] == '\0') {
			*slash = '\0';
			slash = strrchr(parent, '/');
		}
		if (!slash)
			strcpy(parent, ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		opts.tmpdir = parent;
	}
	struct xarch_image *img;
	if ((r = xarch_image_open(&ref, &opts, &img, err)) < 0)
		return r;
	size_t n;
	const char *const *layers = xarch_image_layers(img, &n);
	struct xarch_layer_opts checked = lo ? *lo : (struct xarch_layer_opts){ 0 };
	checked.diff_ids = xarch_image_diff_ids(img);
	r = xarch_layers_unpack(layers, n, dest, &checked, err);
	xarch_image_free(img);
	return r;
}
