/*
 * registry.c: the zone registry as data: the strict parser of data/zones.csv, the table of
 * the 31 province-level divisions (codes, English and Chinese names) and the validity rule
 * of a zone in a year. The copy kept in the store lives in store.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

#define CSV_HEADER    "code,city_en,city_zh,province_en,batch,approved_year,revoked_year,name_check"
#define CSV_FIELDS    8
#define CSV_MAX_BYTES (16u << 20) /* a registry file is a few kB; refuse absurd inputs */

static const struct {
	uint32_t code;
	const char *en;
	const char *zh;
} provinces[] = {
    {110000, "Beijing", "北京市"},
    {120000, "Tianjin", "天津市"},
    {130000, "Hebei", "河北省"},
    {140000, "Shanxi", "山西省"},
    {150000, "Inner Mongolia", "内蒙古自治区"},
    {210000, "Liaoning", "辽宁省"},
    {220000, "Jilin", "吉林省"},
    {230000, "Heilongjiang", "黑龙江省"},
    {310000, "Shanghai", "上海市"},
    {320000, "Jiangsu", "江苏省"},
    {330000, "Zhejiang", "浙江省"},
    {340000, "Anhui", "安徽省"},
    {350000, "Fujian", "福建省"},
    {360000, "Jiangxi", "江西省"},
    {370000, "Shandong", "山东省"},
    {410000, "Henan", "河南省"},
    {420000, "Hubei", "湖北省"},
    {430000, "Hunan", "湖南省"},
    {440000, "Guangdong", "广东省"},
    {450000, "Guangxi", "广西壮族自治区"},
    {460000, "Hainan", "海南省"},
    {500000, "Chongqing", "重庆市"},
    {510000, "Sichuan", "四川省"},
    {520000, "Guizhou", "贵州省"},
    {530000, "Yunnan", "云南省"},
    {540000, "Tibet", "西藏自治区"},
    {610000, "Shaanxi", "陕西省"},
    {620000, "Gansu", "甘肃省"},
    {630000, "Qinghai", "青海省"},
    {640000, "Ningxia", "宁夏回族自治区"},
    {650000, "Xinjiang", "新疆维吾尔自治区"},
};

const char *
zt_province_name(uint32_t province, bool chinese)
{
	for (size_t i = 0; i < sizeof(provinces) / sizeof(provinces[0]); i++)
		if (provinces[i].code == province)
			return chinese ? provinces[i].zh : provinces[i].en;
	return NULL;
}

bool
zt_zone_valid_in(const struct zt_zone *z, uint32_t year)
{
	if (year < z->approved_year)
		return false;
	return z->revoked_year == 0 || year < z->revoked_year;
}

/* A field of one CSV line: not NUL-terminated, points into the caller's buffer. */
struct field {
	const char *p;
	size_t len;
};

/* Parses all-digit text into [min, max]; no sign, no spaces, at most 9 digits. */
static int
parse_uint(struct field f, unsigned min, unsigned max, unsigned *ret)
{
	unsigned v = 0;
	if (f.len == 0 || f.len > 9)
		return -1;
	for (size_t i = 0; i < f.len; i++) {
		if (f.p[i] < '0' || f.p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(f.p[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*ret = v;
	return 0;
}

/* Copies a name of 1..size-1 bytes with no control characters. */
static int
copy_name(struct field f, char *dst, size_t size)
{
	if (f.len == 0 || f.len >= size)
		return -1;
	for (size_t i = 0; i < f.len; i++)
		if ((unsigned char)f.p[i] < 0x20 || f.p[i] == 0x7f)
			return -1;
	memcpy(dst, f.p, f.len);
	dst[f.len] = '\0';
	return 0;
}

static bool
field_is(struct field f, const char *s)
{
	return f.len == strlen(s) && memcmp(f.p, s, f.len) == 0;
}

static int
parse_name_check(struct field f, uint8_t *ret)
{
	if (field_is(f, "read"))
		*ret = ZT_NAME_READ;
	else if (field_is(f, "indirect"))
		*ret = ZT_NAME_INDIRECT;
	else if (field_is(f, "unverified"))
		*ret = ZT_NAME_UNVERIFIED;
	else
		return -1;
	return 0;
}

/* Parses one data line (already split) into a zone; -1 on any bad field. */
static int
parse_zone(const struct field *f, struct zt_zone *z)
{
	unsigned code, batch, approved, revoked = 0;
	*z = (struct zt_zone){0};
	if (f[0].len != 6 || parse_uint(f[0], 100000, 999999, &code) < 0)
		return -1;
	z->code = code;
	z->province = zt_province_of(code);
	const char *pname = zt_province_name(z->province, false);
	if (pname == NULL || !field_is(f[3], pname))
		return -1;
	if (copy_name(f[1], z->city_en, sizeof(z->city_en)) < 0 ||
	    copy_name(f[2], z->city_zh, sizeof(z->city_zh)) < 0 ||
	    copy_name(f[3], z->province_en, sizeof(z->province_en)) < 0)
		return -1;
	if (parse_uint(f[4], 1, 99, &batch) < 0 || f[5].len != 4 ||
	    parse_uint(f[5], 2000, 9999, &approved) < 0)
		return -1;
	if (f[6].len != 0 && (f[6].len != 4 || parse_uint(f[6], approved + 1, 9999, &revoked) < 0))
		return -1;
	z->batch = (uint8_t)batch;
	z->approved_year = (uint16_t)approved;
	z->revoked_year = (uint16_t)revoked;
	return parse_name_check(f[7], &z->name_check);
}

/* Splits [p, p+len) at commas into exactly CSV_FIELDS fields; -1 otherwise. */
static int
split_line(const char *p, size_t len, struct field *f)
{
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != ',')
			continue;
		if (n == CSV_FIELDS)
			return -1;
		f[n++] = (struct field){p + start, i - start};
		start = i + 1;
	}
	return n == CSV_FIELDS ? 0 : -1;
}

struct row {
	struct zt_zone z;
	size_t line;
};

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->z.code != y->z.code)
		return x->z.code < y->z.code ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Appends a row, growing the array geometrically. */
static int
push_row(struct row **rows, size_t *n, size_t *cap, const struct row *r)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct row *nr = realloc(*rows, ncap * sizeof(*nr));
		if (nr == NULL)
			return -ENOMEM;
		*rows = nr;
		*cap = ncap;
	}
	(*rows)[(*n)++] = *r;
	return 0;
}

