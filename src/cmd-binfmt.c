// SPDX-License-Identifier: MIT
/* xarch binfmt install|remove|status: qemu-user in binfmt_misc. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xarch.h"
#include "xarch/arch.h"
#include "xarch/binfmt.h"
#include "xarch/exec.h"
#include "xarch/probe.h"
#include "xarch/spawn.h"
#include "xarch/userns.h"

static void help(void)
{
	puts("usage: xarch binfmt COMMAND [OPTIONS]\n\n"
	     "Register qemu-user in the kernel's binfmt_misc so foreign binaries run directly.\n\n"
	     "  install [ARCH...]     register qemu for ARCH (default: every arch with a qemu\n"
	     "                        that this host does not run natively)\n"
	     "  remove [ARCH...|--all]  remove xarch's entries\n"
	     "  status, list          every entry, which arches run, and problems\n\n"
	     "'xarch binfmt COMMAND --help' tells more.");
}

static void help_install(void)
{
	puts("usage: xarch binfmt install [OPTIONS] [ARCH...] [-- CMD [ARGS...]]\n\n"
	     "Register qemu-user-static as xarch-<arch> entries (flags POF by default), then\n"
	     "run a probe through each to verify the kernel and qemu handle argv correctly.\n"
	     "Entries of other names (distribution ones) that claim the same files are\n"
	     "reported and left alone.\n\n"
	     "  --qemu-dir DIR        look for qemu-<arch>-static in DIR instead of PATH\n"
	     "  --flags FLAGS         binfmt flags from P O C F (default POF)\n"
	     "  --credential[=ARCHS]  add C (setuid binaries in the rootfs run as their owner,\n"
	     "                        needed for sudo/su; a security trade-off) to all or ARCHS\n"
	     "  --force               register over conflicting entries and native arches\n"
	     "  --allow-dynamic       accept a dynamically linked qemu with F\n"
	     "  --reset               remove every xarch-* entry first\n"
	     "  --persist             also write /etc/binfmt.d/xarch-<arch>.conf (systemd-binfmt)\n"
	     "  --root DIR            prefix for --persist files\n"
	     "  --no-verify           do not run the probes\n"
	     "  --userns              private table in a new user namespace (Linux >= 6.7, no\n"
	     "                        root needed): register there, run CMD (default $SHELL),\n"
	     "                        exit with its status; the host table is untouched\n"
	     "  --entrypoint          container mode: mount, --reset, install all, summary\n"
	     "  -h, --help");
}

static void help_remove(void)
{
	puts("usage: xarch binfmt remove [--all] [--force] [--persist [--root DIR]] "
	     "[ARCH|NAME...]\n\n"
	     "Remove xarch-<ARCH> entries (--all: every xarch-* entry).  Entries of other\n"
	     "names are removed only with --force.  --persist also deletes the\n"
	     "/etc/binfmt.d/xarch-*.conf files.");
}

/* ---------------------------------------------------------------- remove */

static int remove_all_xarch(bool quiet)
{
	struct xarch_binfmt_table t;
	int rc = 0;
	if (xarch_binfmt_table_read(NULL, &t, NULL) < 0)
		return 1;
	for (size_t i = 0; i < t.n; i++) {
		struct xarch_error err = {0};
		if (strncmp(t.rules[i].name, XARCH_BINFMT_PREFIX, strlen(XARCH_BINFMT_PREFIX)))
			continue;
		if (xarch_binfmt_unregister(NULL, t.rules[i].name, &err) < 0)
			rc = die_err(&err, -err.code);
		else if (!quiet)
			printf("removed '%s'\n", t.rules[i].name);
	}
	xarch_binfmt_table_release(&t);
	return rc;
}

