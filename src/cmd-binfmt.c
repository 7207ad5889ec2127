// SPDX-License-Identifier: MIT
/* xarch binfmt install|remove|status: qemu-user in binfmt_misc. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xarch.h"
#include "xarch/arch.h"
#include "xarch/binfmt.h"
#include "xarch/probe.h"
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

static void help_status(void)
{
	puts("usage: xarch binfmt status [--json]\n\n"
	     "List every binfmt_misc entry (xarch's and others'), the arches each one runs,\n"
	     "which entry runs each arch, and problems (missing or dynamic interpreter, no F\n"
	     "flag, -binfmt-P names without P).");
}

/* ---------------------------------------------------------------- status */

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'h')
			return help_status(), 0;
		else
			return usage_error("binfmt status", "bad option");
	}
	struct xarch_binfmt_table t;
	struct xarch_error err = {0};
	if (xarch_binfmt_table_read(NULL, &t, &err) < 0)
		return die_err(&err, -err.code);
	size_t na;
	const struct xarch_arch *arches = xarch_arch_table(&na);
	const struct xarch_arch *host = xarch_arch_host();
	struct json_object *root = json_object_new_object(), *ents = json_object_new_array();
	struct json_object *run = json_object_new_array();
	json_object_object_add(root, "dir", json_object_new_string(XARCH_BINFMT_DIR));
	json_object_object_add(root, "mounted", json_object_new_boolean(t.mounted));
	json_object_object_add(root, "enabled", json_object_new_boolean(t.enabled));
	if (!json) {
		if (!t.mounted)
			printf(
			    "binfmt_misc is not mounted on %s ('xarch binfmt install' mounts it)\n",
			    XARCH_BINFMT_DIR);
		else
			printf("binfmt_misc on %s: %s, %zu entries\n", XARCH_BINFMT_DIR,
			       t.enabled ? "enabled" : "DISABLED", t.n);
		if (t.n)
			printf("%-22s %-8s %-5s %-20s %s\n", "NAME", "STATE", "FLAGS", "ARCHES",
			       "INTERPRETER");
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct xarch_binfmt_rule *r = &t.rules[i];
		const struct xarch_arch *runs[8];
		size_t m = xarch_binfmt_rule_arches(r, runs, 8);
		char list[256] = "", probs[2048];
		for (size_t j = 0; j < m && j < 8; j++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 j ? "," : "", runs[j]->name);
		int np = xarch_binfmt_problems(r, probs, sizeof(probs));
		struct json_object *o = json_object_new_object(), *ja = json_object_new_array();
		struct json_object *jp = json_object_new_array();
		json_object_object_add(o, "name", json_object_new_string(r->name));
		json_object_object_add(
		    o, "xarch",
		    json_object_new_boolean(
			strncmp(r->name, XARCH_BINFMT_PREFIX, strlen(XARCH_BINFMT_PREFIX)) == 0));
		json_object_object_add(o, "enabled", json_object_new_boolean(r->enabled));
		json_object_object_add(o, "interpreter", json_object_new_string(r->interpreter));
		json_object_object_add(o, "flags", json_object_new_string(r->flags));
		for (size_t j = 0; j < m && j < 8; j++)
			json_object_array_add(ja, json_object_new_string(runs[j]->name));
		json_object_object_add(o, "arches", ja);
		if (!json)
			printf("%-22s %-8s %-5s %-20s %s\n", r->name,
			       r->enabled ? "enabled" : "disabled", r->flags[0] ? r->flags : "-",
			       m ? list : "-", r->interpreter);
		for (char *p = probs, *nl; np && p && *p; p = nl ? nl + 1 : NULL) {
			nl = strchr(p, '\n');
			if (nl)
				*nl = '\0';
			json_object_array_add(jp, json_object_new_string(p));
			if (!json)
				printf("    problem: %s\n", p);
		}
		json_object_object_add(o, "problems", jp);
		json_object_array_add(ents, o);
	}
	if (!json)
		printf("%srunnable:", t.n ? "\n" : "");
	for (size_t i = 0; i < na; i++) {
		const struct xarch_arch *a = &arches[i];
		const struct xarch_binfmt_rule *r = xarch_binfmt_table_runner(&t, a);
		/* the host's own family is tried: x86_64 kernels usually run i386 */
		bool native =
		    a == host || (host && !strcmp(a->family, host->family) &&
				  xarch_probe_available(a) && xarch_arch_runs_natively(a) == 1);
		if (!native && !r)
			continue;
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "arch", json_object_new_string(a->name));
		json_object_object_add(o, "native", json_object_new_boolean(native));
		json_object_object_add(o, "entry", json_str(native ? NULL : r->name));
		json_object_array_add(run, o);
		if (!json)
			printf(" %s (%s)", a->name, native ? "native" : r->name);
	}
	if (!json)
		putchar('\n');
	json_object_object_add(root, "entries", ents);
	json_object_object_add(root, "runnable", run);
	if (json)
		json_print(root);
	else
		json_object_put(root);
	xarch_binfmt_table_release(&t);
	return 0;
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