/* Sorts the rows by code; the error is the first line that repeats an earlier code. */
static int
sort_rows(struct row *rows, size_t n, size_t *ret_line)
{
	size_t bad = 0;
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t i = 1; i < n; i++)
		if (rows[i].z.code == rows[i - 1].z.code && (bad == 0 || rows[i].line < bad))
			bad = rows[i].line;
	if (bad == 0)
		return 0;
	*ret_line = bad;
	return ZT_E_CSV;
}

/* Parses every line into rows; on a bad line sets *ret_line. */
static int
parse_lines(const char *buf, size_t len, struct row **rows, size_t *n, size_t *ret_line)
{
	size_t cap = 0, line = 0, pos = 0;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len, l = end - pos;
		const char *p = buf + pos;
		pos = end + 1;
		line++;
		if (l > 0 && p[l - 1] == '\r')
			l--;
		if (line == 1) {
			if (!field_is((struct field){p, l}, CSV_HEADER))
				goto bad;
			continue;
		}
		if (l == 0)
			continue;
		struct field f[CSV_FIELDS];
		struct row r = {.line = line};
		if (split_line(p, l, f) < 0 || parse_zone(f, &r.z) < 0)
			goto bad;
		int rc = push_row(rows, n, &cap, &r);
		if (rc < 0)
			return rc;
	}
	if (*n == 0) {
		*ret_line = line ? line : 1;
		return ZT_E_CSV;
	}
	return 0;
bad:
	*ret_line = line;
	return ZT_E_CSV;
}

int
zt_registry_parse(const char *buf, size_t len, struct zt_zone **ret, size_t *ret_line)
{
	struct row *rows = NULL;
	size_t n = 0, line = 0;
	int rc = parse_lines(buf, len, &rows, &n, &line);
	if (rc == 0)
		rc = sort_rows(rows, n, &line);
	if (rc < 0) {
		free(rows);
		if (rc == ZT_E_CSV && ret_line != NULL)
			*ret_line = line;
		return rc;
	}
	struct zt_zone *zones = malloc(n * sizeof(*zones));
	if (zones == NULL) {
		free(rows);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		zones[i] = rows[i].z;
	free(rows);
	*ret = zones;
	return (int)n;
}

/* Reads a whole regular file into a malloc'ed buffer. */
static int
read_file(const char *path, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	char *buf = NULL;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > CSV_MAX_BYTES) {
		rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	size_t size = (size_t)st.st_size, got = 0;
	buf = malloc(size + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)r;
	}
	*ret = buf;
	*ret_len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

int
zt_registry_load_file(const char *path, struct zt_zone **ret, size_t *ret_line)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = read_file(path, &buf, &len);
	if (rc < 0)
		return rc;
	rc = zt_registry_parse(buf, len, ret, ret_line);
	free(buf);
	return rc;
}
