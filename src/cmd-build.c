// SPDX-License-Identifier: MIT
/* xarch build [OPTIONS] CONTEXT: a Dockerfile built without an engine. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xarch.h"
#include "xarch/build.h"

static void help(void)
{
	puts("usage: xarch build [OPTIONS] CONTEXT\n\n"
	     "Build the Dockerfile in CONTEXT without a container engine: each stage's\n"
	     "rootfs is a directory, RUN runs in it with 'xarch run' (emulated for foreign\n"
	     "arches), COPY/ADD write inside it.  The result is a one-layer image.\n\n"
	     "  -f, --file FILE          the Dockerfile (default: CONTEXT/Dockerfile)\n"
	     "      --platform P         target platform (linux/riscv64, arm64...): the\n"
	     "                           default for FROM and TARGETPLATFORM\n"
	     "      --target STAGE       build up to this stage\n"
	     "      --build-arg K[=V]    set an ARG (K alone: from the environment)\n"
	     "  -t, --tag NAME           put the result in the local store ('xarch run NAME')\n"
	     "  -o, --output DEST        dir:PATH, tar:FILE[.gz|.xz|.zst], oci:DIR[:TAG],\n"
	     "                           oci-archive:FILE, docker-archive:FILE[:REPO:TAG],\n"
	     "                           docker://REF (repeatable)\n"
	     "      --no-cache           run every stage, do not take it from the step cache\n"
	     "  -q, --quiet              no step lines\n"
	     "  -h, --help\n\n"
	     "FROM takes scratch, an earlier stage, a name given with -t, oci:DIR[:TAG],\n"
	     "oci-archive:FILE, docker-archive:FILE, tar:FILE, dir:PATH (or a path starting\n"
	     "with / ./ ../) and docker://REF.");
}

static bool quiet;

int cmd_build(int argc, char **argv)
{
	enum { O_PLATFORM = 256, O_TARGET, O_BUILD_ARG, O_NO_CACHE };
	static const struct option opts[] = {
	    {"file", required_argument, NULL, 'f'},
	    {"platform", required_argument, NULL, O_PLATFORM},
	    {"target", required_argument, NULL, O_TARGET},
	    {"build-arg", required_argument, NULL, O_BUILD_ARG},
	    {"tag", required_argument, NULL, 't'},
	    {"output", required_argument, NULL, 'o'},
	    {"no-cache", no_argument, NULL, O_NO_CACHE},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct xarch_build_opts o = {.note = print_note, .note_data = &quiet};
	const char **args = calloc((size_t)argc + 1, sizeof(char *));
	const char **outs = calloc((size_t)argc + 1, sizeof(char *));
	if (!args || !outs)
		return die("out of memory");
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:t:o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.dockerfile = optarg;
			break;
		case O_PLATFORM:
			o.platform = optarg;
			break;
		case O_TARGET:
			o.target = optarg;
			break;
		case O_BUILD_ARG:
			args[o.n_build_args++] = optarg;
			break;
		case 't':
			o.tag = optarg;
			break;
		case 'o':
			outs[o.n_outputs++] = optarg;
			break;
		case O_NO_CACHE:
			o.no_cache = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			return usage_error("build", "bad option");
		}
	}
	if (optind != argc - 1)
		return usage_error("build",
				   optind < argc ? "one CONTEXT only" : "no CONTEXT given");
	o.context = argv[optind];
	o.build_args = args;
	o.outputs = outs;
	if (!o.n_outputs && !o.tag)
		warn("no -o or -t: the result is only kept in the step cache");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct xarch_build_result res;
	struct xarch_error err = {0};
	int r = xarch_build(&o, &res, &err);
	free(args);
	free(outs);
	if (r < 0)
		return die_err(&err, r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!quiet)
		fprintf(stderr, "built %s in %.2f s (%u steps, %u cached)%s%s\n", res.platform,
			(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
			res.steps, res.cached, res.digest[0] ? ": " : "", res.digest);
	return 0;
}
