// SPDX-License-Identifier: MIT
/* xarch arch [--json] [NAME...]: the architecture table. */
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "xarch.h"
#include "xarch/arch.h"
#include "xarch/binfmt.h"

static void help(void)
{
	puts("usage: xarch arch [--json] [NAME...]\n\n"
	     "List the architectures xarch knows, or look NAME up by any of its names\n"
	     "(uname -m, Debian, RPM, OCI platform such as linux/arm64/v8).\n\n"
	     "  --json    machine-readable output\n"
	     "  -h, --help");
}

static struct json_object *arch_json(const struct xarch_arch *a)
{
	char buf[1024];
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(a->name));
	json_object_object_add(o, "uname", json_str(a->uname));
	json_object_object_add(o, "debian", json_str(a->debian));
	json_object_object_add(o, "rpm", json_str(a->rpm));
	json_object_object_add(o, "oci_platform",
			       json_object_new_string(xarch_arch_platform(a, buf, sizeof(buf))));
	struct json_object *al = json_object_new_array();
	for (const char *const *p = a->aliases; p && *p; p++)
		json_object_array_add(al, json_object_new_string(*p));
	json_object_object_add(o, "aliases", al);
	json_object_object_add(o, "family", json_str(a->family));
	json_object_object_add(o, "triplet", json_str(a->triplet));
	json_object_object_add(o, "elf_class", json_object_new_int(a->elf_class == 2 ? 64 : 32));
	json_object_object_add(o, "endian",
			       json_object_new_string(a->elf_data == 2 ? "big" : "little"));
	json_object_object_add(o, "machine", json_object_new_int(a->machine));
	json_object_object_add(o, "qemu",
			       json_object_new_string(xarch_arch_qemu_static(a, buf, sizeof(buf))));
	struct xarch_binfmt_rule r;
	xarch_binfmt_rule_for_arch(a, "", "", &r);
	if (xarch_binfmt_format_line(&r, buf, sizeof(buf)) > 0)
		json_object_object_add(o, "binfmt", json_object_new_string(buf));
	json_object_object_add(o, "differs_from_qemu", json_object_new_boolean(a->fixed_magic));
	return o;
}

static void arch_print(const struct xarch_arch *a, bool verbose)
{
	char plat[64], qemu[64];
	if (!verbose) {
		printf("%-12s %-12s %-10s %-10s %-20s %s\n", a->name, a->uname ? a->uname : "-",
		       a->debian ? a->debian : "-", a->rpm ? a->rpm : "-",
		       xarch_arch_platform(a, plat, sizeof(plat)),
		       a->elf_data == 2 ? "big-endian" : "little-endian");
		return;
	}
	printf("name:      %s\nuname:     %s\ndebian:    %s\nrpm:       %s\nplatform:  %s\n",
	       a->name, a->uname ? a->uname : "-", a->debian ? a->debian : "-",
	       a->rpm ? a->rpm : "-", xarch_arch_platform(a, plat, sizeof(plat)));
	printf("aliases:  ");
	for (const char *const *p = a->aliases; p && *p; p++)
		printf(" %s", *p);
	printf("\nelf:       %d-bit %s-endian, e_machine %u", a->elf_class == 2 ? 64 : 32,
	       a->elf_data == 2 ? "big" : "little", a->machine);
	if (a->alt_machine)
		printf(" (also legacy %#x)", a->alt_machine);
	printf("\nfamily:    %s\ntriplet:   %s\nqemu:      %s\n", a->family,
	       a->triplet ? a->triplet : "-", xarch_arch_qemu_static(a, qemu, sizeof(qemu)));
	struct xarch_binfmt_rule r;
	char line[1024];
	xarch_binfmt_rule_for_arch(a, "INTERPRETER", "FPO", &r);
	if (xarch_binfmt_format_line(&r, line, sizeof(line)) > 0)
		printf("binfmt:    %s\n", line);
	if (a->fixed_magic)
		printf("note:      magic corrected against QEMU's table (see README)\n");
}

int cmd_arch(int argc, char **argv)
{
	bool json;
	int rc = parse_query_opts(argc, argv, "arch", help, &json);
	if (rc >= 0)
		return rc;
	size_t n;
	const struct xarch_arch *table = xarch_arch_table(&n);
	struct json_object *arr = json ? json_object_new_array() : NULL;
	rc = 0;
	if (optind == argc) {
		if (!json)
			printf("%-12s %-12s %-10s %-10s %-20s %s\n", "NAME", "UNAME", "DEBIAN", "RPM",
			       "PLATFORM", "ENDIAN");
		for (size_t i = 0; i < n; i++) {
			if (json)
				json_object_array_add(arr, arch_json(&table[i]));
			else
				arch_print(&table[i], false);
		}
	}
	for (int i = optind; i < argc; i++) {
		const struct xarch_arch *a = xarch_arch_lookup(argv[i]);
		if (!a) {
			die("unknown architecture '%s'; 'xarch arch' lists the known names", argv[i]);
			rc = 1;
			continue;
		}
		if (json)
			json_object_array_add(arr, arch_json(a));
		else
			arch_print(a, true);
	}
	if (json)
		json_print(arr);
	return rc;
}
