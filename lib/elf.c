// SPDX-License-Identifier: MIT
/*
 * The ELF inspector: what `xarch inspect` says about a file.
 *
 * Written for hostile input.  Every offset, size and count read from the
 * file is checked against the bytes we hold before it is used, products
 * and sums go through __builtin_*_overflow, and strings are only taken
 * when their NUL lies inside the table they come from.  A malformed file
 * gives -ENOEXEC and one line naming what is wrong and where.
 *
 * Dynamic strings are found the way ld.so finds them: PT_DYNAMIC, then
 * DT_STRTAB's address mapped to a file offset through the PT_LOAD
 * segments.  Only when that fails (no program headers, or an address no
 * segment covers) do we look at the section headers, which ld.so never
 * reads and strip tools may drop.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "xarch/elf.h"

/* Arch-specific e_flags bits, spelled out so that the host's <elf.h>
 * version does not matter. */
#define RISCV_RVC	   0x0001u
#define RISCV_FLOAT_MASK   0x0006u
#define RISCV_RVE	   0x0008u
#define RISCV_TSO	   0x0010u
#define ARM_EABI_MASK	   0xff000000u
#define ARM_BE8		   0x00800000u
#define ARM_FLOAT_SOFT	   0x00000200u
#define ARM_FLOAT_HARD	   0x00000400u
#define MIPS_ABI2	   0x00000020u
#define MIPS_FP64	   0x00000200u
#define MIPS_NAN2008	   0x00000400u
#define MIPS_ABI_MASK	   0x0000f000u
#define MIPS_ARCH_MASK	   0xf0000000u
#define LOONGARCH_ABI_MASK 0x7u
#define FLAGS_1_PIE	   0x08000000u

#define EM_RISCV_     243
#define EM_LOONGARCH_ 258

struct elf_ctx {
	const uint8_t *buf;
	size_t len;	    /* bytes we hold */
	uint64_t file_size; /* the file's size; larger than len when capped */
	const char *name;   /* subject of messages, may be NULL */
	bool be, is64;
	bool head_only;	    /* stop after the program headers */
	struct xarch_error *err;
};

struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, filesz;
};

struct shdr {
	uint32_t type, link, info;
	uint64_t addr, offset, size;
};

