// SPDX-License-Identifier: MIT
/*
 * `xarch bootstrap`: a target root filesystem from a distribution mirror,
 * through the distribution's own bootstrapper (mmdebstrap, debootstrap,
 * dnf --installroot).  What xarch adds: one front end and arch names from
 * the arch table, a quick check of the mirror before anything is
 * downloaded, emulation of foreign maintainer scripts without touching the
 * host's binfmt_misc, output that appears atomically, and a summary.
 *
 * Emulation.  mmdebstrap and rpm run the target's maintainer scripts in a
 * chroot, so foreign binaries must run through binfmt_misc with the F
 * flag.  The tool runs in a child that unshares a user and mount
 * namespace (identity maps for root, /etc/subuid ranges otherwise) and
 * mounts a private binfmt_misc holding only xarch-<arch> (Linux >= 6.7);
 * the kernel looks binfmt entries up through the user namespace's
 * ancestors, so the namespaces mmdebstrap --mode=unshare creates below it
 * see the entry too.  Inside, the tool is root: mmdebstrap runs in unshare
 * mode (bind-mounted /dev, its own pid namespace for /proc), dnf as root.
 * On older kernels root gets a host entry xarch-<arch> for the run, removed
 * afterwards (only if this run added it).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "internal.h"
#include "xarch/binfmt.h"
#include "xarch/bootstrap.h"
#include "xarch/exec.h"
#include "xarch/idmap.h"
#include "xarch/probe.h"
#include "xarch/spawn.h"
#include "xarch/userns.h"

extern char **environ;

/* ---- distributions ------------------------------------------------------ */

static const struct xarch_distro distros[] = {
    {
	.name = "debian",
	.family = XARCH_DISTRO_DEB,
	.mirror = "http://deb.debian.org/debian",
	.suite = "stable",
    },
    {
	.name = "ubuntu",
	.family = XARCH_DISTRO_DEB,
	.mirror = "http://archive.ubuntu.com/ubuntu",
	.ports_mirror = "http://ports.ubuntu.com/ubuntu-ports",
	.suite = "noble",
    },
    {
	/* the seed's recipe: openEuler's own repository layout, the
	 * package set of its Dockerfile */
	.name = "openeuler",
	.family = XARCH_DISTRO_RPM,
	.mirror = "https://repo.openeuler.org/openEuler-{R}/OS/$basearch/,"
		  "https://repo.openeuler.org/openEuler-{R}/everything/$basearch/",
	.suite = "24.03LTS",
	.packages = "coreutils,rpm,dnf,yum,bash,findutils,procps,tar",
	.gpgkey = "https://repo.openeuler.org/openEuler-{R}/OS/$basearch/"
		  "RPM-GPG-KEY-openEuler",
	.rpm_dbpath = "/var/lib/rpm",
    },
    {
	.name = "fedora",
	.family = XARCH_DISTRO_RPM,
	.mirror = "https://dl.fedoraproject.org/pub/fedora/linux/releases/$releasever/"
		  "Everything/$basearch/os/",
	.suite = "41",
	.packages = "coreutils,rpm,dnf,bash,findutils,procps-ng,tar",
	.rpm_dbpath = "/usr/lib/sysimage/rpm",
    },
    {
	/* any rpm distribution: --repo and --releasever are required */
	.name = "rpm",
	.family = XARCH_DISTRO_RPM,
	.rpm_dbpath = "/var/lib/rpm",
    },
};

const struct xarch_distro *xarch_distro_table(size_t *ret_n)
{
	*ret_n = ARRAY_SIZE(distros);
	return distros;
}

const struct xarch_distro *xarch_distro_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(distros); i++)
		if (strcmp(distros[i].name, name) == 0)
			return &distros[i];
	return NULL;
}

const char *xarch_bootstrap_emu_str(enum xarch_bootstrap_emu e)
{
	switch (e) {
	case XARCH_EMU_NONE:
		return "native";
	case XARCH_EMU_PRIVATE:
		return "private binfmt_misc";
	case XARCH_EMU_HOST:
		return "host binfmt_misc";
	case XARCH_EMU_HOST_TEMP:
		return "host binfmt_misc (temporary entry)";
	}
	return "?";
}

/* ---- Release files and apt sources ---------------------------------------- */

bool xarch_word_in(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t m = strcspn(p, " \t");
		if (m == n && n && strncmp(p, word, n) == 0)
			return true;
		p += m;
	}
	return false;
}

/* "Fri, 06 Nov 2026 08:08:01 UTC" (RFC 2822 as apt writes it); -1 when
 * not that.  Month names are parsed here: strptime's %b follows the locale. */
static int64_t parse_rfc2822(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *comma = strchr(s, ',');
	if (comma)
		s = comma + 1;
	int day, year, h, mi, sec;
	char mon[4];
	if (sscanf(s, " %d %3s %d %d:%d:%d", &day, mon, &year, &h, &mi, &sec) != 6)
		return -1;
	const char *m = strstr(months, mon);
	if (!m || strlen(mon) != 3 || (m - months) % 3)
		return -1;
	struct tm tm = {.tm_mday = day,
			.tm_mon = (int)((m - months) / 3),
			.tm_year = year - 1900,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = sec};
	if (day < 1 || day > 31 || year < 1970 || year > 9999 || h > 23 || mi > 59 || sec > 60)
		return -1;
	return (int64_t)timegm(&tm);
}

