// SPDX-License-Identifier: MIT
/*
 * Where ld.so would find an executable's libraries, inside a sysroot.
 *
 * The order is glibc's (elf/dl-load.c, _dl_map_object): a name with a
 * slash is a path; otherwise DT_RPATH of the loading object and of the
 * objects that loaded it (only while the loader has no DT_RUNPATH),
 * LD_LIBRARY_PATH (deliberately not used: it belongs to the host), the
 * loader's own DT_RUNPATH, the directories of /etc/ld.so.conf (what
 * ld.so.cache is built from), the Debian multiarch directories, and the
 * built-in defaults.  A file only counts when it is an ELF of the same
 * class, byte order and machine: ld.so skips others and keeps searching.
 *
 * Every path is opened inside the sysroot with RESOLVE_IN_ROOT semantics,
 * so an absolute symlink such as lib/libc.so.6 -> /lib/x/libc.so.6 means
 * the sysroot's /lib, never the host's.
 */
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "internal.h"
#include "xarch/elf.h"
#include "xarch/rootfs.h"



#define MAX_SYMLINKS   40
#define MAX_DEPS       4096
#define MAX_CONF_DEPTH 8
#define MAX_CONF_SIZE  (1u << 20)

/* A growable list of owned strings. */
struct strv {
	char **v;
	size_t n, cap;
};

static int strv_push(struct strv *s, const char *str)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	char *d = strdup(str);
	if (!d)
		return -ENOMEM;
	s->v[s->n++] = d;
	return 0;
}

static bool strv_has(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return true;
	return false;
}

static int strv_add_unique(struct strv *s, const char *str)
{
	return strv_has(s, str) ? 0 : strv_push(s, str);
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	*s = (struct strv){0};
}

static int strcmpp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One loaded object: what its libraries are searched with. */
struct obj {
	char *dir; /* in-root directory, for $ORIGIN; NULL if unknown */
	char *rpath, *runpath;
	ssize_t parent; /* the object that loaded it, -1 for the executable */
};

struct pending {
	char *name;
	size_t loader;
};

struct ldctx {
	int rootfd;
	const struct xarch_elf_info *main;
	struct strv conf;   /* from ld.so.conf, in file order */
	struct strv system; /* multiarch and default directories */
	struct strv seen;   /* names already satisfied or reported */
	struct obj *objs;
	size_t n_objs, cap_objs;
	struct pending *queue;
	size_t q_head, q_n, q_cap;
	struct xarch_deps out;
	size_t cap_deps;
};

/* Drop trailing slashes ("/usr/lib/" -> "/usr/lib"), keep "/". */
static void trim_slashes(char *s)
{
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
}

static int conf_file(struct ldctx *x, const char *path, int depth);

/* `include PATTERN`: like ldconfig's glob(), wildcards in the last
 * component only, matches in sorted order. */
static int conf_glob(struct ldctx *x, const char *pattern, int depth)
{
	char dir[PATH_MAX], path[PATH_MAX];
	const char *slash = strrchr(pattern, '/');
	if (!slash)
		return 0;
	const char *base = slash + 1;
	if (!strpbrk(base, "*?["))
		return conf_file(x, pattern, depth);
	size_t dl = (size_t)(slash - pattern);
	if (dl >= sizeof(dir))
		return 0;
	memcpy(dir, pattern, dl);
	dir[dl] = '\0';
	if (strpbrk(dir, "*?["))
		return 0; /* wildcards in directories: not supported */
	int fd = xarch_root_open(x->rootfd, dl ? dir : "/", O_RDONLY | O_DIRECTORY, 0, NULL);
	if (fd < 0)
		return 0;
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	struct strv names = {0};
	struct dirent *e;
	int r = 0;
	while ((e = readdir(d)) && r == 0)
		if (fnmatch(base, e->d_name, FNM_PERIOD) == 0)
			r = strv_push(&names, e->d_name);
	if (r == 0 && names.n)
		qsort(names.v, names.n, sizeof(*names.v), strcmpp);
	for (size_t i = 0; i < names.n && r == 0; i++)
		if (xa_snprintf(path, sizeof(path), "%s/%s", dir, names.v[i]) == 0)
			r = conf_file(x, path, depth);
	strv_free(&names);
	return r;
}

