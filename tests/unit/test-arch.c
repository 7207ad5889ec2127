// SPDX-License-Identifier: MIT
/* The architecture table: lookups, ELF mapping, and QEMU's binfmt.d as oracle. */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "xarch/arch.h"
#include "xarch/binfmt.h"

static const char *const required[] = {
	"i386", "x86_64", "aarch64", "aarch64_be", "arm", "armeb", "riscv32", "riscv64",
	"loongarch64", "ppc", "ppc64", "ppc64le", "s390x", "mips", "mipsel", "mips64",
	"mips64el", "mipsn32", "mipsn32el", "sparc", "sparc32plus", "sparc64", "m68k", "sh4",
	"sh4eb", "alpha", "hppa", "microblaze", "microblazeel", "or1k", "xtensa", "xtensaeb",
	"hexagon", "cris",
};

static const struct {
	const char *alias, *want;
} aliases[] = {
	{ "arm64", "aarch64" },	     { "linux/arm64/v8", "aarch64" }, { "linux/arm64", "aarch64" },
	{ "arm64/v8", "aarch64" },   { "armhf", "arm" },		{ "armel", "arm" },
	{ "linux/arm/v7", "arm" },   { "armv7l", "arm" },		{ "armv7hl", "arm" },
	{ "amd64", "x86_64" },	     { "linux/amd64", "x86_64" },	{ "i686", "i386" },
	{ "linux/386", "i386" },     { "ppc64el", "ppc64le" },	{ "linux/ppc64le", "ppc64le" },
	{ "loong64", "loongarch64" }, { "linux/loong64", "loongarch64" },
	{ "linux/riscv64", "riscv64" }, { "riscv64", "riscv64" }, { "mips64el", "mips64el" },
	{ "linux/mips64le", "mips64el" }, { "mipsle", "mipsel" },	{ "powerpc", "ppc" },
	{ "parisc", "hppa" },	     { "linux/s390x", "s390x" },	{ "openrisc", "or1k" },
	{ "sparcv9", "sparc32plus" }, { "x86_64", "x86_64" },
};

static void synth_header(const struct xarch_arch *a, unsigned type, unsigned osabi,
			 uint32_t eflags, uint8_t *h, size_t *len)
{
	memset(h, 0, 64);
	memcpy(h, "\x7f" "ELF", 4);
	h[4] = a->elf_class;
	h[5] = a->elf_data;
	h[6] = 1;
	h[7] = (uint8_t)osabi;
	bool be = a->elf_data == 2;
	uint8_t t[2] = { be ? 0 : type, be ? type : 0 };
	uint8_t m[2] = { be ? a->machine >> 8 : a->machine & 0xff,
			 be ? a->machine & 0xff : a->machine >> 8 };
	memcpy(h + 16, t, 2);
	memcpy(h + 18, m, 2);
	size_t fo = a->elf_class == 2 ? 48 : 36; /* e_flags */
	for (int i = 0; i < 4; i++)
		h[fo + i] = be ? (eflags >> (24 - 8 * i)) & 0xff : (eflags >> (8 * i)) & 0xff;
	*len = 64;
}

