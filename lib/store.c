// SPDX-License-Identifier: MIT
/*
 * The local image store: unpacked images keyed by digest (see
 * include/xarch/store.h for the layout).  Every change happens under an
 * exclusive flock() on ROOT/.lock, so two pulls of one image unpack it
 * once and a removal never races a pull.  Trees appear by rename
 * (xarch_layers_unpack) and leave by rename to a hidden name first, so a
 * listing never shows half a tree.
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"
#include "xarch/store.h"

#define REFS_MAX (16u << 20)
#define META_MAX (64u << 10)

int xarch_store_root(char *buf, size_t len, struct xarch_error *err)
{
	const char *env = getenv("XARCH_STORE");
	int r;
	if (env && *env)
		r = xa_strcpy(buf, len, env);
	else if (geteuid() == 0)
		r = xa_strcpy(buf, len, "/var/lib/xarch");
	else if ((env = getenv("XDG_DATA_HOME")) && env[0] == '/')
		r = xa_snprintf(buf, len, "%s/xarch", env);
	else if ((env = getenv("HOME")) && env[0] == '/')
		r = xa_snprintf(buf, len, "%s/.local/share/xarch", env);
	else
		return xarch_err(err, ENOENT, "no store directory: set XARCH_STORE or HOME");
	if (r < 0)
		return xarch_err(err, ENAMETOOLONG, "store directory name too long");
	return 0;
}

static int root_of(const char *root, char *buf, size_t len, struct xarch_error *err)
{
	if (!root)
		return xarch_store_root(buf, len, err);
	if (xa_strcpy(buf, len, root) < 0)
		return xarch_err(err, ENAMETOOLONG, "store directory name too long");
	return 0;
}

int xarch_store_ref_key(const char *src, char *buf, size_t len, struct xarch_error *err)
{
	struct xarch_image_ref ref;
	int r = xarch_image_ref_parse(src, &ref, err);
	if (r < 0)
		return r;
	char abs[PATH_MAX];
	const char *path = ref.path;
	/* a path that does not exist (yet) is kept as written */
	if (realpath(ref.path, abs))
		path = abs;
	if (xa_snprintf(buf, len, "%s:%s%s%s", xarch_image_transport_name(ref.transport), path,
			ref.tag[0] ? ":" : "", ref.tag) < 0)
		return xarch_err(err, ENAMETOOLONG, "image reference too long: '%s'", src);
	return 0;
}

/* Create the store if needed and hold its lock; returns the lock's fd. */
static int store_lock(const char *root, struct xarch_error *err)
{
	char p[PATH_MAX];
	if (xa_snprintf(p, sizeof(p), "%s/rootfs", root) < 0)
		return xarch_err(err, ENAMETOOLONG, "store directory name too long");
	int r = xa_mkdir_p(p, 0755);
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot create '%s'", p);
	snprintf(p, sizeof(p), "%s/.lock", root);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", p);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return xarch_err_sys(err, e, "cannot lock '%s'", p);
	}
	return fd;
}

static bool is_hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

static void json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(json_putp)))

/* A JSON object from a file; a missing file is an empty object. */
static int load_object(const char *path, size_t max, json_object **ret, struct xarch_error *err)
{
	_cleanup_free_ char *s = NULL;
	size_t len;
	int r = xa_read_file(path, max, &s, &len, NULL);
	if (r == -ENOENT) {
		*ret = json_object_new_object();
		return *ret ? 0 : xarch_err(err, ENOMEM, "out of memory");
	}
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot read '%s'", path);
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return xarch_err(err, ENOMEM, "out of memory");
	json_object *o = json_tokener_parse_ex(tok, s, (int)len);
	bool good = json_tokener_get_error(tok) == json_tokener_success &&
		    json_object_is_type(o, json_type_object);
	json_tokener_free(tok);
	if (!good) {
		json_object_put(o);
		return xarch_err(err, EINVAL, "'%s' is not a JSON object", path);
	}
	*ret = o;
	return 0;
}

static int refs_load(const char *root, json_object **ret, struct xarch_error *err)
{
	char p[PATH_MAX];
	if (xa_snprintf(p, sizeof(p), "%s/refs.json", root) < 0)
		return xarch_err(err, ENAMETOOLONG, "store directory name too long");
	return load_object(p, REFS_MAX, ret, err);
}