static int cmd_remove(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"all", no_argument, NULL, 'a'},	 {"force", no_argument, NULL, 'f'},
	    {"persist", no_argument, NULL, 'p'}, {"root", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},	 {0}};
	bool all = false, force = false, persist = false;
	const char *root = NULL;
	int c, rc = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'f':
			force = true;
			break;
		case 'p':
			persist = true;
			break;
		case 'r':
			root = optarg;
			break;
		case 'h':
			help_remove();
			return 0;
		default:
			return usage_error("binfmt remove", "bad option");
		}
	}
	if (!all && optind == argc)
		return usage_error("binfmt remove", "name an ARCH, or pass --all");
	if (all) {
		rc = remove_all_xarch(false);
		if (persist) {
			size_t n;
			const struct xarch_arch *t = xarch_arch_table(&n);
			for (size_t i = 0; i < n; i++) {
				char name[64];
				snprintf(name, sizeof(name), XARCH_BINFMT_PREFIX "%s", t[i].name);
				if (xarch_binfmt_persist_remove(root, name, NULL) == 0)
					printf("removed %s/etc/binfmt.d/%s.conf\n",
					       root ? root : "", name);
			}
		}
	}
	for (int i = optind; i < argc; i++) {
		char name[64];
		const struct xarch_arch *a = xarch_arch_lookup(argv[i]);
		struct xarch_error err = {0};
		snprintf(name, sizeof(name), "%s%s", a ? XARCH_BINFMT_PREFIX : "",
			 a ? a->name : argv[i]);
		if (!a && strncmp(name, XARCH_BINFMT_PREFIX, strlen(XARCH_BINFMT_PREFIX)) &&
		    !force) {
			rc =
			    die("'%s' is not an xarch entry; fix: pass --force to remove it anyway",
				argv[i]);
			continue;
		}
		int r = xarch_binfmt_unregister(NULL, name, &err);
		if (r == 0)
			printf("removed '%s'\n", name);
		else if (!(r == -ENOENT && persist))
			rc = die_err(&err, r);
		if (persist && xarch_binfmt_persist_remove(root, name, &err) == 0)
			printf("removed %s/etc/binfmt.d/%s.conf\n", root ? root : "", name);
	}
	return rc;
}

/* --------------------------------------------------------------- install */

/* CMD (default $SHELL) inside the private namespace; its status is ours. */
static int run_cmd(char **cmd)
{
	const char *shell = getenv("SHELL");
	const char *dflt[] = { shell && *shell ? shell : "/bin/sh", NULL };
	const char *const *argv = cmd && cmd[0] ? (const char *const *)cmd : dflt;
	struct xarch_error err = { 0 };
	int st;
	fflush(NULL); /* our report first, also when stdout is a pipe */
	int r = xarch_spawn_wait(argv, NULL, &st, &err);
	if (r < 0) /* the shell's convention: 127 not found, 126 not runnable */
		return die_err(&err, r), r == -ENOENT ? 127 : 126;
	return xarch_exit_code(st);
}

static void report(const struct xarch_binfmt_result *res, bool quiet)
{
	const struct xarch_binfmt_rule *r = &res->rule;
	switch (res->outcome) {
	case XARCH_BINFMT_SKIP_NATIVE:
	case XARCH_BINFMT_SKIP_NO_QEMU:
		if (!quiet)
			printf("%-12s %s\n", res->arch->name,
			       xarch_binfmt_outcome_str(res->outcome));
		return;
	case XARCH_BINFMT_FAILED:
		fprintf(stderr, "xarch: %s\n", res->error);
		return;
	case XARCH_BINFMT_SKIP_CONFLICT:
		warn("not registering '%s': entry '%s' already runs %s binaries; fix: 'xarch "
		     "binfmt install --force %s' registers ours anyway (it then wins)",
		     r->name, res->conflict, res->arch->name, res->arch->name);
		return;
	default:
		break;
	}
	printf("%-12s %s%s: %s [%s]\n", res->arch->name, xarch_binfmt_outcome_str(res->outcome),
	       res->replaced ? " (replaced)" : "", r->interpreter, r->flags);
	if (res->conflict[0])
		printf("%-12s note: '%s' also matches; '%s' wins (the kernel tries the newest "
		       "entry first)\n",
		       "", res->conflict, r->name);
	if (res->static_unknown)
		warn("could not tell whether '%s' is statically linked", res->qemu);
	if (res->outcome == XARCH_BINFMT_NOT_RUNNING)
		warn("the %s probe did not run through '%s' (%s%d); check 'xarch binfmt status'",
		     res->arch->name, r->name, res->probe_status < 0 ? "error " : "exit ",
		     res->probe_status < 0 ? -res->probe_status : res->probe_status);
	if (res->outcome == XARCH_BINFMT_P_BROKEN)
		warn("%s saw %d arguments instead of 3: the emulator mishandles argv with flags "
		     "'%s'; fix: use a qemu named *-binfmt-P, or --flags without P",
		     res->arch->name, res->probe_status, r->flags);
}

