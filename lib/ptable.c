// SPDX-License-Identifier: MIT
/*
 * MBR / GPT / hybrid partition tables written into an image file.  The bytes
 * follow genimage 16's hdimage (CHS fields, first usable LBA, hybrid 0xEE
 * entry), so images made either way can be compared byte for byte.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "internal.h"
#include "xarch/ptable.h"

#define SECTOR		  512u
#define GPT_ENTRIES	  128u
#define GPT_ENTRY_SIZE	  128u
#define GPT_ARRAY_BYTES	  (GPT_ENTRIES * GPT_ENTRY_SIZE)
#define GPT_ARRAY_SECTORS (GPT_ARRAY_BYTES / SECTOR)
#define GPT_HEADER_SIZE	  92u
/* backup: entry array + header, at the very end of the disk */
#define GPT_BACKUP_BYTES ((uint64_t)(GPT_ARRAY_SECTORS + 1) * SECTOR)

static const struct {
	const char *name;
	const char *guid;
} guid_shortcuts[] = {
    /* genimage 16 */
    {"L", "0fc63daf-8483-4772-8e79-3d69d8477de4"},
    {"S", "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"},
    {"H", "933ac7e1-2eb4-4f13-b844-0e14e2aef915"},
    {"U", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"},
    {"R", "a19d880f-05fc-4d3b-a006-743f0f84911e"},
    {"V", "e6d6d379-f507-44c2-a23c-238f2a3df928"},
    {"F", "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"},
    /* newer genimage: names; "linux" and "swap" are in its tests */
    {"linux", "0fc63daf-8483-4772-8e79-3d69d8477de4"},
    {"esp", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"},
    /* the Discoverable Partitions Specification's names, as systemd
     * (systemd-id128 show) spells them; tests/unit/test-ptable.c compares
     * them with systemd-id128 when it is installed.  The bare "root" and
     * "usr" mean the host's architecture there and are left out. */
    {"root-alpha", "6523f8ae-3eb1-4e2a-a05a-18b695ae656f"},
    {"root-alpha-verity", "fc56d9e9-e6e5-4c06-be32-e74407ce09a5"},
    {"root-alpha-verity-sig", "d46495b7-a053-414f-80f7-700c99921ef8"},
    {"usr-alpha", "e18cf08c-33ec-4c0d-8246-c6c6fb3da024"},
    {"usr-alpha-verity", "8cce0d25-c0d0-4a44-bd87-46331bf1df67"},
    {"usr-alpha-verity-sig", "5c6e1c76-076a-457a-a0fe-f3b4cd21ce6e"},
    {"root-arc", "d27f46ed-2919-4cb8-bd25-9531f3c16534"},
    {"root-arc-verity", "24b2d975-0f97-4521-afa1-cd531e421b8d"},
    {"root-arc-verity-sig", "143a70ba-cbd3-4f06-919f-6c05683a78bc"},
    {"usr-arc", "7978a683-6316-4922-bbee-38bff5a2fecc"},
    {"usr-arc-verity", "fca0598c-d880-4591-8c16-4eda05c7347c"},
    {"usr-arc-verity-sig", "94f9a9a1-9971-427a-a400-50cb297f0f35"},
    {"root-arm", "69dad710-2ce4-4e3c-b16c-21a1d49abed3"},
    {"root-arm-verity", "7386cdf2-203c-47a9-a498-f2ecce45a2d6"},
    {"root-arm-verity-sig", "42b0455f-eb11-491d-98d3-56145ba9d037"},
    {"usr-arm", "7d0359a3-02b3-4f0a-865c-654403e70625"},
    {"usr-arm-verity", "c215d751-7bcd-4649-be90-6627490a4c05"},
    {"usr-arm-verity-sig", "d7ff812f-37d1-4902-a810-d76ba57b975a"},
    {"root-arm64", "b921b045-1df0-41c3-af44-4c6f280d3fae"},
    {"root-arm64-verity", "df3300ce-d69f-4c92-978c-9bfb0f38d820"},
    {"root-arm64-verity-sig", "6db69de6-29f4-4758-a7a5-962190f00ce3"},
    {"usr-arm64", "b0e01050-ee5f-4390-949a-9101b17104e9"},
    {"usr-arm64-verity", "6e11a4e7-fbca-4ded-b9e9-e1a512bb664e"},
    {"usr-arm64-verity-sig", "c23ce4ff-44bd-4b00-b2d4-b41b3419e02a"},
    {"root-ia64", "993d8d3d-f80e-4225-855a-9daf8ed7ea97"},
    {"root-ia64-verity", "86ed10d5-b607-45bb-8957-d350f23d0571"},
    {"root-ia64-verity-sig", "e98b36ee-32ba-4882-9b12-0ce14655f46a"},
    {"usr-ia64", "4301d2a6-4e3b-4b2a-bb94-9e0b2c4225ea"},
    {"usr-ia64-verity", "6a491e03-3be7-4545-8e38-83320e0ea880"},
    {"usr-ia64-verity-sig", "8de58bc2-2a43-460d-b14e-a76e4a17b47f"},
    {"root-loongarch64", "77055800-792c-4f94-b39a-98c91b762bb6"},
    {"root-loongarch64-verity", "f3393b22-e9af-4613-a948-9d3bfbd0c535"},
    {"root-loongarch64-verity-sig", "5afb67eb-ecc8-4f85-ae8e-ac1e7c50e7d0"},
    {"usr-loongarch64", "e611c702-575c-4cbe-9a46-434fa0bf7e3f"},
    {"usr-loongarch64-verity", "f46b2c26-59ae-48f0-9106-c50ed47f673d"},
    {"usr-loongarch64-verity-sig", "b024f315-d330-444c-8461-44bbde524e99"},
    {"root-mips", "e9434544-6e2c-47cc-bae2-12d6deafb44c"},
    {"root-mips-verity", "7a430799-f711-4c7e-8e5b-1d685bd48607"},
    {"root-mips-verity-sig", "bba210a2-9c5d-45ee-9e87-ff2ccbd002d0"},
    {"usr-mips", "773b2abc-2a99-4398-8bf5-03baac40d02b"},
    {"usr-mips-verity", "6e5a1bc8-d223-49b7-bca8-37a5fcceb996"},
    {"usr-mips-verity-sig", "97ae158d-f216-497b-8057-f7f905770f54"},
    {"root-mips64", "d113af76-80ef-41b4-bdb6-0cff4d3d4a25"},
    {"root-mips64-verity", "579536f8-6a33-4055-a95a-df2d5e2c42a8"},
    {"root-mips64-verity-sig", "43ce94d4-0f3d-4999-8250-b9deafd98e6e"},
    {"usr-mips64", "57e13958-7331-4365-8e6e-35eeee17c61b"},
    {"usr-mips64-verity", "81cf9d90-7458-4df4-8dcf-c8a3a404f09b"},
    {"usr-mips64-verity-sig", "05816ce2-dd40-4ac6-a61d-37d32dc1ba7d"},
    {"root-mips-le", "37c58c8a-d913-4156-a25f-48b1b64e07f0"},
    {"root-mips-le-verity", "d7d150d2-2a04-4a33-8f12-16651205ff7b"},
    {"root-mips-le-verity-sig", "c919cc1f-4456-4eff-918c-f75e94525ca5"},
    {"usr-mips-le", "0f4868e9-9952-4706-979f-3ed3a473e947"},
    {"usr-mips-le-verity", "46b98d8d-b55c-4e8f-aab3-37fca7f80752"},
    {"usr-mips-le-verity-sig", "3e23ca0b-a4bc-4b4e-8087-5ab6a26aa8a9"},
    {"root-mips64-le", "700bda43-7a34-4507-b179-eeb93d7a7ca3"},
    {"root-mips64-le-verity", "16b417f8-3e06-4f57-8dd2-9b5232f41aa6"},
    {"root-mips64-le-verity-sig", "904e58ef-5c65-4a31-9c57-6af5fc7c5de7"},
    {"usr-mips64-le", "c97c1f32-ba06-40b4-9f22-236061b08aa8"},
    {"usr-mips64-le-verity", "3c3d61fe-b5f3-414d-bb71-8739a694a4ef"},
    {"usr-mips64-le-verity-sig", "f2c2c7ee-adcc-4351-b5c6-ee9816b66e16"},
    {"root-parisc", "1aacdb3b-5444-4138-bd9e-e5c2239b2346"},
    {"root-parisc-verity", "d212a430-fbc5-49f9-a983-a7feef2b8d0e"},
    {"root-parisc-verity-sig", "15de6170-65d3-431c-916e-b0dcd8393f25"},
    {"usr-parisc", "dc4a4480-6917-4262-a4ec-db9384949f25"},
    {"usr-parisc-verity", "5843d618-ec37-48d7-9f12-cea8e08768b2"},
    {"usr-parisc-verity-sig", "450dd7d1-3224-45ec-9cf2-a43a346d71ee"},
    {"root-ppc", "1de3f1ef-fa98-47b5-8dcd-4a860a654d78"},
    {"root-ppc-verity", "98cfe649-1588-46dc-b2f0-add147424925"},
    {"root-ppc-verity-sig", "1b31b5aa-add9-463a-b2ed-bd467fc857e7"},
    {"usr-ppc", "7d14fec5-cc71-415d-9d6c-06bf0b3c3eaf"},
    {"usr-ppc-verity", "df765d00-270e-49e5-bc75-f47bb2118b09"},
    {"usr-ppc-verity-sig", "7007891d-d371-4a80-86a4-5cb875b9302e"},
    {"root-ppc64", "912ade1d-a839-4913-8964-a10eee08fbd2"},
    {"root-ppc64-verity", "9225a9a3-3c19-4d89-b4f6-eeff88f17631"},
    {"root-ppc64-verity-sig", "f5e2c20c-45b2-4ffa-bce9-2a60737e1aaf"},
    {"usr-ppc64", "2c9739e2-f068-46b3-9fd0-01c5a9afbcca"},
    {"usr-ppc64-verity", "bdb528a5-a259-475f-a87d-da53fa736a07"},
    {"usr-ppc64-verity-sig", "0b888863-d7f8-4d9e-9766-239fce4d58af"},
    {"root-ppc64-le", "c31c45e6-3f39-412e-80fb-4809c4980599"},
    {"root-ppc64-le-verity", "906bd944-4589-4aae-a4e4-dd983917446a"},
    {"root-ppc64-le-verity-sig", "d4a236e7-e873-4c07-bf1d-bf6cf7f1c3c6"},
    {"usr-ppc64-le", "15bb03af-77e7-4d4a-b12b-c0d084f7491c"},
    {"usr-ppc64-le-verity", "ee2b9983-21e8-4153-86d9-b6901a54d1ce"},
    {"usr-ppc64-le-verity-sig", "c8bfbd1e-268e-4521-8bba-bf314c399557"},
    {"root-riscv32", "60d5a7fe-8e7d-435c-b714-3dd8162144e1"},
    {"root-riscv32-verity", "ae0253be-1167-4007-ac68-43926c14c5de"},
    {"root-riscv32-verity-sig", "3a112a75-8729-4380-b4cf-764d79934448"},
    {"usr-riscv32", "b933fb22-5c3f-4f91-af90-e2bb0fa50702"},
    {"usr-riscv32-verity", "cb1ee4e3-8cd0-4136-a0a4-aa61a32e8730"},
    {"usr-riscv32-verity-sig", "c3836a13-3137-45ba-b583-b16c50fe5eb4"},
    {"root-riscv64", "72ec70a6-cf74-40e6-bd49-4bda08e8f224"},
    {"root-riscv64-verity", "b6ed5582-440b-4209-b8da-5ff7c419ea3d"},
    {"root-riscv64-verity-sig", "efe0f087-ea8d-4469-821a-4c2a96a8386a"},
    {"usr-riscv64", "beaec34b-8442-439b-a40b-984381ed097d"},
    {"usr-riscv64-verity", "8f1056be-9b05-47c4-81d6-be53128e5b54"},
    {"usr-riscv64-verity-sig", "d2f9000a-7a18-453f-b5cd-4d32f77a7b32"},
    {"root-s390", "08a7acea-624c-4a20-91e8-6e0fa67d23f9"},
    {"root-s390-verity", "7ac63b47-b25c-463b-8df8-b4a94e6c90e1"},
    {"root-s390-verity-sig", "3482388e-4254-435a-a241-766a065f9960"},
    {"usr-s390", "cd0f869b-d0fb-4ca0-b141-9ea87cc78d66"},
    {"usr-s390-verity", "b663c618-e7bc-4d6d-90aa-11b756bb1797"},
    {"usr-s390-verity-sig", "17440e4f-a8d0-467f-a46e-3912ae6ef2c5"},
    {"root-s390x", "5eead9a9-fe09-4a1e-a1d7-520d00531306"},
    {"root-s390x-verity", "b325bfbe-c7be-4ab8-8357-139e652d2f6b"},
    {"root-s390x-verity-sig", "c80187a5-73a3-491a-901a-017c3fa953e9"},
    {"usr-s390x", "8a4f5770-50aa-4ed3-874a-99b710db6fea"},
    {"usr-s390x-verity", "31741cc4-1a2a-4111-a581-e00b447d2d06"},
    {"usr-s390x-verity-sig", "3f324816-667b-46ae-86ee-9b0c0c6c11b4"},
    {"root-tilegx", "c50cdd70-3862-4cc3-90e1-809a8c93ee2c"},
    {"root-tilegx-verity", "966061ec-28e4-4b2e-b4a5-1f0a825a1d84"},
    {"root-tilegx-verity-sig", "b3671439-97b0-4a53-90f7-2d5a8f3ad47b"},
    {"usr-tilegx", "55497029-c7c1-44cc-aa39-815ed1558630"},
    {"usr-tilegx-verity", "2fb4bf56-07fa-42da-8132-6b139f2026ae"},
    {"usr-tilegx-verity-sig", "4ede75e2-6ccc-4cc8-b9c7-70334b087510"},
    {"root-x86", "44479540-f297-41b2-9af7-d131d5f0458a"},
    {"root-x86-verity", "d13c5d3b-b5d1-422a-b29f-9454fdc89d76"},
    {"root-x86-verity-sig", "5996fc05-109c-48de-808b-23fa0830b676"},
    {"usr-x86", "75250d76-8cc6-458e-bd66-bd47cc81a812"},
    {"usr-x86-verity", "8f461b0d-14ee-4e81-9aa9-049b6fb97abd"},
    {"usr-x86-verity-sig", "974a71c0-de41-43c3-be5d-5c5ccd1ad2c0"},
    {"root-x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"},
    {"root-x86-64-verity", "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5"},
    {"root-x86-64-verity-sig", "41092b05-9fc8-4523-994f-2def0408b176"},
    {"usr-x86-64", "8484680c-9521-48c6-9c11-b0720656f69e"},
    {"usr-x86-64-verity", "77ff5f63-e7b6-4633-acf4-1565b864c0e6"},
    {"usr-x86-64-verity-sig", "e7bb33fb-06cf-4e81-8273-e543b413e2e2"},
    {"root-verity", "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5"},
    {"root-verity-sig", "41092b05-9fc8-4523-994f-2def0408b176"},
    {"usr-verity", "77ff5f63-e7b6-4633-acf4-1565b864c0e6"},
    {"usr-verity-sig", "e7bb33fb-06cf-4e81-8273-e543b413e2e2"},
    {"root-secondary", "44479540-f297-41b2-9af7-d131d5f0458a"},
    {"root-secondary-verity", "d13c5d3b-b5d1-422a-b29f-9454fdc89d76"},
    {"root-secondary-verity-sig", "5996fc05-109c-48de-808b-23fa0830b676"},
    {"usr-secondary", "75250d76-8cc6-458e-bd66-bd47cc81a812"},
    {"usr-secondary-verity", "8f461b0d-14ee-4e81-9aa9-049b6fb97abd"},
    {"usr-secondary-verity-sig", "974a71c0-de41-43c3-be5d-5c5ccd1ad2c0"},
    {"xbootldr", "bc13c2ff-59e6-4262-a352-b275fd6f7172"},
    {"swap", "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"},
    {"home", "933ac7e1-2eb4-4f13-b844-0e14e2aef915"},
    {"srv", "3b8f8425-20e0-4f3b-907f-1a25a76f98e8"},
    {"var", "4d21b016-b534-45c2-a9fb-5c16e091fd2d"},
    {"tmp", "7ec6f557-3bc5-4aca-b293-16ef5df639d1"},
    {"user-home", "773f91ef-66d4-49b5-bd83-d683bf40ad16"},
    {"linux-generic", "0fc63daf-8483-4772-8e79-3d69d8477de4"},
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* text byte i (in reading order) -> on-disk position: the first three
 * fields are little-endian */
static const uint8_t guid_order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

static int guid_parse_text(const char *s, uint8_t out[16])
{
	uint8_t g[16];
	size_t bi = 0;

	if (strlen(s) != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			i++;
			continue;
		}
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		g[guid_order[bi++]] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	memcpy(out, g, 16);
	return 0;
}

int xarch_guid_parse(const char *s, uint8_t out[16])
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(guid_shortcuts); i++)
		if (strcasecmp(s, guid_shortcuts[i].name) == 0)
			return guid_parse_text(guid_shortcuts[i].guid, out);
	return guid_parse_text(s, out);
}

void xarch_guid_format(const uint8_t g[16], char buf[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		uint8_t b = g[guid_order[i]];
		buf[o++] = hex[b >> 4];
		buf[o++] = hex[b & 15];
	}
	buf[o] = '\0';
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t gpt_location(const struct xarch_ptable *t)
{
	return t->gpt_location ? t->gpt_location : XARCH_GPT_LOCATION_DEFAULT;
}

static bool has_gpt(const struct xarch_ptable *t)
{
	return t->type == XARCH_PT_GPT || t->type == XARCH_PT_HYBRID;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static const char *part_label(const struct xarch_part *p, size_t i, char *buf, size_t len)
{
	if (p->name[0])
		return p->name;
	snprintf(buf, len, "#%zu", i + 1);
	return buf;
}

void xarch_size_exact(uint64_t v, char *buf, size_t len)
{
	if (v && v % (UINT64_C(1) << 30) == 0)
		snprintf(buf, len, "%llu GiB", (unsigned long long)(v >> 30));
	else if (v && v % (UINT64_C(1) << 20) == 0)
		snprintf(buf, len, "%llu MiB", (unsigned long long)(v >> 20));
	else if (v && v % 1024 == 0)
		snprintf(buf, len, "%llu KiB", (unsigned long long)(v >> 10));
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)v);
}

/* "16 MiB..80 MiB" */
static const char *range(uint64_t start, uint64_t len, char *buf, size_t n)
{
	char a[32], b[32];
	xarch_size_exact(start, a, sizeof(a));
	xarch_size_exact(start + len, b, sizeof(b));
	xa_snprintf(buf, n, "%s..%s", start ? a : "0", b);
	return buf;
}

/* What occupies bytes of the disk: a table area, an EBR or a partition. */
struct region {
	char what[120];
	uint64_t start, len;
	const struct xarch_part *part; /* NULL for table areas */
	size_t idx;		       /* partition index (areas: (size_t)-1) */
};

/* Is [s, s+len) (absolute) inside one of p's holes? */
static bool in_hole(const struct xarch_part *p, uint64_t s, uint64_t len)
{
	if (!p)
		return false;
	for (size_t h = 0; h < p->n_holes; h++)
		if (s >= p->offset + p->holes[h].start && s + len <= p->offset + p->holes[h].end)
			return true;
	return false;
}

static int fail(size_t *ret_part, size_t idx, struct xarch_error *err, int code, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));
static int fail(size_t *ret_part, size_t idx, struct xarch_error *err, int code, const char *fmt,
		...)
{
	char m[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	if (ret_part)
		*ret_part = idx;
	return xarch_err(err, code, "%s", m);
}

#define NONE ((size_t)-1)

static int check_overlaps(const struct xarch_ptable *t, size_t *ret_part, struct xarch_error *err)
{
	uint64_t loc = gpt_location(t);
	size_t n = 0, cap = 4 + 2 * t->n;
	_cleanup_free_ struct region *r = calloc(cap, sizeof(*r));
	char lb[24], ra[80], rb[80];

	if (!r)
		return xarch_err(err, ENOMEM, "out of memory");
#define AREA(w, s, l)                                                                              \
	do {                                                                                       \
		xa_strcpy(r[n].what, sizeof(r[n].what), (w));                                      \
		r[n].start = (s);                                                                  \
		r[n].len = (l);                                                                    \
		r[n++].idx = NONE;                                                                 \
	} while (0)
	if (t->type != XARCH_PT_NONE)
		AREA("the mbr partition table", 440, SECTOR - 440);
	if (has_gpt(t)) {
		AREA("the gpt header", SECTOR, SECTOR);
		AREA("the gpt entry array", loc, GPT_ARRAY_BYTES);
		if (!t->gpt_no_backup)
			AREA("the backup gpt", t->disk_size - GPT_BACKUP_BYTES, GPT_BACKUP_BYTES);
	}
#undef AREA
	for (size_t i = 0; i < t->n; i++) {
		const struct xarch_part *p = &t->parts[i];
		const char *l = part_label(p, i, lb, sizeof(lb));
		if (p->logical) {
			snprintf(r[n].what, sizeof(r[n].what), "the ebr of partition '%s'", l);
			r[n].start = p->ebr_offset;
			r[n].len = SECTOR;
			r[n].idx = i;
			n++;
		}
		if (p->size == 0)
			continue;
		snprintf(r[n].what, sizeof(r[n].what), "partition '%s'", l);
		r[n].start = p->offset;
		r[n].len = p->size;
		r[n].part = p;
		r[n].idx = i;
		n++;
	}
	for (size_t b = 0; b < n; b++)
		for (size_t a = 0; a < b; a++) {
			uint64_t s = r[a].start > r[b].start ? r[a].start : r[b].start;
			uint64_t ea = r[a].start + r[a].len, eb = r[b].start + r[b].len;
			uint64_t e = ea < eb ? ea : eb;
			if (s >= e || in_hole(r[a].part, s, e - s) || in_hole(r[b].part, s, e - s))
				continue;
			/* name the partition first: it is what the user moves */
			const struct region *x = r[b].idx != NONE ? &r[b] : &r[a];
			const struct region *y = x == &r[b] ? &r[a] : &r[b];
			int code = fail(ret_part, x->idx, err, EINVAL, "%s (%s) overlaps %s (%s)",
					x->what, range(x->start, x->len, ra, sizeof(ra)), y->what,
					range(y->start, y->len, rb, sizeof(rb)));
			if (!y->part && y->idx == NONE)
				xarch_err_hint(err, "declare the range as a hole of its image "
						    "(holes = {\"(start;end)\"}) or move it");
			return code;
		}
	return 0;
}

int xarch_ptable_check_at(const struct xarch_ptable *t, size_t *ret_part, struct xarch_error *err)
{
	char lb[24], ds[32], ra[80], rb[80];
	size_t in_table = 0, in_mbr = 0, first_logical = NONE, last_logical = NONE;
	uint64_t loc = gpt_location(t);
	int r;

	if (ret_part)
		*ret_part = NONE;
	if (t->type > XARCH_PT_NONE)
		return xarch_err(err, EINVAL, "unknown partition table type %d", (int)t->type);
	if (t->n > XARCH_PT_MAX_PARTS)
		return xarch_err(err, EINVAL, "%zu partitions, at most %u are supported", t->n,
				 XARCH_PT_MAX_PARTS);
	if (t->disk_size == 0 || (t->type != XARCH_PT_NONE && t->disk_size % SECTOR))
		return xarch_err(err, EINVAL, "disk size %llu is not a non-zero multiple of 512",
				 (unsigned long long)t->disk_size);
	xarch_size_exact(t->disk_size, ds, sizeof(ds));
	if (has_gpt(t)) {
		if (loc % SECTOR || loc < 2 * SECTOR)
			return xarch_err(
			    err, EINVAL,
			    "gpt-location %llu must be a multiple of 512 and at least 1024",
			    (unsigned long long)loc);
		uint64_t need = loc + GPT_ARRAY_BYTES;
		if (!t->gpt_no_backup)
			need += GPT_BACKUP_BYTES;
		if (need < loc || need > t->disk_size)
			return xarch_err(
			    err, ENOSPC,
			    "the disk (%s) is too small for a gpt at %llu with its backup", ds,
			    (unsigned long long)loc);
	}

	for (size_t i = 0; i < t->n; i++) {
		const struct xarch_part *p = &t->parts[i];
		const char *l = part_label(p, i, lb, sizeof(lb));
		uint64_t end;

		if (__builtin_add_overflow(p->offset, p->size, &end) || end > t->disk_size)
			return fail(ret_part, i, err, ENOSPC,
				    "partition '%s' (%s) does not fit in the disk (%s)", l,
				    range(p->offset, p->size, ra, sizeof(ra)), ds);
		if (!p->in_table || t->type == XARCH_PT_NONE)
			continue;
		in_table++;
		if (p->size == 0)
			return fail(ret_part, i, err, EINVAL, "partition '%s' has size 0", l);
		if (p->offset % SECTOR || p->size % SECTOR)
			return fail(
			    ret_part, i, err, EINVAL,
			    "partition '%s': offset %llu and size %llu must be multiples of 512", l,
			    (unsigned long long)p->offset, (unsigned long long)p->size);
		if (p->logical) {
			if (t->type != XARCH_PT_MBR)
				return fail(ret_part, i, err, EINVAL,
					    "partition '%s': logical partitions need an mbr", l);
			if (p->ebr_offset % SECTOR || p->ebr_offset + SECTOR > p->offset ||
			    (p->offset - p->ebr_offset) / SECTOR > UINT32_MAX)
				return fail(
				    ret_part, i, err, EINVAL,
				    "partition '%s': its ebr at %llu must be a sector before it", l,
				    (unsigned long long)p->ebr_offset);
			if (first_logical == NONE)
				first_logical = i;
			else if (p->ebr_offset < t->parts[last_logical].offset)
				return fail(ret_part, i, err, EINVAL,
					    "logical partition '%s' lies before the previous one",
					    l);
			last_logical = i;
		}
		if (t->type == XARCH_PT_MBR || (t->type == XARCH_PT_HYBRID && p->mbr_type)) {
			if (!p->logical)
				in_mbr++;
			if (end / SECTOR > UINT32_MAX)
				return fail(
				    ret_part, i, err, EFBIG,
				    "partition '%s' ends beyond the 2 TiB an mbr can address", l);
		}
		if (has_gpt(t)) {
			for (const char *c = p->name; *c; c++)
				if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20)
					return fail(
					    ret_part, i, err, EINVAL,
					    "partition '%s': gpt names must be printable ascii", l);
			if (strnlen(p->name, sizeof(p->name)) > 36)
				return fail(ret_part, i, err, EINVAL,
					    "partition '%s': gpt names are at most 36 characters",
					    l);
		}
	}
	if (first_logical != NONE) {
		/* the extended partition must not cover a primary one */
		uint64_t es = t->parts[first_logical].ebr_offset;
		uint64_t ee = t->parts[last_logical].offset + t->parts[last_logical].size;
		for (size_t i = 0; i < t->n; i++) {
			const struct xarch_part *p = &t->parts[i];
			if (p->in_table && !p->logical && overlaps(p->offset, p->size, es, ee - es))
				return fail(
				    ret_part, i, err, EINVAL,
				    "partition '%s' (%s) lies inside the extended partition (%s); "
				    "only logical partitions can",
				    part_label(p, i, lb, sizeof(lb)),
				    range(p->offset, p->size, ra, sizeof(ra)),
				    range(es, ee - es, rb, sizeof(rb)));
		}
		in_mbr++;
	}
	if (t->type == XARCH_PT_MBR && in_mbr > 4)
		return xarch_err(
		    err, EINVAL,
		    "%zu entries in the mbr (primary partitions and the extended one), "
		    "at most 4 fit; use extended-partition",
		    in_mbr);
	if (t->type == XARCH_PT_HYBRID && in_mbr > 3)
		return xarch_err(
		    err, EINVAL,
		    "%zu partitions with a partition-type: a hybrid mbr holds at most 3", in_mbr);
	if ((r = check_overlaps(t, ret_part, err)) < 0)
		return r;
	return (int)in_table;
}

