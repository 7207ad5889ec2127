// SPDX-License-Identifier: MIT
/* xarch run [OPTIONS] ROOTFS [--] [CMD [ARGS...]]: a rootfs as a container. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xarch.h"
#include "xarch/container.h"
#include "xarch/rootfs.h"
#include "xarch/spawn.h"
#include "xarch/store.h"
#include <json-c/json.h>

static void help(void)
{
	puts("usage: xarch run [OPTIONS] ROOTFS|SOURCE [--] [CMD [ARGS...]]\n\n"
	     "Run CMD (default: the user's shell, else /bin/sh) inside the root filesystem\n"
	     "ROOTFS as a container: its own mount, pid, uts and ipc namespaces, a fresh\n"
	     "/proc, read-only /sys, a minimal /dev, /tmp on tmpfs, the host's resolv.conf\n"
	     "and hosts.  Foreign binaries run through binfmt_misc: the host's entry when it\n"
	     "has the F flag, else a private registration in the container's user namespace\n"
	     "(nothing is copied into ROOTFS).  Works as root and rootless (with /etc/subuid\n"
	     "ranges for full id maps).  Exits with CMD's status, 128+N for signal N.\n\n"
	     "  -e, --env KEY[=VALUE]    set a variable (KEY alone: take it from here)\n"
	     "      --env-file FILE      KEY=VALUE lines\n"
	     "  -w, --workdir DIR        working directory (default: the user's home)\n"
	     "  -u, --user USER[:GROUP]  name or uid[:gid], looked up in ROOTFS/etc/passwd\n"
	     "  -v, --volume SRC:DST[:ro]  bind a host path into the container\n"
	     "      --tmpfs DST[:OPTS]   a tmpfs (OPTS as for mount: size=64m,mode=1777)\n"
	     "      --hostname NAME      (default: xarch)\n"
	     "      --network host|none  share the host's network (default) or only lo\n"
	     "  -i, --interactive        keep stdin open\n"
	     "  -t, --tty                a pseudo-terminal (raw mode here, size forwarded)\n"
	     "      --arch, --platform ARCH  expected arch; a different rootfs is an error\n"
	     "      --force-arch         run even when the rootfs's arch differs\n"
	     "      --ephemeral          writes go to a tmpfs overlay, thrown away at exit\n"
	     "      --readonly           mount ROOTFS read-only\n"
	     "      --persistent         SOURCE only: keep writes in the stored tree\n"
	     "      --credential         private binfmt entry with the C flag (sudo, su)\n"
	     "      --qemu-dir DIR       take qemu-<arch>[-static] from DIR, not PATH\n"
	     "      --emulate ARCH       also run ARCH binaries (a native rootfs installing a\n"
	     "                           foreign one: dnf --forcearch, rpm --root scriptlets)\n"
	     "      --verbose            notes on stderr: binfmt entry, id maps, mounts\n"
	     "      --init, --no-init    a minimal init as PID 1 with CMD as PID 2 (default\n"
	     "                           for emulated arches: qemu cannot die of a signal as\n"
	     "                           PID 1), or CMD itself as PID 1\n"
	     "  -h, --help\n\n"
	     "Options stop at ROOTFS: 'xarch run rootfs ls -l' passes -l to ls.\n\n"
	     "A SOURCE (oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF])\n"
	     "is pulled into the local store once, keyed by digest, and reused (see\n"
	     "'xarch images').  Stored trees are shared, so SOURCE implies --ephemeral\n"
	     "unless --persistent is given.  A NAME given to 'xarch build -t' runs that\n"
	     "image with its Entrypoint/Cmd, Env, WorkingDir and User.");
}

/* What 'xarch run NAME' takes from an image built with 'xarch build -t'. */
struct image_config {
	char **argv, **env; /* Entrypoint + Cmd; Env */
	size_t n_argv, n_env;
	char *workdir, *user;
};

static void image_config_free(struct image_config *c)
{
	for (size_t i = 0; i < c->n_argv; i++)
		free(c->argv[i]);
	for (size_t i = 0; i < c->n_env; i++)
		free(c->env[i]);
	free(c->argv);
	free(c->env);
	free(c->workdir);
	free(c->user);
}
#define _cleanup_config_ __attribute__((cleanup(image_config_free)))

static int add_strings(json_object *a, char ***v, size_t *n)
{
	if (!a || !json_object_is_type(a, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_string))
			continue;
		char **nv = realloc(*v, (*n + 2) * sizeof(char *));
		if (!nv)
			return -1;
		*v = nv;
		if (!(nv[*n] = strdup(json_object_get_string(e))))
			return -1;
		nv[++*n] = NULL;
	}
	return 0;
}

