// SPDX-License-Identifier: MIT
/* Dockerfile parsing: the seed's recipes, forms, continuations, directives,
 * errors with their lines; variable expansion. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xarch/dockerfile.h"

/* The seed's two-stage openEuler recipe, as in the talk (comments kept). */
static const char seed[] =
    "# prepare the target rootfs from a native image\n"
    "FROM openeuler/openeuler:24.03-lts AS build\n"
    "\n"
    "# --forcearch riscv64 with --installroot /target\n"
    "RUN dnf --setopt=install_weak_deps=False --releasever 24.03LTS --forcearch riscv64 "
    "--installroot /target \\\n"
    "    install -y coreutils rpm dnf yum bash findutils procps tar && \\\n"
    "    dnf clean all --installroot /target && \\\n"
    "    rm -rf /target/var/cache/yum && \\\n"
    "    rm -rf /target/var/log/* && \\\n"
    "    rm /target/var/lib/dnf/history.sqlite-*\n"
    "\n"
    "FROM --platform=linux/riscv64 scratch\n"
    "COPY --from=build /target /\n"
    "CMD [ \"/bin/bash\" ]\n";

static void test_seed(void)
{
	struct xarch_dockerfile df;
	struct xarch_error err = {0};
	int r = xarch_dockerfile_parse(seed, strlen(seed), "Dockerfile", &df, &err);
	CHECK(r == 0, "seed recipe parses (%s)", err.msg);
	if (r < 0)
		return;
	CHECK(df.n == 5, "seed: five instructions (%zu)", df.n);
	CHECK(df.v[0].cmd == XARCH_DF_FROM && df.v[0].n_args == 3 &&
		  !strcmp(df.v[0].args[2], "build"),
	      "FROM ... AS build");
	CHECK(df.v[1].cmd == XARCH_DF_RUN && df.v[1].line == 5 && df.v[1].n_args == 1 &&
		  !df.v[1].json,
	      "RUN: shell form, starts on line 5");
	CHECK(strstr(df.v[1].args[0], "--installroot /target install -y") &&
		  strstr(df.v[1].args[0], "history.sqlite-*") && !strchr(df.v[1].args[0], '\n'),
	      "RUN: continuation lines joined");
	CHECK(df.v[2].line == 12 && !strcmp(xarch_df_flag(&df.v[2], "platform"), "linux/riscv64"),
	      "FROM --platform=linux/riscv64, line 12");
	CHECK(df.v[3].cmd == XARCH_DF_COPY && !strcmp(xarch_df_flag(&df.v[3], "from"), "build") &&
		  df.v[3].n_args == 2 && !strcmp(df.v[3].args[1], "/"),
	      "COPY --from=build /target /");
	CHECK(df.v[4].cmd == XARCH_DF_CMD && df.v[4].json && df.v[4].n_args == 1 &&
		  !strcmp(df.v[4].args[0], "/bin/bash"),
	      "CMD exec form");
	CHECK(xarch_df_flag(&df.v[3], "chown") == NULL, "absent flag is NULL");
	xarch_dockerfile_release(&df);
}

struct ok_case {
	const char *name, *text;
	int cmd; /* of the last instruction */
	bool json;
	const char *args; /* the last instruction's args joined by '|', NULL as "(null)" */
};

static const struct ok_case ok_cases[] = {
    {"lowercase keyword", "from x\nrun echo hi\n", XARCH_DF_RUN, false, "echo hi"},
    {"exec form", "FROM x\nRUN [\"/bin/sh\", \"-c\", \"echo a b\"]\n", XARCH_DF_RUN, true,
     "/bin/sh|-c|echo a b"},
    {"broken JSON is shell form", "FROM x\nRUN [ not json\n", XARCH_DF_RUN, false, "[ not json"},
    {"ENV pairs", "FROM x\nENV A=1 B=\"two words\" C=a\\ b\n", XARCH_DF_ENV, false,
     "A|1|B|\"two words\"|C|a\\ b"},
    {"ENV legacy form", "FROM x\nENV PATH /usr/bin:/bin  \n", XARCH_DF_ENV, false,
     "PATH|/usr/bin:/bin"},
    {"LABEL", "FROM x\nLABEL a=b \"c d\"=e\n", XARCH_DF_LABEL, false, "a|b|\"c d\"|e"},
    {"ARG without default", "ARG V\nFROM x:$V\nARG W\n", XARCH_DF_ARG, false, "W|(null)"},
    {"ARG with default", "FROM x\nARG V=1.0\n", XARCH_DF_ARG, false, "V|1.0"},
    {"COPY words keep quotes", "FROM x\nCOPY --chown=1:2 \"a b\" c /d/\n", XARCH_DF_COPY, false,
     "\"a b\"|c|/d/"},
    {"COPY exec form", "FROM x\nCOPY [\"a b\", \"/d/\"]\n", XARCH_DF_COPY, true, "a b|/d/"},
    {"comment inside continuation", "FROM x\nRUN a \\\n# note\n  b\n", XARCH_DF_RUN, false, "a b"},
    {"blank line inside continuation", "FROM x\nRUN a \\\n\n  b\n", XARCH_DF_RUN, false, "a b"},
    {"escape directive", "# escape=`\nFROM x\nRUN a `\n  b\\c\n", XARCH_DF_RUN, false, "a b\\c"},
    {"CRLF", "FROM x\r\nWORKDIR /w\r\n", XARCH_DF_WORKDIR, false, "/w"},
    {"continuation at EOF", "FROM x\nRUN a \\", XARCH_DF_RUN, false, "a"},
    {"SHELL", "FROM x\nSHELL [\"/bin/bash\", \"-c\"]\n", XARCH_DF_SHELL, true, "/bin/bash|-c"},
    {"EXPOSE VOLUME", "FROM x\nEXPOSE 80/tcp 443\n", XARCH_DF_EXPOSE, false, "80/tcp|443"},
    {"empty CMD", "FROM x\nCMD\n", XARCH_DF_CMD, false, ""},
    {"USER", "FROM x\nUSER 1000:1000\n", XARCH_DF_USER, false, "1000:1000"},
};