int xarch_deb_release_parse(const char *text, struct xarch_deb_release *ret,
			    struct xarch_error *err)
{
	struct xarch_deb_release r = {.valid_until = -1, .date = -1};
	static const struct {
		const char *key;
		size_t off, len;
	} fields[] = {
	    {"Suite", offsetof(struct xarch_deb_release, suite), sizeof(r.suite)},
	    {"Codename", offsetof(struct xarch_deb_release, codename), sizeof(r.codename)},
	    {"Architectures", offsetof(struct xarch_deb_release, architectures),
	     sizeof(r.architectures)},
	    {"Components", offsetof(struct xarch_deb_release, components), sizeof(r.components)},
	};
	bool any = false;
	for (const char *p = text; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		/* the first paragraph ends at an empty line (InRelease: the
		 * clear-signed header comes before it, skip "-----" lines) */
		if (n == 0 && any)
			break;
		const char *colon = memchr(p, ':', n);
		if (colon && p[0] != ' ' && p[0] != '\t') {
			size_t klen = (size_t)(colon - p);
			const char *v = colon + 1;
			while (v < p + n && (*v == ' ' || *v == '\t'))
				v++;
			size_t vlen = (size_t)(p + n - v);
			while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			char val[512];
			if (vlen >= sizeof(val))
				vlen = sizeof(val) - 1;
			memcpy(val, v, vlen);
			val[vlen] = 0;
			for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
				if (strlen(fields[i].key) == klen &&
				    strncmp(p, fields[i].key, klen) == 0) {
					xa_strcpy((char *)&r + fields[i].off, fields[i].len, val);
					any = true;
				}
			if (klen == 11 && strncmp(p, "Valid-Until", 11) == 0)
				r.valid_until = parse_rfc2822(val);
			if (klen == 4 && strncmp(p, "Date", 4) == 0) {
				r.date = parse_rfc2822(val);
				any = true;
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	if (!r.architectures[0] || (!r.suite[0] && !r.codename[0]))
		return xarch_err(err, EBADMSG,
				 "not a Debian Release file (no Suite/Codename or Architectures)");
	*ret = r;
	return 0;
}

/* Is `uri`'s path ".../<tail>" (trailing slashes ignored)? */
static bool uri_has_tail(const char *uri, const char *tail)
{
	size_t n = strlen(uri), m = strlen(tail);
	while (n > 0 && uri[n - 1] == '/')
		n--;
	return n > m + 1 && uri[n - m - 1] == '/' && strncmp(uri + n - m, tail, m) == 0 &&
	       (strncmp(uri, "http://", 7) == 0 || strncmp(uri, "https://", 8) == 0);
}

static int scan_sources(const char *path, const char *tail, char *buf, size_t len)
{
	_cleanup_free_ char *text = NULL;
	if (xa_read_file(path, 1u << 20, &text, NULL, NULL) < 0)
		return -ENOENT;
	bool deb822 = xa_ends_with(path, ".sources");
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *w[8] = {0};
		size_t n = 0;
		for (char *s2 = NULL, *t = strtok_r(line, " \t", &s2); t && n < ARRAY_SIZE(w);
		     t = strtok_r(NULL, " \t", &s2))
			w[n++] = t;
		if (n < 2 || w[0][0] == '#')
			continue;
		size_t i = 0;
		if (deb822) {
			if (strcasecmp(w[0], "URIs:") != 0)
				continue;
			i = 1;
		} else {
			if (strcmp(w[0], "deb") != 0)
				continue;
			i = 1;
			if (w[1][0] == '[') /* options: [arch=amd64 signed-by=...] */
				while (i < n && !strchr(w[i], ']'))
					i++, (void)0;
			if (w[i] && w[i][0] == '[')
				i++;
			else if (w[1][0] == '[')
				i++;
		}
		for (; i < n; i++)
			if (uri_has_tail(w[i], tail))
				return xa_strcpy(buf, len, w[i]);
	}
	return -ENOENT;
}

int xarch_apt_source_uri(const char *root, const char *tail, char *buf, size_t len)
{
	char path[PATH_MAX];
	if (xa_snprintf(path, sizeof(path), "%s/etc/apt/sources.list", root) == 0 &&
	    scan_sources(path, tail, buf, len) == 0)
		return 0;
	if (xa_snprintf(path, sizeof(path), "%s/etc/apt/sources.list.d/*", root) < 0)
		return -ENOENT;
	glob_t g;
	if (glob(path, 0, NULL, &g) != 0)
		return -ENOENT;
	int r = -ENOENT;
	for (size_t i = 0; i < g.gl_pathc && r < 0; i++)
		if (xa_ends_with(g.gl_pathv[i], ".list") || xa_ends_with(g.gl_pathv[i], ".sources"))
			r = scan_sources(g.gl_pathv[i], tail, buf, len);
	globfree(&g);
	return r;
}

/* ---- the plan ---------------------------------------------------------- */

enum tool { TOOL_MMDEBSTRAP, TOOL_DEBOOTSTRAP, TOOL_DNF };
static const char *const tool_names[] = {"mmdebstrap", "debootstrap", "dnf"};

#define MAX_ARGS 96

struct argv_buf {
	const char *v[MAX_ARGS];
	size_t n;
	char store[16384]; /* formatted arguments */
	size_t used;
};

static int av_add(struct argv_buf *a, const char *s)
{
	if (a->n + 1 >= MAX_ARGS)
		return -E2BIG;
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
	return 0;
}

static int av_fmt(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int av_fmt(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(a->store + a->used, sizeof(a->store) - a->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a->store) - a->used)
		return -E2BIG;
	const char *s = a->store + a->used;
	a->used += (size_t)n + 1;
	return av_add(a, s);
}

struct plan {
	const struct xarch_bootstrap_opts *o;
	const struct xarch_distro *d;
	const struct xarch_arch *a;
	enum tool tool;
	char suite[64];
	char mirror[1024];
	char repos[2048];
	char gpgkey[1024];
	const char *dbpath;
	bool tar;
	char out[PATH_MAX];  /* absolute */
	bool out_empty_dir;  /* OUT exists as an empty directory */
	char work[PATH_MAX]; /* the private temp directory next to OUT */
	bool work_made;
	char base[256];	       /* OUT's file name */
	char target[PATH_MAX]; /* work/rootfs or work/NAME.tar */
	char tree[PATH_MAX];   /* the directory the tool fills */
	char status_copy[PATH_MAX];
	char home[PATH_MAX]; /* dnf: HOME with .rpmmacros */
	enum xarch_bootstrap_emu emu;
	bool userns;
	struct xarch_idmaps maps;
	bool host_added, host_mounted;
	char host_entry[64];
	struct argv_buf cmd[3];
	size_t n_cmd;
	char **envp;
};

static void note(const struct xarch_bootstrap_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(const struct xarch_bootstrap_opts *o, const char *fmt, ...)
{
	if (!o->note)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->note(o->note_data, msg);
}

static bool is_tar_name(const char *s)
{
	static const char *const ext[] = {".tar", ".tar.gz",  ".tgz",  ".tar.xz",
					  ".txz", ".tar.zst", ".tzst", ".tar.bz2"};
	for (size_t i = 0; i < ARRAY_SIZE(ext); i++)
		if (xa_ends_with(s, ext[i]))
			return true;
	return false;
}

/* "{R}" in a default URL: openEuler's directory name for a releasever,
 * "24.03LTS" -> "24.03-LTS", "24.03LTS_SP1" -> "24.03-LTS-SP1". */
static int expand_release(const char *tmpl, const char *rel, char *buf, size_t len)
{
	char dir[128] = "";
	size_t k = 0;
	for (const char *p = rel; *p && k + 3 < sizeof(dir); p++) {
		if (isalpha((unsigned char)*p) && p > rel && isdigit((unsigned char)p[-1]))
			dir[k++] = '-';
		dir[k++] = *p == '_' ? '-' : *p;
	}
	dir[k] = 0;
	size_t o = 0;
	for (const char *p = tmpl; *p; p++) {
		const char *add = NULL;
		char one[2] = {*p, 0};
		if (strncmp(p, "{R}", 3) == 0) {
			add = dir;
			p += 2;
		} else {
			add = one;
		}
		size_t m = strlen(add);
		if (o + m >= len)
			return -ENAMETOOLONG;
		memcpy(buf + o, add, m);
		o += m;
	}
	buf[o] = 0;
	return 0;
}

static int plan_out(struct plan *p, struct xarch_error *err)
{
	const char *out = p->o->out;
	if (!out || !out[0])
		return xarch_err(err, EINVAL, "no output given: name a directory or a .tar file");
	char abs[PATH_MAX];
	if (out[0] == '/') {
		if (xa_strcpy(abs, sizeof(abs), out) < 0)
			return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", out);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)) ||
		    xa_snprintf(abs, sizeof(abs), "%s/%s", cwd, out) < 0)
			return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", out);
	}
	size_t n = strlen(abs);
	while (n > 1 && abs[n - 1] == '/')
		abs[--n] = 0;
	xa_strcpy(p->out, sizeof(p->out), abs);
	p->tar = is_tar_name(abs);
	struct stat st;
	if (lstat(abs, &st) == 0) {
		bool empty = false;
		if (S_ISDIR(st.st_mode) && !p->tar) {
			_cleanup_closedir_ DIR *d = opendir(abs);
			empty = d != NULL;
			struct dirent *e;
			while (d && (e = readdir(d)))
				if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
					empty = false;
		}
		if (!empty)
			return xarch_err(err, EEXIST,
					 "'%s' already exists: name a new directory or tar file, "
					 "or remove it first",
					 out);
		p->out_empty_dir = true;
	} else if (errno != ENOENT) {
		return xarch_err_sys(err, errno, "cannot check '%s'", out);
	}
	char parent[PATH_MAX];
	xa_strcpy(parent, sizeof(parent), abs);
	char *slash = strrchr(parent, '/');
	const char *base = slash + 1;
	if (slash == parent)
		parent[1] = 0;
	else
		*slash = 0;
	if (access(parent, W_OK) < 0)
		return xarch_err_sys(err, errno, "cannot write into '%s'", parent);
	if (xa_snprintf(p->work, sizeof(p->work), "%s/.xarch-bootstrap-XXXXXX",
			strcmp(parent, "/") ? parent : "") < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", out);
	if (xa_strcpy(p->base, sizeof(p->base), base) < 0 ||
	    strlen(p->work) + strlen(base) + 16 >= sizeof(p->target))
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", out);
	return 0;
}

/* The private work directory next to OUT and the paths inside it. */
static int make_work(struct plan *p, struct xarch_error *err)
{
	if (!mkdtemp(p->work))
		return xarch_err_sys(err, errno, "cannot create a work directory next to '%s'",
				     p->out);
	p->work_made = true;
	if (p->tar)
		xa_snprintf(p->target, sizeof(p->target), "%s/%s", p->work, p->base);
	else
		xa_snprintf(p->target, sizeof(p->target), "%s/rootfs", p->work);
	xa_snprintf(p->tree, sizeof(p->tree), "%s/rootfs", p->work);
	xa_snprintf(p->status_copy, sizeof(p->status_copy), "%s/dpkg-status", p->work);
	xa_snprintf(p->home, sizeof(p->home), "%s/home", p->work);
	return 0;
}

static int plan_tool(struct plan *p, struct xarch_error *err)
{
	char path[PATH_MAX];
	const char *want = p->o->tool;
	if (want) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(tool_names); i++)
			if (strcmp(want, tool_names[i]) == 0)
				break;
		if (i == ARRAY_SIZE(tool_names))
			return xarch_err(err, EINVAL,
					 "unknown tool '%s': use mmdebstrap, debootstrap or dnf",
					 want);
		p->tool = (enum tool)i;
		if ((p->tool == TOOL_DNF) != (p->d->family == XARCH_DISTRO_RPM))
			return xarch_err(err, EINVAL, "'%s' cannot bootstrap %s", want, p->d->name);
	} else if (p->d->family == XARCH_DISTRO_RPM) {
		p->tool = TOOL_DNF;
	} else {
		p->tool = xa_find_in_path("mmdebstrap", NULL, path, sizeof(path)) == 0
			      ? TOOL_MMDEBSTRAP
			      : TOOL_DEBOOTSTRAP;
	}
	const char *name = tool_names[p->tool];
	if (xa_find_in_path(name, NULL, path, sizeof(path)) < 0) {
		const char *pkg = p->tool == TOOL_DNF ? "dnf rpm" : "mmdebstrap";
		return xarch_err(err, ENOENT, "'%s' is not installed: apt-get install %s", name,
				 pkg);
	}
	if (p->tool == TOOL_DEBOOTSTRAP && geteuid() != 0)
		return xarch_err(err, EPERM,
				 "debootstrap needs root: run with sudo, or apt-get install "
				 "mmdebstrap (works without root)");
	return 0;
}

/* ---- the mirror check ------------------------------------------------- */

static const char *riscv_hint(const struct plan *p)
{
	if (strcmp(p->d->name, "debian") == 0 && strcmp(p->a->name, "riscv64") == 0)
		return "; riscv64 is a release architecture from trixie on: use --suite trixie "
		       "(or forky, sid)";
	return "; pick a suite that has it";
}

static int probe_release(struct plan *p, struct xarch_bootstrap_result *res,
			 struct xarch_error *err)
{
	char url[1200];
	if (xa_snprintf(url, sizeof(url), "%s%sdists/%s/Release", p->mirror,
			xa_ends_with(p->mirror, "/") ? "" : "/", p->suite) < 0)
		return xarch_err(err, ENAMETOOLONG, "mirror URL too long");
	struct xa_http_req rq = {
	    .url = url, .body_fd = -1, .out_fd = -1, .mem_max = 4u << 20, .timeout_s = 15};
	struct xa_http_resp rs = {0};
	struct xarch_error herr = {0};
	int r = xa_http_do(&rq, &rs, &herr);
	if (r < 0) {
		/* apt may still get through (a proxy in apt.conf): say so and go on */
		note(p->o, "cannot check %s (%s); going on", url, herr.msg);
		return 0;
	}
	if (rs.status == 404) {
		xa_http_resp_release(&rs);
		return xarch_err(err, ENOENT,
				 "%s has no suite '%s' at %s (%s: 404); check --suite or --mirror",
				 p->d->name, p->suite, p->mirror, url);
	}
	if (rs.status != 200) {
		note(p->o, "cannot check %s (HTTP %d); going on", url, rs.status);
		xa_http_resp_release(&rs);
		return 0;
	}
	struct xarch_deb_release rel;
	struct xarch_error perr = {0};
	r = xarch_deb_release_parse(rs.body, &rel, &perr);
	xa_http_resp_release(&rs);
	if (r < 0) {
		note(p->o, "%s: %s; going on", url, perr.msg);
		return 0;
	}
	xa_strcpy(res->codename, sizeof(res->codename), rel.codename);
	if (!xarch_word_in(rel.architectures, p->a->debian))
		return xarch_err(err, ENOENT,
				 "%s '%s' has no %s packages (its architectures: %s)%s", p->d->name,
				 p->suite, p->a->debian, rel.architectures, riscv_hint(p));
	if (p->o->components && rel.components[0]) {
		char comps[256];
		xa_strcpy(comps, sizeof(comps), p->o->components);
		for (char *s = NULL, *c = strtok_r(comps, ",", &s); c; c = strtok_r(NULL, ",", &s))
			if (!xarch_word_in(rel.components, c))
				return xarch_err(err, ENOENT,
						 "%s '%s' has no component '%s' (it has: %s)",
						 p->d->name, p->suite, c, rel.components);
	}
	time_t now = time(NULL);
	if (rel.valid_until >= 0 && rel.valid_until < now && !p->o->no_check_valid_until) {
		char when[32];
		time_t t = (time_t)rel.valid_until;
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime_r(&t, &tm));
		return xarch_err(err, EKEYEXPIRED,
				 "the mirror's index of '%s' expired on %s (Valid-Until; a frozen "
				 "snapshot or a stale mirror), apt would refuse it: rerun with "
				 "--no-check-valid-until to accept it, or use another --mirror",
				 p->suite, when);
	}
	return 0;
}