static int image_config_parse(const char *json, struct image_config *c)
{
	json_object *o = json_tokener_parse(json), *v = NULL;
	if (!o)
		return 0;
	int r = 0;
	if (json_object_object_get_ex(o, "Entrypoint", &v))
		r |= add_strings(v, &c->argv, &c->n_argv);
	if (json_object_object_get_ex(o, "Cmd", &v))
		r |= add_strings(v, &c->argv, &c->n_argv);
	/* PATH comes from xarch run's own default */
	if (json_object_object_get_ex(o, "Env", &v))
		r |= add_strings(v, &c->env, &c->n_env);
	if (json_object_object_get_ex(o, "WorkingDir", &v) &&
	    json_object_is_type(v, json_type_string) && *json_object_get_string(v))
		c->workdir = strdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "User", &v) && json_object_is_type(v, json_type_string) &&
	    *json_object_get_string(v))
		c->user = strdup(json_object_get_string(v));
	json_object_put(o);
	return r;
}

struct list {
	void *v;
	size_t n;
};

static void *grow(struct list *l, size_t size)
{
	char *n = realloc(l->v, (l->n + 2) * size);
	if (!n) {
		fputs("xarch: out of memory\n", stderr);
		exit(1);
	}
	l->v = n;
	memset(n + (l->n + 1) * size, 0, size);
	return n + l->n++ * size;
}

static void run_note(void *data, enum xarch_note_level level, const char *msg)
{
	(void)data;
	fprintf(stderr, "xarch: %s%s\n", level == XARCH_NOTE_WARN ? "warning: " : "", msg);
}

static int parse_volume(char *arg, struct xarch_volume *v)
{
	char *c1 = strchr(arg, ':');
	if (!c1)
		return -1;
	*c1 = '\0';
	char *c2 = strchr(c1 + 1, ':');
	if (c2) {
		*c2 = '\0';
		if (!strcmp(c2 + 1, "ro"))
			v->readonly = true;
		else if (strcmp(c2 + 1, "rw"))
			return -1;
	}
	v->source = arg;
	v->target = c1 + 1;
	return *arg && c1[1] ? 0 : -1;
}

