// SPDX-License-Identifier: MIT
/* xarch inspect [--json] [--sysroot DIR] FILE...: explain ELF files. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xarch.h"
#include "xarch/arch.h"
#include "xarch/binfmt.h"
#include "xarch/probe.h"
#include "xarch/elf.h"

static void help(void)
{
	puts("usage: xarch inspect [--json] [--sysroot DIR] FILE...\n\n"
	     "Tell what each ELF FILE is: architecture, class, byte order, type (EXEC,\n"
	     "DYN, PIE), ABI, interpreter, needed libraries, RPATH/RUNPATH, SONAME, and\n"
	     "whether this host runs it natively, through a binfmt_misc entry, or not\n"
	     "at all (with the command that fixes that).\n\n"
	     "  --sysroot DIR   also find the interpreter and every library (transitively)\n"
	     "                  inside DIR the way ld.so would; missing ones are reported\n"
	     "  --rootfs DIR    the same as --sysroot\n"
	     "  --json          machine-readable output (an array, one object per file)\n"
	     "  -h, --help\n\n"
	     "Exit status: 0 when every file parsed (and, with --sysroot, nothing is\n"
	     "missing), 1 otherwise.");
}

struct verdict {
	const char *runs; /* "native", "binfmt", "no" */
	const struct xarch_binfmt_rule *rule;
	char fix[512];
};

static const struct xarch_binfmt_table *binfmt_table(void)
{
	static struct xarch_binfmt_table t;
	static bool loaded;
	if (!loaded) {
		loaded = true;
		if (xarch_binfmt_table_read(NULL, &t, NULL) < 0)
			t = (struct xarch_binfmt_table){0};
	}
	return &t;
}

static void decide(const char *path, const struct xarch_elf_info *info, struct verdict *v)
{
	const struct xarch_arch *host = xarch_arch_host(), *a = info->arch;
	memset(v, 0, sizeof(*v));
	v->runs = "no";
	if (info->type != 2 && info->type != 3) {
		snprintf(v->fix, sizeof(v->fix), "a %s file is not a program",
			 xarch_elf_type_name(info));
		return;
	}
	if (!a) {
		snprintf(v->fix, sizeof(v->fix),
			 "xarch knows no architecture for e_machine %u (%d-bit %s-endian)",
			 info->machine, info->elf_class == 2 ? 64 : 32,
			 info->elf_data == 2 ? "big" : "little");
		return;
	}
	if (a == host) {
		v->runs = "native";
		return;
	}
	const struct xarch_binfmt_table *t = binfmt_table();
	const struct xarch_binfmt_rule *match = NULL, *disabled = NULL;
	for (size_t i = 0; i < t->n; i++) {
		if (!xarch_binfmt_matches(&t->rules[i], path, info->header, info->header_len))
			continue;
		if (t->rules[i].enabled && !match)
			match = &t->rules[i];
		else if (!t->rules[i].enabled && !disabled)
			disabled = &t->rules[i];
	}
	if (match && t->enabled) {
		v->runs = "binfmt";
		v->rule = match;
		return;
	}
	/* e.g. i386 on x86_64, arm on aarch64: decided by running a probe */
	int native = xarch_arch_runs_natively(a);
	if (native == 1) {
		v->runs = "native";
		return;
	}
	if (native < 0 && host && strcmp(a->family, host->family) == 0) {
		v->runs = "native";
		snprintf(v->fix, sizeof(v->fix),
			 "%s is in the host's CPU family: it runs natively if the CPU and kernel "
			 "support %s code",
			 a->name, a->name);
		return;
	}
	if (match)
		snprintf(v->fix, sizeof(v->fix),
			 "binfmt_misc entry '%s' would run it but binfmt_misc is disabled: run "
			 "'echo 1 > " XARCH_BINFMT_DIR "/status'",
			 match->name);
	else if (disabled)
		snprintf(v->fix, sizeof(v->fix),
			 "binfmt_misc entry '%s' matches but is disabled: run 'echo 1 "
			 "> " XARCH_BINFMT_DIR "/%s'",
			 disabled->name, disabled->name);
	else
		snprintf(v->fix, sizeof(v->fix),
			 "no binfmt_misc entry runs %s binaries: run 'xarch binfmt install %s' "
			 "(or 'xarch exec %s' to run it once)",
			 a->name, a->name, path);
}

