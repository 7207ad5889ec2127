// SPDX-License-Identifier: MIT
/* xarch pull [OPTIONS] SRC DIR: unpack an image or a rootfs tarball into a new DIR. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xarch.h"
#include "xarch/image.h"
#include "xarch/oci.h"
#include "xarch/registry.h"

/* Image sources: one row per transport prefix ("tar:", and the OCI ones
 * in oci.c).  `ref` is SRC without the prefix. */
struct transport {
	const char *prefix;
	int (*pull)(const char *ref, const char *dest, struct xarch_layer_opts *o,
		    struct xarch_error *err);
	const char *summary;
};

static int pull_tar(const char *ref, const char *dest, struct xarch_layer_opts *o,
		    struct xarch_error *err)
{
	/* a rootfs tarball, not a layer: .wh.* are ordinary names */
	o->plain_tar = true;
	const char *layers[] = {ref};
	return xarch_layers_unpack(layers, 1, dest, o, err);
}

static const char *pull_platform; /* --platform, for images */
static const char *pull_creds;	  /* --creds USER:PASS, for registries */
static bool pull_insecure;	  /* --insecure: plain http registry */

static int pull_image(const char *transport, const char *ref, const char *dest,
		      struct xarch_layer_opts *o, struct xarch_error *err)
{
	char src[4400];
	if (snprintf(src, sizeof(src), "%s:%s", transport, ref) >= (int)sizeof(src))
		return xarch_err(err, ENAMETOOLONG, "image reference too long");
	struct xarch_image_opts io = {.platform = pull_platform};
	return xarch_image_pull(src, dest, &io, o, err);
}

static int pull_oci(const char *ref, const char *dest, struct xarch_layer_opts *o,
		    struct xarch_error *err)
{
	return pull_image("oci", ref, dest, o, err);
}

static int pull_oci_archive(const char *ref, const char *dest, struct xarch_layer_opts *o,
			    struct xarch_error *err)
{
	return pull_image("oci-archive", ref, dest, o, err);
}

static int pull_docker_archive(const char *ref, const char *dest, struct xarch_layer_opts *o,
			       struct xarch_error *err)
{
	return pull_image("docker-archive", ref, dest, o, err);
}

static int pull_docker(const char *ref, const char *dest, struct xarch_layer_opts *o,
		       struct xarch_error *err)
{
	struct xarch_registry_opts ro = {
	    .creds = pull_creds, .insecure = pull_insecure, .platform = pull_platform};
	if (o->progress) {
		ro.progress = meter_blob_cb;
		ro.progress_data = o->progress_data;
	}
	return xarch_registry_pull(ref, dest, &ro, o, err);
}

static const struct transport transports[] = {
    {"tar:", pull_tar, "a rootfs tarball (tar, .gz, .xz, .zst, .bz2) as one layer"},
    {"oci:", pull_oci, "DIR[:TAG]: an OCI image layout"},
    {"oci-archive:", pull_oci_archive, "FILE[:TAG]: a tar of an OCI image layout"},
    {"docker-archive:", pull_docker_archive, "FILE[:REF]: what docker save writes"},
    {"docker://", pull_docker, "HOST[:PORT]/NAME[:TAG|@DIGEST]: a registry (API v2)"},
};

static void help(void)
{
	puts("usage: xarch pull [-q] [-v] [--platform P] SRC DIR\n\n"
	     "Unpack SRC into DIR, which must not exist: the tree is built next to it and\n"
	     "renamed into place, so on failure DIR does not exist.  Owners are kept when\n"
	     "run as root; unprivileged, device nodes and xattrs other than user.* are\n"
	     "skipped (and counted).\n\nsources:");
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
		printf("  %-16s %s\n", transports[i].prefix, transports[i].summary);
	puts("\n  --platform P    image for P (linux/arm64/v8, riscv64, ...); default: the\n"
	     "                  host's from an index, or a lone image of any arch\n"
	     "  --creds U:P     registry credentials (default: ~/.docker/config.json)\n"
	     "  --insecure      registry over plain http (loopback hosts always are)\n"
	     "  -q, --quiet     no progress on a terminal\n"
	     "  -v, --verbose   also report skipped xattrs and other entries\n"
	     "  -h, --help");
}

/* Real root, not root in a user namespace (which cannot mknod). */
static bool privileged(void)
{
	if (geteuid() != 0)
		return false;
	FILE *f = fopen("/proc/self/uid_map", "re");
	if (!f)
		return true;
	unsigned long a = 0, b = 0, n = 0;
	int k = fscanf(f, "%lu %lu %lu", &a, &b, &n);
	fclose(f);
	return k == 3 && a == 0 && b == 0 && n == 4294967295ul;
}

int cmd_pull(int argc, char **argv)
{
	/* clang-format off */
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "platform", required_argument, NULL, 'P' },
		{ "creds", required_argument, NULL, 'C' },
		{ "insecure", no_argument, NULL, 'I' },
		{ 0 },
	};
	/* clang-format on */
	bool quiet = false, verbose = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			help();
			return 0;
		case 'P':
			pull_platform = optarg;
			break;
		case 'C':
			pull_creds = optarg;
			break;
		case 'I':
			pull_insecure = true;
			break;
		default:
			return usage_error("pull", "bad option");
		}
	}
	if (argc - optind != 2)
		return usage_error("pull", "need a source and a directory");
	const char *src = argv[optind], *dest = argv[optind + 1];
	const struct transport *t = NULL;
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
		if (strncmp(src, transports[i].prefix, strlen(transports[i].prefix)) == 0)
			t = &transports[i];
	if (!t)
		return usage_error(
		    "pull",
		    "unknown source '%s'; sources start with tar:, oci:, oci-archive:, "
		    "docker-archive: or docker://",
		    src);
	const char *ref = src + strlen(t->prefix);
	if (!*ref || !*dest)
		return usage_error("pull", "empty source or directory");

	struct xarch_layer_stats stats = {0};
	struct meter m = {.what = ref};
	struct xarch_layer_opts o = {
	    .privileged = privileged(),
	    .keep_owner = geteuid() == 0,
	    .stats = &stats,
	};
	if (!quiet && is_tty(STDERR_FILENO)) {
		o.progress = meter_cb;
		o.progress_data = &m;
	}
	struct xarch_error err = {0};
	int r = t->pull(ref, dest, &o, &err);
	meter_done(&m);
	if (r < 0)
		return die_err(&err, r);
	if (stats.skipped_devices)
		warn("skipped %llu device node%s: creating them needs real root",
		     (unsigned long long)stats.skipped_devices,
		     stats.skipped_devices == 1 ? "" : "s");
	if (verbose && stats.skipped_xattrs)
		warn("skipped %llu xattr%s (not user.* unprivileged, or refused by the filesystem)",
		     (unsigned long long)stats.skipped_xattrs,
		     stats.skipped_xattrs == 1 ? "" : "s");
	if (verbose && stats.skipped_other)
		warn("skipped %llu socket or reserved entr%s",
		     (unsigned long long)stats.skipped_other,
		     stats.skipped_other == 1 ? "y" : "ies");
	if (verbose)
		fprintf(stderr, "xarch: %llu entries, %llu whiteouts into '%s'\n",
			(unsigned long long)stats.entries, (unsigned long long)stats.whiteouts,
			dest);
	return 0;
}
