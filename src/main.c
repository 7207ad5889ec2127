// SPDX-License-Identifier: MIT
/* xarch: run, build and boot foreign-architecture Linux systems. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xarch.h"

#ifndef XARCH_VERSION
#define XARCH_VERSION "0.1.0"
#endif

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct command commands[] = {
	{ "arch", cmd_arch, "list architectures and their names, ELF ids and binfmt rules" },
	{ "board", cmd_board, "build a board image: rootfs, board steps, genimage" },
	{ "build", cmd_build, "build a Dockerfile into a rootfs or image, no engine needed" },
	{ "binfmt", cmd_binfmt, "register qemu-user in binfmt_misc (host or private namespace)" },
	{ "boot", cmd_boot, "boot a disk image under qemu-system (serial console, --expect)" },
	{ "bootstrap", cmd_bootstrap, "create a target rootfs from a distribution mirror (deb, rpm)" },
	{ "doctor", cmd_doctor, "check this host and print the fix for each problem" },
	{ "exec", cmd_exec, "run a foreign binary through qemu-user with a sysroot" },
	{ "export", cmd_export, "write a rootfs directory as a tarball or a container image" },
	{ "genimage", cmd_genimage, "build disk images from a genimage.cfg" },
	{ "images", cmd_images, "list the local image store (--json)" },
	{ "inspect", cmd_inspect, "explain an ELF file: arch, ABI, interpreter, libraries" },
	{ "pull", cmd_pull, "unpack a rootfs tarball or an image into a new directory" },
	{ "push", cmd_push, "upload an OCI layout's image to a registry" },
	{ "rmi", cmd_rmi, "remove images from the local store" },
	{ "run", cmd_run, "run a foreign-arch root filesystem as a container" },
	{ "help", cmd_help, "show help for a command" },
	{ "version", cmd_version, "print the version" },
};

static void usage(FILE *f)
{
	fputs("usage: xarch [--version] [--help] COMMAND [ARGS]\n\n"
	      "Run, build and boot foreign-architecture Linux systems on this machine,\n"
	      "without a container engine.\n\ncommands:\n",
	      f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\n'xarch COMMAND --help' tells more about one command.\n", f);
}

/* Levenshtein distance, for "did you mean" (small strings only). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 32 || lb > 32)
		return 99;
	size_t d[33][33];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			size_t m = sub < del ? sub : del;
			d[i][j] = m < ins ? m : ins;
		}
	return d[la][lb];
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int unknown_command(const char *name)
{
	const struct command *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		size_t d = edit_distance(name, commands[i].name);
		if (d < best_d || (strncmp(name, commands[i].name, strlen(name)) == 0 && !best)) {
			best_d = d;
			best = &commands[i];
		}
	}
	fprintf(stderr, "xarch: '%s' is not an xarch command\n", name);
	if (best)
		fprintf(stderr, "did you mean 'xarch %s'?\n", best->name);
	else
		fprintf(stderr, "try 'xarch --help'\n");
	return EXIT_USAGE;
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	const struct command *c = find_command(argv[1]);
	if (!c)
		return unknown_command(argv[1]);
	char *args[] = { argv[1], "--help", NULL };
	return c->fn(2, args);
}

static int cmd_version(int argc, char **argv)
{
	printf("xarch %s\n", XARCH_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	/* Container-entrypoint mode: as PID 1 with no arguments (e.g.
	 * `docker run --rm --privileged IMAGE`), set up the host's
	 * binfmt_misc from the qemu binaries inside the image. */
	if (argc == 1 && getpid() == 1) {
		char *args[] = { "binfmt", "install", "--entrypoint", NULL };
		return cmd_binfmt(3, args);
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
		return cmd_version(0, NULL);
	if (name[0] == '-')
		return usage_error(NULL, "unknown option '%s'", name);
	const struct command *c = find_command(name);
	if (!c)
		return unknown_command(name);
	return c->fn(argc - 1, argv + 1);
}
