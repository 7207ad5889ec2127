// SPDX-License-Identifier: MIT
/* Image JSON parsers, platform choice, digests and blob checks. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "digest.h"
#include "xarch/oci.h"

#define D1 "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
#define D2 "sha256:0000000000000000000000000000000000000000000000000000000000000000"
#define LAYER(mt) "{\"mediaType\":\"" mt "\",\"digest\":\"" D1 "\",\"size\":32}"
#define TGZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define CONFIG "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D2 \
	       "\",\"size\":7}"

static void test_sha256(void)
{
	static const struct {
		const char *in, *hex;
	} t[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	char hex[65];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		xa_sha256_buf_hex(t[i].in, strlen(t[i].in), hex);
		CHECK_STR(hex, t[i].hex, "sha256 of '%.10s'", t[i].in);
	}
	/* a million 'a', fed in odd-sized pieces to cross block edges */
	struct xa_sha256 c;
	xa_sha256_init(&c);
	char a[997];
	memset(a, 'a', sizeof(a));
	size_t left = 1000000;
	while (left) {
		size_t n = left < sizeof(a) ? left : sizeof(a);
		xa_sha256_update(&c, a, n);
		left -= n;
	}
	xa_sha256_hex(&c, hex);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
		  "sha256 of a million 'a'");
}