static int verr_elf(const struct elf_ctx *c, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static int verr_elf(const struct elf_ctx *c, const char *fmt, va_list ap)
{
	char msg[400];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (c->name)
		return xarch_err(c->err, ENOEXEC, "'%s': %s", c->name, msg);
	return xarch_err(c->err, ENOEXEC, "%s", msg);
}

static int bad(const struct elf_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const struct elf_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = verr_elf(c, fmt, ap);
	va_end(ap);
	return r;
}

/* `what` at `off` (size `size`) does not fit in what we hold. */
static int past_end(const struct elf_ctx *c, const char *what, uint64_t off, uint64_t size)
{
	uint64_t end;
	if (!__builtin_add_overflow(off, size, &end) && end <= c->file_size &&
	    c->file_size > c->len)
		return bad(c, "%s at %#llx lies beyond the first %zu MiB, more than xarch reads",
			   what, (unsigned long long)off, c->len >> 20);
	return bad(c, "truncated ELF: %s at %#llx past end of file (%llu bytes)", what,
		   (unsigned long long)off, (unsigned long long)c->file_size);
}

static bool in_file(const struct elf_ctx *c, uint64_t off, uint64_t size)
{
	return off <= c->len && size <= c->len - off;
}

/* Readers: callers have checked the range with in_file(). */
static uint16_t rd16(const struct elf_ctx *c, uint64_t off)
{
	const uint8_t *p = c->buf + off;
	return c->be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t rd32(const struct elf_ctx *c, uint64_t off)
{
	const uint8_t *p = c->buf + off;
	if (c->be)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t rd64(const struct elf_ctx *c, uint64_t off)
{
	uint64_t a = rd32(c, off), b = rd32(c, off + 4);
	return c->be ? a << 32 | b : b << 32 | a;
}

/* An address or offset field: 4 or 8 bytes by class. */
static uint64_t rdw(const struct elf_ctx *c, uint64_t off)
{
	return c->is64 ? rd64(c, off) : rd32(c, off);
}

static void read_phdr(const struct elf_ctx *c, uint64_t off, struct phdr *p)
{
	p->type = rd32(c, off);
	if (c->is64) {
		p->offset = rd64(c, off + 8);
		p->vaddr = rd64(c, off + 16);
		p->filesz = rd64(c, off + 32);
	} else {
		p->offset = rd32(c, off + 4);
		p->vaddr = rd32(c, off + 8);
		p->filesz = rd32(c, off + 16);
	}
}

static void read_shdr(const struct elf_ctx *c, uint64_t off, struct shdr *s)
{
	s->type = rd32(c, off + 4);
	if (c->is64) {
		s->addr = rd64(c, off + 16);
		s->offset = rd64(c, off + 24);
		s->size = rd64(c, off + 32);
		s->link = rd32(c, off + 40);
		s->info = rd32(c, off + 44);
	} else {
		s->addr = rd32(c, off + 12);
		s->offset = rd32(c, off + 16);
		s->size = rd32(c, off + 20);
		s->link = rd32(c, off + 24);
		s->info = rd32(c, off + 28);
	}
}

/* "starts with ..." for a file that is not ELF: text when it looks like
 * text, else the first bytes in hex. */
static int not_elf(const struct elf_ctx *c)
{
	static const uint8_t magic[4] = {0x7f, 'E', 'L', 'F'};
	char what[80];
	if (c->len == 0 && c->file_size == 0) {
		if (c->name)
			return xarch_err(c->err, ENOEXEC, "'%s' is not an ELF file (it is empty)",
					 c->name);
		return xarch_err(c->err, ENOEXEC, "not an ELF file (it is empty)");
	}
	if (c->len < 4 && memcmp(c->buf, magic, c->len) == 0)
		return bad(c, "truncated ELF: file has only %zu bytes", c->len);
	size_t n = c->len < 16 ? c->len : 16;
	bool text = true;
	for (size_t i = 0; i < n && text; i++)
		text = (c->buf[i] >= 0x20 && c->buf[i] < 0x7f) || c->buf[i] == '\n' ||
		       c->buf[i] == '\t' || c->buf[i] == '\r';
	size_t w = 0;
	if (text) {
		what[w++] = '"';
		for (size_t i = 0; i < n && c->buf[i] != '\n' && c->buf[i] != '\r'; i++)
			what[w++] = c->buf[i] == '\t' ? ' ' : (char)c->buf[i];
		what[w++] = '"';
		what[w] = '\0';
	} else {
		n = n < 8 ? n : 8;
		for (size_t i = 0; i < n; i++)
			w += (size_t)snprintf(what + w, sizeof(what) - w, "%s%02x", i ? " " : "",
					      c->buf[i]);
	}
	if (c->name)
		return xarch_err(c->err, ENOEXEC, "'%s' is not an ELF file (starts with %s)",
				 c->name, what);
	return xarch_err(c->err, ENOEXEC, "not an ELF file (starts with %s)", what);
}

static void abi_add(char *abi, size_t len, const char *s)
{
	size_t n = strlen(abi);
	if (n < len)
		snprintf(abi + n, len - n, "%s%s", n ? ", " : "", s);
}

static void decode_abi(struct xarch_elf_info *i)
{
	static const char *const mips_arch[] = {
	    "mips1",  "mips2",	  "mips3",    "mips4",	  "mips5",    "mips32",
	    "mips64", "mips32r2", "mips64r2", "mips32r6", "mips64r6",
	};
	char *abi = i->abi;
	size_t len = sizeof(i->abi);
	uint32_t f = i->eflags;
	bool is64 = i->elf_class == ELFCLASS64;
	abi[0] = '\0';
	switch (i->machine) {
	case EM_RISCV_: {
		static const char *const fl[] = {"", "f", "d", "q"};
		unsigned fabi = (f & RISCV_FLOAT_MASK) >> 1;
		snprintf(abi, len, "%s%s%s", is64 ? "lp64" : "ilp32", f & RISCV_RVE ? "e" : "",
			 fl[fabi]);
		if (fabi == 0)
			snprintf(abi + strlen(abi), len - strlen(abi), " soft-float");
		if (f & RISCV_RVC)
			abi_add(abi, len, "rvc");
		if (f & RISCV_RVE)
			abi_add(abi, len, "rve");
		if (f & RISCV_TSO)
			abi_add(abi, len, "tso");
		break;
	}
	case EM_ARM: {
		unsigned v = (f & ARM_EABI_MASK) >> 24;
		if (v)
			snprintf(abi, len, "eabi%u", v);
		else
			snprintf(abi, len, "oabi");
		if (f & ARM_FLOAT_HARD)
			snprintf(abi + strlen(abi), len - strlen(abi), " hard-float");
		else if (f & ARM_FLOAT_SOFT)
			snprintf(abi + strlen(abi), len - strlen(abi), " soft-float");
		if (f & ARM_BE8)
			abi_add(abi, len, "be8");
		break;
	}
	case EM_AARCH64:
		snprintf(abi, len, "%s", is64 ? "lp64" : "ilp32");
		break;
	case EM_MIPS:
	case EM_MIPS_RS3_LE: {
		if (is64)
			snprintf(abi, len, "n64");
		else if (f & MIPS_ABI2)
			snprintf(abi, len, "n32");
		else
			switch (f & MIPS_ABI_MASK) {
			case 0x2000:
				snprintf(abi, len, "o64");
				break;
			case 0x3000:
				snprintf(abi, len, "eabi32");
				break;
			case 0x4000:
				snprintf(abi, len, "eabi64");
				break;
			default:
				snprintf(abi, len, "o32");
			}
		unsigned lvl = f >> 28;
		if (lvl < ARRAY_SIZE(mips_arch))
			abi_add(abi, len, mips_arch[lvl]);
		if (f & MIPS_NAN2008)
			abi_add(abi, len, "nan2008");
		if (f & MIPS_FP64)
			abi_add(abi, len, "fp64");
		break;
	}
	case EM_PPC64:
		if ((f & 3) == 1)
			snprintf(abi, len, "elfv1");
		else if ((f & 3) == 2)
			snprintf(abi, len, "elfv2");
		break;
	case EM_LOONGARCH_: {
		static const char *const la[] = {NULL, "s", "f", "d"};
		unsigned m = f & LOONGARCH_ABI_MASK;
		if (m >= 1 && m <= 3)
			snprintf(abi, len, "%s%s", is64 ? "lp64" : "ilp32", la[m]);
		break;
	}
	default:
		break;
	}
}

/* The section header table, when it is usable (only a fallback). */
struct sections {
	bool ok;
	uint64_t off, num;
	unsigned entsize;
};

static void sections_init(const struct elf_ctx *c, uint64_t shoff, unsigned shnum,
			  unsigned shentsize, struct sections *s)
{
	unsigned min = c->is64 ? 64 : 40;
	uint64_t size;
	memset(s, 0, sizeof(*s));
	if (shoff == 0 || shentsize < min || !in_file(c, shoff, min))
		return;
	uint64_t num = shnum;
	if (num == 0) {
		/* SHN_UNDEF's sh_size holds the count when there are >= 0xff00 */
		struct shdr s0;
		read_shdr(c, shoff, &s0);
		num = s0.size;
	}
	if (num == 0 || __builtin_mul_overflow(num, (uint64_t)shentsize, &size) ||
	    !in_file(c, shoff, size))
		return;
	*s = (struct sections){.ok = true, .off = shoff, .num = num, .entsize = shentsize};
}

static bool section(const struct elf_ctx *c, const struct sections *s, uint64_t idx,
		    struct shdr *ret)
{
	if (!s->ok || idx >= s->num)
		return false;
	read_shdr(c, s->off + idx * s->entsize, ret);
	return true;
}

/* Find .dynamic and its string table (sh_link) through the sections. */
static bool sections_dynamic(const struct elf_ctx *c, const struct sections *s,
			     struct shdr *ret_dyn, struct shdr *ret_str)
{
	struct shdr d, str;
	for (uint64_t i = 1; i < s->num; i++) {
		if (!section(c, s, i, &d) || d.type != SHT_DYNAMIC)
			continue;
		if (!section(c, s, d.link, &str) || str.type != SHT_STRTAB ||
		    !in_file(c, str.offset, str.size) || !in_file(c, d.offset, d.size))
			return false;
		*ret_dyn = d;
		*ret_str = str;
		return true;
	}
	return false;
}

/* Map a virtual address to a file offset through the PT_LOAD segments;
 * `ret_avail` is how many file bytes the segment has from there. */
static bool vaddr_to_off(const struct elf_ctx *c, uint64_t phoff, uint64_t phnum,
			 unsigned phentsize, uint64_t addr, uint64_t *ret_off, uint64_t *ret_avail)
{
	for (uint64_t i = 0; i < phnum; i++) {
		struct phdr p;
		read_phdr(c, phoff + i * phentsize, &p);
		if (p.type != PT_LOAD || addr < p.vaddr || addr - p.vaddr >= p.filesz)
			continue;
		uint64_t off;
		if (__builtin_add_overflow(p.offset, addr - p.vaddr, &off))
			continue;
		*ret_off = off;
		*ret_avail = p.filesz - (addr - p.vaddr);
		return true;
	}
	return false;
}

struct dyn_refs {
	size_t n_needed;
	uint64_t needed[XARCH_ELF_MAX_NEEDED];
	bool has_strtab, has_strsz, has_soname, has_rpath, has_runpath;
	uint64_t strtab, strsz, soname, rpath, runpath, flags_1;
};

static int read_dynamic(const struct elf_ctx *c, uint64_t off, uint64_t size, struct dyn_refs *d)
{
	unsigned ent = c->is64 ? 16 : 8;
	uint64_t n = size / ent;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t e = off + i * ent;
		uint64_t tag = rdw(c, e), val = rdw(c, e + ent / 2);
		switch (tag) {
		case DT_NULL:
			return 0;
		case DT_NEEDED:
			if (d->n_needed == XARCH_ELF_MAX_NEEDED)
				return bad(c, "more than %d DT_NEEDED entries",
					   XARCH_ELF_MAX_NEEDED);
			d->needed[d->n_needed++] = val;
			break;
		case DT_STRTAB:
			d->has_strtab = true;
			d->strtab = val;
			break;
		case DT_STRSZ:
			d->has_strsz = true;
			d->strsz = val;
			break;
		case DT_SONAME:
			d->has_soname = true;
			d->soname = val;
			break;
		case DT_RPATH:
			d->has_rpath = true;
			d->rpath = val;
			break;
		case DT_RUNPATH:
			d->has_runpath = true;
			d->runpath = val;
			break;
		case DT_FLAGS_1:
			d->flags_1 = val;
			break;
		default:
			break;
		}
	}
	return 0;
}

/* A string of the dynamic string table: offset inside it, NUL inside it. */
static int dyn_string(const struct elf_ctx *c, const uint8_t *tab, uint64_t tabsize,
		      const char *tag, uint64_t off)
{
	if (off >= tabsize)
		return bad(
		    c, "%s string offset %#llx is past the end of the string table (%llu bytes)",
		    tag, (unsigned long long)off, (unsigned long long)tabsize);
	if (!memchr(tab + off, 0, tabsize - off))
		return bad(c, "%s string at offset %#llx is not NUL-terminated", tag,
			   (unsigned long long)off);
	return 0;
}

static int parse(struct elf_ctx *c, struct xarch_elf_info *ret)
{
	static const uint8_t magic[4] = {0x7f, 'E', 'L', 'F'};
	_cleanup_free_ struct xarch_elf_info *info = calloc(1, sizeof(*info));
	_cleanup_free_ struct dyn_refs *d = calloc(1, sizeof(*d));
	if (!info || !d)
		return xarch_err(c->err, ENOMEM, "out of memory");

	if (c->len < 4 || memcmp(c->buf, magic, 4) != 0)
		return not_elf(c);
	if (c->len < EI_NIDENT)
		return bad(c, "truncated ELF: identification is %d bytes, file has %zu", EI_NIDENT,
			   c->len);
	info->elf_class = c->buf[EI_CLASS];
	info->elf_data = c->buf[EI_DATA];
	info->osabi = c->buf[EI_OSABI];
	if (info->elf_class != ELFCLASS32 && info->elf_class != ELFCLASS64)
		return bad(c, "unsupported ELF class %u (not 32- or 64-bit)", info->elf_class);
	if (info->elf_data != ELFDATA2LSB && info->elf_data != ELFDATA2MSB)
		return bad(c, "unsupported ELF data encoding %u (not little or big endian)",
			   info->elf_data);
	c->is64 = info->elf_class == ELFCLASS64;
	c->be = info->elf_data == ELFDATA2MSB;
	size_t ehsize = c->is64 ? 64 : 52;
	if (c->len < ehsize)
		return bad(c, "truncated ELF: %s header is %zu bytes, file has %zu",
			   c->is64 ? "ELF64" : "ELF32", ehsize, c->len);

	info->header_len = c->len < sizeof(info->header) ? c->len : sizeof(info->header);
	memcpy(info->header, c->buf, info->header_len);
	info->type = rd16(c, 16);
	info->machine = rd16(c, 18);
	uint64_t phoff = rdw(c, c->is64 ? 32 : 28);
	uint64_t shoff = rdw(c, c->is64 ? 40 : 32);
	size_t f = c->is64 ? 48 : 36;
	info->eflags = rd32(c, f);
	unsigned phentsize = rd16(c, f + 6);
	uint64_t phnum = rd16(c, f + 8);
	unsigned shentsize = rd16(c, f + 10);
	unsigned shnum = rd16(c, f + 12);

	struct sections sec;
	sections_init(c, shoff, shnum, shentsize, &sec);
	if (phnum == PN_XNUM) {
		/* the real count is in section 0's sh_info */
		struct shdr s0;
		if (!section(c, &sec, 0, &s0))
			return bad(c, "e_phnum is PN_XNUM but section header 0 is unreadable");
		phnum = s0.info;
	}

	/* Program headers */
	bool has_interp = false, has_dynamic = false;
	uint64_t interp_off = 0, interp_len = 0, dyn_off = 0, dyn_size = 0;
	if (phnum > 0) {
		unsigned min = c->is64 ? 56 : 32;
		uint64_t tabsize, end;
		if (phentsize < min)
			return bad(c, "program header entry size %u is smaller than %u", phentsize,
				   min);
		if (__builtin_mul_overflow(phnum, (uint64_t)phentsize, &tabsize) ||
		    __builtin_add_overflow(phoff, tabsize, &end))
			return bad(c,
				   "program header table (%llu entries of %u bytes at %#llx) "
				   "overflows",
				   (unsigned long long)phnum, phentsize, (unsigned long long)phoff);
		if (!in_file(c, phoff, tabsize))
			return past_end(c, "program header table", phoff, tabsize);
	}
	for (uint64_t i = 0; i < phnum; i++) {
		struct phdr p;
		read_phdr(c, phoff + i * phentsize, &p);
		if (p.type == PT_INTERP && !has_interp) {
			if (!in_file(c, p.offset, p.filesz))
				return past_end(c, "PT_INTERP", p.offset, p.filesz);
			const uint8_t *s = c->buf + p.offset;
			const uint8_t *nul = memchr(s, 0, p.filesz);
			if (!nul)
				return bad(c, "PT_INTERP at %#llx is not NUL-terminated",
					   (unsigned long long)p.offset);
			if (nul == s)
				return bad(c, "PT_INTERP at %#llx is empty",
					   (unsigned long long)p.offset);
			has_interp = true;
			interp_off = p.offset;
			interp_len = (uint64_t)(nul - s);
		} else if (p.type == PT_DYNAMIC && !has_dynamic && !c->head_only) {
			if (!in_file(c, p.offset, p.filesz))
				return past_end(c, "dynamic section (PT_DYNAMIC)", p.offset,
						p.filesz);
			has_dynamic = true;
			dyn_off = p.offset;
			dyn_size = p.filesz;
		}
	}

	if (c->head_only) {
		/* what the program headers tell: the interpreter, not the libraries */
		info->strtab_copy = malloc(interp_len + 1);
		if (!info->strtab_copy)
			return xarch_err(c->err, ENOMEM, "out of memory");
		memcpy(info->strtab_copy, c->buf + interp_off, interp_len);
		info->strtab_copy[interp_len] = '\0';
		if (has_interp)
			info->interp = info->strtab_copy;
		goto done;
	}

	/* Dynamic section: from PT_DYNAMIC, else from the section headers */
	struct shdr sdyn = {0}, sstr = {0};
	bool have_sdyn = sections_dynamic(c, &sec, &sdyn, &sstr);
	if (!has_dynamic && have_sdyn) {
		has_dynamic = true;
		dyn_off = sdyn.offset;
		dyn_size = sdyn.size;
	}
	const uint8_t *strtab = NULL;
	uint64_t strsz = 0;
	if (has_dynamic) {
		int r = read_dynamic(c, dyn_off, dyn_size, d);
		if (r < 0)
			return r;
		bool wants = d->n_needed || d->has_soname || d->has_rpath || d->has_runpath;
		uint64_t off, avail;
		if (d->has_strtab &&
		    vaddr_to_off(c, phoff, phnum, phentsize, d->strtab, &off, &avail)) {
			strsz = d->has_strsz ? d->strsz : avail;
			if (!in_file(c, off, strsz))
				return past_end(c, "dynamic string table (DT_STRTAB)", off, strsz);
			strtab = c->buf + off;
		} else if (have_sdyn) {
			strtab = c->buf + sstr.offset;
			strsz = sstr.size;
		} else if (d->has_strtab && wants) {
			return bad(c, "DT_STRTAB address %#llx is not inside any loaded segment",
				   (unsigned long long)d->strtab);
		} else if (wants) {
			return bad(c, "dynamic section names libraries but has no DT_STRTAB");
		}
	}
	if (strtab) {
		int r = 0;
		for (size_t i = 0; i < d->n_needed && r == 0; i++)
			r = dyn_string(c, strtab, strsz, "DT_NEEDED", d->needed[i]);
		if (r == 0 && d->has_soname)
			r = dyn_string(c, strtab, strsz, "DT_SONAME", d->soname);
		if (r == 0 && d->has_rpath)
			r = dyn_string(c, strtab, strsz, "DT_RPATH", d->rpath);
		if (r == 0 && d->has_runpath)
			r = dyn_string(c, strtab, strsz, "DT_RUNPATH", d->runpath);
		if (r < 0)
			return r;
	}

	/* One private copy holds every string: the string table, then the
	 * interpreter.  Both sizes are bounded by the bytes we hold. */
	size_t copy_len = (size_t)strsz + 1 + (size_t)interp_len + 1;
	info->strtab_copy = malloc(copy_len);
	if (!info->strtab_copy)
		return xarch_err(c->err, ENOMEM, "out of memory");
	char *sc = info->strtab_copy;
	if (strsz)
		memcpy(sc, strtab, strsz);
	sc[strsz] = '\0';
	char *ip = sc + strsz + 1;
	if (interp_len)
		memcpy(ip, c->buf + interp_off, interp_len);
	ip[interp_len] = '\0';
	if (has_interp)
		info->interp = ip;
	if (strtab) {
		for (size_t i = 0; i < d->n_needed; i++)
			info->needed[i] = sc + d->needed[i];
		info->n_needed = d->n_needed;
		if (d->has_soname)
			info->soname = sc + d->soname;
		if (d->has_rpath)
			info->rpath = sc + d->rpath;
		if (d->has_runpath)
			info->runpath = sc + d->runpath;
	}

done:
	info->pie = info->type == ET_DYN && (has_interp || (d->flags_1 & FLAGS_1_PIE));
	info->is_static = !has_interp && info->n_needed == 0;
	info->arch =
	    xarch_arch_from_elf(info->elf_class, info->elf_data, info->machine, info->eflags);
	decode_abi(info);
	*ret = *info;
	return 0;
}

int xarch_elf_parse(const uint8_t *buf, size_t len, struct xarch_elf_info *ret,
		    struct xarch_error *err)
{
	struct elf_ctx c = {
	    .buf = buf, .len = buf ? len : 0, .file_size = buf ? len : 0, .err = err};
	return parse(&c, ret);
}

static int parse_fd(int fd, const char *name, size_t cap, bool head_only,
		    struct xarch_elf_info *ret, struct xarch_error *err)
{
	struct stat st;
	const char *subject = name ? name : "file";
	if (fstat(fd, &st) < 0)
		return xarch_err_sys(err, errno, "cannot stat '%s'", subject);
	if (S_ISDIR(st.st_mode))
		return xarch_err(err, EISDIR, "'%s' is a directory, not an ELF file", subject);
	if (!S_ISREG(st.st_mode))
		return xarch_err(err, ENOEXEC, "'%s' is not a regular file", subject);
	uint64_t size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	size_t want = size > cap ? cap : (size_t)size;
	_cleanup_free_ uint8_t *buf = malloc(want ? want : 1);
	if (!buf)
		return xarch_err(err, ENOMEM, "out of memory reading '%s'", subject);
	size_t got = 0;
	while (got < want) {
		ssize_t r = pread(fd, buf + got, want - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return xarch_err_sys(err, errno, "cannot read '%s'", subject);
		if (r == 0)
			break; /* shrank while we read */
		got += (size_t)r;
	}
	struct elf_ctx c = { .buf = buf,
			     .len = got,
			     .file_size = got < want ? got : size,
			     .name = name,
			     .head_only = head_only,
			     .err = err };
	return parse(&c, ret);
}

int xarch_elf_parse_fd(int fd, const char *name, struct xarch_elf_info *ret,
		       struct xarch_error *err)
{
	return parse_fd(fd, name, XARCH_ELF_MAX_FILE, false, ret, err);
}

int xarch_elf_parse_head_file(const char *path, struct xarch_elf_info *ret,
			      struct xarch_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", path);
	return parse_fd(fd, path, XARCH_ELF_HEAD_BYTES, true, ret, err);
}

int xarch_elf_parse_file(const char *path, struct xarch_elf_info *ret, struct xarch_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", path);
	return xarch_elf_parse_fd(fd, path, ret, err);
}

void xarch_elf_info_release(struct xarch_elf_info *info)
{
	if (!info)
		return;
	free(info->strtab_copy);
	info->strtab_copy = NULL;
	info->interp = info->soname = info->rpath = info->runpath = NULL;
	info->n_needed = 0;
}

const char *xarch_elf_type_name(const struct xarch_elf_info *info)
{
	switch (info->type) {
	case ET_REL:
		return "REL";
	case ET_EXEC:
		return "EXEC";
	case ET_DYN:
		return info->pie ? "PIE" : "DYN";
	case ET_CORE:
		return "CORE";
	default:
		return "UNKNOWN";
	}
}