/* One ld.so.conf file: directories, `include` lines, `hwcap` lines
 * (ignored), `#` comments.  Unreadable files are skipped like ldconfig
 * does; only running out of memory is an error. */
static int conf_file(struct ldctx *x, const char *path, int depth)
{
	if (depth > MAX_CONF_DEPTH)
		return 0;
	_cleanup_close_ int fd = xarch_root_open(x->rootfd, path, O_RDONLY, 0, NULL);
	if (fd < 0)
		return 0;
	_cleanup_free_ char *text = NULL;
	int r = xa_read_fd(fd, MAX_CONF_SIZE, &text, NULL);
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	char here[PATH_MAX];
	if (xa_strcpy(here, sizeof(here), path) < 0)
		return 0;
	char *s = strrchr(here, '/');
	if (s)
		s[s == here ? 1 : 0] = '\0';
	else
		strcpy(here, "/");
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && r == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "#")] = '\0';
		line += strspn(line, " \t\r");
		bool inc = strncmp(line, "include", 7) == 0 && (line[7] == ' ' || line[7] == '\t');
		if (strncmp(line, "hwcap", 5) == 0 && (line[5] == ' ' || line[5] == '\t'))
			continue;
		char *tsave = NULL;
		for (char *tok = strtok_r(inc ? line + 7 : line, inc ? " \t\r" : " \t\r,:", &tsave);
		     tok && r == 0; tok = strtok_r(NULL, inc ? " \t\r" : " \t\r,:", &tsave)) {
			if (inc) {
				char pat[PATH_MAX];
				if (tok[0] == '/')
					r = conf_glob(x, tok, depth + 1);
				else if (xa_snprintf(pat, sizeof(pat), "%s%s%s", here,
						     strcmp(here, "/") ? "/" : "", tok) == 0)
					r = conf_glob(x, pat, depth + 1);
				continue;
			}
			tok[strcspn(tok, "=")] = '\0'; /* "dir=TYPE" */
			if (tok[0] != '/')
				continue;
			trim_slashes(tok);
			r = strv_add_unique(&x->conf, tok);
		}
	}
	return r;
}

static int system_dirs(struct ldctx *x)
{
	const struct xarch_elf_info *m = x->main;
	const struct xarch_arch *a = m->arch;
	char buf[PATH_MAX], abi[32];
	int r = 0;
	if (a && a->triplet) {
		if (xa_snprintf(buf, sizeof(buf), "/lib/%s", a->triplet) == 0)
			r = strv_add_unique(&x->system, buf);
		if (r == 0 && xa_snprintf(buf, sizeof(buf), "/usr/lib/%s", a->triplet) == 0)
			r = strv_add_unique(&x->system, buf);
	}
	/* glibc's riscv slibdir is /lib64/lp64d and friends */
	if (r == 0 && m->machine == 243) {
		size_t n = strcspn(m->abi, " ,");
		if (n > 0 && n < sizeof(abi)) {
			memcpy(abi, m->abi, n);
			abi[n] = '\0';
			const char *lib = m->elf_class == XARCH_ELF64 ? "lib64" : "lib32";
			if (xa_snprintf(buf, sizeof(buf), "/%s/%s", lib, abi) == 0)
				r = strv_add_unique(&x->system, buf);
			if (r == 0 && xa_snprintf(buf, sizeof(buf), "/usr/%s/%s", lib, abi) == 0)
				r = strv_add_unique(&x->system, buf);
		}
	}
	/* MIPS n32 keeps its libraries in lib32 */
	if (r == 0 && m->machine == 8 && m->elf_class == XARCH_ELF32 && (m->eflags & 0x20)) {
		r = strv_add_unique(&x->system, "/lib32");
		if (r == 0)
			r = strv_add_unique(&x->system, "/usr/lib32");
	}
	if (r == 0 && m->elf_class == XARCH_ELF64) {
		r = strv_add_unique(&x->system, "/lib64");
		if (r == 0)
			r = strv_add_unique(&x->system, "/usr/lib64");
	}
	if (r == 0)
		r = strv_add_unique(&x->system, "/lib");
	if (r == 0)
		r = strv_add_unique(&x->system, "/usr/lib");
	return r;
}