static void test_digest_valid(void)
{
	static const struct {
		const char *d;
		bool ok;
	} t[] = {
		{ D1, true },
		{ "sha256:../../etc/passwd", false },
		{ "sha256:A3ED95CAEB02FFE68CDD9FD84406680AE93D633CB16422D00E8A7C22955B46D4", false },
		{ "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d", false },
		{ D1 "0", false },
		{ D1 "/", false },
		{ "sha512:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4", false },
		{ "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4", false },
		{ "", false },
		{ NULL, false },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK(xarch_digest_valid(t[i].d) == t[i].ok, "digest %zu '%.24s' %s", i,
		      t[i].d ? t[i].d : "(null)", t[i].ok ? "valid" : "rejected");
}

static void test_ref_parse(void)
{
	static const struct {
		const char *s;
		int r;
		enum xarch_image_transport t;
		const char *path, *tag;
	} t[] = {
		{ "oci:L:t", 0, XARCH_IMAGE_OCI, "L", "t" },
		{ "oci:/x/L", 0, XARCH_IMAGE_OCI, "/x/L", "" },
		{ "oci-archive:a.tar:v1", 0, XARCH_IMAGE_OCI_ARCHIVE, "a.tar", "v1" },
		{ "docker-archive:A.tar:t:latest", 0, XARCH_IMAGE_DOCKER_ARCHIVE, "A.tar",
		  "t:latest" },
		{ "docker-archive:A.tar", 0, XARCH_IMAGE_DOCKER_ARCHIVE, "A.tar", "" },
		{ "docker://debian", -EINVAL, 0, NULL, NULL },
		{ "oci:", -EINVAL, 0, NULL, NULL },
		{ "oci:L:", -EINVAL, 0, NULL, NULL },
		{ "L", -EINVAL, 0, NULL, NULL },
		{ "ocix:L", -EINVAL, 0, NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct xarch_image_ref ref;
		struct xarch_error err = { 0 };
		int r = xarch_image_ref_parse(t[i].s, &ref, &err);
		CHECK_INT(r, t[i].r, "ref '%s'", t[i].s);
		if (r == 0 && t[i].r == 0) {
			CHECK(ref.transport == t[i].t, "ref '%s' transport", t[i].s);
			CHECK_STR(ref.path, t[i].path, "ref '%s' path", t[i].s);
			CHECK_STR(ref.tag, t[i].tag, "ref '%s' tag", t[i].s);
		}
	}
	CHECK_STR(xarch_image_transport_name(XARCH_IMAGE_DOCKER_ARCHIVE), "docker-archive",
		  "transport name");
}

static const struct {
	const char *name, *json, *msg; /* msg: part of the error, NULL when valid */
	size_t n_layers;
} manifests[] = {
	{ "oci", "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"config\":" CONFIG ",\"layers\":[" LAYER(TGZ) "," LAYER(
			 "application/vnd.oci.image.layer.v1.tar") "]}",
	  NULL, 2 },
	{ "no mediaType", "{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[]}", NULL, 0 },
	{ "docker",
	  "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	  "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":"
	  "\"" D2 "\",\"size\":1},\"layers\":[" LAYER(
		  "application/vnd.docker.image.rootfs.diff.tar.gzip") "]}",
	  NULL, 1 },
	{ "trailing space", "{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[]}\n ", NULL, 0 },
	{ "schema 1", "{\"schemaVersion\":1,\"config\":" CONFIG ",\"layers\":[]}", "schemaVersion",
	  0 },
	{ "schema string", "{\"schemaVersion\":\"2\",\"config\":" CONFIG ",\"layers\":[]}",
	  "not a int", 0 },
	{ "no config", "{\"schemaVersion\":2,\"layers\":[]}", "no \"config\"", 0 },
	{ "no layers", "{\"schemaVersion\":2,\"config\":" CONFIG "}", "no \"layers\"", 0 },
	{ "layers object", "{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":{}}",
	  "not a array", 0 },
	{ "layer not object", "{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[1]}",
	  "not an object", 0 },
	{ "unknown layer type", "{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[" LAYER(
		  "application/vnd.cncf.helm.chart.content.v1.tar+gzip") "]}",
	  "unknown mediaType", 0 },
	{ "unknown manifest type",
	  "{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"config\":" CONFIG ",\"layers\":[]}",
	  "unknown mediaType", 0 },
	{ "artifact config",
	  "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.cncf.helm.config.v1+json\","
	  "\"digest\":\"" D2 "\",\"size\":1},\"layers\":[]}",
	  "not a container image", 0 },
	{ "bad digest",
	  "{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[{\"mediaType\":\"" TGZ "\","
	  "\"digest\":\"sha256:../../etc/passwd\",\"size\":1}]}",
	  "is not sha256", 0 },
	{ "negative size",
	  "{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[{\"mediaType\":\"" TGZ "\","
	  "\"digest\":\"" D1 "\",\"size\":-1}]}",
	  "negative", 0 },
	{ "float size",
	  "{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[{\"mediaType\":\"" TGZ "\","
	  "\"digest\":\"" D1 "\",\"size\":1.5}]}",
	  "not a int", 0 },
	{ "no size",
	  "{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[{\"mediaType\":\"" TGZ "\","
	  "\"digest\":\"" D1 "\"}]}",
	  "no \"size\"", 0 },
	{ "truncated", "{\"schemaVersion\":2,\"config\":" CONFIG, "not valid JSON", 0 },
	{ "garbage after", "{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[]}x",
	  "after the JSON", 0 },
	{ "array", "[]", "not a JSON object", 0 },
	{ "empty", "", "not valid JSON", 0 },
};

static void test_manifest(void)
{
	for (size_t i = 0; i < sizeof(manifests) / sizeof(manifests[0]); i++) {
		struct xarch_oci_manifest m;
		struct xarch_error err = { 0 };
		int r = xarch_oci_manifest_parse(manifests[i].json, strlen(manifests[i].json), &m,
						 &err);
		if (!manifests[i].msg) {
			CHECK_INT(r, 0, "manifest '%s' parses", manifests[i].name);
			if (r == 0) {
				CHECK_INT(m.n_layers, manifests[i].n_layers, "manifest '%s' layers",
					  manifests[i].name);
				xarch_oci_manifest_release(&m);
			}
		} else {
			CHECK(r < 0 && strstr(err.msg, manifests[i].msg),
			      "manifest '%s' rejected: %s", manifests[i].name, err.msg);
		}
	}
}

/* A JSON document of `n` copies of `item` inside `pre` ... `post`. */
static char *repeat(const char *pre, const char *item, size_t n, const char *post)
{
	size_t il = strlen(item), len = strlen(pre) + n * (il + 1) + strlen(post) + 1;
	char *s = malloc(len), *p = s;
	p = stpcpy(p, pre);
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		p = stpcpy(p, item);
	}
	strcpy(p, post);
	return s;
}