static void test_rows(void)
{
	size_t n;
	const struct xarch_arch *t = xarch_arch_table(&n);
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		const struct xarch_arch *a = xarch_arch_lookup(required[i]);
		CHECK(a && strcmp(a->name, required[i]) == 0, "row for %s", required[i]);
	}
	for (size_t i = 0; i < n; i++) {
		const struct xarch_arch *a = &t[i];
		CHECK(a->magic_len >= 20 && a->magic_len <= XARCH_MAGIC_MAX, "%s: magic length %u",
		      a->name, a->magic_len);
		CHECK(a->magic[4] == a->elf_class && a->magic[5] == a->elf_data,
		      "%s: magic class/data agree with the row", a->name);

		struct xarch_binfmt_rule r;
		xarch_binfmt_rule_for_arch(a, "/x", "F", &r);
		uint8_t h[64];
		size_t hl;
		/* EXEC, DYN (PIE), OS/ABI 0 and 3 (static glibc) all match */
		const unsigned types[] = { 2, 3 }, osabis[] = { 0, 3 };
		for (int ti = 0; ti < 2; ti++)
			for (int oi = 0; oi < 2; oi++) {
				synth_header(a, types[ti], osabis[oi], a->eflags_value, h, &hl);
				CHECK(xarch_binfmt_matches(&r, NULL, h, hl),
				      "%s: binfmt rule matches e_type %u osabi %u", a->name,
				      types[ti], osabis[oi]);
				CHECK(xarch_arch_from_elf(a->elf_class, a->elf_data, a->machine,
							  a->eflags_value) == a,
				      "%s: ELF ids map back to the row", a->name);
			}
		/* relocatable objects and core files do not */
		synth_header(a, 1, 0, a->eflags_value, h, &hl);
		CHECK(!xarch_binfmt_matches(&r, NULL, h, hl), "%s: ET_REL does not match", a->name);
		/* no other row's rule claims this header, except QEMU's deliberately
		 * loose pairs where upstream shares one rule (none today) */
		synth_header(a, 2, 0, a->eflags_value, h, &hl);
		for (size_t j = 0; j < n; j++) {
			if (j == i)
				continue;
			struct xarch_binfmt_rule o;
			xarch_binfmt_rule_for_arch(&t[j], "/x", "F", &o);
			if (xarch_binfmt_matches(&o, NULL, h, hl))
				CHECK(false, "%s's header is also matched by %s", a->name, t[j].name);
		}
	}
	/* MIPS o32 vs n32 by EF_MIPS_ABI2 */
	CHECK_STR(xarch_arch_from_elf(1, 2, 8, 0x20)->name, "mipsn32", "mips n32 by ABI2 bit");
	CHECK_STR(xarch_arch_from_elf(1, 2, 8, 0x70001007)->name, "mips", "mips o32 flags");
	CHECK_STR(xarch_arch_from_elf(1, 1, 8, 0x20)->name, "mipsn32el", "mipsel n32");
	CHECK_STR(xarch_arch_from_elf(1, 2, 0xbaab, 0)->name, "microblaze", "legacy microblaze");
	CHECK_STR(xarch_arch_from_elf(1, 1, 189, 0)->name, "microblazeel", "microblazeel 189");
	CHECK(xarch_arch_from_elf(2, 1, 9999, 0) == NULL, "unknown machine gives NULL");
}

static void test_aliases(void)
{
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		const struct xarch_arch *a = xarch_arch_lookup(aliases[i].alias);
		CHECK_STR(a ? a->name : NULL, aliases[i].want, "alias %s", aliases[i].alias);
	}
	CHECK(xarch_arch_lookup("vax") == NULL, "unknown name gives NULL");
	CHECK(xarch_arch_lookup("") == NULL, "empty name gives NULL");
	CHECK(xarch_arch_lookup("linux/arm64/v7") == NULL, "wrong variant is not arm64");
	char buf[64];
	CHECK_STR(xarch_arch_platform(xarch_arch_lookup("arm64"), buf, sizeof(buf)),
		  "linux/arm64/v8", "platform of arm64");
	CHECK_STR(xarch_arch_platform(xarch_arch_lookup("riscv64"), buf, sizeof(buf)),
		  "linux/riscv64", "platform of riscv64");
	CHECK(xarch_arch_host() != NULL, "host arch is in the table");
}

/* Debian's qemu-user-static binfmt.d files are QEMU's table: every entry
 * must equal our row, except rows we fixed on purpose. */
static void test_debian_oracle(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		SKIP("%s missing: install qemu-user-static to compare with QEMU's table", dir);
		return;
	}
	int seen = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "qemu-", 5) != 0)
			continue;
		char path[4096], line[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		bool got = fgets(line, sizeof(line), f) != NULL;
		fclose(f);
		if (!got)
			continue;
		line[strcspn(line, "\n")] = '\0';
		struct xarch_binfmt_rule r;
		struct xarch_error err = { 0 };
		int rc = xarch_binfmt_parse_line(line, &r, &err);
		CHECK(rc == 0, "parse %s (%s)", e->d_name, err.msg);
		if (rc < 0)
			continue;
		const struct xarch_arch *a = xarch_arch_lookup(r.name + 5);
		CHECK(a != NULL, "%s has a row", r.name);
		if (!a)
			continue;
		seen++;
		bool same = r.len == a->magic_len && memcmp(r.magic, a->magic, r.len) == 0 &&
			    memcmp(r.mask, a->mask, r.len) == 0;
		if (a->fixed_magic) {
			/* ours differs; QEMU's must still be the legacy machine */
			CHECK(!same, "%s: corrected row differs from QEMU's on purpose", a->name);
			uint16_t m = a->elf_data == 2 ? (r.magic[18] << 8 | r.magic[19])
						      : (r.magic[19] << 8 | r.magic[18]);
			CHECK_INT(m, a->alt_machine, "%s: QEMU's entry is the legacy e_machine",
				  a->name);
		} else {
			CHECK(same, "%s: magic and mask equal QEMU's", a->name);
		}
	}
	closedir(d);
	CHECK(seen >= 25, "compared %d Debian entries", seen);
}

int main(int argc, char **argv)
{
	test_rows();
	test_aliases();
	test_debian_oracle(argc > 1 ? argv[1] : "/usr/lib/binfmt.d");
	return check_done();
}