int xarch_ptable_check(const struct xarch_ptable *t, struct xarch_error *err)
{
	return xarch_ptable_check_at(t, NULL, err);
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off, struct xarch_error *err)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t r = pwrite(fd, p, len, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return xarch_err_sys(err, errno, "cannot write the partition table at %llu",
					     (unsigned long long)off);
		}
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* genimage's CHS: 255 heads, 63 sectors; the cylinder is not clamped to 1023,
 * its low 10 bits are stored, which is what genimage 16 writes. */
static void lba_to_chs(uint32_t lba, uint8_t chs[3])
{
	uint32_t c = lba / (63 * 255);
	uint32_t s = lba ? lba % 63 + 1 : 0;

	chs[0] = (uint8_t)((lba / 63) % 255);
	chs[1] = (uint8_t)(((c & 0x300) >> 2) | (s & 0xff));
	chs[2] = (uint8_t)(c & 0xff);
}

static void mbr_entry(uint8_t *e, bool boot, uint8_t type, uint32_t start, uint32_t count)
{
	e[0] = boot ? 0x80 : 0x00;
	lba_to_chs(start, e + 1);
	e[4] = type;
	lba_to_chs(start + count - 1, e + 5);
	put_le32(e + 8, start);
	put_le32(e + 12, count);
}