static int save_object(const char *path, json_object *o, struct xarch_error *err)
{
	const char *s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return xarch_err(err, ENOMEM, "out of memory");
	return xa_write_atomic(path, s, strlen(s), 0644, err);
}

static int refs_save(const char *root, json_object *refs, struct xarch_error *err)
{
	char p[PATH_MAX];
	if (xa_snprintf(p, sizeof(p), "%s/refs.json", root) < 0)
		return xarch_err(err, ENAMETOOLONG, "store directory name too long");
	return save_object(p, refs, err);
}

/* The digest refs.json maps `key` to, or NULL. */
static const char *refs_lookup(json_object *refs, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(refs, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *d = json_object_get_string(v);
	return xarch_digest_valid(d) ? d : NULL;
}

/* Bytes of file data under `fd`; a file with n links inside counts 1/n
 * each time, so hard links are counted once. */
static uint64_t tree_size(int fd)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	uint64_t total = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				total += tree_size(sub);
		} else if (S_ISREG(st.st_mode)) {
			total += (uint64_t)st.st_size / (st.st_nlink ? st.st_nlink : 1);
		} else {
			total += (uint64_t)st.st_size;
		}
	}
	closedir(d);
	return total;
}

/* Remove `name` under `pfd` and everything below it.  Directories are
 * made writable first: an image may hold 0555 ones. */