int cmd_run(int argc, char **argv)
{
	/* clang-format off */
	enum { O_ENV_FILE = 256, O_TMPFS, O_HOSTNAME, O_NETWORK, O_ARCH, O_FORCE_ARCH,
	       O_EPHEMERAL, O_READONLY, O_CREDENTIAL, O_QEMU_DIR, O_VERBOSE, O_INIT, O_NO_INIT,
	       O_PERSISTENT, O_EMULATE };
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "env-file", required_argument, NULL, O_ENV_FILE },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "volume", required_argument, NULL, 'v' },
		{ "tmpfs", required_argument, NULL, O_TMPFS },
		{ "hostname", required_argument, NULL, O_HOSTNAME },
		{ "network", required_argument, NULL, O_NETWORK },
		{ "net", required_argument, NULL, O_NETWORK },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "arch", required_argument, NULL, O_ARCH },
		{ "platform", required_argument, NULL, O_ARCH },
		{ "force-arch", no_argument, NULL, O_FORCE_ARCH },
		{ "ephemeral", no_argument, NULL, O_EPHEMERAL },
		{ "readonly", no_argument, NULL, O_READONLY },
		{ "read-only", no_argument, NULL, O_READONLY },
		{ "credential", no_argument, NULL, O_CREDENTIAL },
		{ "qemu-dir", required_argument, NULL, O_QEMU_DIR },
		{ "emulate", required_argument, NULL, O_EMULATE },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "init", no_argument, NULL, O_INIT },
		{ "no-init", no_argument, NULL, O_NO_INIT },
		{ "persistent", no_argument, NULL, O_PERSISTENT },
		{ "keep", no_argument, NULL, O_PERSISTENT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* clang-format on */
	struct xarch_container_opts o = {.note = run_note};
	struct list env = {0}, vols = {0}, tmpfs = {0};
	size_t n_env = 0;
	char **envv = NULL; /* -e and --env-file entries, in order */
	struct xarch_error err = {0};
	int c, r;
	bool persistent = false;
	char stored[4200];
	optind = 1;
	while ((c = getopt_long(argc, argv, "+e:w:u:v:ith", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			*(char **)grow(&env, sizeof(char *)) = optarg;
			break;
		case O_ENV_FILE:
			/* flush -e entries so far to keep the command line's order */
			for (size_t i = 0; i < env.n; i++) {
				char **n = realloc(envv, (n_env + 2) * sizeof(*n));
				if (!n)
					return die("out of memory");
				envv = n;
				envv[n_env++] = ((char **)env.v)[i];
				envv[n_env] = NULL;
			}
			env.n = 0;
			if ((r = xarch_env_file(optarg, &envv, &n_env, &err)) < 0)
				return die_err(&err, r);
			break;
		case 'w':
			o.workdir = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'v':
			if (parse_volume(optarg, grow(&vols, sizeof(struct xarch_volume))) < 0)
				return usage_error("run", "bad volume '%s': want SRC:DST[:ro]",
						   optarg);
			break;
		case O_TMPFS: {
			struct xarch_tmpfs *t = grow(&tmpfs, sizeof(*t));
			char *colon = strchr(optarg, ':');
			if (colon) {
				*colon = '\0';
				t->options = colon + 1;
			}
			t->target = optarg;
			break;
		}
		case O_HOSTNAME:
			o.hostname = optarg;
			break;
		case O_NETWORK:
			if (!strcmp(optarg, "none"))
				o.network = XARCH_NET_NONE;
			else if (!strcmp(optarg, "host"))
				o.network = XARCH_NET_HOST;
			else
				return usage_error(
				    "run", "--network takes 'host' or 'none', not '%s'", optarg);
			break;
		case 'i':
			o.interactive = true;
			break;
		case 't':
			o.tty = true;
			break;
		case O_ARCH:
			o.arch = optarg;
			break;
		case O_FORCE_ARCH:
			o.force_arch = true;
			break;
		case O_EPHEMERAL:
			o.ephemeral = true;
			break;
		case O_READONLY:
			o.readonly = true;
			break;
		case O_CREDENTIAL:
			o.credential = true;
			break;
		case O_EMULATE:
			o.emulate = optarg;
			break;
		case O_QEMU_DIR:
			o.qemu_dir = optarg;
			break;
		case O_VERBOSE:
			o.verbose = true;
			break;
		case O_INIT:
			o.init = XARCH_INIT_YES;
			break;
		case O_NO_INIT:
			o.init = XARCH_INIT_NO;
			break;
		case O_PERSISTENT:
			persistent = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			return usage_error("run", "bad option");
		}
	}
	if (optind >= argc)
		return usage_error("run", "no rootfs given");
	o.rootfs = argv[optind++];
	struct stat sb;
	struct xarch_image_ref ref;
	if (stat(o.rootfs, &sb) < 0 && xarch_image_ref_parse(o.rootfs, &ref, NULL) == 0) {
		struct xarch_store_opts so = {.platform = o.arch};
		bool reused;
		if ((r = xarch_store_get(o.rootfs, &so, stored, sizeof(stored), &reused, &err)) < 0)
			return die_err(&err, r);
		if (o.verbose)
			fprintf(stderr, "xarch: %s '%s' in the store: %s\n",
				reused ? "reused" : "pulled", o.rootfs, stored);
		o.rootfs = stored;
		/* the stored tree is shared by every run of the image */
		o.ephemeral = o.ephemeral || !persistent;
	}
	_cleanup_config_ struct image_config ic = {0};
	struct xarch_store_entry ent;
	if (stat(o.rootfs, &sb) < 0 && xarch_image_ref_parse(o.rootfs, &ref, NULL) < 0) {
		/* a name given to 'xarch build -t' */
		char *config = NULL;
		struct xarch_error e2 = {0};
		if (xarch_store_find(NULL, o.rootfs, &ent, &config, &e2) == 0) {
			if (o.verbose)
				fprintf(stderr, "xarch: '%s' is %s in the store: %s\n", o.rootfs,
					ent.digest, ent.path);
			o.rootfs = ent.path;
			o.ephemeral = o.ephemeral || !persistent;
			if (config && image_config_parse(config, &ic) < 0)
				return die("out of memory");
			free(config);
		}
	}
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	o.argv = (const char *const *)argv + optind;
	/* the image's config: -e, -w, -u and CMD given here win */
	if (ic.n_argv && optind == argc)
		o.argv = (const char *const *)ic.argv;
	if (!o.workdir && ic.workdir)
		o.workdir = ic.workdir;
	if (!o.user && ic.user)
		o.user = ic.user;
	for (size_t i = 0; i < ic.n_env; i++) {
		char **n = realloc(envv, (n_env + 2) * sizeof(*n));
		if (!n)
			return die("out of memory");
		envv = n;
		envv[n_env++] = ic.env[i];
		envv[n_env] = NULL;
	}
	for (size_t i = 0; i < env.n; i++) {
		char **n = realloc(envv, (n_env + 2) * sizeof(*n));
		if (!n)
			return die("out of memory");
		envv = n;
		envv[n_env++] = ((char **)env.v)[i];
		envv[n_env] = NULL;
	}
	o.env = (const char *const *)envv;
	o.volumes = vols.v;
	o.n_volumes = vols.n;
	o.tmpfs = tmpfs.v;
	o.n_tmpfs = tmpfs.n;

	int st = 0;
	r = xarch_container_run(&o, &st, &err);
	/* envv mixes argv strings and malloc'ed env-file lines: left to exit */
	free(env.v);
	free(vols.v);
	free(tmpfs.v);
	if (r < 0)
		return die_err(&err, r);
	return xarch_exit_code(st);
}