static void test_limits(void)
{
	struct xarch_error err = { 0 };
	struct xarch_oci_manifest m;
	char *s = repeat("{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[", LAYER(TGZ),
			 XARCH_OCI_LAYERS_MAX, "]}");
	CHECK_INT(xarch_oci_manifest_parse(s, strlen(s), &m, &err), 0, "%d layers accepted",
		  XARCH_OCI_LAYERS_MAX);
	if (m.layers)
		xarch_oci_manifest_release(&m);
	free(s);
	s = repeat("{\"schemaVersion\":2,\"config\":" CONFIG ",\"layers\":[", LAYER(TGZ),
		   XARCH_OCI_LAYERS_MAX + 1, "]}");
	CHECK_INT(xarch_oci_manifest_parse(s, strlen(s), &m, &err), -E2BIG,
		  "%d layers refused: %s", XARCH_OCI_LAYERS_MAX + 1, err.msg);
	free(s);
	s = repeat("{\"os\":\"linux\",\"architecture\":\"amd64\",\"rootfs\":{\"type\":\"layers\","
		   "\"diff_ids\":[",
		   "\"" D1 "\"", XARCH_OCI_LAYERS_MAX + 1, "]}}");
	struct xarch_oci_config c;
	CHECK_INT(xarch_oci_config_parse(s, strlen(s), &c, &err), -E2BIG,
		  "513 diff_ids refused: %s", err.msg);
	free(s);
	/* larger than the cap: refused before parsing */
	size_t big = XARCH_OCI_JSON_MAX + 1;
	s = malloc(big);
	memset(s, ' ', big);
	s[0] = '{';
	s[big - 1] = '}';
	CHECK_INT(xarch_oci_manifest_parse(s, big, &m, &err), -EFBIG, "%zu bytes refused", big);
	free(s);
	/* deep nesting: json-c's depth limit, not the stack */
	s = repeat("", "[", 100000, "");
	CHECK(xarch_oci_index_parse(s, strlen(s), &(struct xarch_oci_index){ 0 }, &err) < 0,
	      "deeply nested arrays refused");
	free(s);
}