struct install_opts {
	struct xarch_binfmt_install_opts io;
	bool persist, reset, userns, entrypoint;
	const char *root;
};

/* Report every result; 1 when something the user asked for failed. */
static int report_all(const struct xarch_binfmt_result *res, size_t n, bool explicit)
{
	int status = 0;
	for (size_t i = 0; i < n; i++) {
		enum xarch_binfmt_outcome oc = res[i].outcome;
		report(&res[i], !explicit);
		if (oc == XARCH_BINFMT_FAILED || oc == XARCH_BINFMT_NOT_RUNNING ||
		    oc == XARCH_BINFMT_P_BROKEN || (explicit && oc == XARCH_BINFMT_SKIP_CONFLICT))
			status = 1;
	}
	return status;
}

static int install_userns(const struct install_opts *io, char **arches, char **cmd)
{
	struct xarch_userns_opts uo = {
		.arches = (const char *const *)arches,
		.qemu_dir = io->io.qemu_dir,
		.flags = io->io.flags,
		.credential = io->io.credential,
		.credential_only = io->io.credential_only,
		.copy_host = true,
		.force = io->io.force,
		.allow_dynamic = io->io.allow_dynamic,
		.verify = io->io.verify,
	};
	struct xarch_userns_report rep;
	struct xarch_error err = { 0 };
	if (xarch_userns_enter_report(&uo, &rep, &err) < 0)
		return die_err(&err, -err.code);
	int status = report_all(rep.results, rep.n, arches && arches[0]);
	if (rep.n_copied)
		fprintf(stderr, "xarch: copied %zu host entries into the private table\n",
			rep.n_copied);
	xarch_userns_report_release(&rep);
	return status ? status : run_cmd(cmd);
}

static int install(const struct install_opts *io, char **arches)
{
	struct xarch_error err = {0};
	int rc = xarch_binfmt_mount(NULL, &err);
	if (rc < 0)
		return die_err(&err, rc);
	if (rc == 1)
		printf("mounted binfmt_misc on %s\n", XARCH_BINFMT_DIR);
	/* entries belong to the binfmt_misc superblock: when the last mount
	 * of it goes (this container's mount namespace), they go too */
	if (rc == 1 && io->entrypoint)
		warn("binfmt_misc was not mounted here: if the host has no mount of it either, "
		     "the entries vanish when this container exits; fix: mount it on the host "
		     "(systemd's proc-sys-fs-binfmt_misc.automount does)");
	if (io->reset && remove_all_xarch(!io->entrypoint))
		return 1;
	bool explicit = arches && arches[0];
	const struct xarch_arch **list = NULL;
	struct xarch_binfmt_result *res = NULL;
	size_t n;
	struct xarch_binfmt_install_opts o = io->io;
	if (io->persist)
		o.link_dir = XARCH_BINFMT_PERSIST_LINK_DIR;
	if (xarch_binfmt_pick_arches((const char *const *)arches, o.qemu_dir, &list, &n, &err) < 0 ||
	    xarch_binfmt_install_list(list, n, explicit, &o, &res, &err) < 0) {
		free(list);
		return die_err(&err, -err.code);
	}
	int status = report_all(res, n, explicit), ok = 0, native = 0;
	for (size_t i = 0; i < n; i++) {
		native += res[i].outcome == XARCH_BINFMT_SKIP_NATIVE;
		if (res[i].outcome >= XARCH_BINFMT_SKIP_NATIVE)
			continue;
		ok++;
		if (io->persist && xarch_binfmt_persist_write(io->root, &res[i].rule, &err) < 0)
			status = die_err(&err, -err.code);
	}
	free(res);
	free(list);
	if (!explicit)
		printf("%d architectures registered, %d run natively\n", ok, native);
	if (!explicit && ok == 0 && !io->entrypoint)
		warn("no qemu-*-static found in %s; fix: apt install qemu-user-static",
		     io->io.qemu_dir ? io->io.qemu_dir : "PATH");
	return status;
}

