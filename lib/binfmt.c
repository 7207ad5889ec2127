// SPDX-License-Identifier: MIT
/*
 * binfmt_misc rules: the register-line format, the live entry format, the
 * kernel's match test, and reading a mounted table.  Registration and
 * removal live in binfmt-install.c.
 */
#include <ctype.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "xarch/binfmt.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The kernel unescapes magic and mask with UNESCAPE_HEX: only \xHH. */
static int unescape(const char *s, size_t n, uint8_t *out, size_t max, size_t *ret_len)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		uint8_t b;
		if (i + 2 < n && s[i] == '\\' && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0) {
			/* one or two hex digits, like the kernel's string_unescape */
			int v = hexval(s[i + 2]);
			i += 3;
			if (i < n && hexval(s[i]) >= 0)
				v = v << 4 | hexval(s[i++]);
			b = (uint8_t)v;
		} else {
			b = (uint8_t)s[i++];
		}
		if (o >= max)
			return -E2BIG;
		out[o++] = b;
	}
	*ret_len = o;
	return 0;
}

static void normalize_flags(const char *in, char *out)
{
	static const char order[] = "POCF";
	size_t o = 0;
	for (const char *c = order; *c; c++)
		if (strchr(in, *c) || strchr(in, tolower((unsigned char)*c)))
			out[o++] = *c;
	out[o] = '\0';
}

int xarch_binfmt_parse_line(const char *line, struct xarch_binfmt_rule *ret,
			    struct xarch_error *err)
{
	struct xarch_binfmt_rule r = { .enabled = true };
	const char *f[7];
	size_t fl[7];
	if (!line || !line[0])
		return xarch_err(err, EINVAL, "empty binfmt rule");
	char del = line[0];
	const char *p = line + 1;
	int nf = 0;
	while (nf < 7) {
		const char *e = strchr(p, del);
		f[nf] = p;
		if (!e) {
			fl[nf] = strcspn(p, "\r\n");
			nf++;
			break;
		}
		fl[nf] = (size_t)(e - p);
		nf++;
		p = e + 1;
	}
	if (nf < 6)
		return xarch_err(err, EINVAL,
				 "binfmt rule has %d fields, want :name:type:offset:magic:mask:"
				 "interpreter:flags",
				 nf);
	if (nf == 6) {
		f[6] = "";
		fl[6] = 0;
	}
	if (fl[0] < sizeof(r.name))
		memcpy(r.name, f[0], fl[0]);
	if (fl[0] >= sizeof(r.name) || !xarch_binfmt_name_ok(r.name))
		return xarch_err(err, EINVAL, "bad binfmt rule name '%.*s'", (int)fl[0], f[0]);
	if (fl[1] != 1 || (f[1][0] != 'M' && f[1][0] != 'E'))
		return xarch_err(err, EINVAL, "binfmt rule '%s': type must be M or E", r.name);
	r.type = f[1][0];
	r.offset = 0;
	for (size_t i = 0; i < fl[2]; i++) {
		if (!isdigit((unsigned char)f[2][i]) || r.offset > 1000)
			return xarch_err(err, EINVAL, "binfmt rule '%s': bad offset '%.*s'", r.name,
					 (int)fl[2], f[2]);
		r.offset = r.offset * 10 + (unsigned)(f[2][i] - '0');
	}
	if (r.type == 'E') {
		if (fl[3] == 0 || fl[3] >= sizeof(r.extension) || memchr(f[3], '/', fl[3]))
			return xarch_err(err, EINVAL, "binfmt rule '%s': bad extension", r.name);
		memcpy(r.extension, f[3], fl[3]);
	} else {
		if (unescape(f[3], fl[3], r.magic, sizeof(r.magic), &r.len) < 0 || r.len == 0)
			return xarch_err(err, EINVAL, "binfmt rule '%s': magic empty or too long",
					 r.name);
		if (r.offset + r.len > XARCH_BINFMT_MAX)
			return xarch_err(err, EINVAL,
					 "binfmt rule '%s': offset + magic exceed %d bytes", r.name,
					 XARCH_BINFMT_MAX);
		size_t ml = 0;
		if (fl[4] == 0) {
			memset(r.mask, 0xff, r.len);
		} else if (unescape(f[4], fl[4], r.mask, sizeof(r.mask), &ml) < 0 || ml != r.len) {
			return xarch_err(err, EINVAL,
					 "binfmt rule '%s': mask is %zu bytes, magic %zu", r.name, ml,
					 r.len);
		}
	}
	if (fl[5] == 0 || fl[5] >= sizeof(r.interpreter))
		return xarch_err(err, EINVAL, "binfmt rule '%s': interpreter missing or too long",
				 r.name);
	memcpy(r.interpreter, f[5], fl[5]);
	char flags[16] = "";
	if (fl[6] >= sizeof(flags))
		return xarch_err(err, EINVAL, "binfmt rule '%s': too many flags", r.name);
	memcpy(flags, f[6], fl[6]);
	for (char *c = flags; *c; c++)
		if (!strchr("POCFpocf", *c))
			return xarch_err(err, EINVAL,
					 "binfmt rule '%s': unknown flag '%c' (known: P O C F)",
					 r.name, *c);
	normalize_flags(flags, r.flags);
	*ret = r;
	return 0;
}