/* The file's directory inside the sysroot, for $ORIGIN, if it lives there. */
static bool origin_in(const char *path, const char *sysroot, char *buf, size_t len)
{
	char rp[PATH_MAX], rr[PATH_MAX];
	if (!realpath(path, rp) || !realpath(sysroot, rr))
		return false;
	size_t n = strlen(rr);
	if (strcmp(rr, "/") == 0)
		n = 0;
	else if (strncmp(rp, rr, n) != 0 || rp[n] != '/')
		return false;
	char *slash = strrchr(rp + n, '/');
	if (slash == rp + n)
		slash++;
	*slash = '\0';
	snprintf(buf, len, "%s", rp + n);
	return true;
}

static void host_path(const char *sysroot, const char *p, char *buf, size_t len)
{
	size_t n = strlen(sysroot);
	while (n > 0 && sysroot[n - 1] == '/')
		n--;
	snprintf(buf, len, "%.*s%s", (int)n, sysroot, p);
}

static struct json_object *info_json(const char *path, const struct xarch_elf_info *i,
				     const struct verdict *v, const char *sysroot,
				     const struct xarch_deps *deps)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "class",
			       json_object_new_string(i->elf_class == 2 ? "ELF64" : "ELF32"));
	json_object_object_add(o, "endian",
			       json_object_new_string(i->elf_data == 2 ? "big" : "little"));
	json_object_object_add(o, "machine", json_object_new_int((int)i->machine));
	json_object_object_add(o, "arch", json_str(i->arch ? i->arch->name : NULL));
	json_object_object_add(o, "type", json_object_new_string(xarch_elf_type_name(i)));
	json_object_object_add(o, "pie", json_object_new_boolean(i->pie));
	json_object_object_add(o, "static", json_object_new_boolean(i->is_static));
	json_object_object_add(o, "interp", json_str(i->interp));
	struct json_object *needed = json_object_new_array();
	for (size_t k = 0; k < i->n_needed; k++)
		json_object_array_add(needed, json_object_new_string(i->needed[k]));
	json_object_object_add(o, "needed", needed);
	json_object_object_add(o, "rpath", json_str(i->rpath));
	json_object_object_add(o, "runpath", json_str(i->runpath));
	json_object_object_add(o, "soname", json_str(i->soname));
	json_object_object_add(o, "abi", json_object_new_string(i->abi));
	struct json_object *b = NULL;
	if (v->rule) {
		b = json_object_new_object();
		json_object_object_add(b, "entry", json_object_new_string(v->rule->name));
		json_object_object_add(b, "interpreter",
				       json_object_new_string(v->rule->interpreter));
		json_object_object_add(b, "flags", json_object_new_string(v->rule->flags));
	}
	json_object_object_add(o, "binfmt", b);
	json_object_object_add(o, "runs", json_object_new_string(v->runs));
	json_object_object_add(o, "fix", json_str(v->fix[0] ? v->fix : NULL));
	if (deps) {
		char hp[PATH_MAX + 4096];
		struct json_object *arr = json_object_new_array();
		for (size_t k = 0; k < deps->n; k++) {
			const struct xarch_dep *d = &deps->deps[k];
			struct json_object *e = json_object_new_object();
			json_object_object_add(e, "name", json_object_new_string(d->name));
			host_path(sysroot, d->path, hp, sizeof(hp));
			json_object_object_add(e, "path",
					       d->found ? json_object_new_string(hp) : NULL);
			json_object_object_add(e, "found", json_object_new_boolean(d->found));
			json_object_object_add(e, "interp", json_object_new_boolean(d->is_interp));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "deps", arr);
		json_object_object_add(o, "missing", json_object_new_int((int)deps->n_missing));
	}
	return o;
}