static int plan_source(struct plan *p, struct xarch_bootstrap_result *res, struct xarch_error *err)
{
	const struct xarch_bootstrap_opts *o = p->o;
	const struct xarch_distro *d = p->d;
	const char *suite = o->suite ? o->suite : d->suite;
	if (!suite)
		return xarch_err(err, EINVAL, "%s needs --%s", d->name,
				 d->family == XARCH_DISTRO_DEB ? "suite" : "releasever");
	if (xa_strcpy(p->suite, sizeof(p->suite), suite) < 0 || strchr(suite, '/') || !suite[0] ||
	    suite[0] == '-')
		return xarch_err(err, EINVAL, "bad suite/releasever '%s'", suite);
	if (d->family == XARCH_DISTRO_DEB) {
		if (o->repos)
			return xarch_err(err, EINVAL,
					 "--repo is for rpm distributions; use --mirror");
		if (o->mirror) {
			xa_strcpy(p->mirror, sizeof(p->mirror), o->mirror);
		} else {
			const char *def = d->mirror;
			const char *tail = "debian";
			bool ports = d->ports_mirror && strcmp(p->a->debian, "amd64") &&
				     strcmp(p->a->debian, "i386");
			if (ports) {
				def = d->ports_mirror;
				tail = "ubuntu-ports";
			} else if (strcmp(d->name, "ubuntu") == 0) {
				tail = "ubuntu";
			}
			if (xarch_apt_source_uri("", tail, p->mirror, sizeof(p->mirror)) == 0)
				note(o, "mirror %s (from /etc/apt)", p->mirror);
			else
				xa_strcpy(p->mirror, sizeof(p->mirror), def);
		}
		if (strncmp(p->mirror, "http://", 7) && strncmp(p->mirror, "https://", 8) &&
		    strncmp(p->mirror, "file://", 7))
			return xarch_err(err, EINVAL,
					 "mirror '%s' is not an http://, https:// or file:// URL",
					 p->mirror);
		xa_strcpy(res->mirror, sizeof(res->mirror), p->mirror);
		if (!o->no_probe && strncmp(p->mirror, "file://", 7))
			return probe_release(p, res, err);
		return 0;
	}
	if (o->mirror)
		return xarch_err(err, EINVAL, "--mirror is for Debian/Ubuntu; use --repo URL");
	const char *repos = o->repos ? o->repos : d->mirror;
	if (!repos)
		return xarch_err(err, EINVAL,
				 "%s needs --repo URL[,URL] (the repositories' base URLs)",
				 d->name);
	if (expand_release(repos, p->suite, p->repos, sizeof(p->repos)) < 0)
		return xarch_err(err, ENAMETOOLONG, "repository list too long");
	const char *key = o->gpgkey ? o->gpgkey : (o->repos ? NULL : d->gpgkey);
	if (key && expand_release(key, p->suite, p->gpgkey, sizeof(p->gpgkey)) < 0)
		return xarch_err(err, ENAMETOOLONG, "--gpgkey too long");
	p->dbpath = o->rpm_dbpath ? o->rpm_dbpath : d->rpm_dbpath;
	if (p->dbpath[0] != '/')
		return xarch_err(err, EINVAL, "--rpm-dbpath must be absolute");
	if (!o->include && !d->packages)
		return xarch_err(err, EINVAL, "%s needs --include PKG[,PKG] (what to install)",
				 d->name);
	xa_strcpy(res->mirror, sizeof(res->mirror), p->repos);
	return 0;
}