/* Is the ELF at `path` (inside the root) one ld.so would load for the
 * main program?  1 and its parsed info, 0 if missing or the wrong ELF. */
static int try_lib(struct ldctx *x, const char *path, struct xarch_elf_info *ret)
{
	_cleanup_close_ int fd = xarch_root_open(x->rootfd, path, O_RDONLY, 0, NULL);
	if (fd < 0)
		return 0;
	/* a cheap look at the identification first: most wrong files are
	 * linker scripts or other classes */
	uint8_t h[20];
	const struct xarch_elf_info *m = x->main;
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(h,
		   "\x7f"
		   "ELF",
		   4) != 0 ||
	    h[4] != m->elf_class || h[5] != m->elf_data)
		return 0;
	struct xarch_elf_info li;
	if (xarch_elf_parse_fd(fd, NULL, &li, NULL) < 0)
		return 0;
	bool same = m->arch ? li.arch == m->arch : li.machine == m->machine;
	if (!same || li.type != 3) { /* ld.so loads only ET_DYN */
		xarch_elf_info_release(&li);
		return 0;
	}
	*ret = li;
	return 1;
}

static int join(char *buf, size_t len, const char *dir, const char *name)
{
	size_t n = strlen(dir);
	return xa_snprintf(buf, len, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

/* Expand $ORIGIN and ${ORIGIN} in one RPATH/RUNPATH entry; -ENOENT when
 * the origin is unknown.  Other tokens ($LIB, $PLATFORM) are left as
 * they are and so simply match nothing. */
static int expand_origin(const char *entry, size_t n, const char *origin, char *buf, size_t len)
{
	size_t w = 0;
	for (size_t i = 0; i < n;) {
		size_t skip = 0;
		if (strncmp(entry + i, "$ORIGIN", 7) == 0 && (i + 7 >= n || entry[i + 7] == '/'))
			skip = 7;
		else if (strncmp(entry + i, "${ORIGIN}", 9) == 0 && i + 9 <= n)
			skip = 9;
		if (skip) {
			if (!origin)
				return -ENOENT;
			size_t ol = strlen(origin);
			if (w + ol >= len)
				return -ENAMETOOLONG;
			memcpy(buf + w, origin, ol);
			w += ol;
			i += skip;
			continue;
		}
		if (w + 1 >= len)
			return -ENAMETOOLONG;
		buf[w++] = entry[i++];
	}
	buf[w] = '\0';
	return 0;
}

/* Try each directory of a ':'-separated list. */
static int try_pathlist(struct ldctx *x, const char *list, const char *origin, const char *name,
			char *ret_path, size_t path_len, struct xarch_elf_info *ret)
{
	char dir[PATH_MAX];
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ":");
		/* empty entries mean the current directory: meaningless here */
		if (n > 0 && expand_origin(p, n, origin, dir, sizeof(dir)) == 0 && dir[0] &&
		    join(ret_path, path_len, dir, name) == 0 && try_lib(x, ret_path, ret))
			return 1;
		p += n;
		if (*p == ':')
			p++;
	}
	return 0;
}

static int try_dirs(struct ldctx *x, const struct strv *dirs, const char *name, char *ret_path,
		    size_t path_len, struct xarch_elf_info *ret)
{
	for (size_t i = 0; i < dirs->n; i++)
		if (join(ret_path, path_len, dirs->v[i], name) == 0 && try_lib(x, ret_path, ret))
			return 1;
	return 0;
}