static void info_print(const char *path, const struct xarch_elf_info *i, const struct verdict *v,
		       const char *sysroot, const struct xarch_deps *deps)
{
	printf("%s\n", path);
	printf("  arch:      %s (ELF%d %s-endian, e_machine %u)\n",
	       i->arch ? i->arch->name : "unknown", i->elf_class == 2 ? 64 : 32,
	       i->elf_data == 2 ? "big" : "little", i->machine);
	printf("  type:      %s, %s\n", xarch_elf_type_name(i),
	       i->is_static ? "statically linked" : "dynamically linked");
	if (i->abi[0])
		printf("  abi:       %s\n", i->abi);
	if (i->interp)
		printf("  interp:    %s\n", i->interp);
	if (i->n_needed) {
		printf("  needed:   ");
		for (size_t k = 0; k < i->n_needed; k++)
			printf(" %s", i->needed[k]);
		putchar('\n');
	}
	if (i->rpath)
		printf("  rpath:     %s\n", i->rpath);
	if (i->runpath)
		printf("  runpath:   %s\n", i->runpath);
	if (i->soname)
		printf("  soname:    %s\n", i->soname);
	if (v->rule)
		printf("  runs:      through binfmt_misc entry '%s' (%s, flags %s)\n",
		       v->rule->name, v->rule->interpreter,
		       v->rule->flags[0] ? v->rule->flags : "none");
	else if (strcmp(v->runs, "native") == 0)
		printf("  runs:      natively on this host\n");
	else
		printf("  runs:      no\n");
	if (v->fix[0])
		printf("  %s       %s\n", strcmp(v->runs, "no") == 0 ? "fix:" : "note:", v->fix);
	if (!deps)
		return;
	if (deps->n == 0) {
		printf("  libraries: none (static)\n");
		return;
	}
	printf("  libraries in %s:\n", sysroot);
	char hp[PATH_MAX + 4096];
	for (size_t k = 0; k < deps->n; k++) {
		const struct xarch_dep *d = &deps->deps[k];
		host_path(sysroot, d->path, hp, sizeof(hp));
		printf("    %s => %s%s\n", d->name, d->found ? hp : "not found",
		       d->is_interp ? " (interpreter)" : "");
	}
	if (deps->n_missing)
		printf("  missing:   %zu of %zu (searched %s)\n", deps->n_missing, deps->n,
		       deps->search);
}

static int inspect_one(const char *path, const char *sysroot, struct json_object *arr, bool first)
{
	struct xarch_error err = {0};
	struct xarch_elf_info info;
	int r = xarch_elf_parse_file(path, &info, &err);
	if (r < 0) {
		die_err(&err, r);
		if (arr) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "path", json_object_new_string(path));
			json_object_object_add(o, "error", json_object_new_string(err.msg));
			json_object_array_add(arr, o);
		}
		return 1;
	}
	struct verdict v;
	decide(path, &info, &v);
	struct xarch_deps deps = {0};
	bool have_deps = false;
	int rc = 0;
	if (sysroot) {
		char origin[PATH_MAX];
		bool in = origin_in(path, sysroot, origin, sizeof(origin));
		r = xarch_elf_resolve_deps_origin(&info, in ? origin : NULL, sysroot, &deps, &err);
		if (r < 0) {
			die_err(&err, r);
			rc = 1;
		} else {
			have_deps = true;
		}
	}
	if (arr) {
		json_object_array_add(
		    arr, info_json(path, &info, &v, sysroot, have_deps ? &deps : NULL));
	} else {
		if (!first)
			putchar('\n');
		info_print(path, &info, &v, sysroot, have_deps ? &deps : NULL);
	}
	if (have_deps && deps.n_missing) {
		char names[1024] = "";
		size_t w = 0;
		for (size_t k = 0; k < deps.n && w < sizeof(names); k++)
			if (!deps.deps[k].found)
				w += (size_t)snprintf(names + w, sizeof(names) - w, "%s%s",
						      w ? ", " : "", deps.deps[k].name);
		die("'%s': %zu missing in '%s': %s", path, deps.n_missing, sysroot, names);
		rc = 1;
	}
	xarch_deps_release(&deps);
	xarch_elf_info_release(&info);
	return rc;
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"sysroot", required_argument, NULL, 's'},
	    {"rootfs", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool json = false;
	const char *sysroot = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			sysroot = optarg;
			break;
		case 'h':
			help();
			return 0;
		default:
			return usage_error("inspect", "bad option");
		}
	}
	if (optind == argc)
		return usage_error("inspect", "no FILE given");
	struct json_object *arr = json ? json_object_new_array() : NULL;
	int rc = 0;
	for (int i = optind; i < argc; i++)
		rc |= inspect_one(argv[i], sysroot, arr, i == optind);
	if (arr)
		json_print(arr);
	return rc;
}