/* The extended partition: from the first logical's EBR to the end of the
 * last logical.  false when there are no logical partitions. */
static bool extended_extent(const struct xarch_ptable *t, uint64_t *start, uint64_t *len)
{
	bool any = false;
	uint64_t end = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct xarch_part *p = &t->parts[i];
		if (!p->in_table || !p->logical)
			continue;
		if (!any)
			*start = p->ebr_offset;
		any = true;
		end = p->offset + p->size;
	}
	if (any)
		*len = end - *start;
	return any;
}

/* Bytes 440..511 only: boot code before them is left as it is. */
static int write_mbr(int fd, const struct xarch_ptable *t, struct xarch_error *err)
{
	uint8_t m[72] = {0};
	size_t k = 0;
	uint64_t es = 0, el = 0;
	bool ext = t->type == XARCH_PT_MBR && extended_extent(t, &es, &el), ext_done = false;

	put_le32(m, t->disk_signature);
	if (t->type == XARCH_PT_GPT) {
		uint64_t secs = t->disk_size / SECTOR - 1;
		mbr_entry(m + 6, false, 0xee, 1, secs > UINT32_MAX ? UINT32_MAX : (uint32_t)secs);
	} else {
		for (size_t i = 0; i < t->n && k < 4; i++) {
			const struct xarch_part *p = &t->parts[i];
			if (!p->in_table)
				continue;
			if (p->logical) {
				/* one entry for the whole extended partition, where the
				 * first logical one is; genimage copies that partition's
				 * bootable flag onto it */
				if (ext && !ext_done)
					mbr_entry(m + 6 + 16 * k++, p->bootable, 0x0f,
						  (uint32_t)(es / SECTOR), (uint32_t)(el / SECTOR));
				ext_done = true;
				continue;
			}
			if (t->type == XARCH_PT_HYBRID && !p->mbr_type)
				continue;
			mbr_entry(m + 6 + 16 * k++, p->bootable, p->mbr_type,
				  (uint32_t)(p->offset / SECTOR), (uint32_t)(p->size / SECTOR));
		}
		/* hybrid: 0xEE covers LBA 1 up to the end of the entry array */
		if (t->type == XARCH_PT_HYBRID)
			mbr_entry(m + 6 + 16 * k, false, 0xee, 1,
				  (uint32_t)(gpt_location(t) / SECTOR + GPT_ARRAY_SECTORS - 1));
	}
	m[70] = 0x55;
	m[71] = 0xaa;
	return pwrite_all(fd, m, sizeof(m), 440, err);
}

