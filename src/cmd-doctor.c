// SPDX-License-Identifier: MIT
/* xarch doctor [--json]: check this host, print the fix for each problem. */
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "xarch.h"
#include "xarch/doctor.h"

static void help(void)
{
	puts("usage: xarch doctor [--json]\n\n"
	     "Check what running foreign programs needs on this host: binfmt_misc and its\n"
	     "entries for riscv64, aarch64 and arm, qemu-user-static, user namespaces,\n"
	     "loop devices, subordinate ids and the tools later commands use.  Each problem\n"
	     "comes with the command that fixes it.  Doctor changes nothing.\n\n"
	     "Exit status: 0 when nothing blocks the common workflows (warnings allowed),\n"
	     "1 when a check FAILs.\n\n"
	     "  --json    an array of {id, level, summary, fix}\n"
	     "  -h, --help");
}

int cmd_doctor(int argc, char **argv)
{
	bool json;
	int rc = parse_query_opts(argc, argv, "doctor", help, &json);
	if (rc >= 0)
		return rc;
	if (optind < argc)
		return usage_error("doctor", "unexpected argument '%s'", argv[optind]);

	struct xarch_check *checks = NULL;
	size_t n = 0;
	int r = xarch_doctor_run(&checks, &n);
	if (r < 0)
		return die_err(NULL, r);

	size_t problems = 0, blocking = 0;
	for (size_t i = 0; i < n; i++) {
		problems += checks[i].level >= XARCH_CHECK_WARN;
		blocking += checks[i].level == XARCH_CHECK_FAIL;
	}

	if (json) {
		struct json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "id", json_object_new_string(checks[i].id));
			json_object_object_add(
			    o, "level",
			    json_object_new_string(xarch_check_level_name(checks[i].level)));
			json_object_object_add(o, "summary",
					       json_object_new_string(checks[i].summary));
			json_object_object_add(o, "fix", json_object_new_string(checks[i].fix));
			json_object_array_add(arr, o);
		}
		json_print(arr);
	} else {
		for (size_t i = 0; i < n; i++) {
			const struct xarch_check *k = &checks[i];
			printf("%-4s  %-26s %s\n", xarch_check_level_name(k->level), k->id,
			       k->summary);
			if (k->fix[0])
				printf("      fix: %s\n", k->fix);
		}
		if (!problems)
			printf("\nno problems found\n");
		else
			printf("\n%zu problem%s, %zu blocking\n", problems,
			       problems == 1 ? "" : "s", blocking);
	}
	free(checks);
	return blocking ? 1 : 0;
}