static int run_cmd(char **cmd)
{
	const char *shell = getenv("SHELL");
	char *dflt[] = {(char *)(shell && *shell ? shell : "/bin/sh"), NULL};
	if (!cmd || !cmd[0])
		cmd = dflt;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return die("cannot fork: %s", strerror(errno));
	if (pid == 0) {
		execvp(cmd[0], cmd);
		fprintf(stderr, "xarch: cannot run '%s': %s\n", cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* the terminal's signals reach the child; we only wait for it */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return die("waitpid: %s", strerror(errno));
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
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
	bool cred_all, persist, reset, userns, entrypoint;
	const char *cred_list, *root;
};

static int install_userns(const struct install_opts *io, char **arches, char **cmd)
{
	struct xarch_userns_opts uo = {
	    .arches = (const char *const *)arches,
	    .qemu_dir = io->io.qemu_dir,
	    .flags = io->io.flags,
	    .credential = io->cred_all || io->cred_list,
	    .credential_only = io->cred_list,
	    .copy_host = true,
	    .force = io->io.force,
	    .allow_dynamic = io->io.allow_dynamic,
	    .verify = io->io.verify,
	};
	struct xarch_userns_report rep;
	struct xarch_error err = {0};
	if (xarch_userns_enter_report(&uo, &rep, &err) < 0)
		return die_err(&err, -err.code);
	for (size_t i = 0; i < rep.n; i++)
		report(&rep.results[i], !(arches && arches[0]));
	if (rep.n_copied)
		fprintf(stderr, "xarch: copied %zu host entries into the private table\n",
			rep.n_copied);
	xarch_userns_report_release(&rep);
	return run_cmd(cmd);
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
	size_t n;
	const struct xarch_arch *t = xarch_arch_table(&n);
	bool explicit = arches && arches[0];
	size_t count = explicit ? 0 : n;
	if (explicit)
		while (arches[count])
			count++;
	int status = 0, ok = 0, native = 0;
	for (size_t i = 0; i < count; i++) {
		const struct xarch_arch *a = explicit ? xarch_arch_lookup(arches[i]) : &t[i];
		if (!a) {
			status =
			    die("unknown architecture '%s'; 'xarch arch' lists the known names",
				arches[i]);
			continue;
		}
		struct xarch_binfmt_install_opts o = io->io;
		char q[4096];
		if (!explicit && xarch_binfmt_find_qemu(a, o.qemu_dir, q, sizeof(q), NULL) < 0)
			continue;
		o.credential = io->cred_all || xarch_binfmt_list_has(io->cred_list, a);
		if (io->persist)
			o.link_dir = XARCH_BINFMT_PERSIST_LINK_DIR;
		struct xarch_binfmt_result res;
		memset(&err, 0, sizeof(err));
		rc = xarch_binfmt_install_arch(a, &o, &res, &err);
		if (rc < 0 || (explicit && res.outcome == XARCH_BINFMT_SKIP_NO_QEMU)) {
			status = die_err(&err, rc);
			continue;
		}
		native += res.outcome == XARCH_BINFMT_SKIP_NATIVE;
		report(&res, !explicit);
		if (res.outcome == XARCH_BINFMT_SKIP_CONFLICT)
			status = explicit ? 1 : status;
		if (res.outcome >= XARCH_BINFMT_SKIP_NATIVE)
			continue;
		ok++;
		if (res.outcome == XARCH_BINFMT_NOT_RUNNING || res.outcome == XARCH_BINFMT_P_BROKEN)
			status = 1;
		if (io->persist && xarch_binfmt_persist_write(io->root, &res.rule, &err) < 0)
			status = die_err(&err, -err.code);
	}
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
			if (optarg)
				io.cred_list = optarg;
			else
				io.cred_all = true;
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
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help"))
		return help(), 0;
	return usage_error("binfmt", "unknown binfmt command '%s' (install, remove, status)", sub);
}