/* Each logical partition's EBR (bytes 446..511 of its sector): the partition
 * relative to the EBR, then the link to the next EBR relative to the start of
 * the extended partition.  The CHS fields are computed from those relative
 * numbers, as genimage does. */
static int write_ebrs(int fd, const struct xarch_ptable *t, struct xarch_error *err)
{
	uint64_t es = 0, el = 0;
	int r;

	if (t->type != XARCH_PT_MBR || !extended_extent(t, &es, &el))
		return 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct xarch_part *p = &t->parts[i];
		uint8_t e[66] = {0};
		if (!p->in_table || !p->logical)
			continue;
		mbr_entry(e, false, p->mbr_type, (uint32_t)((p->offset - p->ebr_offset) / SECTOR),
			  (uint32_t)(p->size / SECTOR));
		for (size_t j = i + 1; j < t->n; j++) {
			const struct xarch_part *q = &t->parts[j];
			if (!q->in_table || !q->logical)
				continue;
			mbr_entry(e + 16, false, 0x0f, (uint32_t)((q->ebr_offset - es) / SECTOR),
				  (uint32_t)((q->offset + q->size - q->ebr_offset) / SECTOR));
			break;
		}
		e[64] = 0x55;
		e[65] = 0xaa;
		if ((r = pwrite_all(fd, e, sizeof(e), p->ebr_offset + 446, err)) < 0)
			return r;
	}
	return 0;
}

