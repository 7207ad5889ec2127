// SPDX-License-Identifier: MIT
/*
 * genimage.cfg reader: libconfuse does the syntax, include() and ${VAR}
 * expansion; this file declares genimage's options, catches libconfuse's
 * messages into a struct xarch_error and copies the result into plain structs.
 */
#include <confuse.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "xarch/gcfg.h"

/* libconfuse keeps no user pointer; one parse at a time per thread. */
static _Thread_local struct {
	char msg[512];
	bool set, no_include;
} gcfg_state;

static const char *fname(cfg_t *cfg)
{
	if (!cfg || !cfg->filename || strcmp(cfg->filename, "[buf]") == 0)
		return "<buffer>";
	return cfg->filename;
}

static void gcfg_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	if (gcfg_state.set)
		return; /* the first message is the one that matters */
	char m[400];
	vsnprintf(m, sizeof(m), fmt, ap);
	snprintf(gcfg_state.msg, sizeof(gcfg_state.msg), "%s:%d: %s", fname(cfg),
		 cfg ? cfg->line : 0, m);
	gcfg_state.set = true;
}

static int gcfg_include(cfg_t *cfg, cfg_opt_t *opt, int argc, const char **argv)
{
	if (gcfg_state.no_include) {
		cfg_error(cfg, "include() is not allowed here");
		return 1;
	}
	return cfg_include(cfg, opt, argc, argv);
}

#define S(n) CFG_STR(n, NULL, CFGF_NODEFAULT)
#define B(n) CFG_BOOL(n, cfg_false, CFGF_NODEFAULT)
#define L(n) CFG_STR_LIST(n, NULL, CFGF_NODEFAULT)

static cfg_opt_t file_opts[] = {S("image"), CFG_END()};

static cfg_opt_t hdimage_opts[] = {S("align"),
				   S("partition-table-type"),
				   S("extended-partition"),
				   S("disk-signature"),
				   S("disk-uuid"),
				   S("gpt-location"),
				   B("partition-table"),
				   B("gpt"),
				   B("gpt-no-backup"),
				   B("fill"),
				   CFG_END()};
static cfg_opt_t vfat_opts[] = {
    S("extraargs"), S("label"), L("files"),
    CFG_SEC("file", file_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES), CFG_END()};
static cfg_opt_t ext_opts[] = {S("extraargs"),	  S("features"),    S("label"),
			       S("fs-timestamp"), S("mke2fs-conf"), S("root-owner"),
			       S("usage-type"),	  B("use-mke2fs"),  CFG_END()};
static cfg_opt_t filetype_opts[] = {S("name"), L("holes"), CFG_END()};
static cfg_opt_t tar_opts[] = {CFG_END()};
static cfg_opt_t cpio_opts[] = {S("format"), S("extraargs"), S("compress"), CFG_END()};
static cfg_opt_t squashfs_opts[] = {S("extraargs"), S("compression"), S("block-size"), CFG_END()};
static cfg_opt_t erofs_opts[] = {S("extraargs"), S("label"), S("fs-timestamp"), S("compression"),
				 CFG_END()};
static cfg_opt_t qemu_opts[] = {S("format"), S("extraargs"), CFG_END()};

static const struct {
	const char *name;
	cfg_opt_t *opts;
} gcfg_types[] = {
    {"hdimage", hdimage_opts},	 {"vfat", vfat_opts},	  {"ext2", ext_opts},  {"ext3", ext_opts},
    {"ext4", ext_opts},		 {"file", filetype_opts}, {"tar", tar_opts},   {"cpio", cpio_opts},
    {"squashfs", squashfs_opts}, {"erofs", erofs_opts},	  {"qemu", qemu_opts},
};

static cfg_opt_t part_opts[] = {S("offset"),
				S("size"),
				S("align"),
				S("image"),
				CFG_INT("partition-type", -1, CFGF_NONE),
				S("partition-type-uuid"),
				S("partition-uuid"),
				B("bootable"),
				CFG_BOOL("in-partition-table", cfg_true, CFGF_NONE),
				B("autoresize"),
				B("forced-primary"),
				B("hidden"),
				B("read-only"),
				B("fill"),
				B("sparse"),
				B("no-automount"),
				L("holes"),
				CFG_END()};

#define N_TYPES ARRAY_SIZE(gcfg_types)

