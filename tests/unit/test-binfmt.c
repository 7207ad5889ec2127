// SPDX-License-Identifier: MIT
/* binfmt_misc rules: register lines, live entries, matching, overlap,
 * flags, problems, persist files, probe programs and userns messages. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "xarch/arch.h"
#include "xarch/binfmt.h"
#include "xarch/probe.h"
#include "xarch/userns.h"

#define DEB_RISCV64                                                                                \
	":qemu-riscv64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"         \
	"\\x00\\x02\\x00\\xf3\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff"        \
	"\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/riscv64-"          \
	"binfmt-P:POCF"

static void test_parse_line(void)
{
	struct xarch_binfmt_rule r, r2;
	struct xarch_error err = {0};
	char buf[2048];

	CHECK_INT(xarch_binfmt_parse_line(DEB_RISCV64, &r, &err), 0, "parse Debian's riscv64");
	CHECK_STR(r.name, "qemu-riscv64", "name");
	CHECK(r.type == 'M' && r.offset == 0 && r.len == 20, "type M, offset 0, 20 bytes");
	CHECK(r.magic[18] == 0xf3 && r.mask[16] == 0xfe, "magic and mask bytes unescaped");
	CHECK_STR(r.flags, "POCF", "flags");
	CHECK_STR(r.interpreter, "/usr/libexec/qemu-binfmt/riscv64-binfmt-P", "interpreter");

	int n = xarch_binfmt_format_line(&r, buf, sizeof(buf));
	CHECK(n > 0, "format");
	CHECK_INT(xarch_binfmt_parse_line(buf, &r2, NULL), 0, "re-parse formatted line");
	CHECK(r2.len == r.len && !memcmp(r.magic, r2.magic, r.len) &&
		  !memcmp(r.mask, r2.mask, r.len) && !strcmp(r.flags, r2.flags) &&
		  !strcmp(r.interpreter, r2.interpreter),
	      "round trip keeps the rule");
	CHECK_INT(xarch_binfmt_format_line(&r, buf, 16), -ENOSPC, "short buffer gives -ENOSPC");

	/* Debian's older files use a literal "ELF" in the magic */
	CHECK_INT(xarch_binfmt_parse_line(":x:M::\\x7fELF\\x01::/bin/q:", &r, &err), 0,
		  "literal ELF in magic");
	CHECK(r.len == 5 && !memcmp(r.magic,
				    "\x7f"
				    "ELF\x01",
				    5),
	      "literal bytes kept");
	CHECK(r.mask[0] == 0xff && r.mask[4] == 0xff, "missing mask means all ones");
	CHECK_STR(r.flags, "", "no flags");
	/* one-digit escape, like the kernel's */
	CHECK_INT(xarch_binfmt_parse_line(":x:M::\\x7:\\xf:/q:", &r, NULL), 0, "one hex digit");
	CHECK(r.len == 1 && r.magic[0] == 7 && r.mask[0] == 0xf, "one-digit values");
	/* other delimiters and offsets */
	CHECK_INT(xarch_binfmt_parse_line("|y|M|4|AB||/q|F", &r, NULL), 0, "| delimiter");
	CHECK(r.offset == 4 && r.len == 2, "offset 4");
	CHECK_INT(xarch_binfmt_parse_line(":x:M::ab::/q", &r, NULL), 0, "six fields: no flags");

	CHECK_INT(xarch_binfmt_parse_line(":ext:E::exe::/usr/bin/wine:", &r, NULL), 0, "E type");
	CHECK_STR(r.extension, "exe", "extension");
	n = xarch_binfmt_format_line(&r, buf, sizeof(buf));
	CHECK(n > 0 && xarch_binfmt_parse_line(buf, &r2, NULL) == 0 && !strcmp(r2.extension, "exe"),
	      "E round trip");
	CHECK(xarch_binfmt_matches(&r, "/a/b/x.exe", NULL, 0), "extension matches");
	CHECK(!xarch_binfmt_matches(&r, "/a/b.exe/x", NULL, 0), "extension of dir only");

	static const struct {
		const char *line, *why;
	} bad[] = {
	    {"", "empty"},
	    {":x:M::ab", "too few fields"},
	    {":x:Q::ab::/q:", "bad type"},
	    {":x:M::ab::/q:Z", "unknown flag"},
	    {":x:M::ab::/q:POCFPOCFPOCFPOCF", "too many flags"},
	    {":x:M:1a:ab::/q:", "bad offset"},
	    {":x:M::::/q:", "empty magic"},
	    {":x:M::ab:\\xff:/q:", "mask length differs"},
	    {":x:M::ab:::", "no interpreter"},
	    {":register:M::ab::/q:", "name register"},
	    {":status:M::ab::/q:", "name status"},
	    {":../x:M::ab::/q:", "name with slash"},
	    {":..:M::ab::/q:", "name .."},
	    {":.:M::ab::/q:", "name ."},
	    {"::M::ab::/q:", "empty name"},
	    {":x:E::a/b::/q:", "extension with slash"},
	    {":x:M:250:abcdefghij::/q:", "offset + magic past 256"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		CHECK(xarch_binfmt_parse_line(bad[i].line, &r, &err) == -EINVAL && err.msg[0],
		      "rejects %s (%s)", bad[i].why, err.msg);
	}
	char longl[2000] = ":x:M::";
	for (int i = 0; i < 300; i++)
		strcat(longl, "\\x41");
	strcat(longl, "::/q:");
	CHECK_INT(xarch_binfmt_parse_line(longl, &r, NULL), -EINVAL, "too-long magic rejected");
}