static void test_config(void)
{
	static const struct {
		const char *name, *json, *msg;
		const char *arch, *variant;
		size_t n;
	} t[] = {
		{ "arm64", "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\",\"rootfs\":"
			   "{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]},\"config\":{}}",
		  NULL, "arm64", "v8", 2 },
		{ "no variant", "{\"architecture\":\"riscv64\",\"os\":\"linux\",\"rootfs\":"
				"{\"type\":\"layers\",\"diff_ids\":[]}}",
		  NULL, "riscv64", "", 0 },
		{ "no arch", "{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		  "no \"architecture\"", NULL, NULL, 0 },
		{ "arch number", "{\"architecture\":64,\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
				 "\"diff_ids\":[]}}",
		  "not a string", NULL, NULL, 0 },
		{ "no rootfs", "{\"architecture\":\"amd64\",\"os\":\"linux\"}", "no \"rootfs\"", NULL,
		  NULL, 0 },
		{ "rootfs type", "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
				 "\"squash\",\"diff_ids\":[]}}",
		  "not 'layers'", NULL, NULL, 0 },
		{ "bad diff_id", "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
				 "\"layers\",\"diff_ids\":[\"sha256:x\"]}}",
		  "diff_id 0", NULL, NULL, 0 },
		{ "diff_id number", "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
				    "\"layers\",\"diff_ids\":[1]}}",
		  "diff_id 0", NULL, NULL, 0 },
		{ "long arch", "{\"architecture\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
			       "\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		  "longer than", NULL, NULL, 0 },
		{ "NUL in arch", "{\"architecture\":\"amd64\\u0000x\",\"os\":\"linux\",\"rootfs\":"
				 "{\"type\":\"layers\",\"diff_ids\":[]}}",
		  "NUL", NULL, NULL, 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct xarch_oci_config c;
		struct xarch_error err = { 0 };
		int r = xarch_oci_config_parse(t[i].json, strlen(t[i].json), &c, &err);
		if (!t[i].msg) {
			CHECK_INT(r, 0, "config '%s' parses", t[i].name);
			if (r == 0) {
				CHECK_STR(c.arch, t[i].arch, "config '%s' arch", t[i].name);
				CHECK_STR(c.variant, t[i].variant, "config '%s' variant", t[i].name);
				CHECK_INT(c.n_diff_ids, t[i].n, "config '%s' diff_ids", t[i].name);
				xarch_oci_config_release(&c);
			}
		} else {
			CHECK(r < 0 && strstr(err.msg, t[i].msg), "config '%s' rejected: %s",
			      t[i].name, err.msg);
		}
	}
}

#define ENTRY(plat) "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 \
	"\",\"size\":5" plat "}"
#define PLAT(a, v) ",\"platform\":{\"os\":\"linux\",\"architecture\":\"" a "\"" v "}"

static void test_index(void)
{
	const char *multi =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
		"\"manifests\":[" ENTRY(PLAT("amd64", "")) "," ENTRY(PLAT("arm64", ",\"variant\":\"v8\""))
		"," ENTRY(PLAT("arm", ",\"variant\":\"v6\"")) "," ENTRY(PLAT("arm", ",\"variant\":\"v7\""))
		"," ENTRY(PLAT("riscv64", "")) "," ENTRY(",\"platform\":{\"os\":\"windows\","
						       "\"architecture\":\"amd64\"}")
		"]}";
	struct xarch_oci_index x;
	struct xarch_error err = { 0 };
	CHECK_INT(xarch_oci_index_parse(multi, strlen(multi), &x, &err), 0, "index parses: %s",
		  err.msg);
	CHECK_INT(x.n, 6, "index entries");
	static const struct {
		const char *want;
		int idx;
	} sel[] = {
		{ "linux/amd64", 0 },	 { "amd64", 0 },	 { "x86_64", 0 },
		{ "linux/arm64/v8", 1 }, { "linux/arm64", 1 },	 { "aarch64", 1 },
		{ "arm64", 1 },		 { "linux/arm/v6", 2 },	 { "linux/arm/v7", 3 },
		{ "linux/arm", 3 },	 { "armhf", 3 },	 { "arm/v6", 2 },
		{ "riscv64", 4 },	 { "linux/riscv64", 4 }, { "windows/amd64", 5 },
		{ "linux/arm/v5", -ENOENT }, { "s390x", -ENOENT }, { "linux/arm64/v9", -ENOENT },
		{ "nosucharch", -EINVAL }, { "linux/", -EINVAL }, { "a/b/c/d", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(sel) / sizeof(sel[0]); i++)
		CHECK_INT(xarch_oci_index_select(&x, sel[i].want, &err), sel[i].idx,
			  "select '%s'", sel[i].want);
	xarch_oci_index_select(&x, "linux/s390x", &err);
	CHECK_STR(err.msg,
		  "no linux/s390x image in index; it has linux/amd64, linux/arm64/v8, "
		  "linux/arm/v6, linux/arm/v7, linux/riscv64, windows/amd64",
		  "missing platform lists the index");
	xarch_oci_index_release(&x);

	/* without a variant arm64 means v8; an explicit other variant does not match */
	const char *noval = "{\"schemaVersion\":2,\"manifests\":[" ENTRY(PLAT("arm64", "")) "]}";
	CHECK_INT(xarch_oci_index_parse(noval, strlen(noval), &x, &err), 0, "index parses");
	CHECK_INT(xarch_oci_index_select(&x, "linux/arm64/v8", &err), 0, "arm64 = arm64/v8");
	xarch_oci_index_release(&x);

	static const struct {
		const char *name, *json, *msg;
	} bad[] = {
		{ "no manifests", "{\"schemaVersion\":2}", "no \"manifests\"" },
		{ "manifests string", "{\"schemaVersion\":2,\"manifests\":\"x\"}", "not a array" },
		{ "manifest type", "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image."
				   "manifest.v1+json\",\"manifests\":[]}",
		  "mediaType" },
		{ "platform without os", "{\"schemaVersion\":2,\"manifests\":[" ENTRY(
			  ",\"platform\":{\"architecture\":\"amd64\"}") "]}",
		  "no \"os\"" },
		{ "platform string", "{\"schemaVersion\":2,\"manifests\":[" ENTRY(
			  ",\"platform\":\"linux/amd64\"") "]}",
		  "not a object" },
		{ "ref name number", "{\"schemaVersion\":2,\"manifests\":[" ENTRY(
			  ",\"annotations\":{\"org.opencontainers.image.ref.name\":1}") "]}",
		  "not a string" },
		{ "entry without mediaType",
		  "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D1 "\",\"size\":1}]}",
		  "no \"mediaType\"" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = xarch_oci_index_parse(bad[i].json, strlen(bad[i].json), &x, &err);
		CHECK(r < 0 && strstr(err.msg, bad[i].msg), "index '%s' rejected: %s", bad[i].name,
		      err.msg);
	}
	char *s = repeat("{\"schemaVersion\":2,\"manifests\":[", ENTRY(""),
			 XARCH_OCI_MANIFESTS_MAX + 1, "]}");
	CHECK_INT(xarch_oci_index_parse(s, strlen(s), &x, &err), -E2BIG, "huge index refused");
	free(s);

	const char *tagged = "{\"schemaVersion\":2,\"manifests\":[" ENTRY(
		",\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}") "]}";
	CHECK_INT(xarch_oci_index_parse(tagged, strlen(tagged), &x, &err), 0, "tagged index");
	CHECK_STR(x.manifests[0].ref_name, "v1", "ref.name annotation");
	CHECK_INT(xarch_oci_index_select(&x, "amd64", &err), -ENOENT,
		  "an entry without platform is not selected by platform");
	xarch_oci_index_release(&x);
}

static void test_blob_verify(void)
{
	char path[] = "/tmp/xarch-test-oci.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		SKIP("cannot create a temp file");
		return;
	}
	unlink(path);
	CHECK(write(fd, "abc", 3) == 3, "write blob");
	struct xarch_error err = { 0 };
	const char *abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	lseek(fd, 0, SEEK_SET);
	CHECK_INT(xarch_blob_verify_fd(fd, abc, 3, &err), 0, "good blob verifies");
	lseek(fd, 0, SEEK_SET);
	CHECK_INT(xarch_blob_verify_fd(fd, abc, 4, &err), -EBADMSG, "wrong size: %s", err.msg);
	CHECK(strstr(err.msg, abc) != NULL, "size error names the blob");
	lseek(fd, 0, SEEK_SET);
	CHECK_INT(xarch_blob_verify_fd(fd, D1, 3, &err), -EBADMSG, "wrong digest: %s", err.msg);
	CHECK(strstr(err.msg, D1) != NULL, "digest error names the blob");
	lseek(fd, 0, SEEK_SET);
	CHECK_INT(xarch_blob_verify_fd(fd, "sha256:../../x", 3, &err), -EINVAL,
		  "path-like digest refused");
	close(fd);
}

int main(void)
{
	test_sha256();
	test_digest_valid();
	test_ref_parse();
	test_manifest();
	test_limits();
	test_config();
	test_index();
	test_blob_verify();
	return check_done();
}
