// SPDX-License-Identifier: MIT
/* xarch images [--json] and xarch rmi REF|DIGEST...: the local image store. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xarch.h"
#include "xarch/store.h"

static void images_help(void)
{
	puts("usage: xarch images [--json]\n\n"
	     "List the images of the local store: what 'xarch run SOURCE' pulled and\n"
	     "reuses.  The store is $XARCH_STORE, else /var/lib/xarch for root, else\n"
	     "$XDG_DATA_HOME/xarch (~/.local/share/xarch).\n\n"
	     "  --json    machine-readable output\n"
	     "  -h, --help");
}

static void rmi_help(void)
{
	puts("usage: xarch rmi REF|DIGEST...\n\n"
	     "Remove images from the local store, named by a source it was pulled from\n"
	     "(oci:DIR:TAG, ...), a digest, or at least 4 leading hex digits of one.");
}

static struct json_object *entry_json(const struct xarch_store_entry *e)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "digest", json_object_new_string(e->digest));
	json_object_object_add(o, "source", json_str(e->source[0] ? e->source : NULL));
	struct json_object *refs = json_object_new_array();
	for (size_t i = 0; i < e->n_refs; i++)
		json_object_array_add(refs, json_object_new_string(e->refs[i]));
	json_object_object_add(o, "refs", refs);
	json_object_object_add(o, "platform", json_str(e->platform[0] ? e->platform : NULL));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)e->size));
	json_object_object_add(o, "created", json_object_new_int64(e->created));
	json_object_object_add(o, "path", json_object_new_string(e->path));
	return o;
}

int cmd_images(int argc, char **argv)
{
	bool json;
	int rc = parse_query_opts(argc, argv, "images", images_help, &json);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return usage_error("images", "no operands expected");
	struct xarch_error err = {0};
	struct xarch_store_entry *v;
	size_t n;
	int r = xarch_store_list(NULL, &v, &n, &err);
	if (r < 0)
		return die_err(&err, r);
	if (json) {
		struct json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, entry_json(&v[i]));
		json_print(arr);
	} else {
		printf("%-14s %-16s %-10s %-17s %s\n", "DIGEST", "PLATFORM", "SIZE", "CREATED",
		       "REFS");
		for (size_t i = 0; i < n; i++) {
			char size[32], when[32] = "-";
			format_size(v[i].size, size, sizeof(size));
			time_t t = (time_t)v[i].created;
			struct tm tm;
			if (t && localtime_r(&t, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
			printf("%-14.12s %-16s %-10s %-17s", v[i].digest + 7,
			       v[i].platform[0] ? v[i].platform : "-", size, when);
			for (size_t k = 0; k < v[i].n_refs; k++)
				printf("%s%s", k ? ", " : " ", v[i].refs[k]);
			printf("%s\n", v[i].n_refs ? "" : " <none>");
		}
	}
	xarch_store_list_free(v, n);
	return 0;
}

int cmd_rmi(int argc, char **argv)
{
	bool json;
	int rc = parse_query_opts(argc, argv, "rmi", rmi_help, &json);
	if (rc >= 0)
		return rc;
	if (optind == argc)
		return usage_error("rmi", "name at least one image");
	rc = 0;
	for (int i = optind; i < argc; i++) {
		struct xarch_error err = {0};
		char digest[XARCH_DIGEST_LEN + 1];
		int r = xarch_store_remove(NULL, argv[i], digest, &err);
		if (r < 0)
			rc = die_err(&err, r);
		else
			printf("removed %s\n", digest);
	}
	return rc;
}