static void gpt_header(uint8_t *h, const struct xarch_ptable *t, uint64_t my_lba, uint64_t alt_lba,
		       uint64_t first, uint64_t last, uint64_t entries_lba, uint32_t array_crc)
{
	memset(h, 0, SECTOR);
	memcpy(h, "EFI PART", 8);
	put_le32(h + 8, 0x00010000);
	put_le32(h + 12, GPT_HEADER_SIZE);
	put_le64(h + 24, my_lba);
	put_le64(h + 32, alt_lba);
	put_le64(h + 40, first);
	put_le64(h + 48, last);
	memcpy(h + 56, t->disk_guid, 16);
	put_le64(h + 72, entries_lba);
	put_le32(h + 80, GPT_ENTRIES);
	put_le32(h + 84, GPT_ENTRY_SIZE);
	put_le32(h + 88, array_crc);
	put_le32(h + 16, (uint32_t)crc32(0, h, GPT_HEADER_SIZE));
}

static int write_gpt(int fd, const struct xarch_ptable *t, struct xarch_error *err)
{
	_cleanup_free_ uint8_t *arr = calloc(1, GPT_ARRAY_BYTES);
	uint8_t hdr[SECTOR];
	uint64_t last_lba = t->disk_size / SECTOR - 1;
	uint64_t loc_lba = gpt_location(t) / SECTOR;
	uint64_t first = loc_lba + GPT_ARRAY_SECTORS;
	size_t k = 0;
	int r;

	if (!arr)
		return xarch_err(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < t->n; i++) {
		const struct xarch_part *p = &t->parts[i];
		if (!p->in_table)
			continue;
		uint8_t *e = arr + GPT_ENTRY_SIZE * k++;
		memcpy(e, p->type_guid, 16);
		memcpy(e + 16, p->part_guid, 16);
		put_le64(e + 32, p->offset / SECTOR);
		put_le64(e + 40, (p->offset + p->size) / SECTOR - 1);
		put_le64(e + 48, (p->bootable ? XARCH_GPT_ATTR_LEGACY_BOOT : 0) | p->gpt_attrs);
		for (size_t c = 0; c < 36 && p->name[c]; c++)
			put_le16(e + 56 + 2 * c, (uint8_t)p->name[c]);
		/* genimage: the first usable LBA is where the first partition starts */
		if (k == 1 || p->offset / SECTOR < first)
			first = p->offset / SECTOR;
	}
	uint32_t acrc = (uint32_t)crc32(0, arr, GPT_ARRAY_BYTES);
	uint64_t last_usable = last_lba - GPT_ARRAY_SECTORS - 1;

	/* without a backup, genimage points alternate_lba at the primary itself */
	gpt_header(hdr, t, 1, t->gpt_no_backup ? 1 : last_lba, first, last_usable, loc_lba, acrc);
	r = pwrite_all(fd, arr, GPT_ARRAY_BYTES, gpt_location(t), err);
	if (r < 0)
		return r;
	/* the header's 92 bytes only, like genimage: the rest of its sector
	 * may belong to a boot loader's hole */
	r = pwrite_all(fd, hdr, GPT_HEADER_SIZE, SECTOR, err);
	if (r < 0 || t->gpt_no_backup)
		return r;

	gpt_header(hdr, t, last_lba, 1, first, last_usable, last_lba - GPT_ARRAY_SECTORS, acrc);
	r = pwrite_all(fd, arr, GPT_ARRAY_BYTES, (last_lba - GPT_ARRAY_SECTORS) * SECTOR, err);
	if (r < 0)
		return r;
	return pwrite_all(fd, hdr, GPT_HEADER_SIZE, last_lba * SECTOR, err);
}

int xarch_ptable_write(int fd, const struct xarch_ptable *t, struct xarch_error *err)
{
	int r = xarch_ptable_check(t, err);
	if (r < 0)
		return r;
	if (t->type == XARCH_PT_NONE)
		return 0;
	if (has_gpt(t)) {
		r = write_gpt(fd, t, err);
		if (r < 0)
			return r;
	}
	r = write_ebrs(fd, t, err);
	if (r < 0)
		return r;
	return write_mbr(fd, t, err);
}