static int search(struct ldctx *x, size_t loader, const char *name, char *ret_path, size_t path_len,
		  struct xarch_elf_info *ret)
{
	if (strchr(name, '/'))
		return xa_strcpy(ret_path, path_len, name) == 0 && try_lib(x, name, ret);
	const struct obj *l = &x->objs[loader];
	if (!l->runpath) {
		/* DT_RPATH of the loader, then of whoever loaded it */
		for (ssize_t i = (ssize_t)loader; i >= 0; i = x->objs[i].parent) {
			const struct obj *o = &x->objs[i];
			if (o->rpath && !o->runpath &&
			    try_pathlist(x, o->rpath, o->dir, name, ret_path, path_len, ret))
				return 1;
		}
	} else if (try_pathlist(x, l->runpath, l->dir, name, ret_path, path_len, ret)) {
		return 1;
	}
	return try_dirs(x, &x->conf, name, ret_path, path_len, ret) ||
	       try_dirs(x, &x->system, name, ret_path, path_len, ret);
}

static int add_dep(struct ldctx *x, const char *name, const char *path, bool is_interp)
{
	if (x->out.n == MAX_DEPS)
		return -E2BIG;
	if (x->out.n == x->cap_deps) {
		size_t cap = x->cap_deps ? x->cap_deps * 2 : 8;
		struct xarch_dep *nd = realloc(x->out.deps, cap * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		x->out.deps = nd;
		x->cap_deps = cap;
	}
	struct xarch_dep *d = &x->out.deps[x->out.n++];
	memset(d, 0, sizeof(*d));
	xa_strcpy(d->name, sizeof(d->name), name);
	d->found = path != NULL;
	d->is_interp = is_interp;
	if (path)
		xa_strcpy(d->path, sizeof(d->path), path);
	else
		x->out.n_missing++;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Record a loaded object and queue its DT_NEEDED entries. */
static int add_obj(struct ldctx *x, const struct xarch_elf_info *info, const char *dir,
		   ssize_t parent)
{
	if (x->n_objs == x->cap_objs) {
		size_t cap = x->cap_objs ? x->cap_objs * 2 : 8;
		struct obj *no = realloc(x->objs, cap * sizeof(*no));
		if (!no)
			return -ENOMEM;
		x->objs = no;
		x->cap_objs = cap;
	}
	struct obj *o = &x->objs[x->n_objs];
	*o = (struct obj){.dir = dup_or_null(dir),
			  .rpath = dup_or_null(info->rpath),
			  .runpath = dup_or_null(info->runpath),
			  .parent = parent};
	if ((dir && !o->dir) || (info->rpath && !o->rpath) || (info->runpath && !o->runpath)) {
		free(o->dir);
		free(o->rpath);
		free(o->runpath);
		return -ENOMEM;
	}
	size_t idx = x->n_objs++;
	for (size_t i = 0; i < info->n_needed; i++) {
		if (x->q_n == x->q_cap) {
			size_t cap = x->q_cap ? x->q_cap * 2 : 16;
			struct pending *nq = realloc(x->queue, cap * sizeof(*nq));
			if (!nq)
				return -ENOMEM;
			x->queue = nq;
			x->q_cap = cap;
		}
		char *name = strdup(info->needed[i]);
		if (!name)
			return -ENOMEM;
		x->queue[x->q_n++] = (struct pending){.name = name, .loader = idx};
	}
	return 0;
}

static void dirname_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path) {
		xa_strcpy(buf, len, "/");
		return;
	}
	size_t n = (size_t)(slash - path);
	if (n >= len)
		n = len - 1;
	memcpy(buf, path, n);
	buf[n] = '\0';
}

static void search_string(struct ldctx *x)
{
	char *s = x->out.search;
	size_t len = sizeof(x->out.search), w = 0;
	s[0] = '\0';
	const struct strv *lists[] = {&x->conf, &x->system};
	for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
		for (size_t i = 0; i < lists[l]->n; i++) {
			size_t n = strlen(lists[l]->v[i]);
			if (w + n + 2 > len)
				return;
			if (w)
				s[w++] = ':';
			memcpy(s + w, lists[l]->v[i], n + 1);
			w += n;
		}
}