int xarch_binfmt_format_line(const struct xarch_binfmt_rule *r, char *buf, size_t len)
{
	size_t o = 0;
#define PUT(...)                                                           \
	do {                                                               \
		int _n = snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__); \
		if (_n < 0)                                                \
			return -EINVAL;                                    \
		o += (size_t)_n;                                           \
	} while (0)
	PUT(":%s:%c:", r->name, r->type);
	if (r->offset)
		PUT("%u", r->offset);
	PUT(":");
	if (r->type == 'E') {
		PUT("%s::", r->extension);
	} else {
		for (size_t i = 0; i < r->len; i++)
			PUT("\\x%02x", r->magic[i]);
		PUT(":");
		for (size_t i = 0; i < r->len; i++)
			PUT("\\x%02x", r->mask[i]);
		PUT(":");
	}
	PUT("%s:%s", r->interpreter, r->flags);
#undef PUT
	if (o >= len)
		return -ENOSPC;
	return (int)o;
}

static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *ret_len)
{
	size_t n = 0;
	while (*s && *s != '\n') {
		int hi = hexval(s[0]), lo = s[1] ? hexval(s[1]) : -1;
		if (hi < 0 || lo < 0 || n >= max)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	*ret_len = n;
	return 0;
}

int xarch_binfmt_parse_entry(const char *name, const char *text,
			     struct xarch_binfmt_rule *ret, struct xarch_error *err)
{
	struct xarch_binfmt_rule r = { .type = 'M' };
	bool have_mask = false;
	if (xa_strcpy(r.name, sizeof(r.name), name) < 0)
		return xarch_err(err, EINVAL, "binfmt entry name too long: '%s'", name);
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char l[4200];
		if (n >= sizeof(l))
			return xarch_err(err, EINVAL, "binfmt entry '%s': line too long", name);
		memcpy(l, line, n);
		l[n] = '\0';
		line = nl ? nl + 1 : NULL;
		size_t ml = 0;
		if (strcmp(l, "enabled") == 0) {
			r.enabled = true;
		} else if (strcmp(l, "disabled") == 0) {
			r.enabled = false;
		} else if (strncmp(l, "interpreter ", 12) == 0) {
			if (xa_strcpy(r.interpreter, sizeof(r.interpreter), l + 12) < 0)
				return xarch_err(err, EINVAL, "binfmt entry '%s': interpreter too long",
						 name);
		} else if (strncmp(l, "flags:", 6) == 0) {
			const char *fl = l + 6;
			while (*fl == ' ')
				fl++;
			normalize_flags(fl, r.flags);
		} else if (strncmp(l, "offset ", 7) == 0) {
			r.offset = (unsigned)strtoul(l + 7, NULL, 10);
		} else if (strncmp(l, "magic ", 6) == 0) {
			if (parse_hex(l + 6, r.magic, sizeof(r.magic), &r.len) < 0)
				return xarch_err(err, EINVAL, "binfmt entry '%s': bad magic", name);
		} else if (strncmp(l, "mask ", 5) == 0) {
			if (parse_hex(l + 5, r.mask, sizeof(r.mask), &ml) < 0)
				return xarch_err(err, EINVAL, "binfmt entry '%s': bad mask", name);
			have_mask = true;
		} else if (strncmp(l, "extension ", 10) == 0) {
			r.type = 'E';
			const char *e = l + 10;
			if (*e == '.')
				e++;
			if (xa_strcpy(r.extension, sizeof(r.extension), e) < 0)
				return xarch_err(err, EINVAL, "binfmt entry '%s': extension too long",
						 name);
		}
	}
	if (r.type == 'M' && r.len == 0)
		return xarch_err(err, EINVAL, "binfmt entry '%s' has no magic", name);
	if (r.type == 'M' && r.offset + r.len > XARCH_BINFMT_MAX)
		return xarch_err(err, EINVAL, "binfmt entry '%s': magic out of range", name);
	if (!have_mask)
		memset(r.mask, 0xff, r.len);
	*ret = r;
	return 0;
}