/* ---- emulation ---------------------------------------------------------- */

static int plan_emulation(struct plan *p, struct xarch_error *err)
{
	int native = xarch_arch_runs_natively(p->a);
	bool root = geteuid() == 0;
	if (native == 1) {
		p->emu = XARCH_EMU_NONE;
		/* dnf wants root; mmdebstrap unshares by itself */
		p->userns = !root && p->tool == TOOL_DNF;
	} else {
		char qemu[PATH_MAX];
		struct xarch_error qerr = {0};
		if (xarch_find_qemu(p->a, p->o->qemu_dir, qemu, sizeof(qemu), &qerr) < 0)
			return xarch_err(err, ENOENT, "cannot emulate %s: %s", p->a->name,
					 qerr.msg);
		struct xarch_error uerr = {0};
		int sup = p->tool == TOOL_DEBOOTSTRAP ? 0 : xarch_userns_binfmt_supported(&uerr);
		if (sup == 1) {
			p->emu = XARCH_EMU_PRIVATE;
			p->userns = true;
		} else if (root) {
			p->emu = XARCH_EMU_HOST_TEMP;
		} else {
			return xarch_err(
			    err, ENOTSUP,
			    "cannot run %s maintainer scripts: %s; fix: run as root "
			    "(a host entry is added for the run) or 'sudo xarch binfmt "
			    "install %s' first",
			    p->a->name, uerr.msg, p->a->name);
		}
	}
	if (!p->userns)
		return 0;
	if (root) {
		xarch_idmaps_identity(&p->maps);
		return 0;
	}
	int r = xarch_idmaps_rootless(getuid(), getgid(), &p->maps, err);
	if (r < 0)
		return r;
	if (!p->maps.full)
		note(p->o,
		     "warning: no subordinate ids for uid %u in /etc/subuid (or no newuidmap): "
		     "packages that chown to other users will fail; add a range "
		     "(usermod --add-subuids 100000-165535 USER) or run as root",
		     (unsigned)getuid());
	return 0;
}