static int resolve(struct ldctx *x, const char *origin)
{
	int r = conf_file(x, "/etc/ld.so.conf", 0);
	if (r == 0)
		r = system_dirs(x);
	if (r < 0)
		return r;
	search_string(x);

	const struct xarch_elf_info *m = x->main;
	char path[PATH_MAX];
	struct xarch_elf_info li;
	if (m->interp) {
		bool found = try_lib(x, m->interp, &li);
		r = add_dep(x, m->interp, found ? m->interp : NULL, true);
		const char *base = strrchr(m->interp, '/');
		if (r == 0)
			r = strv_add_unique(&x->seen, base ? base + 1 : m->interp);
		if (r == 0)
			r = strv_add_unique(&x->seen, m->interp);
		if (found) {
			if (r == 0 && li.soname)
				r = strv_add_unique(&x->seen, li.soname);
			xarch_elf_info_release(&li);
		}
		if (r < 0)
			return r;
	}
	r = add_obj(x, m, origin, -1);
	/* breadth first: the queue grows at the tail while we walk it */
	while (r == 0 && x->q_head < x->q_n) {
		/* add_obj() may move the queue: copy what we need */
		const char *name = x->queue[x->q_head].name;
		size_t loader = x->queue[x->q_head].loader;
		x->q_head++;
		if (strv_has(&x->seen, name))
			continue;
		r = strv_push(&x->seen, name);
		if (r < 0)
			break;
		if (!search(x, loader, name, path, sizeof(path), &li)) {
			r = add_dep(x, name, NULL, false);
			continue;
		}
		char dir[PATH_MAX];
		dirname_of(path, dir, sizeof(dir));
		r = add_dep(x, name, path, false);
		if (r == 0 && li.soname)
			r = strv_add_unique(&x->seen, li.soname);
		if (r == 0)
			r = add_obj(x, &li, dir, (ssize_t)loader);
		xarch_elf_info_release(&li);
	}
	return r;
}

int xarch_elf_resolve_deps_origin(const struct xarch_elf_info *info, const char *origin,
				  const char *sysroot, struct xarch_deps *ret,
				  struct xarch_error *err)
{
	_cleanup_close_ int rootfd = open(sysroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return xarch_err_sys(err, errno, "cannot open sysroot '%s'", sysroot);
	struct ldctx x = {.rootfd = rootfd, .main = info};
	int r = resolve(&x, origin);
	strv_free(&x.conf);
	strv_free(&x.system);
	strv_free(&x.seen);
	for (size_t i = 0; i < x.n_objs; i++) {
		free(x.objs[i].dir);
		free(x.objs[i].rpath);
		free(x.objs[i].runpath);
	}
	free(x.objs);
	for (size_t i = 0; i < x.q_n; i++)
		free(x.queue[i].name);
	free(x.queue);
	if (r == -E2BIG) {
		xarch_deps_release(&x.out);
		return xarch_err(err, E2BIG, "more than %d libraries below '%s'", MAX_DEPS,
				 sysroot);
	}
	if (r < 0) {
		xarch_deps_release(&x.out);
		return xarch_err(err, -r, "cannot resolve libraries in '%s': %s", sysroot,
				 strerror(-r));
	}
	*ret = x.out;
	return 0;
}

int xarch_elf_resolve_deps(const struct xarch_elf_info *info, const char *sysroot,
			   struct xarch_deps *ret, struct xarch_error *err)
{
	return xarch_elf_resolve_deps_origin(info, NULL, sysroot, ret, err);
}

void xarch_deps_release(struct xarch_deps *d)
{
	if (!d)
		return;
	free(d->deps);
	d->deps = NULL;
	d->n = d->n_missing = 0;
}