static void test_parse_entry(void)
{
	struct xarch_binfmt_rule r;
	struct xarch_error err = {0};
	const char *text = "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: POCF\n"
			   "offset 0\nmagic 7f454c460201010000000000000000000200b700\n"
			   "mask ffffffffffffff00fffffffffffffffffeffffff\n";
	CHECK_INT(xarch_binfmt_parse_entry("qemu-aarch64", text, &r, &err), 0, "live entry");
	CHECK(r.enabled && r.type == 'M' && r.len == 20 && r.magic[18] == 0xb7, "fields");
	CHECK_STR(r.flags, "POCF", "flags from 'flags:' line");
	CHECK_STR(r.interpreter, "/usr/bin/qemu-aarch64-static", "interpreter");
	CHECK(xarch_binfmt_rule_arches(&r, (const struct xarch_arch *[4]){0}, 4) == 1,
	      "runs exactly one arch");

	CHECK_INT(xarch_binfmt_parse_entry("d",
					   "disabled\ninterpreter /q\nflags: \noffset 3\n"
					   "magic 4142\n",
					   &r, NULL),
		  0, "disabled entry, no mask");
	CHECK(!r.enabled && r.offset == 3 && r.mask[0] == 0xff && r.mask[1] == 0xff,
	      "disabled, offset 3, mask defaults to ff");
	CHECK_STR(r.flags, "", "empty flags");
	CHECK_INT(xarch_binfmt_parse_entry("e",
					   "enabled\ninterpreter /usr/bin/wine\nflags: \n"
					   "extension .exe\n",
					   &r, NULL),
		  0, "extension entry");
	CHECK(r.type == 'E' && !strcmp(r.extension, "exe"), "extension without dot");
	CHECK_INT(xarch_binfmt_parse_entry("x", "enabled\ninterpreter /q\n", &r, NULL), -EINVAL,
		  "no magic rejected");
	CHECK_INT(xarch_binfmt_parse_entry("x", "enabled\nmagic 4g\n", &r, NULL), -EINVAL,
		  "bad hex rejected");
	CHECK_INT(xarch_binfmt_parse_entry("x", "enabled\nmagic 414\n", &r, NULL), -EINVAL,
		  "odd hex rejected");
}