/* Host entry for the run (root, no private binfmt_misc). */
static int host_binfmt_begin(struct plan *p, struct xarch_error *err)
{
	struct xarch_binfmt_table t = {0};
	int r = xarch_binfmt_table_read(NULL, &t, err);
	if (r < 0)
		return r;
	const struct xarch_binfmt_rule *run =
	    t.enabled ? xarch_binfmt_table_runner(&t, p->a) : NULL;
	bool has_f = run && strchr(run->flags, 'F');
	if (run)
		xa_strcpy(p->host_entry, sizeof(p->host_entry), run->name);
	bool mounted = t.mounted;
	xarch_binfmt_table_release(&t);
	if (has_f) {
		p->emu = XARCH_EMU_HOST;
		note(p->o, "emulation: host binfmt_misc entry '%s'", p->host_entry);
		return 0;
	}
	if (!mounted) {
		r = xarch_binfmt_mount(NULL, err);
		if (r < 0)
			return r;
		p->host_mounted = r == 1;
	}
	struct xarch_binfmt_install_opts io = {.qemu_dir = p->o->qemu_dir, .force = true};
	struct xarch_binfmt_result res;
	r = xarch_binfmt_install_arch(p->a, &io, &res, err);
	if (r < 0)
		return r;
	if (res.outcome == XARCH_BINFMT_SKIP_NO_QEMU || res.outcome == XARCH_BINFMT_FAILED)
		return xarch_err(err, ENOENT, "cannot register %s emulation: %s", p->a->name,
				 res.error);
	/* an xarch-<arch> that was there before stays (we replaced it with
	 * the same rule); only one this run created is removed afterwards */
	p->host_added = !res.replaced;
	xa_strcpy(p->host_entry, sizeof(p->host_entry), res.rule.name);
	note(p->o, "emulation: host binfmt_misc entry '%s' added for this run", p->host_entry);
	return 0;
}

static void host_binfmt_end(struct plan *p)
{
	if (p->host_added)
		xarch_binfmt_unregister(NULL, p->host_entry, NULL);
	if (p->host_mounted)
		umount2(XARCH_BINFMT_DIR, MNT_DETACH);
}

/* ---- the commands -------------------------------------------------------- */

static int add_list(struct argv_buf *a, const char *csv)
{
	char tmp[4096];
	if (xa_strcpy(tmp, sizeof(tmp), csv) < 0)
		return -E2BIG;
	for (char *s = NULL, *w = strtok_r(tmp, ", ", &s); w; w = strtok_r(NULL, ", ", &s))
		if (av_fmt(a, "%s", w) < 0)
			return -E2BIG;
	return 0;
}

static int build_deb(struct plan *p)
{
	const struct xarch_bootstrap_opts *o = p->o;
	struct argv_buf *a = &p->cmd[p->n_cmd++];
	int r = 0;
	if (p->tool == TOOL_MMDEBSTRAP) {
		r |= av_add(a, "mmdebstrap");
		r |= av_fmt(a, "--mode=%s", p->userns || geteuid() != 0 ? "unshare" : "root");
		r |= av_fmt(a, "--arch=%s", p->a->debian);
		if (o->variant)
			r |= av_fmt(a, "--variant=%s", o->variant);
		if (o->include)
			r |= av_fmt(a, "--include=%s", o->include);
		if (o->components)
			r |= av_fmt(a, "--components=%s", o->components);
		if (o->no_check_valid_until)
			r |= av_add(a, "--aptopt=Acquire::Check-Valid-Until \"false\"");
		if (o->quiet)
			r |= av_add(a, "--quiet");
		if (p->tar)
			r |= av_fmt(a, "--customize-hook=download /var/lib/dpkg/status %s",
				    p->status_copy);
	} else {
		r |= av_add(a, "debootstrap");
		r |= av_fmt(a, "--arch=%s", p->a->debian);
		if (o->variant)
			r |= av_fmt(a, "--variant=%s", o->variant);
		if (o->include)
			r |= av_fmt(a, "--include=%s", o->include);
		if (o->components)
			r |= av_fmt(a, "--components=%s", o->components);
	}
	r |= av_add(a, p->suite);
	r |= av_add(a, p->tool == TOOL_MMDEBSTRAP ? p->target : p->tree);
	r |= av_add(a, p->mirror);
	return r ? -E2BIG : 0;
}

/* dnf's options shared by install and clean */
static int dnf_common(struct plan *p, struct argv_buf *a)
{
	int r = 0;
	r |= av_add(a, "dnf");
	r |= av_add(a, "-y");
	if (p->o->quiet)
		r |= av_add(a, "-q");
	r |= av_fmt(a, "--forcearch=%s", p->a->rpm ? p->a->rpm : p->a->name);
	r |= av_fmt(a, "--installroot=%s", p->tree);
	r |= av_fmt(a, "--releasever=%s", p->suite);
	r |= av_add(a, "--setopt=install_weak_deps=False");
	/* only the repositories given: none of the host's or the target's */
	r |= av_add(a, "--setopt=reposdir=/nonexistent");
	r |= av_add(a, "--disablerepo=*");
	char repos[2048];
	xa_strcpy(repos, sizeof(repos), p->repos);
	int i = 0;
	for (char *s = NULL, *u = strtok_r(repos, ",", &s); u; u = strtok_r(NULL, ",", &s), i++) {
		r |= av_fmt(a, "--repofrompath=xarch%d,%s", i, u);
		r |= av_fmt(a, "--enablerepo=xarch%d", i);
		if (p->gpgkey[0])
			r |= av_fmt(a, "--setopt=xarch%d.gpgkey=%s", i, p->gpgkey);
	}
	if (p->o->no_gpgcheck)
		r |= av_add(a, "--nogpgcheck");
	return r;
}

