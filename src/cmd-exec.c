// SPDX-License-Identifier: MIT
/* xarch exec [OPTIONS] PROG [ARGS]: run one foreign binary through qemu-user. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "xarch.h"
#include "xarch/exec.h"
#include "xarch/spawn.h"

static void help(void)
{
	puts("usage: xarch exec [--sysroot DIR] [--qemu-dir DIR] [--arch ARCH] [-v] PROG "
	     "[ARGS...]\n\n"
	     "Run a foreign-architecture Linux program on this machine through qemu-user,\n"
	     "without binfmt_misc.  The arch comes from PROG's ELF header; a dynamically\n"
	     "linked PROG needs a sysroot with its interpreter and libraries, looked for in\n"
	     "$QEMU_LD_PREFIX, /usr/<triplet> (Debian's libc6-<arch>-cross),\n"
	     "/usr/gnemul/qemu-<arch> and /etc/qemu-binfmt/<arch>.  Programs for this\n"
	     "host's arch run natively.  The exit status is PROG's (128+N when signal N\n"
	     "killed it); signals sent to xarch are passed on.\n\n"
	     "  --sysroot DIR    the root of a system for PROG's arch (qemu -L)\n"
	     "  --qemu-dir DIR   take qemu-<arch>[-static] from DIR instead of PATH\n"
	     "  --arch ARCH      emulate ARCH whatever the ELF header says\n"
	     "  -v, --verbose    print the command run (quoted) to stderr\n"
	     "  -h, --help\n\n"
	     "Options stop at PROG: 'xarch exec ./ls -l' passes -l to ls.");
}

int cmd_exec(int argc, char **argv)
{
	/* clang-format off */
	static const struct option opts[] = {
		{ "sysroot", required_argument, NULL, 's' },
		{ "qemu-dir", required_argument, NULL, 'q' },
		{ "arch", required_argument, NULL, 'a' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* clang-format on */
	struct xarch_exec_opts o = {0};
	bool verbose = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.sysroot = optarg;
			break;
		case 'q':
			o.qemu_dir = optarg;
			break;
		case 'a':
			o.arch = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			return usage_error("exec", "bad option");
		}
	}
	if (optind >= argc)
		return usage_error("exec", "no program given");
	if (o.sysroot && !*o.sysroot)
		return usage_error("exec", "--sysroot needs a directory");
	o.argv = (const char *const *)argv + optind;

	struct xarch_error err = {0};
	struct xarch_exec_plan *plan = malloc(sizeof(*plan));
	if (!plan)
		return die("out of memory");
	int r = xarch_exec_plan(&o, plan, &err);
	if (r < 0) {
		free(plan);
		return die_err(&err, r);
	}
	if (verbose) {
		char line[8192];
		if (plan->native)
			fprintf(stderr, "xarch: %s program, native\n", plan->arch->name);
		else
			fprintf(stderr, "xarch: %s %s program, sysroot %s%s%s\n", plan->arch->name,
				plan->is_static ? "static" : "dynamic",
				plan->sysroot.dir[0] ? plan->sysroot.dir : "none",
				plan->sysroot_auto ? " (found)" : "",
				plan->sysroot.loader[0] ? ", interpreter run explicitly" : "");
		fprintf(stderr, "+ %s\n", xarch_argv_quote(plan->argv, line, sizeof(line)));
	}
	int st = 0;
	r = xarch_spawn_wait(plan->argv, NULL, &st, &err);
	xarch_exec_plan_release(plan);
	free(plan);
	if (r < 0)
		return die_err(&err, r);
	return xarch_exit_code(st);
}
