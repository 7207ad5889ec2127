// SPDX-License-Identifier: MIT
/* bootstrap: Release files, apt sources, the distro table. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "xarch/bootstrap.h"

static const char forky[] =
    "-----BEGIN PGP SIGNED MESSAGE-----\n"
    "Hash: SHA256\n\n"
    "Origin: Debian\nLabel: Debian\nSuite: testing\nCodename: forky\n"
    "Date: Fri, 30 Oct 2026 08:08:01 UTC\n"
    "Valid-Until: Fri, 06 Nov 2026 08:08:01 UTC\n"
    "Acquire-By-Hash: yes\n"
    "Architectures: all amd64 arm64 armhf i386 loong64 ppc64el riscv64 s390x\n"
    "Components: main contrib non-free-firmware non-free\n"
    "Description: Debian x.y Testing distribution - Not Released\n"
    "MD5Sum:\n 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all\n";

static void test_release(void)
{
	struct xarch_deb_release r;
	CHECK(xarch_deb_release_parse(forky, &r, NULL) == 0, "InRelease of forky parses");
	CHECK_STR(r.codename, "forky", "codename");
	CHECK_STR(r.suite, "testing", "suite");
	CHECK(r.valid_until == 1793952481, "Valid-Until is 2026-11-06 08:08:01 UTC (%lld)",
	      (long long)r.valid_until);
	CHECK(r.date == 1793952481 - 7 * 86400, "Date");
	CHECK(xarch_word_in(r.architectures, "riscv64"), "riscv64 listed");
	CHECK(!xarch_word_in(r.architectures, "riscv"), "a prefix is not a word");
	CHECK(!xarch_word_in(r.architectures, "mips64el"), "mips64el not listed");
	CHECK(xarch_word_in(r.components, "non-free"), "component non-free");

	CHECK(xarch_deb_release_parse("Suite: stable\nArchitectures: amd64\n", &r, NULL) == 0 &&
		  r.valid_until == -1,
	      "no Valid-Until: -1 (stable has none)");
	CHECK(xarch_deb_release_parse("Suite: x\nArchitectures: amd64\nValid-Until: garbage\n", &r,
				      NULL) == 0 &&
		  r.valid_until == -1,
	      "an unparsable date counts as absent");
	struct xarch_error err = {0};
	CHECK(xarch_deb_release_parse("<html>404</html>\n", &r, &err) < 0 && err.msg[0],
	      "an HTML page is not a Release file: %s", err.msg);
	CHECK(xarch_deb_release_parse("", &r, NULL) < 0, "empty text");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void test_sources(void)
{
	char dir[] = "/tmp/xarch-test-bootstrap-XXXXXX", p[256], buf[256];
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(p, sizeof(p), "%s/etc", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc/apt", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc/apt/sources.list.d", dir);
	mkdir(p, 0755);
	CHECK(xarch_apt_source_uri(dir, "debian", buf, sizeof(buf)) < 0, "no sources: none");
	snprintf(p, sizeof(p), "%s/etc/apt/sources.list.d/debian.sources", dir);
	write_file(p, "Types: deb\n# http://snapshot.debian.org/archive/debian/2025\n"
		      "URIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
		      "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n");
	CHECK(xarch_apt_source_uri(dir, "debian", buf, sizeof(buf)) == 0 &&
		  strcmp(buf, "http://mirror.example/debian/") == 0,
	      "deb822: the /debian URI, not debian-security or a comment (%s)", buf);
	snprintf(p, sizeof(p), "%s/etc/apt/sources.list", dir);
	write_file(p,
		   "# deb http://commented.example/debian bookworm main\n"
		   "deb-src http://src.example/debian bookworm main\n"
		   "deb [arch=amd64 signed-by=/k.gpg] http://list.example/debian bookworm main\n");
	CHECK(xarch_apt_source_uri(dir, "debian", buf, sizeof(buf)) == 0 &&
		  strcmp(buf, "http://list.example/debian") == 0,
	      "one-line format with options wins (sources.list first) (%s)", buf);
	CHECK(xarch_apt_source_uri(dir, "ubuntu", buf, sizeof(buf)) < 0, "no ubuntu URI");
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "cleanup");
}

static void test_table(void)
{
	size_t n;
	const struct xarch_distro *t = xarch_distro_table(&n);
	CHECK(n >= 5, "five distributions");
	for (size_t i = 0; i < n; i++) {
		CHECK(xarch_distro_lookup(t[i].name) == &t[i], "lookup %s", t[i].name);
		if (t[i].family == XARCH_DISTRO_RPM)
			CHECK(t[i].rpm_dbpath && t[i].rpm_dbpath[0] == '/', "%s: rpm dbpath",
			      t[i].name);
	}
	CHECK(!xarch_distro_lookup("Debian"), "names are case-sensitive");
}

int main(void)
{
	test_release();
	test_sources();
	test_table();
	return check_done();
}