static int build_rpm(struct plan *p)
{
	struct argv_buf *a = &p->cmd[p->n_cmd++];
	int r = dnf_common(p, a);
	r |= av_add(a, "install");
	r |= add_list(a, p->o->include ? p->o->include : p->d->packages);
	a = &p->cmd[p->n_cmd++];
	r |= dnf_common(p, a);
	r |= av_add(a, "clean");
	r |= av_add(a, "all");
	return r ? -E2BIG : 0;
}

/* tar the tree (dnf, debootstrap) into the target file */
static int build_tar(struct plan *p)
{
	struct argv_buf *a = &p->cmd[p->n_cmd++];
	int r = 0;
	r |= av_add(a, "tar");
	r |= av_add(a, "--numeric-owner");
	r |= av_add(a, "--xattrs");
	r |= av_add(a, "--xattrs-include=*");
	r |= av_add(a, "--sort=name");
	r |= av_add(a, "-C");
	r |= av_add(a, p->tree);
	r |= av_add(a, "-caf");
	r |= av_add(a, p->target);
	r |= av_add(a, ".");
	return r ? -E2BIG : 0;
}

/* The environment: the caller's, with HOME replaced for dnf (rpm takes
 * its %_dbpath from ~/.rpmmacros; Debian's default is ~/.rpmdb, which
 * the target's own rpm would never find). */
static int build_env(struct plan *p, struct xarch_error *err)
{
	if (p->tool != TOOL_DNF)
		return 0;
	size_t n = 0;
	while (environ[n])
		n++;
	p->envp = calloc(n + 2, sizeof(char *));
	if (!p->envp)
		return xarch_err(err, ENOMEM, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "HOME=", 5) != 0)
			p->envp[k++] = environ[i];
	if (asprintf(&p->envp[k], "HOME=%s", p->home) < 0) {
		p->envp[k] = NULL;
		return xarch_err(err, ENOMEM, "out of memory");
	}
	return 0;
}

static int write_rpmmacros(struct plan *p, struct xarch_error *err)
{
	if (mkdir(p->home, 0700) < 0)
		return xarch_err_sys(err, errno, "cannot create '%s'", p->home);
	char path[PATH_MAX], text[PATH_MAX + 64];
	if (xa_snprintf(path, sizeof(path), "%s/.rpmmacros", p->home) < 0 ||
	    xa_snprintf(text, sizeof(text), "%%_dbpath %s\n%%_db_backend sqlite\n", p->dbpath) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long");
	return xa_write_atomic(path, text, strlen(text), 0644, err);
}

/* ---- running in the namespace ---------------------------------------------- */

struct report {
	int code; /* 0 ok, else the failing command's exit code or 127 */
	int cmd;  /* which command failed, -1 for setup */
	int errnum;
	long packages;
	uint64_t size;
	char msg[512];
};

static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t child_pid;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	(void)si;
	interrupted = sig;
	/* the child leads its own process group (the tools and everything
	 * they start), outside the terminal's: pass every signal on to all */
	if (child_pid > 0) {
		int saved = errno;
		kill(-(pid_t)child_pid, sig);
		errno = saved;
	}
}

static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static void catch_signals(struct sigaction *old)
{
	struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(caught); i++)
		sigaction(caught[i], &sa, &old[i]);
}

static void restore_signals(const struct sigaction *old)
{
	for (size_t i = 0; i < ARRAY_SIZE(caught); i++)
		sigaction(caught[i], &old[i], NULL);
}

static uint64_t tree_bytes;
static int sum_file(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)path, (void)f;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		tree_bytes += (uint64_t)st->st_size;
	return 0;
}

static long count_deb(const char *status)
{
	_cleanup_free_ char *text = NULL;
	if (xa_read_file(status, 256u << 20, &text, NULL, NULL) < 0)
		return -1;
	long n = 0;
	for (const char *s = text; (s = strstr(s, "\nStatus: ")); s++)
		if (strncmp(s + 9, "install ok installed", 20) == 0)
			n++;
	if (strncmp(text, "Status: install ok installed", 28) == 0)
		n++;
	return n;
}

