// SPDX-License-Identifier: MIT
/* xarch board build BOARD_DIR: a board directory to a bootable disk image. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xarch.h"
#include "xarch/board.h"
#include "xarch/genimage.h"

static void help(void)
{
	puts("usage: xarch board build [--rootfs DIR|TAR|SOURCE] [-o OUTDIR] [--keep-work]\n"
	     "                         [--no-cache] [--json] BOARD_DIR\n\n"
	     "Build a board image from a board directory: the rootfs (its Dockerfile, or\n"
	     "--rootfs), the steps of board.cfg (fstab, hostname, removals, the ESP moved\n"
	     "out of /boot/efi, the removable EFI loader), its `run` commands inside the\n"
	     "target under emulation, its host hooks, then its genimage.cfg — no root\n"
	     "mounts, no loop devices.  Outputs go to OUTDIR (default BOARD_DIR/output).\n\n"
	     "  --rootfs SRC   use this rootfs instead of building BOARD_DIR/Dockerfile: a\n"
	     "                 directory (copied), a tarball, or an image source (oci:...)\n"
	     "  -o, --output DIR\n"
	     "  --keep-work    keep OUTDIR/.work-*/ (the prepared rootfs and ESP)\n"
	     "  --no-cache     rebuild the Dockerfile without its step cache\n"
	     "  --json         print a JSON summary (stages and files)\n"
	     "  -h, --help");
}

struct ctx {
	bool json;
	struct json_object *stages, *files;
};

static void stage(void *data, const char *name, double secs)
{
	struct ctx *c = data;
	if (c->json) {
		json_object_object_add(c->stages, name, json_object_new_double(secs));
		return;
	}
	fprintf(stderr, "board: %s done in %.1f s\n", name, secs);
}

static void note(void *data, enum xarch_note_level level, const char *msg)
{
	struct ctx *c = data;
	print_note(&c->json, level, msg);
}

static void image_done(void *data, const struct xarch_genimage_result *res)
{
	struct ctx *c = data;
	char a[32];
	if (c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "path", json_str(res->path));
		json_object_object_add(o, "type", json_str(res->type));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)res->apparent));
		json_object_array_add(c->files, o);
		return;
	}
	format_size(res->apparent, a, sizeof(a));
	printf("%s (%s)\n", res->path, a);
}

static int board_build(int argc, char **argv)
{
	/* clang-format off */
	static const struct option opts[] = {
		{ "rootfs", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "keep-work", no_argument, NULL, 'k' },
		{ "no-cache", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* clang-format on */
	struct ctx ctx = {0};
	struct xarch_board_build_opts o = {
	    .stage = stage, .image_done = image_done, .note = note, .data = &ctx};
	struct xarch_error err = {0};
	struct xarch_board b;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.rootfs = optarg;
			break;
		case 'o':
			o.output = optarg;
			break;
		case 'k':
			o.keep_work = true;
			break;
		case 'n':
			o.no_cache = true;
			break;
		case 'j':
			ctx.json = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			return usage_error("board", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("board", "board build wants one BOARD_DIR");
	if ((r = xarch_board_load(argv[optind], &b, &err)) < 0)
		return die_err(&err, r);
	if (ctx.json) {
		ctx.stages = json_object_new_object();
		ctx.files = json_object_new_array();
	}
	/* with --json, stdout is the JSON's: what the build's tools and hooks
	 * print goes to stderr meanwhile */
	int saved = ctx.json ? dup(1) : -1;
	if (saved >= 0)
		dup2(2, 1);
	r = xarch_board_build(&b, &o, &err);
	if (saved >= 0) {
		fflush(stdout);
		dup2(saved, 1);
		close(saved);
	}
	xarch_board_release(&b);
	if (r < 0) {
		json_object_put(ctx.stages);
		json_object_put(ctx.files);
		return die_err(&err, r);
	}
	if (ctx.json) {
		struct json_object *top = json_object_new_object();
		json_object_object_add(top, "stages", ctx.stages);
		json_object_object_add(top, "files", ctx.files);
		json_print(top);
	}
	return 0;
}

int cmd_board(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help"))
		return help(), argc < 2 ? EXIT_USAGE : 0;
	if (!strcmp(argv[1], "build"))
		return board_build(argc - 1, argv + 1);
	return usage_error("board", "unknown board command '%s' (build)", argv[1]);
}
