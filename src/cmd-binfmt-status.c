// SPDX-License-Identifier: MIT
/* xarch binfmt status|list: every entry, who runs which arch, problems. */
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "xarch.h"
#include "xarch/arch.h"
#include "xarch/binfmt.h"
#include "xarch/probe.h"

static void help_status(void)
{
	puts("usage: xarch binfmt status [--json]\n\n"
	     "List every binfmt_misc entry (xarch's and others'), the arches each one runs,\n"
	     "which entry runs each arch, and problems (missing or dynamic interpreter, no F\n"
	     "flag, -binfmt-P names without P).");
}

/* ---------------------------------------------------------------- status */

int cmd_binfmt_status(int argc, char **argv)
{
	bool json;
	int rc = parse_query_opts(argc, argv, "binfmt status", help_status, &json);
	if (rc >= 0)
		return rc;
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
		/* decided by trying: x86_64 kernels usually run i386 */
		bool native = a == host || (host && !strcmp(a->family, host->family) &&
					    xarch_arch_runs_natively(a) == 1);
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