static void test_match_overlap(void)
{
	const struct xarch_arch *rv = xarch_arch_lookup("riscv64");
	const struct xarch_arch *a64 = xarch_arch_lookup("aarch64");
	struct xarch_binfmt_rule r, deb, other, off;
	uint8_t hdr[64];
	size_t hl = xarch_binfmt_arch_header(rv, hdr, sizeof(hdr));
	xarch_binfmt_rule_for_arch(rv, "/q", "F", &r);
	CHECK(xarch_binfmt_matches(&r, NULL, hdr, hl), "rule matches its arch header");
	CHECK(!xarch_binfmt_matches(&r, NULL, hdr, 19), "short header never matches");
	hdr[7] = 3; /* OS/ABI GNU */
	CHECK(xarch_binfmt_matches(&r, NULL, hdr, hl), "OS/ABI ignored");
	hdr[16] = 3; /* ET_DYN */
	CHECK(xarch_binfmt_matches(&r, NULL, hdr, hl), "PIE matches");
	hdr[16] = 1;
	CHECK(!xarch_binfmt_matches(&r, NULL, hdr, hl), "ET_REL does not match");

	CHECK_INT(xarch_binfmt_parse_line(":m:M:2:\\x41\\x42::/q:", &off, NULL), 0, "offset rule");
	const uint8_t h1[] = "xxAB", h2[] = "xAB";
	CHECK(xarch_binfmt_matches(&off, NULL, h1, 4), "offset 2 matches");
	CHECK(!xarch_binfmt_matches(&off, NULL, h2, 3), "shifted does not match");
	CHECK(!xarch_binfmt_matches(&off, NULL, h1, 3), "header shorter than offset+len");

	CHECK_INT(xarch_binfmt_parse_line(DEB_RISCV64, &deb, NULL), 0, "Debian rule");
	CHECK(xarch_binfmt_overlap(&r, &deb) && xarch_binfmt_overlap(&deb, &r),
	      "ours overlaps Debian's (both directions)");
	xarch_binfmt_rule_for_arch(a64, "/q", "F", &other);
	CHECK(!xarch_binfmt_overlap(&r, &other), "riscv64 and aarch64 do not overlap");
	struct xarch_binfmt_rule elf;
	CHECK_INT(xarch_binfmt_parse_line(":any:M::\\x7fELF::/q:", &elf, NULL), 0, "any-ELF rule");
	CHECK(xarch_binfmt_overlap(&elf, &r) && xarch_binfmt_overlap(&r, &elf),
	      "a wildcard ELF rule overlaps");
	CHECK(!xarch_binfmt_overlap(&off, &r), "offset rule disjoint from ELF magic");

	/* table: first enabled match, disabled entries ignored */
	struct xarch_binfmt_rule rules[2] = {deb, r};
	rules[0].enabled = false;
	struct xarch_binfmt_table t = {.mounted = true, .enabled = true, .n = 2, .rules = rules};
	const struct xarch_binfmt_rule *w = xarch_binfmt_table_runner(&t, rv);
	CHECK(w && !strcmp(w->name, "xarch-riscv64"), "disabled entry skipped by runner");
	CHECK(xarch_binfmt_table_runner(&t, a64) == NULL, "no runner for aarch64");
	t.enabled = false;
	CHECK(xarch_binfmt_table_runner(&t, rv) == NULL, "globally disabled table runs nothing");

	/* every row's synthetic header is run by exactly its own rule */
	size_t n;
	const struct xarch_arch *tab = xarch_arch_table(&n);
	int good = 0;
	for (size_t i = 0; i < n; i++) {
		struct xarch_binfmt_rule ri;
		const struct xarch_arch *got[4];
		xarch_binfmt_rule_for_arch(&tab[i], "/q", "", &ri);
		good += xarch_binfmt_rule_arches(&ri, got, 4) == 1 && got[0] == &tab[i];
	}
	CHECK_INT(good, n, "rule_arches maps each row's rule to that row only");
}

static void test_rule_for_arch(void)
{
	const struct xarch_arch *a = xarch_arch_lookup("arm64");
	struct xarch_binfmt_rule r;
	xarch_binfmt_rule_for_arch(a, "/x/aarch64-binfmt-P", "fcop", &r);
	CHECK_STR(r.name, "xarch-aarch64", "name xarch-<arch>");
	CHECK_STR(r.flags, "POCF", "flags normalised to POCF order, upper case");
	xarch_binfmt_rule_for_arch(a, "/q", "FFP", &r);
	CHECK_STR(r.flags, "PF", "duplicates dropped");
	xarch_binfmt_rule_for_arch(a, NULL, NULL, &r);
	CHECK(r.interpreter[0] == '\0' && r.flags[0] == '\0' && r.enabled, "NULLs tolerated");
	const struct xarch_arch *m = xarch_arch_lookup("mips");
	xarch_binfmt_rule_for_arch(m, "/q", "F", &r);
	CHECK(r.len == 40 && r.offset == 0, "mips rule reaches e_flags");

	CHECK(xarch_binfmt_name_ok("xarch-riscv64"), "good name");
	CHECK(!xarch_binfmt_name_ok("status") && !xarch_binfmt_name_ok("register") &&
		  !xarch_binfmt_name_ok("a/b") && !xarch_binfmt_name_ok("..") &&
		  !xarch_binfmt_name_ok(""),
	      "bad names refused");
	CHECK(xarch_binfmt_list_has("riscv64,arm64", a), "list by alias");
	CHECK(!xarch_binfmt_list_has("riscv64,arm", a), "list without it");
	CHECK(!xarch_binfmt_list_has(NULL, a), "NULL list");
}