static void join(const struct xarch_df_instr *in, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < in->n_args; i++) {
		if (i)
			strncat(buf, "|", len - strlen(buf) - 1);
		strncat(buf, in->args[i] ? in->args[i] : "(null)", len - strlen(buf) - 1);
	}
}

static void test_ok(void)
{
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct xarch_dockerfile df;
		struct xarch_error err = {0};
		char got[512];
		int r = xarch_dockerfile_parse(c->text, strlen(c->text), "Dockerfile", &df, &err);
		CHECK(r == 0, "%s: parses (%s)", c->name, err.msg);
		if (r < 0)
			continue;
		const struct xarch_df_instr *in = &df.v[df.n - 1];
		join(in, got, sizeof(got));
		CHECK((int)in->cmd == c->cmd && in->json == c->json && !strcmp(got, c->args),
		      "%s: %s %s[%s]", c->name, xarch_df_cmd_name(in->cmd), in->json ? "json " : "",
		      got);
		xarch_dockerfile_release(&df);
	}
}

struct bad_case {
	const char *name, *text, *msg; /* msg: a substring of the error */
};

static const struct bad_case bad_cases[] = {
    {"unknown instruction", "FROM x\n\nFOO bar\n", "Dockerfile:3: unknown instruction 'FOO'"},
    {"ONBUILD", "FROM x\nONBUILD RUN a\n", "Dockerfile:2: ONBUILD is not supported"},
    {"HEALTHCHECK", "FROM x\nHEALTHCHECK CMD a\n", "Dockerfile:2: HEALTHCHECK"},
    {"heredoc", "FROM x\nRUN <<EOF\na\nEOF\n", "Dockerfile:2: heredocs"},
    {"COPY one arg", "FROM x\nCOPY a\n", "Dockerfile:2: COPY needs at least two"},
    {"FROM junk", "FROM a b\n", "Dockerfile:1: FROM wants IMAGE [AS NAME]"},
    {"no FROM first", "RUN a\n", "Dockerfile:1: the first instruction must be FROM"},
    {"empty file", "# only a comment\n\n", "no instructions"},
    {"unknown flag", "FROM x\nCOPY --form=a b c\n", "Dockerfile:2: COPY does not know --form"},
    {"unterminated quote", "FROM x\nCOPY \"a b\n", "Dockerfile:2: unterminated quote"},
    {"ENV without value", "FROM x\nENV A\n", "Dockerfile:2: ENV A needs a value"},
    {"SHELL not JSON", "FROM x\nSHELL /bin/sh -c\n", "SHELL wants a JSON array"},
    {"RUN without args", "FROM x\nRUN\n", "Dockerfile:2: RUN needs arguments"},
    {"line after continuations", "FROM x\nRUN a \\\n b \\\n c\nBAD\n", "Dockerfile:5:"},
    {"NUL byte", "FROM x\nRUN a\0b\n", "NUL byte"},
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct xarch_dockerfile df;
		struct xarch_error err = {0};
		size_t len = strlen(c->text);
		if (!strcmp(c->name, "NUL byte"))
			len = 15;
		int r = xarch_dockerfile_parse(c->text, len, "Dockerfile", &df, &err);
		CHECK(r < 0 && strstr(err.msg, c->msg), "%s: error '%s'", c->name, err.msg);
		if (r == 0)
			xarch_dockerfile_release(&df);
	}
}

static const char *lookup(void *data, const char *name)
{
	(void)data;
	if (!strcmp(name, "A"))
		return "apple";
	if (!strcmp(name, "EMPTY"))
		return "";
	if (!strcmp(name, "SP"))
		return "a b";
	return NULL;
}

static void test_expand(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"$A", "apple"},
	    {"${A}s", "apples"},
	    {"x${NOPE}y", "xy"},
	    {"${NOPE:-def}", "def"},
	    {"${EMPTY:-def}", "def"},
	    {"${EMPTY-def}", ""},
	    {"${A:-def}", "apple"},
	    {"${A:+set}", "set"},
	    {"${NOPE:+set}", ""},
	    {"'$A'", "$A"},
	    {"\"$A b\"", "apple b"},
	    {"\\$A", "$A"},
	    {"\"a\\\"b\"", "a\"b"},
	    {"\"a\\nb\"", "a\\nb"},
	    {"a\\ b", "a b"},
	    {"$SP", "a b"},
	    {"${NOPE:-${A}}", "apple"},
	    {"cost $5", "cost "}, /* a positional parameter: unset */
	    {"a$", "a$"},
	    {"it's\"", NULL},
	    {"${A", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[256];
		struct xarch_error err = {0};
		int r = xarch_df_expand(cases[i].in, '\\', lookup, NULL, out, sizeof(out), &err);
		if (cases[i].out)
			CHECK(r == 0 && !strcmp(out, cases[i].out), "expand %s -> %s (got %s)",
			      cases[i].in, cases[i].out, r == 0 ? out : err.msg);
		else
			CHECK(r < 0, "expand %s fails (%s)", cases[i].in, err.msg);
	}
	char small[4];
	CHECK(xarch_df_expand("$A", '\\', lookup, NULL, small, sizeof(small), NULL) ==
		  -ENAMETOOLONG,
	      "expand: too small a buffer is an error");
}

int main(void)
{
	test_seed();
	test_ok();
	test_bad();
	test_expand();
	return check_done();
}
