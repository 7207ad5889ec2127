/* SPDX-License-Identifier: MIT */
#ifndef XARCH_BOOTSTRAP_H
#define XARCH_BOOTSTRAP_H

/*
 * `xarch bootstrap`: a target root filesystem from a distribution mirror.
 * Debian/Ubuntu through mmdebstrap (debootstrap as a fallback), RPM
 * distributions through dnf --forcearch --installroot.  Foreign maintainer
 * scripts and scriptlets run through qemu-user registered in a private
 * binfmt_misc of a user namespace (Linux >= 6.7), or, as root on older
 * kernels, through a host entry xarch-<arch> added for the run and removed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/arch.h"
#include "xarch/error.h"

enum xarch_distro_family { XARCH_DISTRO_DEB, XARCH_DISTRO_RPM };

struct xarch_distro {
	const char *name;
	enum xarch_distro_family family;
	const char *mirror;	  /* deb: archive URL; rpm: repos (comma-separated) */
	const char *ports_mirror; /* deb: for arches not on `mirror` (Ubuntu), or NULL */
	const char *suite;	  /* deb: default suite; rpm: default releasever, or NULL */
	const char *packages;	  /* rpm: default package set (comma-separated), or NULL */
	const char *gpgkey;	  /* rpm: default key URL, or NULL */
	const char *rpm_dbpath;	  /* rpm: where the target's own rpm keeps its database */
};

const struct xarch_distro *xarch_distro_table(size_t *ret_n);
const struct xarch_distro *xarch_distro_lookup(const char *name);

/* What a Debian-style Release file says (the fields xarch checks). */
struct xarch_deb_release {
	char suite[64];
	char codename[64];
	char architectures[512]; /* space-separated */
	char components[256];
	int64_t valid_until; /* seconds since the epoch, -1 when absent */
	int64_t date;	     /* -1 when absent */
};

/* Parse the text of a Release or InRelease file. */
int xarch_deb_release_parse(const char *text, struct xarch_deb_release *ret,
			    struct xarch_error *err);

/* Does the space-separated `list` contain the word `word`? */
bool xarch_word_in(const char *list, const char *word);

/* The first URI of the host's apt sources (/etc/apt/sources.list and
 * sources.list.d/, .list and .sources) whose path ends in "/<tail>" (e.g.
 * "debian"), into buf.  `root` is "/" or a test directory.  -ENOENT when
 * none. */
int xarch_apt_source_uri(const char *root, const char *tail, char *buf, size_t len);

enum xarch_bootstrap_emu {
	XARCH_EMU_NONE,	     /* the host runs the arch */
	XARCH_EMU_PRIVATE,   /* private binfmt_misc in a user namespace */
	XARCH_EMU_HOST,	     /* an existing host entry */
	XARCH_EMU_HOST_TEMP, /* xarch-<arch> added to the host table for the run */
};

struct xarch_bootstrap_opts {
	const char *distro;	   /* table name: debian, ubuntu, openeuler, fedora, rpm */
	const char *arch;	   /* any name of the arch table */
	const char *suite;	   /* deb: suite; rpm: releasever; NULL: the distro's default */
	const char *mirror;	   /* deb: mirror URL; NULL: apt sources or the default */
	const char *repos;	   /* rpm: comma-separated base URLs; NULL: the default */
	const char *include;	   /* comma-separated packages (rpm: the install set) */
	const char *variant;	   /* deb: minbase, buildd, important, ...; NULL: tool's */
	const char *components;	   /* deb: main,contrib,...; NULL: main */
	const char *gpgkey;	   /* rpm: key URL for every repo */
	const char *rpm_dbpath;	   /* rpm: NULL: the distro's */
	const char *tool;	   /* NULL: auto; "mmdebstrap", "debootstrap" or "dnf" */
	const char *out;	   /* directory, or a file ending in .tar[.gz|.xz|.zst] */
	const char *qemu_dir;	   /* NULL: PATH */
	bool no_check_valid_until; /* pass Acquire::Check-Valid-Until "false" */
	bool no_gpgcheck;	   /* rpm: unsigned repositories */
	bool no_probe;		   /* deb: skip the Release check */
	bool quiet;		   /* tools run with -q */
	int log_fd;		   /* tool output here; -1: our stderr */
	void (*note)(void *data, const char *msg); /* what was decided; may be NULL */
	void *note_data;
};

struct xarch_bootstrap_result {
	char path[4096];
	const struct xarch_arch *arch;
	const struct xarch_distro *distro;
	char suite[64];	   /* as given/defaulted */
	char codename[64]; /* deb: from the Release file, "" when not probed */
	char mirror[1024]; /* deb: mirror; rpm: the repos */
	char tool[16];
	bool tar;
	enum xarch_bootstrap_emu emu;
	long packages; /* installed packages, -1 when unknown */
	uint64_t size; /* tar: file size; dir: bytes of regular files */
	double seconds;
};

/* Create the rootfs.  OUT must not exist (or be an empty directory); it is
 * built under a temp name next to it and renamed into place, so after a
 * failure there is no OUT.  As root under sudo, a tar OUT is chowned to
 * SUDO_UID:SUDO_GID (a directory keeps its rootfs owners). */
int xarch_bootstrap(const struct xarch_bootstrap_opts *o, struct xarch_bootstrap_result *ret,
		    struct xarch_error *err);

/* "private binfmt_misc", ... */
const char *xarch_bootstrap_emu_str(enum xarch_bootstrap_emu e);

#endif