static void flatten(char *s)
{
	for (; *s; s++)
		if (*s == '\n')
			*s = '|';
}

static void test_problems(void)
{
	struct xarch_binfmt_rule r;
	char buf[1024];
	const struct xarch_arch *rv = xarch_arch_lookup("riscv64");
	xarch_binfmt_rule_for_arch(rv, "/nonexistent/riscv64-binfmt-P", "O", &r);
	int n = xarch_binfmt_problems(&r, buf, sizeof(buf));
	flatten(buf);
	CHECK(n >= 3, "missing + no F + -binfmt-P without P: %d", n);
	CHECK(strstr(buf, "missing") && strstr(buf, "no F") && strstr(buf, "drops argv[0]"),
	      "problem texts (%s)", buf);
	xarch_binfmt_rule_for_arch(rv, "/nonexistent/qemu-riscv64-static", "POCF", &r);
	n = xarch_binfmt_problems(&r, buf, sizeof(buf));
	flatten(buf);
	CHECK(n >= 2 && strstr(buf, "not named *-binfmt-P") && strstr(buf, "C flag"),
	      "P without -binfmt-P name, C noted (%s)", buf);
	CHECK(strstr(buf, "F keeps it open") != NULL, "F entry with missing interpreter");
}

static void test_persist(void)
{
	char root[] = "/tmp/xarch-test-binfmt-XXXXXX", path[4096];
	if (!mkdtemp(root)) {
		SKIP("mkdtemp failed");
		return;
	}
	struct xarch_binfmt_rule r, back;
	struct xarch_error err = {0};
	xarch_binfmt_rule_for_arch(xarch_arch_lookup("riscv64"), "/q/riscv64-binfmt-P", "POF", &r);
	CHECK_INT(xarch_binfmt_persist_write(root, &r, &err), 0, "persist write (%s)", err.msg);
	snprintf(path, sizeof(path), "%s/etc/binfmt.d/xarch-riscv64.conf", root);
	FILE *f = fopen(path, "r");
	char line[2048] = "", l2[2048] = "";
	if (f) {
		if (!fgets(line, sizeof(line), f) || !fgets(l2, sizeof(l2), f))
			l2[0] = '\0';
		fclose(f);
	}
	CHECK(line[0] == '#', "comment first");
	l2[strcspn(l2, "\n")] = '\0';
	CHECK(xarch_binfmt_parse_line(l2, &back, NULL) == 0 && !strcmp(back.name, r.name) &&
		  !memcmp(back.magic, r.magic, r.len),
	      "file holds a parseable register line");
	CHECK_INT(xarch_binfmt_persist_remove(root, "xarch-riscv64", NULL), 0, "persist remove");
	CHECK_INT(xarch_binfmt_persist_remove(root, "xarch-riscv64", NULL), -ENOENT,
		  "again: ENOENT");
	CHECK_INT(xarch_binfmt_persist_remove(root, "../x", NULL), -EINVAL, "bad name refused");
	snprintf(path, sizeof(path), "%s/etc/binfmt.d", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/etc", root);
	rmdir(path);
	rmdir(root);
}

static void test_probe(void)
{
	size_t n;
	const struct xarch_arch *t = xarch_arch_table(&n);
	static const char *const want[] = {"x86_64",  "i386", "aarch64", "arm",
					   "riscv64", "mips", "ppc64le", "s390x"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(xarch_probe_available(xarch_arch_lookup(want[i])), "probe for %s", want[i]);
	CHECK(!xarch_probe_available(xarch_arch_lookup("cris")), "no probe for cris");
	uint8_t buf[256];
	CHECK_INT(xarch_probe_build(xarch_arch_lookup("cris"), buf, sizeof(buf)), -ENOTSUP,
		  "build without code: -ENOTSUP");
	CHECK_INT(xarch_probe_build(xarch_arch_lookup("riscv64"), buf, 64), -ENOSPC,
		  "short buffer: -ENOSPC");
	for (size_t i = 0; i < n; i++) {
		const struct xarch_arch *a = &t[i];
		if (!xarch_probe_available(a))
			continue;
		int len = xarch_probe_build(a, buf, sizeof(buf));
		CHECK(len > 52 && len < 200, "%s probe is %d bytes", a->name, len);
		if (len <= 52)
			continue;
		bool be = buf[5] == 2;
		unsigned mach = be ? (buf[18] << 8 | buf[19]) : (buf[19] << 8 | buf[18]);
		size_t fo = buf[4] == 2 ? 48 : 36;
		uint32_t fl = be ? (uint32_t)buf[fo] << 24 | buf[fo + 1] << 16 | buf[fo + 2] << 8 |
				       buf[fo + 3]
				 : (uint32_t)buf[fo + 3] << 24 | buf[fo + 2] << 16 |
				       buf[fo + 1] << 8 | buf[fo];
		CHECK(!memcmp(buf,
			      "\x7f"
			      "ELF",
			      4) &&
			  xarch_arch_from_elf(buf[4], buf[5], mach, fl) == a,
		      "%s probe header maps back to its row", a->name);
		struct xarch_binfmt_rule r;
		xarch_binfmt_rule_for_arch(a, "/q", "F", &r);
		CHECK(xarch_binfmt_matches(&r, NULL, buf, (size_t)len),
		      "%s probe is matched by xarch-%s", a->name, a->name);
		/* the PT_LOAD covers the file */
		size_t ph = buf[4] == 2 ? 64 : 52;
		CHECK(buf[ph + (be ? 3 : 0)] == 1, "%s: first phdr is PT_LOAD", a->name);
	}
	const struct xarch_arch *host = xarch_arch_host();
	if (host && xarch_probe_available(host)) {
		CHECK_INT(xarch_probe_run(host, 2, NULL), 3, "host probe exits with argc 3");
		CHECK_INT(xarch_probe_run(host, 0, NULL), 1, "host probe exits with argc 1");
		CHECK_INT(xarch_arch_runs_natively(host), 1, "host arch runs natively");
	}
}

static void test_userns_explain(void)
{
	struct xarch_error err = {0};
	CHECK_INT(xarch_userns_explain(XARCH_USERNS_MOUNT, EPERM, "6.1.0-18-amd64", &err), -EPERM,
		  "explain returns -errno");
	CHECK(strstr(err.msg, "this kernel (6.1) has no per-user-namespace binfmt_misc") &&
		  strstr(err.msg, "sudo xarch binfmt install"),
	      "old kernel message: %s", err.msg);
	xarch_userns_explain(XARCH_USERNS_MOUNT, EINVAL, "5.15.0", &err);
	CHECK(strstr(err.msg, "(5.15)") && strstr(err.msg, "needs >= 6.7"), "EINVAL too: %s",
	      err.msg);
	xarch_userns_explain(XARCH_USERNS_MOUNT, EPERM, "6.8.0", &err);
	CHECK(!strstr(err.msg, "needs >= 6.7") && strstr(err.msg, "refused"),
	      "new kernel says refused, not too old: %s", err.msg);
	xarch_userns_explain(XARCH_USERNS_UNSHARE, EPERM, "6.8.0", &err);
	CHECK(strstr(err.msg, "cannot create a user namespace") && strstr(err.msg, "fix:"),
	      "unshare EPERM: %s", err.msg);
	xarch_userns_explain(XARCH_USERNS_UNSHARE, EINVAL, NULL, &err);
	CHECK(strstr(err.msg, "multi-threaded") != NULL, "unshare EINVAL: %s", err.msg);
}

int main(void)
{
	test_parse_line();
	test_parse_entry();
	test_match_overlap();
	test_rule_for_arch();
	test_problems();
	test_persist();
	test_probe();
	test_userns_explain();
	return check_done();
}