static int rm_tree_at(int pfd, const char *name)
{
	if (unlinkat(pfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fchmod(fd, 0700);
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	int r = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			int k = rm_tree_at(dirfd(d), e->d_name);
			if (k < 0 && r == 0)
				r = k;
		}
	closedir(d);
	if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Real root, not root of a user namespace (which cannot mknod). */
static bool privileged(void)
{
	if (geteuid() != 0)
		return false;
	_cleanup_fclose_ FILE *f = fopen("/proc/self/uid_map", "re");
	if (!f)
		return true;
	unsigned long a = 0, b = 0, n = 0;
	return fscanf(f, "%lu %lu %lu", &a, &b, &n) == 3 && a == 0 && b == 0 && n == 4294967295ul;
}

static int meta_write(const char *root, const char *hex, const char *digest, const char *source,
		      const char *platform, uint64_t size, const char *config,
		      struct xarch_error *err)
{
	char p[PATH_MAX];
	if (xa_snprintf(p, sizeof(p), "%s/rootfs/%s.json", root, hex) < 0)
		return xarch_err(err, ENAMETOOLONG, "store directory name too long");
	_cleanup_json_ json_object *o = json_object_new_object();
	if (!o)
		return xarch_err(err, ENOMEM, "out of memory");
	json_object_object_add(o, "digest", json_object_new_string(digest));
	json_object_object_add(o, "source", json_object_new_string(source));
	json_object_object_add(o, "platform", json_object_new_string(platform));
	json_object_object_add(o, "created", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
	if (config) {
		json_object *c = json_tokener_parse(config);
		if (!c || !json_object_is_type(c, json_type_object)) {
			json_object_put(c);
			return xarch_err(err, EINVAL,
					 "the image config to keep is not a JSON object");
		}
		json_object_object_add(o, "config", c);
	}
	return save_object(p, o, err);
}

int xarch_store_get(const char *src, const struct xarch_store_opts *o, char *ret_path, size_t len,
		    bool *ret_reused, struct xarch_error *err)
{
	char root[PATH_MAX], key[4400];
	int r = root_of(o ? o->root : NULL, root, sizeof(root), err);
	if (r < 0)
		return r;
	struct xarch_image_ref ref;
	if ((r = xarch_image_ref_parse(src, &ref, err)) < 0)
		return r;
	if (o && o->name)
		r = xarch_store_name(o->name, key, sizeof(key), err);
	else
		r = xarch_store_ref_key(src, key, sizeof(key), err);
	if (r < 0)
		return r;
	_cleanup_json_ json_object *refs = NULL;
	_cleanup_close_ int lock = store_lock(root, err);
	if (lock < 0)
		return lock;

	/* archives are unpacked inside the store: same filesystem, cleaned
	 * up by xarch_image_free() */
	struct xarch_image_opts io = {.platform = o ? o->platform : NULL, .tmpdir = root};
	struct xarch_image *img;
	if ((r = xarch_image_open(&ref, &io, &img, err)) < 0)
		return r;
	char digest[XARCH_DIGEST_LEN + 1], path[PATH_MAX];
	if (xa_strcpy(digest, sizeof(digest), xarch_image_digest(img)) < 0 ||
	    !xarch_digest_valid(digest)) {
		r = xarch_err(err, EINVAL, "'%s' has no digest to store it under", src);
		goto out;
	}
	if (xa_snprintf(path, sizeof(path), "%s/rootfs/%s", root, digest + 7) < 0) {
		r = xarch_err(err, ENAMETOOLONG, "store directory name too long");
		goto out;
	}
	struct stat st;
	bool reused = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
	const char *config = o ? o->config : NULL;
	if (reused && config) {
		/* the same tree built again: keep its (maybe new) config */
		char mp[PATH_MAX];
		_cleanup_json_ json_object *meta = NULL;
		if (xa_snprintf(mp, sizeof(mp), "%s/rootfs/%s.json", root, digest + 7) == 0 &&
		    load_object(mp, META_MAX, &meta, NULL) == 0) {
			json_object *c = json_tokener_parse(config);
			if (c) {
				json_object_object_add(meta, "config", c);
				save_object(mp, meta, NULL);
			}
		}
	}
	if (!reused) {
		struct xarch_layer_opts lo = {.privileged = privileged(),
					      .keep_owner = geteuid() == 0};
		if (o && o->layer)
			lo = *o->layer;
		size_t n;
		const char *const *layers = xarch_image_layers(img, &n);
		lo.diff_ids = xarch_image_diff_ids(img);
		if ((r = xarch_layers_unpack(layers, n, path, &lo, err)) < 0)
			goto out;
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		uint64_t size = fd >= 0 ? tree_size(fd) : 0;
		r = meta_write(root, digest + 7, digest, key, xarch_image_platform(img), size,
			       config, err);
		if (r < 0)
			goto out;
	}
	if ((r = refs_load(root, &refs, err)) < 0)
		goto out;
	const char *had = refs_lookup(refs, key);
	if (!had || strcmp(had, digest)) {
		json_object_object_add(refs, key, json_object_new_string(digest));
		if ((r = refs_save(root, refs, err)) < 0)
			goto out;
	}
	if (xa_strcpy(ret_path, len, path) < 0) {
		r = xarch_err(err, ENAMETOOLONG, "store path too long");
		goto out;
	}
	if (ret_reused)
		*ret_reused = reused;
	r = 0;
out:
	xarch_image_free(img);
	return r;
}

static void entry_release(struct xarch_store_entry *e)
{
	for (size_t i = 0; i < e->n_refs; i++)
		free(e->refs[i]);
	free(e->refs);
	e->refs = NULL;
	e->n_refs = 0;
}

void xarch_store_list_free(struct xarch_store_entry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++)
		entry_release(&e[i]);
	free(e);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* newest first, then by digest */
static int cmp_entry(const void *a, const void *b)
{
	const struct xarch_store_entry *x = a, *y = b;
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return strcmp(x->digest, y->digest);
}

static void meta_read(const char *root, struct xarch_store_entry *e)
{
	char p[PATH_MAX];
	if (xa_snprintf(p, sizeof(p), "%s/rootfs/%s.json", root, e->digest + 7) < 0)
		return;
	_cleanup_json_ json_object *o = NULL;
	if (load_object(p, META_MAX, &o, NULL) < 0)
		return;
	json_object *v;
	if (json_object_object_get_ex(o, "source", &v) && json_object_is_type(v, json_type_string))
		xa_strcpy(e->source, sizeof(e->source), json_object_get_string(v));
	if (json_object_object_get_ex(o, "platform", &v) &&
	    json_object_is_type(v, json_type_string))
		xa_strcpy(e->platform, sizeof(e->platform), json_object_get_string(v));
	if (json_object_object_get_ex(o, "created", &v) && json_object_is_type(v, json_type_int))
		e->created = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "size", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) >= 0)
		e->size = (uint64_t)json_object_get_int64(v);
}

static int add_ref(struct xarch_store_entry *e, const char *key)
{
	char **n = reallocarray(e->refs, e->n_refs + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	e->refs = n;
	if (!(e->refs[e->n_refs] = strdup(key)))
		return -ENOMEM;
	e->n_refs++;
	return 0;
}

int xarch_store_list(const char *root_opt, struct xarch_store_entry **ret, size_t *ret_n,
		     struct xarch_error *err)
{
	char root[PATH_MAX], p[PATH_MAX];
	int r = root_of(root_opt, root, sizeof(root), err);
	if (r < 0)
		return r;
	if (xa_snprintf(p, sizeof(p), "%s/rootfs", root) < 0)
		return xarch_err(err, ENAMETOOLONG, "store directory name too long");
	_cleanup_closedir_ DIR *d = opendir(p);
	if (!d && errno != ENOENT)
		return xarch_err_sys(err, errno, "cannot open '%s'", p);
	struct xarch_store_entry *v = NULL;
	size_t n = 0;
	for (struct dirent *de; d && (de = readdir(d));) {
		struct stat st;
		if (!is_hex64(de->d_name) || fstatat(dirfd(d), de->d_name, &st, 0) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		struct xarch_store_entry *nv = reallocarray(v, n + 1, sizeof(*nv));
		if (!nv) {
			xarch_store_list_free(v, n);
			return xarch_err(err, ENOMEM, "out of memory");
		}
		v = nv;
		struct xarch_store_entry *e = &v[n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->digest, sizeof(e->digest), "sha256:%.64s", de->d_name);
		snprintf(e->path, sizeof(e->path), "%s/%.64s", p, de->d_name);
		meta_read(root, e);
	}
	_cleanup_json_ json_object *refs = NULL;
	if ((r = refs_load(root, &refs, err)) < 0) {
		xarch_store_list_free(v, n);
		return r;
	}
	json_object_object_foreach(refs, key, val)
	{
		if (!json_object_is_type(val, json_type_string))
			continue;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v[i].digest, json_object_get_string(val)) &&
			    add_ref(&v[i], key) < 0) {
				xarch_store_list_free(v, n);
				return xarch_err(err, ENOMEM, "out of memory");
			}
	}
	for (size_t i = 0; i < n; i++)
		qsort(v[i].refs, v[i].n_refs, sizeof(char *), cmp_str);
	if (n)
		qsort(v, n, sizeof(*v), cmp_entry);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* The hex of the entry `what` names, from the entries present under `dir`. */
static int resolve(DIR *d, json_object *refs, const char *what, char hex[65],
		   struct xarch_error *err)
{
	char key[4400];
	const char *dg = refs_lookup(refs, what);
	if (!dg && xarch_store_ref_key(what, key, sizeof(key), NULL) == 0)
		dg = refs_lookup(refs, key);
	if (dg) {
		memcpy(hex, dg + 7, 65);
		return 0;
	}
	const char *pre = !strncmp(what, "sha256:", 7) ? what + 7 : what;
	size_t pl = strlen(pre);
	if (pl < 4 || pl > 64 || strspn(pre, "0123456789abcdef") != pl)
		return xarch_err(err, ENOENT, "no image '%s' in the store", what);
	int found = 0;
	rewinddir(d);
	for (struct dirent *de; (de = readdir(d));)
		if (is_hex64(de->d_name) && !strncmp(de->d_name, pre, pl)) {
			if (found++)
				return xarch_err(err, EINVAL,
						 "'%s' names more than one image; give more digits",
						 what);
			memcpy(hex, de->d_name, 65);
		}
	if (!found)
		return xarch_err(err, ENOENT, "no image '%s' in the store", what);
	return 0;
}

int xarch_store_remove(const char *root_opt, const char *what,
		       char ret_digest[XARCH_DIGEST_LEN + 1], struct xarch_error *err)
{
	char root[PATH_MAX], p[PATH_MAX], hex[65], hidden[80];
	int r = root_of(root_opt, root, sizeof(root), err);
	if (r < 0)
		return r;
	if (xa_snprintf(p, sizeof(p), "%s/rootfs", root) < 0)
		return xarch_err(err, ENAMETOOLONG, "store directory name too long");
	struct stat st;
	if (stat(p, &st) < 0)
		return xarch_err(err, ENOENT, "no image '%s' in the store", what);
	_cleanup_close_ int lock = store_lock(root, err);
	if (lock < 0)
		return lock;
	_cleanup_closedir_ DIR *d = opendir(p);
	if (!d)
		return xarch_err_sys(err, errno, "cannot open '%s'", p);
	_cleanup_json_ json_object *refs = NULL;
	if ((r = refs_load(root, &refs, err)) < 0 || (r = resolve(d, refs, what, hex, err)) < 0)
		return r;
	char digest[XARCH_DIGEST_LEN + 1];
	snprintf(digest, sizeof(digest), "sha256:%s", hex);

	/* out of sight first, then the slow part */
	snprintf(hidden, sizeof(hidden), ".rm-%s", hex);
	rm_tree_at(dirfd(d), hidden);
	if (renameat(dirfd(d), hex, dirfd(d), hidden) < 0 && errno != ENOENT)
		return xarch_err_sys(err, errno, "cannot remove '%s/%s'", p, hex);
	char meta[80];
	snprintf(meta, sizeof(meta), "%s.json", hex);
	unlinkat(dirfd(d), meta, 0);

	/* drop every name of it */
	_cleanup_json_ json_object *kept = json_object_new_object();
	if (!kept)
		return xarch_err(err, ENOMEM, "out of memory");
	bool dropped = false;
	json_object_object_foreach(refs, key, val)
	{
		if (json_object_is_type(val, json_type_string) &&
		    !strcmp(json_object_get_string(val), digest))
			dropped = true;
		else
			json_object_object_add(kept, key, json_object_get(val));
	}
	if (dropped && (r = refs_save(root, kept, err)) < 0)
		return r;
	if ((r = rm_tree_at(dirfd(d), hidden)) < 0)
		return xarch_err_sys(err, -r, "cannot remove '%s/%s'", p, hidden);
	if (ret_digest)
		memcpy(ret_digest, digest, sizeof(digest));
	return 0;
}

int xarch_store_name(const char *name, char *buf, size_t len, struct xarch_error *err)
{
	if (!name || !*name || strchr(name, ' ') || strchr(name, '@'))
		return xarch_err(err, EINVAL, "bad image name '%s'", name ? name : "");
	const char *slash = strrchr(name, '/'), *colon = strrchr(name, ':');
	bool tagged = colon && (!slash || colon > slash);
	if (xa_snprintf(buf, len, "%s%s", name, tagged ? "" : ":latest") < 0)
		return xarch_err(err, ENAMETOOLONG, "image name too long: '%s'", name);
	return 0;
}

int xarch_store_find(const char *root_opt, const char *name, struct xarch_store_entry *ret,
		     char **ret_config, struct xarch_error *err)
{
	char root[PATH_MAX], key[4400], p[PATH_MAX];
	int r = root_of(root_opt, root, sizeof(root), err);
	if (r < 0)
		return r;
	_cleanup_json_ json_object *refs = NULL;
	if ((r = refs_load(root, &refs, err)) < 0)
		return r;
	const char *dg = refs_lookup(refs, name);
	if (!dg && xarch_store_name(name, key, sizeof(key), NULL) == 0)
		dg = refs_lookup(refs, key);
	if (!dg && xarch_store_ref_key(name, key, sizeof(key), NULL) == 0)
		dg = refs_lookup(refs, key);
	if (!dg)
		return xarch_err(err, ENOENT, "no image '%s' in the store", name);
	struct xarch_store_entry e;
	memset(&e, 0, sizeof(e));
	snprintf(e.digest, sizeof(e.digest), "%s", dg);
	if (xa_snprintf(e.path, sizeof(e.path), "%s/rootfs/%s", root, dg + 7) < 0)
		return xarch_err(err, ENAMETOOLONG, "store directory name too long");
	struct stat st;
	if (stat(e.path, &st) < 0 || !S_ISDIR(st.st_mode))
		return xarch_err(err, ENOENT, "image '%s' names %s, which is not in the store",
				 name, dg);
	meta_read(root, &e);
	if (ret_config) {
		*ret_config = NULL;
		_cleanup_json_ json_object *o = NULL;
		json_object *c;
		if (xa_snprintf(p, sizeof(p), "%s/rootfs/%s.json", root, dg + 7) == 0 &&
		    load_object(p, META_MAX, &o, NULL) == 0 &&
		    json_object_object_get_ex(o, "config", &c) &&
		    json_object_is_type(c, json_type_object)) {
			const char *s = json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN);
			if (s && !(*ret_config = strdup(s)))
				return xarch_err(err, ENOMEM, "out of memory");
		}
	}
	*ret = e;
	return 0;
}