static long count_rpm(struct plan *p)
{
	char dbp[PATH_MAX + 16];
	snprintf(dbp, sizeof(dbp), "--dbpath=%s", p->dbpath);
	const char *argv[] = {"rpm", "--root", p->tree, dbp, "-qa", "--qf", ".", NULL};
	char buf[1 << 16];
	int st;
	if (xarch_spawn_output(argv, (const char *const *)p->envp, false, buf, sizeof(buf), &st,
			       NULL) < 0 ||
	    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return (long)strlen(buf);
}

/* fork + exec in the namespace child's process group (signals reach it
 * from the parent as a group: mmdebstrap ignores them while apt runs and
 * counts on apt getting its own copy, as from a terminal). */
static int run_tool(const char *const argv[], char **envp, int *ret_wstatus)
{
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(ep[0]), close(ep[1]);
		return -e;
	}
	if (pid == 0) {
		for (size_t i = 0; i < ARRAY_SIZE(caught); i++)
			signal(caught[i], SIG_DFL);
		close(ep[0]);
		if (envp)
			environ = envp;
		execvp(argv[0], (char *const *)argv);
		int e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(ep[1]);
	int e = 0;
	ssize_t n;
	do
		n = read(ep[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (n == (ssize_t)sizeof(e))
		return -e;
	*ret_wstatus = st;
	return 0;
}

static void report_fail(struct report *rep, int cmd, int code, int errnum, const char *msg)
{
	rep->cmd = cmd;
	rep->code = code;
	rep->errnum = errnum;
	xa_strcpy(rep->msg, sizeof(rep->msg), msg ? msg : "");
}

/* In the namespace: the commands in order, packages counted from the
 * tree before it is tarred, the work directory removed after a failure
 * (here, where every owner in it is mapped). */
static void job(struct plan *p, struct report *rep)
{
	rep->packages = -1;
	int log_fd = p->o->log_fd;
	/* the tools' stdout goes to stderr: ours carries the summary */
	if (dup2(log_fd >= 0 ? log_fd : STDERR_FILENO, STDOUT_FILENO) < 0 ||
	    (log_fd >= 0 && dup2(log_fd, STDERR_FILENO) < 0)) {
		report_fail(rep, -1, 1, errno, "cannot redirect the tools' output");
		return;
	}
	for (size_t i = 0; i < p->n_cmd; i++) {
		if (interrupted) {
			report_fail(rep, (int)i, 128 + interrupted, EINTR, "interrupted");
			return;
		}
		/* count before the tree is tarred and removed */
		bool tar_step = p->cmd[i].v[0] && strcmp(p->cmd[i].v[0], "tar") == 0;
		if (tar_step && p->tool == TOOL_DNF) {
			rep->packages = count_rpm(p);
		} else if (tar_step) {
			char status[PATH_MAX + 32];
			snprintf(status, sizeof(status), "%s/var/lib/dpkg/status", p->tree);
			rep->packages = count_deb(status);
		}
		int st = 0;
		int r = run_tool(p->cmd[i].v, p->envp, &st);
		if (r < 0) {
			char msg[256];
			snprintf(msg, sizeof(msg), "cannot run '%s': %s", p->cmd[i].v[0],
				 strerror(-r));
			report_fail(rep, (int)i, 127, -r, msg);
			return;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			report_fail(rep, (int)i, xarch_exit_code(st), 0, NULL);
			return;
		}
	}
	if (rep->packages < 0) {
		if (p->tool == TOOL_DNF)
			rep->packages = count_rpm(p);
		else {
			char status[PATH_MAX + 32];
			snprintf(status, sizeof(status), "%s/var/lib/dpkg/status", p->tree);
			rep->packages = count_deb(p->tar ? p->status_copy : status);
		}
	}
	if (!p->tar) {
		tree_bytes = 0;
		nftw(p->tree, sum_file, 64, FTW_PHYS | FTW_MOUNT);
		rep->size = tree_bytes;
	} else if (p->tool != TOOL_MMDEBSTRAP) {
		/* the tree was only the tar's source */
		char *slash = strrchr(p->tree, '/');
		*slash = 0;
		_cleanup_close_ int wfd = open(p->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
		if (wfd >= 0)
			xa_rm_rf_at(wfd, "rootfs");
	}
}

static void child_main(struct plan *p, int repfd, int syncfd)
{
	struct report rep = {0};
	struct xarch_error e = {0};
	/* outlive the tools to clean up after them; they get the signals */
	for (size_t i = 0; i < ARRAY_SIZE(caught); i++)
		signal(caught[i], SIG_IGN);
	setpgid(0, 0);
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nul >= 0 && nul != STDIN_FILENO) {
		dup2(nul, STDIN_FILENO); /* no SIGTTIN outside the foreground group */
		close(nul);
	}
	if (p->userns) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
			xarch_userns_explain(XARCH_USERNS_UNSHARE, errno, NULL, &e);
			goto fail;
		}
		char c = 'u';
		if (write(syncfd, &c, 1) != 1 || read(syncfd, &c, 1) != 1 || c != 'g')
			_exit(127); /* the parent failed and says why */
		if (setresuid(0, 0, 0) < 0 || setresgid(0, 0, 0) < 0) {
			xarch_err_sys(&e, errno, "cannot become root in the user namespace");
			goto fail;
		}
		if (p->emu == XARCH_EMU_PRIVATE) {
			struct xarch_userns_opts uo = {.qemu_dir = p->o->qemu_dir, .force = true};
			struct xarch_binfmt_result res;
			if (xarch_userns_private_binfmt(p->a, &uo, &res, &e) < 0)
				goto fail;
		} else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			xarch_err_sys(&e, errno, "cannot make the mount namespace private");
			goto fail;
		}
	}
	close(syncfd);
	job(p, &rep);
	goto out;
fail:
	report_fail(&rep, -1, 1, e.code, e.msg);
out:
	if (rep.code != 0) {
		_cleanup_close_ int pfd = -1;
		char *slash = strrchr(p->work, '/');
		*slash = 0;
		pfd = open(p->work[0] ? p->work : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
		if (pfd >= 0)
			xa_rm_rf_at(pfd, slash + 1);
	}
	ssize_t n;
	do
		n = write(repfd, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	_exit(rep.code ? 1 : 0);
}

static int run_job(struct plan *p, struct report *rep, struct xarch_error *err)
{
	int rp[2], sp[2] = {-1, -1};
	if (pipe2(rp, O_CLOEXEC) < 0 ||
	    (p->userns && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0))
		return xarch_err_sys(err, errno, "cannot create pipes");
	struct sigaction old[ARRAY_SIZE(caught)];
	interrupted = 0;
	catch_signals(old);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		restore_signals(old);
		close(rp[0]), close(rp[1]);
		if (sp[0] >= 0)
			close(sp[0]), close(sp[1]);
		return xarch_err_sys(err, e, "fork");
	}
	if (pid == 0) {
		close(rp[0]);
		if (sp[0] >= 0)
			close(sp[0]);
		child_main(p, rp[1], sp[1]);
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no signal may find the group missing */
	child_pid = pid;
	close(rp[1]);
	int rc = 0;
	if (p->userns) {
		close(sp[1]);
		char c;
		ssize_t n;
		do
			n = read(sp[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			rc = xarch_idmaps_apply(pid, &p->maps, err);
		if (n == 1 && rc == 0) {
			c = 'g';
			if (write(sp[0], &c, 1) != 1)
				rc = xarch_err_sys(err, errno, "cannot start the bootstrap");
		}
		close(sp[0]);
	}
	ssize_t n;
	do
		n = read(rp[0], rep, sizeof(*rep));
	while (n < 0 && errno == EINTR);
	close(rp[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	restore_signals(old);
	if (rc < 0)
		return rc;
	if (n != (ssize_t)sizeof(*rep))
		return xarch_err(err, EIO, "the bootstrap process died (%s)",
				 WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "no report");
	return 0;
}

/* ---- the driver ---------------------------------------------------------- */

static void plan_release(struct plan *p)
{
	if (p->envp) {
		for (size_t i = 0; p->envp[i]; i++)
			if (strncmp(p->envp[i], "HOME=", 5) == 0 &&
			    strncmp(p->envp[i] + 5, p->home, strlen(p->home)) == 0)
				free(p->envp[i]);
		free(p->envp);
		p->envp = NULL;
	}
}

static int finish(struct plan *p, struct xarch_bootstrap_result *res, struct xarch_error *err)
{
	if (p->out_empty_dir && rmdir(p->out) < 0)
		return xarch_err_sys(err, errno, "cannot replace the empty directory '%s'", p->out);
	if (renameat2(AT_FDCWD, p->target, AT_FDCWD, p->out, RENAME_NOREPLACE) < 0)
		return xarch_err_sys(err, errno, "cannot rename the result to '%s'", p->out);
	xa_strcpy(res->path, sizeof(res->path), p->out);
	struct stat st;
	if (p->tar && stat(p->out, &st) == 0)
		res->size = (uint64_t)st.st_size;
	/* under sudo the tarball belongs to the user who asked for it; a
	 * directory keeps the owners a rootfs needs (root) */
	const char *su = getenv("SUDO_UID"), *sg = getenv("SUDO_GID");
	if (p->tar && geteuid() == 0 && su && sg && *su && *sg) {
		char *e1, *e2;
		unsigned long uid = strtoul(su, &e1, 10), gid = strtoul(sg, &e2, 10);
		if (!*e1 && !*e2 && chown(p->out, (uid_t)uid, (gid_t)gid) < 0)
			return xarch_err_sys(err, errno, "cannot chown '%s' to %lu:%lu", p->out,
					     uid, gid);
	}
	return 0;
}

int xarch_bootstrap(const struct xarch_bootstrap_opts *o, struct xarch_bootstrap_result *ret,
		    struct xarch_error *err)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct plan p = {.o = o};
	struct xarch_bootstrap_result res = {.packages = -1};
	int rc;
	if (!o->distro)
		return xarch_err(err, EINVAL,
				 "no --distro given (debian, ubuntu, openeuler, "
				 "fedora, rpm)");
	if (!(p.d = xarch_distro_lookup(o->distro)))
		return xarch_err(err, EINVAL,
				 "unknown distribution '%s' (debian, ubuntu, openeuler, fedora, "
				 "rpm)",
				 o->distro);
	if (!o->arch)
		return xarch_err(err, EINVAL, "no --arch given (riscv64, arm64, ...)");
	if (!(p.a = xarch_arch_lookup(o->arch)))
		return xarch_err(err, EINVAL,
				 "unknown architecture '%s': 'xarch arch' lists the names",
				 o->arch);
	if (p.d->family == XARCH_DISTRO_DEB && !p.a->debian)
		return xarch_err(err, EINVAL, "%s has no Debian architecture name", p.a->name);
	if (p.d->family == XARCH_DISTRO_DEB && (o->gpgkey || o->no_gpgcheck || o->rpm_dbpath))
		return xarch_err(err, EINVAL,
				 "--gpgkey, --no-gpgcheck and --rpm-dbpath are for rpm "
				 "distributions");
	if (p.d->family == XARCH_DISTRO_RPM &&
	    (o->variant || o->components || o->no_check_valid_until))
		return xarch_err(err, EINVAL,
				 "--variant, --components and --no-check-valid-until are for "
				 "Debian/Ubuntu");
	res.arch = p.a;
	res.distro = p.d;
	if ((rc = plan_out(&p, err)) < 0 || (rc = plan_tool(&p, err)) < 0 ||
	    (rc = plan_source(&p, &res, err)) < 0 || (rc = plan_emulation(&p, err)) < 0)
		return rc;
	if (p.tar && p.tool == TOOL_MMDEBSTRAP && !is_tar_name(p.out))
		return xarch_err(err, EINVAL, "'%s': not a tar name", p.out);
	if (p.tool == TOOL_MMDEBSTRAP && p.o->variant &&
	    strspn(p.o->variant, "abcdefghijklmnopqrstuvwxyz-") != strlen(p.o->variant))
		return xarch_err(err, EINVAL, "bad --variant '%s'", p.o->variant);
	xa_strcpy(res.suite, sizeof(res.suite), p.suite);
	xa_strcpy(res.tool, sizeof(res.tool), tool_names[p.tool]);
	res.tar = p.tar;

	if ((rc = make_work(&p, err)) < 0)
		return rc;
	if (p.d->family == XARCH_DISTRO_DEB)
		rc = build_deb(&p);
	else
		rc = build_rpm(&p);
	if (rc == 0 && p.tar && p.tool != TOOL_MMDEBSTRAP)
		rc = build_tar(&p);
	if (rc < 0) {
		rc = xarch_err(err, E2BIG, "too many or too long arguments");
		goto out_work;
	}
	if ((rc = build_env(&p, err)) < 0)
		goto out_work;
	if (p.tool != TOOL_MMDEBSTRAP || !p.tar) {
		if (mkdir(p.tree, 0755) < 0 || chmod(p.tree, 0755) < 0) {
			rc = xarch_err_sys(err, errno, "cannot create '%s'", p.tree);
			goto out_work;
		}
	}
	if (p.tool == TOOL_DNF && (rc = write_rpmmacros(&p, err)) < 0)
		goto out_work;
	if (p.emu == XARCH_EMU_HOST_TEMP && (rc = host_binfmt_begin(&p, err)) < 0)
		goto out_binfmt;
	if (p.emu == XARCH_EMU_PRIVATE)
		note(o, "emulation: %s in a private binfmt_misc (host table untouched)", p.a->name);
	char line[2048];
	for (size_t i = 0; i < p.n_cmd; i++)
		note(o, "+ %s", xarch_argv_quote(p.cmd[i].v, line, sizeof(line)));

	struct report rep = {0};
	rc = run_job(&p, &rep, err);
	host_binfmt_end(&p);
	if (rc < 0)
		goto out_work;
	if (rep.code != 0) {
		if (rep.cmd < 0)
			rc = xarch_err(err, rep.errnum ? rep.errnum : EIO, "%s", rep.msg);
		else if (interrupted || rep.code == 128 + SIGINT || rep.code == 128 + SIGTERM ||
			 rep.errnum == EINTR)
			rc = xarch_err(err, EINTR, "interrupted (%s); '%s' was not created",
				       strsignal(interrupted ? interrupted : SIGINT), p.out);
		else if (rep.msg[0])
			rc = xarch_err(err, rep.errnum ? rep.errnum : EIO, "%s", rep.msg);
		else
			rc = xarch_err(err, EIO, "%s failed (exit status %d); '%s' was not created",
				       p.cmd[rep.cmd].v[0], rep.code, p.out);
		goto out_work;
	}
	res.packages = rep.packages;
	res.size = rep.size;
	res.emu = p.emu;
	if ((rc = finish(&p, &res, err)) < 0)
		goto out_work;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res.seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	rc = 0;
	goto out_work;
out_binfmt:
	host_binfmt_end(&p);
out_work:
	/* what is left: the dnf HOME, the dpkg status copy, or everything
	 * after a failure the namespace could not clean */
	if (p.work_made) {
		char *slash = strrchr(p.work, '/');
		*slash = 0;
		_cleanup_close_ int pfd =
		    open(p.work[0] ? p.work : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
		if (pfd >= 0)
			xa_rm_rf_at(pfd, slash + 1);
	}
	plan_release(&p);
	if (rc == 0 && ret)
		*ret = res;
	return rc;
}