static int cmd_install(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"qemu-dir", required_argument, NULL, 'q'},
	    {"flags", required_argument, NULL, 'F'},
	    {"credential", optional_argument, NULL, 'C'},
	    {"force", no_argument, NULL, 'f'},
	    {"allow-dynamic", no_argument, NULL, 'd'},
	    {"reset", no_argument, NULL, 'R'},
	    {"persist", no_argument, NULL, 'p'},
	    {"root", required_argument, NULL, 'r'},
	    {"no-verify", no_argument, NULL, 'n'},
	    {"userns", no_argument, NULL, 'u'},
	    {"entrypoint", no_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct install_opts io = {.io.verify = true};
	char **cmd = NULL;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			cmd = argv + i + 1;
			argv[i] = NULL;
			argc = i;
			break;
		}
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			io.io.qemu_dir = optarg;
			break;
		case 'F':
			io.io.flags = optarg;
			break;
		case 'C':
			io.io.credential = true;
			io.io.credential_only = optarg;
			break;
		case 'f':
			io.io.force = true;
			break;
		case 'd':
			io.io.allow_dynamic = true;
			break;
		case 'R':
			io.reset = true;
			break;
		case 'p':
			io.persist = true;
			break;
		case 'r':
			io.root = optarg;
			break;
		case 'n':
			io.io.verify = false;
			break;
		case 'u':
			io.userns = true;
			break;
		case 'e':
			io.entrypoint = io.reset = true;
			break;
		case 'h':
			help_install();
			return 0;
		default:
			return usage_error("binfmt install", "bad option");
		}
	}
	if (io.io.flags && strspn(io.io.flags, "POCFpocf") != strlen(io.io.flags))
		return usage_error("binfmt install", "bad --flags '%s': use letters from P O C F",
				   io.io.flags);
	if (cmd && !io.userns)
		return usage_error("binfmt install", "'-- CMD' needs --userns");
	if (io.userns && (io.persist || io.entrypoint))
		return usage_error("binfmt install", "--userns cannot be combined with --persist "
						     "or --entrypoint");
	if (io.entrypoint && optind < argc)
		return usage_error("binfmt install", "--entrypoint installs every arch found");
	char **arches = argv + optind;
	argv[argc] = NULL; /* arches end at the "--" we cut */
	if (io.userns)
		return install_userns(&io, arches, cmd);
	if (io.entrypoint)
		printf("xarch: container entrypoint: registering the image's qemu in the host's "
		       "binfmt_misc\n");
	return install(&io, arches);
}

int cmd_binfmt(int argc, char **argv)
{
	if (argc < 2)
		return help(), EXIT_USAGE;
	const char *sub = argv[1];
	optind = 0;
	if (!strcmp(sub, "install"))
		return cmd_install(argc - 1, argv + 1);
	if (!strcmp(sub, "remove") || !strcmp(sub, "uninstall"))
		return cmd_remove(argc - 1, argv + 1);
	if (!strcmp(sub, "status") || !strcmp(sub, "list"))
		return cmd_binfmt_status(argc - 1, argv + 1);
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help"))
		return help(), 0;
	return usage_error("binfmt", "unknown binfmt command '%s' (install, remove, status)", sub);
}