bool xarch_binfmt_matches(const struct xarch_binfmt_rule *r, const char *path,
			  const uint8_t *hdr, size_t hdr_len)
{
	if (r->type == 'E') {
		if (!path)
			return false;
		const char *base = strrchr(path, '/');
		base = base ? base + 1 : path;
		const char *dot = strrchr(base, '.');
		return dot && strcmp(dot + 1, r->extension) == 0;
	}
	if (r->offset > hdr_len || r->len > hdr_len - r->offset)
		return false;
	for (size_t i = 0; i < r->len; i++)
		if ((hdr[r->offset + i] ^ r->magic[i]) & r->mask[i])
			return false;
	return true;
}

void xarch_binfmt_rule_for_arch(const struct xarch_arch *a, const char *interpreter,
				const char *flags, struct xarch_binfmt_rule *ret)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->name, sizeof(ret->name), XARCH_BINFMT_PREFIX "%s", a->name);
	ret->type = 'M';
	ret->enabled = true;
	ret->len = a->magic_len;
	memcpy(ret->magic, a->magic, a->magic_len);
	memcpy(ret->mask, a->mask, a->magic_len);
	snprintf(ret->interpreter, sizeof(ret->interpreter), "%s", interpreter ? interpreter : "");
	normalize_flags(flags ? flags : "", ret->flags);
}

bool xarch_binfmt_overlap(const struct xarch_binfmt_rule *a, const struct xarch_binfmt_rule *b)
{
	if (a->type != 'M' || b->type != 'M')
		return a->type == b->type && strcmp(a->extension, b->extension) == 0;
	/* a file matching both exists unless some byte both rules look at
	 * must take two different values */
	for (size_t i = 0; i < a->len; i++) {
		size_t pos = a->offset + i;
		if (pos < b->offset || pos >= b->offset + b->len)
			continue;
		size_t j = pos - b->offset;
		uint8_t common = a->mask[i] & b->mask[j];
		if ((a->magic[i] ^ b->magic[j]) & common)
			return false;
	}
	return true;
}

static int cmp_rule(const void *x, const void *y)
{
	return strcmp(((const struct xarch_binfmt_rule *)x)->name,
		      ((const struct xarch_binfmt_rule *)y)->name);
}