static cfg_opt_t image_opts[] = {
    S("name"),
    S("size"),
    S("mountpoint"),
    S("srcpath"),
    S("exec-pre"),
    S("exec-post"),
    S("flashtype"),
    B("empty"),
    B("temporary"),
    CFG_SEC("partition", part_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_SEC("hdimage", hdimage_opts, CFGF_MULTI),
    CFG_SEC("vfat", vfat_opts, CFGF_MULTI),
    CFG_SEC("ext2", ext_opts, CFGF_MULTI),
    CFG_SEC("ext3", ext_opts, CFGF_MULTI),
    CFG_SEC("ext4", ext_opts, CFGF_MULTI),
    CFG_SEC("file", filetype_opts, CFGF_MULTI),
    CFG_SEC("tar", tar_opts, CFGF_MULTI),
    CFG_SEC("cpio", cpio_opts, CFGF_MULTI),
    CFG_SEC("squashfs", squashfs_opts, CFGF_MULTI),
    CFG_SEC("erofs", erofs_opts, CFGF_MULTI),
    CFG_SEC("qemu", qemu_opts, CFGF_MULTI),
    CFG_END()};

static cfg_opt_t config_opts[] = {S("outputpath"), S("inputpath"), S("rootpath"), S("tmppath"),
				  S("includepath"), S("configdump"), S("loglevel"),
				  /* tool paths */
				  S("cpio"), S("dd"), S("e2fsck"), S("genext2fs"), S("genisoimage"),
				  S("mcopy"), S("mmd"), S("mkcramfs"), S("mkdosfs"), S("mkfsjffs2"),
				  S("mkfsubifs"), S("mksquashfs"), S("mkfserofs"), S("qemu-img"),
				  S("tar"), S("tune2fs"), S("ubinize"), CFG_END()};

static cfg_opt_t root_opts[] = {
    CFG_SEC("image", image_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_SEC("config", config_opts, CFGF_NONE), CFG_FUNC("include", gcfg_include), CFG_END()};

int xarch_gcfg_size_parse(const char *s, uint64_t *ret)
{
	if (!s || !(*s >= '0' && *s <= '9'))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno)
		return -ERANGE;
	unsigned shift = 0;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	case 's':
		shift = 9;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (shift != 9 && (strcmp(end, "B") == 0 || strcmp(end, "iB") == 0))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}

/* The line of an option: libconfuse records it on each section only. */
static int where(struct xarch_error *err, cfg_t *sec, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int where(struct xarch_error *err, cfg_t *sec, int code, const char *fmt, ...)
{
	char m[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	return xarch_err(err, code, "%s:%d: %s", fname(sec), sec->line, m);
}

static int copy_str(char *dst, size_t cap, cfg_t *sec, const char *key, struct xarch_error *err)
{
	if (cfg_size(sec, key) == 0)
		return 0;
	const char *v = cfg_getstr(sec, key);
	if (!v)
		return 0;
	if (strlen(v) >= cap)
		return where(err, sec, EINVAL, "%s '%.40s...' is too long", key, v);
	strcpy(dst, v);
	return 0;
}

static int get_size(cfg_t *sec, const char *key, uint64_t *out, const char *what,
		    struct xarch_error *err)
{
	if (cfg_size(sec, key) == 0)
		return 0;
	const char *v = cfg_getstr(sec, key);
	int r = xarch_gcfg_size_parse(v, out);
	if (r < 0)
		return where(err, sec, -r, "%s: invalid %s '%s'", what, key, v);
	return 0;
}

static bool get_bool(cfg_t *sec, const char *key)
{
	return cfg_size(sec, key) > 0 && cfg_getbool(sec, key);
}

static int add_opt(struct xarch_gimage *img, const char *key, const char *value)
{
	struct xarch_gcfg_opt *n = reallocarray(img->opts, img->n_opts + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	img->opts = n;
	n[img->n_opts].key = strdup(key);
	n[img->n_opts].value = strdup(value);
	img->n_opts++;
	if (!n[img->n_opts - 1].key || !n[img->n_opts - 1].value)
		return -ENOMEM;
	return 0;
}

static int read_type(struct xarch_gimage *img, cfg_t *ts, struct xarch_error *err)
{
	for (cfg_opt_t *o = ts->opts; o && o->name; o++) {
		unsigned n = cfg_opt_size(o);
		for (unsigned i = 0; i < n; i++) {
			const char *v = NULL;
			int r = 0;
			switch (o->type) {
			case CFGT_STR:
				v = cfg_opt_getnstr(o, i);
				break;
			case CFGT_BOOL:
				v = cfg_opt_getnbool(o, i) ? "true" : "false";
				break;
			case CFGT_SEC: {
				cfg_t *f = cfg_opt_getnsec(o, i);
				const char *src = cfg_getstr(f, "image");
				if (!src)
					return where(err, f, EINVAL, "file '%s' has no image",
						     cfg_title(f));
				struct xarch_gcfg_file *nf =
				    reallocarray(img->files, img->n_files + 1, sizeof(*nf));
				if (!nf)
					return -ENOMEM;
				img->files = nf;
				nf[img->n_files].name = strdup(cfg_title(f));
				nf[img->n_files].image = strdup(src);
				img->n_files++;
				if (!nf[img->n_files - 1].name || !nf[img->n_files - 1].image)
					return -ENOMEM;
				continue;
			}
			default:
				continue;
			}
			if (v && (r = add_opt(img, o->name, v)) < 0)
				return xarch_err(err, -r, "out of memory");
		}
	}
	const char *ptt = xarch_gimage_opt(img, "partition-table-type");
	if (ptt && strcmp(ptt, "mbr") && strcmp(ptt, "dos") && strcmp(ptt, "gpt") &&
	    strcmp(ptt, "hybrid") && strcmp(ptt, "none"))
		return where(
		    err, ts, EINVAL,
		    "image '%s': partition-table-type '%s' is not mbr, gpt, hybrid or none",
		    img->name, ptt);
	const char *al = xarch_gimage_opt(img, "align");
	uint64_t a;
	if (al && xarch_gcfg_size_parse(al, &a) < 0)
		return where(err, ts, EINVAL, "image '%s': invalid align '%s'", img->name, al);
	return 0;
}

static int read_part(struct xarch_gpart *p, cfg_t *ps, const char *iname, struct xarch_error *err)
{
	int r;
	char what[600];
	snprintf(what, sizeof(what), "image '%s' partition '%s'", iname, cfg_title(ps));
	if (strlen(cfg_title(ps)) >= sizeof(p->name))
		return where(err, ps, EINVAL, "%s: name too long", what);
	strcpy(p->name, cfg_title(ps));
	p->line = ps->line;
	if ((r = get_size(ps, "offset", &p->offset, what, err)) < 0 ||
	    (r = get_size(ps, "size", &p->size, what, err)) < 0 ||
	    (r = get_size(ps, "align", &p->align, what, err)) < 0 ||
	    (r = copy_str(p->image, sizeof(p->image), ps, "image", err)) < 0 ||
	    (r = copy_str(p->partition_type_uuid, sizeof(p->partition_type_uuid), ps,
			  "partition-type-uuid", err)) < 0 ||
	    (r = copy_str(p->partition_uuid, sizeof(p->partition_uuid), ps, "partition-uuid",
			  err)) < 0)
		return r;
	long t = cfg_getint(ps, "partition-type");
	if (t < -1 || t > 255)
		return where(err, ps, EINVAL, "%s: partition-type %ld is not a byte", what, t);
	p->partition_type = (int)t;
	p->bootable = get_bool(ps, "bootable");
	p->in_partition_table = cfg_getbool(ps, "in-partition-table");
	p->autoresize = get_bool(ps, "autoresize");
	p->forced_primary = get_bool(ps, "forced-primary");
	p->hidden = get_bool(ps, "hidden");
	p->read_only = get_bool(ps, "read-only");
	p->no_automount = get_bool(ps, "no-automount");
	p->fill = get_bool(ps, "fill");
	p->sparse = get_bool(ps, "sparse");
	if (p->align && p->offset && p->offset % p->align)
		return where(err, ps, EINVAL, "%s: offset is not a multiple of align", what);
	if (!p->in_partition_table &&
	    (p->bootable || p->partition_type_uuid[0] || p->autoresize || p->partition_type >= 0))
		return where(err, ps, EINVAL,
			     "%s: table attributes on a partition with in-partition-table = false",
			     what);
	unsigned nh = cfg_size(ps, "holes");
	if (nh) {
		p->holes = calloc(nh, sizeof(*p->holes));
		if (!p->holes)
			return xarch_err(err, ENOMEM, "out of memory");
		for (unsigned i = 0; i < nh; i++) {
			p->holes[i] = strdup(cfg_getnstr(ps, "holes", i));
			p->n_holes++;
			if (!p->holes[i])
				return xarch_err(err, ENOMEM, "out of memory");
		}
	}
	return 0;
}

static int read_image(struct xarch_gimage *img, cfg_t *is, struct xarch_error *err)
{
	int r;
	const char *title = cfg_title(is);
	if (!title || strlen(title) >= sizeof(img->name))
		return where(err, is, EINVAL, "image name missing or too long");
	strcpy(img->name, title);
	snprintf(img->file, sizeof(img->file), "%s", fname(is));
	img->line = is->line;
	if ((r = copy_str(img->fsname, sizeof(img->fsname), is, "name", err)) < 0 ||
	    (r = copy_str(img->mountpoint, sizeof(img->mountpoint), is, "mountpoint", err)) < 0 ||
	    (r = copy_str(img->srcpath, sizeof(img->srcpath), is, "srcpath", err)) < 0 ||
	    (r = copy_str(img->flashtype, sizeof(img->flashtype), is, "flashtype", err)) < 0 ||
	    (r = copy_str(img->exec_pre, sizeof(img->exec_pre), is, "exec-pre", err)) < 0 ||
	    (r = copy_str(img->exec_post, sizeof(img->exec_post), is, "exec-post", err)) < 0)
		return r;
	img->empty = get_bool(is, "empty");
	img->temporary = get_bool(is, "temporary");
	if (cfg_size(is, "size")) {
		const char *v = cfg_getstr(is, "size");
		size_t n = strlen(v);
		char *end;
		if (n > 1 && v[n - 1] == '%' && v[0] >= '0' && v[0] <= '9') {
			errno = 0;
			unsigned long pc = strtoul(v, &end, 10);
			if (errno || end != v + n - 1 || pc == 0 || pc > 100000)
				return where(err, is, EINVAL, "image '%s': invalid size '%s'",
					     title, v);
			img->size_percent = (unsigned)pc;
		} else if ((r = get_size(is, "size", &img->size, "image", err)) < 0) {
			return where(err, is, -r, "image '%s': invalid size '%s'", title, v);
		}
	}
	cfg_t *ts = NULL;
	for (size_t i = 0; i < N_TYPES; i++) {
		unsigned n = cfg_size(is, gcfg_types[i].name);
		if (!n)
			continue;
		if (ts || n > 1)
			return where(err, is, EINVAL, "image '%s' has more than one type", title);
		ts = cfg_getsec(is, gcfg_types[i].name);
		strcpy(img->type, gcfg_types[i].name);
	}
	if (!ts)
		return where(err, is, EINVAL,
			     "image '%s' has no type section (hdimage, vfat, ext4, ...)", title);
	if ((r = read_type(img, ts, err)) < 0)
		return r;
	unsigned np = cfg_size(is, "partition");
	if (np && strcmp(img->type, "hdimage") && strcmp(img->type, "qemu"))
		return where(err, is, EINVAL,
			     "image '%s': partitions need an hdimage or qemu image", title);
	if (np) {
		img->parts = calloc(np, sizeof(*img->parts));
		if (!img->parts)
			return xarch_err(err, ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < np; i++) {
		img->n_parts++;
		if ((r = read_part(&img->parts[i], cfg_getnsec(is, "partition", i), title, err)) <
		    0)
			return r;
	}
	return 0;
}

/* Cross-image checks, after every image is known. */
static int check_refs(struct xarch_gcfg *c, cfg_t *root, struct xarch_error *err)
{
	for (size_t i = 0; i < c->n_images; i++) {
		const struct xarch_gimage *img = &c->images[i];
		for (size_t j = 0; j < img->n_parts; j++) {
			const struct xarch_gpart *p = &img->parts[j];
			cfg_t *ps = cfg_getnsec(cfg_getnsec(root, "image", (unsigned)i),
						"partition", (unsigned)j);
			if (!p->image[0]) {
				if (p->size == 0)
					return where(err, ps, EINVAL,
						     "partition '%s' has neither image nor size",
						     p->name);
				continue;
			}
			const struct xarch_gimage *ref = xarch_gcfg_image(c, p->image);
			if (ref == img)
				return where(err, ps, EINVAL,
					     "partition '%s' contains its own image", p->name);
			if (!ref && p->in_partition_table)
				return where(
				    err, ps, ENOENT,
				    "partition '%s': image '%s' is not defined in the config",
				    p->name, p->image);
			if (ref && ref->size && p->size && ref->size > p->size)
				return where(
				    err, ps, EINVAL,
				    "partition '%s': image '%s' is larger than the partition",
				    p->name, p->image);
		}
	}
	return 0;
}

/*
 * libconfuse accepts a file that ends inside a section; find the line of the
 * first '{' left open, skipping strings and comments.  0 when balanced.
 */
static int unclosed_line(const char *s)
{
	int line = 1, depth = 0, open_line[64] = {0};
	while (*s) {
		char c = *s++;
		if (c == '\n') {
			line++;
		} else if (c == '#' || (c == '/' && *s == '/')) {
			while (*s && *s != '\n')
				s++;
		} else if (c == '/' && *s == '*') {
			for (s++; *s && !(s[0] == '*' && s[1] == '/'); s++)
				line += *s == '\n';
			if (*s)
				s += 2;
		} else if (c == '"' || c == '\'') {
			for (; *s && *s != c; s++) {
				line += *s == '\n';
				if (*s == '\\' && s[1])
					line += *++s == '\n';
			}
			if (*s)
				s++;
		} else if (c == '{') {
			if (depth < 64)
				open_line[depth] = line;
			depth++;
		} else if (c == '}' && depth > 0) {
			depth--;
		}
	}
	if (depth == 0)
		return 0;
	return open_line[0] ? open_line[0] : 1;
}

static int add_searchpath(cfg_t *cfg, const char *list, struct xarch_error *err)
{
	_cleanup_free_ char *dup = strdup(list);
	if (!dup)
		return xarch_err(err, ENOMEM, "out of memory");
	char *save = NULL;
	for (char *d = strtok_r(dup, ":", &save); d; d = strtok_r(NULL, ":", &save))
		if (cfg_add_searchpath(cfg, d) != 0)
			return xarch_err(err, EINVAL, "cannot add include directory '%s'", d);
	return 0;
}

static int gcfg_parse(const char *path, const char *buf, const char *includepath,
		      struct xarch_gcfg *ret, struct xarch_error *err)
{
	struct xarch_gcfg c = {0};
	int r = 0;
	cfg_t *cfg = cfg_init(root_opts, CFGF_NONE);
	if (!cfg)
		return xarch_err(err, ENOMEM, "out of memory");
	cfg_set_error_function(cfg, gcfg_errfunc);
	memset(&gcfg_state, 0, sizeof(gcfg_state));
	gcfg_state.no_include = !path && !includepath;
	if (includepath && (r = add_searchpath(cfg, includepath, err)) < 0)
		goto out;
	if (path && !includepath) {
		_cleanup_free_ char *d = strdup(path);
		if (!d) {
			r = xarch_err(err, ENOMEM, "out of memory");
			goto out;
		}
		if ((r = add_searchpath(cfg, dirname(d), err)) < 0)
			goto out;
	}
	int pr;
	if (path) {
		/* cfg_parse() would look the file itself up in the search path */
		_cleanup_fclose_ FILE *f = fopen(path, "re");
		if (!f) {
			r = xarch_err_sys(err, errno, "cannot open '%s'", path);
			goto out;
		}
		free(cfg->filename);
		cfg->filename = strdup(path);
		if (!cfg->filename) {
			r = xarch_err(err, ENOMEM, "out of memory");
			goto out;
		}
		cfg->line = 1;
		_cleanup_free_ char *text = NULL;
		size_t n = 0;
		FILE *m = open_memstream(&text, &n);
		if (!m) {
			r = xarch_err(err, ENOMEM, "out of memory");
			goto out;
		}
		char chunk[4096];
		size_t k;
		while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
			fwrite(chunk, 1, k, m);
		fclose(m);
		int ul = text ? unclosed_line(text) : 0;
		if (ul) {
			r = xarch_err(err, EINVAL,
				      "%s:%d: section opened here is not closed at end of file",
				      path, ul);
			goto out;
		}
		rewind(f);
		pr = cfg_parse_fp(cfg, f);
	} else {
		int ul = unclosed_line(buf);
		if (ul) {
			r = xarch_err(
			    err, EINVAL,
			    "<buffer>:%d: section opened here is not closed at end of input", ul);
			goto out;
		}
		pr = cfg_parse_buf(cfg, buf);
	}
	if (pr == CFG_FILE_ERROR && !gcfg_state.set) {
		r = xarch_err_sys(err, errno ? errno : EIO, "cannot read '%s'",
				  path ? path : "<buffer>");
		goto out;
	}
	if (pr != CFG_SUCCESS) {
		r = xarch_err(err, EINVAL, "%s",
			      gcfg_state.set ? gcfg_state.msg : "genimage config: parse error");
		goto out;
	}
	cfg_t *conf = cfg_getsec(cfg, "config");
	if (conf &&
	    ((r = copy_str(c.outputpath, sizeof(c.outputpath), conf, "outputpath", err)) < 0 ||
	     (r = copy_str(c.inputpath, sizeof(c.inputpath), conf, "inputpath", err)) < 0 ||
	     (r = copy_str(c.rootpath, sizeof(c.rootpath), conf, "rootpath", err)) < 0 ||
	     (r = copy_str(c.tmppath, sizeof(c.tmppath), conf, "tmppath", err)) < 0 ||
	     (r = copy_str(c.includepath, sizeof(c.includepath), conf, "includepath", err)) < 0))
		goto out;
	unsigned ni = cfg_size(cfg, "image");
	if (ni == 0) {
		r = xarch_err(err, EINVAL, "%s: no image section", path ? path : "<buffer>");
		goto out;
	}
	c.images = calloc(ni, sizeof(*c.images));
	if (!c.images) {
		r = xarch_err(err, ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < ni; i++) {
		c.n_images++;
		if ((r = read_image(&c.images[i], cfg_getnsec(cfg, "image", i), err)) < 0)
			goto out;
	}
	if ((r = check_refs(&c, cfg, err)) < 0)
		goto out;
	*ret = c;
	memset(&c, 0, sizeof(c));
out:
	xarch_gcfg_release(&c);
	cfg_free(cfg);
	return r;
}

int xarch_gcfg_parse_file(const char *path, const char *includepath, struct xarch_gcfg *ret,
			  struct xarch_error *err)
{
	return gcfg_parse(path, NULL, includepath, ret, err);
}

int xarch_gcfg_parse_buf(const char *buf, size_t len, const char *includepath,
			 struct xarch_gcfg *ret, struct xarch_error *err)
{
	if (memchr(buf, '\0', len))
		return xarch_err(err, EINVAL, "<buffer>: NUL byte in genimage config");
	_cleanup_free_ char *z = malloc(len + 1);
	if (!z)
		return xarch_err(err, ENOMEM, "out of memory");
	memcpy(z, buf, len);
	z[len] = '\0';
	return gcfg_parse(NULL, z, includepath, ret, err);
}

void xarch_gcfg_release(struct xarch_gcfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_images; i++) {
		struct xarch_gimage *img = &c->images[i];
		for (size_t j = 0; j < img->n_opts; j++) {
			free(img->opts[j].key);
			free(img->opts[j].value);
		}
		free(img->opts);
		for (size_t j = 0; j < img->n_files; j++) {
			free(img->files[j].name);
			free(img->files[j].image);
		}
		free(img->files);
		for (size_t j = 0; j < img->n_parts; j++) {
			for (size_t k = 0; k < img->parts[j].n_holes; k++)
				free(img->parts[j].holes[k]);
			free(img->parts[j].holes);
		}
		free(img->parts);
	}
	free(c->images);
	memset(c, 0, sizeof(*c));
}

const struct xarch_gimage *xarch_gcfg_image(const struct xarch_gcfg *c, const char *name)
{
	for (size_t i = 0; i < c->n_images; i++)
		if (strcmp(c->images[i].name, name) == 0)
			return &c->images[i];
	return NULL;
}

const char *xarch_gimage_opt(const struct xarch_gimage *img, const char *key)
{
	for (size_t i = 0; i < img->n_opts; i++)
		if (strcmp(img->opts[i].key, key) == 0)
			return img->opts[i].value;
	return NULL;
}