int xarch_binfmt_table_read(const char *dir, struct xarch_binfmt_table *ret,
			    struct xarch_error *err)
{
	struct xarch_binfmt_table t = { 0 };
	if (!dir)
		dir = XARCH_BINFMT_DIR;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || faccessat(dfd, "register", F_OK, 0) < 0) {
		*ret = t;
		return 0;	/* not mounted */
	}
	t.mounted = true;
	_cleanup_free_ char *status = NULL;
	if (xa_read_file_at(dfd, "status", 64, &status, NULL, NULL) == 0)
		t.enabled = strncmp(status, "enabled", 7) == 0;
	int dfd2 = dup(dfd);
	if (dfd2 < 0)
		return xarch_err_sys(err, errno, "cannot read '%s'", dir);
	_cleanup_closedir_ DIR *d = fdopendir(dfd2);
	if (!d) {
		close(dfd2);
		return xarch_err_sys(err, errno, "cannot read '%s'", dir);
	}
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "register") ||
		    !strcmp(e->d_name, "status"))
			continue;
		_cleanup_free_ char *text = NULL;
		if (xa_read_file_at(dfd, e->d_name, 65536, &text, NULL, NULL) < 0)
			continue;	/* removed while we read */
		if (t.n == cap) {
			cap = cap ? cap * 2 : 16;
			struct xarch_binfmt_rule *nr = realloc(t.rules, cap * sizeof(*nr));
			if (!nr) {
				free(t.rules);
				return xarch_err(err, ENOMEM, "out of memory");
			}
			t.rules = nr;
		}
		if (xarch_binfmt_parse_entry(e->d_name, text, &t.rules[t.n], NULL) == 0)
			t.n++;
	}
	if (t.n)
		qsort(t.rules, t.n, sizeof(*t.rules), cmp_rule);
	*ret = t;
	return 0;
}

void xarch_binfmt_table_release(struct xarch_binfmt_table *t)
{
	free(t->rules);
	t->rules = NULL;
	t->n = 0;
}

const struct xarch_binfmt_rule *xarch_binfmt_table_match(const struct xarch_binfmt_table *t,
							 const char *path, const uint8_t *hdr,
							 size_t hdr_len)
{
	if (!t->enabled)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		if (t->rules[i].enabled && xarch_binfmt_matches(&t->rules[i], path, hdr, hdr_len))
			return &t->rules[i];
	return NULL;
}

size_t xarch_binfmt_arch_header(const struct xarch_arch *a, uint8_t *hdr, size_t len)
{
	/* the row's magic with every don't-care bit zero is an EXEC header
	 * of that arch (e_type, machine and, for MIPS, e_flags included) */
	size_t n = len < 64 ? len : 64;
	memset(hdr, 0, n);
	for (size_t i = 0; i < a->magic_len && i < n; i++)
		hdr[i] = a->magic[i] & a->mask[i];
	return n;
}

size_t xarch_binfmt_rule_arches(const struct xarch_binfmt_rule *r,
				const struct xarch_arch **ret, size_t max)
{
	size_t n, found = 0;
	const struct xarch_arch *t = xarch_arch_table(&n);
	for (size_t i = 0; i < n; i++) {
		uint8_t hdr[64];
		size_t hl = xarch_binfmt_arch_header(&t[i], hdr, sizeof(hdr));
		if (!xarch_binfmt_matches(r, NULL, hdr, hl))
			continue;
		if (found < max)
			ret[found] = &t[i];
		found++;
	}
	return found;
}

const struct xarch_binfmt_rule *xarch_binfmt_table_runner(const struct xarch_binfmt_table *t,
							  const struct xarch_arch *a)
{
	uint8_t hdr[64];
	size_t hl = xarch_binfmt_arch_header(a, hdr, sizeof(hdr));
	return xarch_binfmt_table_match(t, NULL, hdr, hl);
}

bool xarch_binfmt_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	return n > 0 && n < sizeof(((struct xarch_binfmt_rule *)0)->name) && !strchr(name, '/') &&
	       strcmp(name, ".") && strcmp(name, "..") && strcmp(name, "register") &&
	       strcmp(name, "status");
}
