/* SPDX-License-Identifier: Apache-2.0 */
/*
 * struct oci_resources: parsing linux.resources (and `runc update -r` bodies), runc update
 * flags, merging updates, JSON output and runc's default device rules. Pure: no cgroup access.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>

#include "common/common.h"
#include "oci/cgroup.h"

#define W (-1) /* wildcard major/minor */

static const struct oci_device_rule default_rules[] = {
	{true, 'c', W, W, "m"},	     /* mknod of any char device */
	{true, 'b', W, W, "m"},	     /* mknod of any block device */
	{true, 'c', 1, 3, "rwm"},    /* /dev/null */
	{true, 'c', 1, 8, "rwm"},    /* /dev/random */
	{true, 'c', 1, 7, "rwm"},    /* /dev/full */
	{true, 'c', 5, 0, "rwm"},    /* /dev/tty */
	{true, 'c', 1, 5, "rwm"},    /* /dev/zero */
	{true, 'c', 1, 9, "rwm"},    /* /dev/urandom */
	{true, 'c', 136, W, "rwm"},  /* /dev/pts/N */
	{true, 'c', 5, 2, "rwm"},    /* /dev/ptmx */
	{true, 'c', 10, 200, "rwm"}, /* /dev/net/tun */
};

const struct oci_device_rule *oci_cgroup_default_device_rules(size_t *ret_n)
{
	*ret_n = ARRAY_SIZE(default_rules);
	return default_rules;
}

void oci_resources_init(struct oci_resources *r)
{
	*r = (struct oci_resources){0};
}

void oci_resources_release(struct oci_resources *r)
{
	if (!r)
		return;
	free(r->cpu.cpus);
	free(r->cpu.mems);
	free(r->blkio.weight_devices);
	free(r->blkio.throttle_read_bps);
	free(r->blkio.throttle_write_bps);
	free(r->blkio.throttle_read_iops);
	free(r->blkio.throttle_write_iops);
	free(r->devices);
	for (size_t i = 0; i < r->n_hugepages; i++)
		free(r->hugepages[i].page_size);
	free(r->hugepages);
	strv_free(r->unified);
	oci_resources_init(r);
}

/* ---------------------------------------------------------------------- parsing ---- */

struct ctx {
	const char *field; /* "linux.resources" */
	struct wh_err **err;
};

static int get_i64(struct ctx *c, yajl_val obj, const char *sect, const char *key, bool *has,
		   int64_t *ret)
{
	cleanup_free char *f = xasprintf("%s.%s.%s", c->field, sect, key);
	yajl_val v = json_get(obj, key);
	int r;

	if (!v)
		return 0;
	r = json_int64(v, f, ret, c->err);
	if (r < 0)
		return r;
	*has = true;
	return 0;
}

static int get_u64(struct ctx *c, yajl_val obj, const char *sect, const char *key, bool *has,
		   uint64_t *ret)
{
	cleanup_free char *f = xasprintf("%s.%s.%s", c->field, sect, key);
	yajl_val v = json_get(obj, key);
	int r;

	if (!v)
		return 0;
	r = json_uint64(v, f, ret, c->err);
	if (r < 0)
		return r;
	*has = true;
	return 0;
}

static int get_mem(struct ctx *c, yajl_val obj, const char *key, bool *has, int64_t *ret)
{
	bool h = false;
	int r = get_i64(c, obj, "memory", key, &h, ret);

	if (r < 0 || !h)
		return r;
	if (*ret < -1)
		return wh_err_setx(c->err, EINVAL,
				   "%s.memory.%s: %" PRId64 " is not a size (-1 or >= 0)", c->field,
				   key, *ret);
	/* 0 means "not set" to runc and containerd. */
	*has = *ret != 0;
	return 0;
}

static int parse_memory(struct ctx *c, yajl_val m, struct oci_resources *res)
{
	cleanup_free char *f = xasprintf("%s.memory", c->field);
	int r = json_expect_object(m, f, c->err);

	if (r < 0 || !m)
		return r;
	r = get_mem(c, m, "limit", &res->memory.has_limit, &res->memory.limit);
	if (r >= 0)
		r = get_mem(c, m, "reservation", &res->memory.has_reservation,
			    &res->memory.reservation);
	if (r >= 0)
		r = get_mem(c, m, "swap", &res->memory.has_swap, &res->memory.swap);
	if (r >= 0)
		r = get_mem(c, m, "kernel", &res->memory.has_kernel, &res->memory.kernel);
	if (r >= 0)
		r = get_mem(c, m, "kernelTCP", &res->memory.has_kernel_tcp,
			    &res->memory.kernel_tcp);
	if (r >= 0)
		r = get_u64(c, m, "memory", "swappiness", &res->memory.has_swappiness,
			    &res->memory.swappiness);
	if (r < 0)
		return r;
	if (res->memory.has_swappiness && res->memory.swappiness > 100)
		return wh_err_setx(c->err, EINVAL,
				   "%s.swappiness: %" PRIu64 " is out of range (0-100)", f,
				   res->memory.swappiness);
	if (json_get(m, "disableOOMKiller")) {
		cleanup_free char *bf = xasprintf("%s.disableOOMKiller", f);

		r = json_get_bool_opt(m, "disableOOMKiller", bf, &res->memory.disable_oom_killer,
				      c->err);
		if (r < 0)
			return r;
		res->memory.has_disable_oom_killer = true;
	}
	return 0;
}

static int get_str(struct ctx *c, yajl_val obj, const char *sect, const char *key, char **ret)
{
	cleanup_free char *f = xasprintf("%s.%s.%s", c->field, sect, key);
	const char *s = NULL;
	int r = json_get_string_opt(obj, key, f, &s, c->err);

	if (r < 0)
		return r;
	if (s && *s) {
		for (const char *p = s; *p; p++)
			if (!isdigit((unsigned char)*p) && *p != ',' && *p != '-')
				return wh_err_setx(c->err, EINVAL,
						   "%s: '%s' is not a list like '0-2,4'", f, s);
		free(*ret);
		*ret = xstrdup(s);
	}
	return 0;
}

static int parse_cpu(struct ctx *c, yajl_val v, struct oci_resources *res)
{
	cleanup_free char *f = xasprintf("%s.cpu", c->field);
	int64_t idle = 0;
	bool has_idle = false;
	int r = json_expect_object(v, f, c->err);

	if (r < 0 || !v)
		return r;
	r = get_u64(c, v, "cpu", "shares", &res->cpu.has_shares, &res->cpu.shares);
	if (r >= 0)
		r = get_i64(c, v, "cpu", "quota", &res->cpu.has_quota, &res->cpu.quota);
	if (r >= 0)
		r = get_u64(c, v, "cpu", "period", &res->cpu.has_period, &res->cpu.period);
	if (r >= 0)
		r = get_i64(c, v, "cpu", "realtimeRuntime", &res->cpu.has_realtime_runtime,
			    &res->cpu.realtime_runtime);
	if (r >= 0)
		r = get_u64(c, v, "cpu", "realtimePeriod", &res->cpu.has_realtime_period,
			    &res->cpu.realtime_period);
	if (r >= 0)
		r = get_str(c, v, "cpu", "cpus", &res->cpu.cpus);
	if (r >= 0)
		r = get_str(c, v, "cpu", "mems", &res->cpu.mems);
	if (r >= 0)
		r = get_i64(c, v, "cpu", "idle", &has_idle, &idle);
	if (r < 0)
		return r;
	if (idle != 0)
		return wh_err_setx(c->err, EOPNOTSUPP, "%s.idle: not supported", f);
	/* runc treats 0 as "not set" for these. */
	res->cpu.has_shares = res->cpu.has_shares && res->cpu.shares != 0;
	res->cpu.has_quota = res->cpu.has_quota && res->cpu.quota != 0;
	res->cpu.has_period = res->cpu.has_period && res->cpu.period != 0;
	res->cpu.has_realtime_runtime = res->cpu.has_realtime_runtime && res->cpu.realtime_runtime;
	res->cpu.has_realtime_period = res->cpu.has_realtime_period && res->cpu.realtime_period;
	if (res->cpu.has_shares && (res->cpu.shares < 2 || res->cpu.shares > 262144))
		return wh_err_setx(c->err, EINVAL,
				   "%s.shares: %" PRIu64 " is out of range (2-262144)", f,
				   res->cpu.shares);
	if (res->cpu.has_quota && res->cpu.quota < -1)
		return wh_err_setx(c->err, EINVAL, "%s.quota: %" PRId64 " is out of range", f,
				   res->cpu.quota);
	return 0;
}

static int parse_weight(struct ctx *c, yajl_val obj, const char *field, const char *key, bool *has,
			uint16_t *ret)
{
	cleanup_free char *f = xasprintf("%s.%s", field, key);
	yajl_val v = json_get(obj, key);
	uint64_t u;
	int r;

	if (!v)
		return 0;
	r = json_uint64(v, f, &u, c->err);
	if (r < 0)
		return r;
	if (u == 0)
		return 0; /* unset, as runc */
	if (u < 10 || u > 1000)
		return wh_err_setx(c->err, EINVAL, "%s: %" PRIu64 " is out of range (10-1000)", f,
				   u);
	*has = true;
	*ret = (uint16_t)u;
	return 0;
}

static int parse_majmin(struct ctx *c, yajl_val e, const char *f, struct oci_blkio_device *d)
{
	cleanup_free char *ff = xasprintf("%s.major", f);
	int r = json_int64(json_get(e, "major"), ff, &d->major, c->err);

	if (r < 0)
		return r;
	free(ff);
	ff = xasprintf("%s.minor", f);
	r = json_int64(json_get(e, "minor"), ff, &d->minor, c->err);
	if (r < 0)
		return r;
	if (d->major < 0 || d->minor < 0)
		return wh_err_setx(c->err, EINVAL, "%s: negative device number", f);
	return 0;
}

static int parse_blkio_list(struct ctx *c, yajl_val b, const char *key, bool throttle,
			    struct oci_blkio_device **ret, size_t *ret_n)
{
	cleanup_free char *f = xasprintf("%s.blockIO.%s", c->field, key);
	yajl_val a = json_get(b, key);
	int r = json_expect_array(a, f, c->err);

	if (r < 0 || !a)
		return r;
	free(*ret);
	*ret = xnew0(struct oci_blkio_device, a->u.array.len);
	*ret_n = 0;
	for (size_t i = 0; i < a->u.array.len; i++) {
		cleanup_free char *ef = xasprintf("%s[%zu]", f, i);
		yajl_val e = a->u.array.values[i];
		struct oci_blkio_device *d = &(*ret)[i];

		if (!YAJL_IS_OBJECT(e))
			return wh_err_setx(c->err, EINVAL, "%s: expected an object", ef);
		r = parse_majmin(c, e, ef, d);
		if (r < 0)
			return r;
		if (throttle) {
			cleanup_free char *rf = xasprintf("%s.rate", ef);

			r = json_uint64(json_get(e, "rate"), rf, &d->rate, c->err);
		} else {
			r = parse_weight(c, e, ef, "weight", &d->has_weight, &d->weight);
			if (r >= 0)
				r = parse_weight(c, e, ef, "leafWeight", &d->has_leaf_weight,
						 &d->leaf_weight);
		}
		if (r < 0)
			return r;
		(*ret_n)++;
	}
	return 0;
}

static int parse_blkio(struct ctx *c, yajl_val b, struct oci_resources *res)
{
	cleanup_free char *f = xasprintf("%s.blockIO", c->field);
	int r = json_expect_object(b, f, c->err);

	if (r < 0 || !b)
		return r;
	r = parse_weight(c, b, f, "weight", &res->blkio.has_weight, &res->blkio.weight);
	if (r >= 0)
		r = parse_weight(c, b, f, "leafWeight", &res->blkio.has_leaf_weight,
				 &res->blkio.leaf_weight);
	if (r >= 0)
		r = parse_blkio_list(c, b, "weightDevice", false, &res->blkio.weight_devices,
				     &res->blkio.n_weight_devices);
	if (r >= 0)
		r = parse_blkio_list(c, b, "throttleReadBpsDevice", true,
				     &res->blkio.throttle_read_bps,
				     &res->blkio.n_throttle_read_bps);
	if (r >= 0)
		r = parse_blkio_list(c, b, "throttleWriteBpsDevice", true,
				     &res->blkio.throttle_write_bps,
				     &res->blkio.n_throttle_write_bps);
	if (r >= 0)
		r = parse_blkio_list(c, b, "throttleReadIOPSDevice", true,
				     &res->blkio.throttle_read_iops,
				     &res->blkio.n_throttle_read_iops);
	if (r >= 0)
		r = parse_blkio_list(c, b, "throttleWriteIOPSDevice", true,
				     &res->blkio.throttle_write_iops,
				     &res->blkio.n_throttle_write_iops);
	return r;
}

static int parse_devnum(struct ctx *c, yajl_val e, const char *ef, const char *key, int64_t *ret)
{
	cleanup_free char *f = xasprintf("%s.%s", ef, key);
	yajl_val v = json_get(e, key);
	int r;

	*ret = W;
	if (!v)
		return 0;
	r = json_int64(v, f, ret, c->err);
	if (r < 0)
		return r;
	if (*ret < -1)
		return wh_err_setx(c->err, EINVAL, "%s: %" PRId64 " is not a device number", f,
				   *ret);
	return 0;
}

static int parse_device(struct ctx *c, yajl_val e, const char *ef, struct oci_device_rule *d)
{
	cleanup_free char *f = xasprintf("%s.allow", ef);
	const char *type = "a", *access = "rwm";
	yajl_val allow = json_get(e, "allow");
	int r;

	if (!YAJL_IS_OBJECT(e))
		return wh_err_setx(c->err, EINVAL, "%s: expected an object", ef);
	if (!allow)
		return wh_err_setx(c->err, EINVAL, "%s: missing", f);
	if (!YAJL_IS_TRUE(allow) && !YAJL_IS_FALSE(allow))
		return wh_err_setx(c->err, EINVAL, "%s: expected a boolean", f);
	d->allow = YAJL_IS_TRUE(allow);
	free(f);
	f = xasprintf("%s.type", ef);
	r = json_get_string_opt(e, "type", f, &type, c->err);
	if (r < 0)
		return r;
	if (!streq(type, "a") && !streq(type, "c") && !streq(type, "b"))
		return wh_err_setx(c->err, EINVAL, "%s: unknown device type '%s' (a, b or c)", f,
				   type);
	d->type = type[0];
	r = parse_devnum(c, e, ef, "major", &d->major);
	if (r >= 0)
		r = parse_devnum(c, e, ef, "minor", &d->minor);
	if (r < 0)
		return r;
	free(f);
	f = xasprintf("%s.access", ef);
	r = json_get_string_opt(e, "access", f, &access, c->err);
	if (r < 0)
		return r;
	if (!*access)
		access = "rwm";
	/* Normalized to "rwm" order without duplicates. */
	for (const char *p = access; *p; p++)
		if (!strchr("rwm", *p))
			return wh_err_setx(c->err, EINVAL,
					   "%s: unknown access '%c' in '%s' (r, w, m)", f, *p,
					   access);
	size_t n = 0;
	for (const char *p = "rwm"; *p; p++)
		if (strchr(access, *p))
			d->access[n++] = *p;
	d->access[n] = 0;
	return 0;
}

static int parse_devices(struct ctx *c, yajl_val a, struct oci_resources *res)
{
	cleanup_free char *f = xasprintf("%s.devices", c->field);
	int r = json_expect_array(a, f, c->err);

	if (r < 0 || !a)
		return r;
	res->devices = xnew0(struct oci_device_rule, a->u.array.len);
	for (size_t i = 0; i < a->u.array.len; i++) {
		cleanup_free char *ef = xasprintf("%s[%zu]", f, i);

		r = parse_device(c, a->u.array.values[i], ef, &res->devices[i]);
		if (r < 0)
			return r;
		res->n_devices++;
	}
	return 0;
}

static int parse_hugepages(struct ctx *c, yajl_val a, struct oci_resources *res)
{
	cleanup_free char *f = xasprintf("%s.hugepageLimits", c->field);
	int r = json_expect_array(a, f, c->err);

	if (r < 0 || !a)
		return r;
	res->hugepages = xnew0(struct oci_hugepage_limit, a->u.array.len);
	for (size_t i = 0; i < a->u.array.len; i++) {
		cleanup_free char *ef = xasprintf("%s[%zu]", f, i);
		cleanup_free char *pf = xasprintf("%s.pageSize", ef);
		cleanup_free char *lf = xasprintf("%s.limit", ef);
		yajl_val e = a->u.array.values[i];
		struct oci_hugepage_limit *h = &res->hugepages[i];
		const char *ps = NULL;

		if (!YAJL_IS_OBJECT(e))
			return wh_err_setx(c->err, EINVAL, "%s: expected an object", ef);
		r = json_get_string(e, "pageSize", pf, &ps, c->err);
		if (r < 0)
			return r;
		/* It becomes part of a file name: digits then a unit, nothing else. */
		size_t d = strspn(ps, "0123456789");
		if (d == 0 ||
		    (!streq(ps + d, "KB") && !streq(ps + d, "MB") && !streq(ps + d, "GB")))
			return wh_err_setx(c->err, EINVAL, "%s: '%s' is not a page size like '2MB'",
					   pf, ps);
		r = json_uint64(json_get(e, "limit"), lf, &h->limit, c->err);
		if (r < 0)
			return r;
		h->page_size = xstrdup(ps);
		res->n_hugepages++;
	}
	return 0;
}

static int parse_unified(struct ctx *c, yajl_val u, struct oci_resources *res)
{
	cleanup_free char *f = xasprintf("%s.unified", c->field);
	int r = json_expect_object(u, f, c->err);

	if (r < 0 || !u)
		return r;
	for (size_t i = 0; i < u->u.object.len; i++) {
		const char *k = u->u.object.keys[i];
		yajl_val v = u->u.object.values[i];

		if (!*k || strchr(k, '/') || streq(k, ".") || streq(k, ".."))
			return wh_err_setx(c->err, EINVAL, "%s: '%s' is not a cgroup file name", f,
					   k);
		if (!YAJL_IS_STRING(v))
			return wh_err_setx(c->err, EINVAL, "%s.%s: expected a string", f, k);
		strv_push(&res->unified, k);
		strv_push(&res->unified, YAJL_GET_STRING(v));
	}
	return 0;
}

static int parse_all(struct ctx *c, yajl_val v, struct oci_resources *res)
{
	cleanup_free char *f = NULL;
	yajl_val p;
	int r;

	r = parse_memory(c, json_get(v, "memory"), res);
	if (r >= 0)
		r = parse_cpu(c, json_get(v, "cpu"), res);
	if (r >= 0)
		r = parse_blkio(c, json_get(v, "blockIO"), res);
	if (r >= 0)
		r = parse_devices(c, json_get(v, "devices"), res);
	if (r >= 0)
		r = parse_hugepages(c, json_get(v, "hugepageLimits"), res);
	if (r >= 0)
		r = parse_unified(c, json_get(v, "unified"), res);
	if (r < 0)
		return r;
	p = json_get(v, "pids");
	f = xasprintf("%s.pids", c->field);
	r = json_expect_object(p, f, c->err);
	if (r < 0)
		return r;
	if (p) {
		bool has = false;

		r = get_i64(c, p, "pids", "limit", &has, &res->pids.limit);
		if (r < 0)
			return r;
		if (!has)
			return wh_err_setx(c->err, EINVAL, "%s.limit: missing", f);
		res->pids.has_limit = res->pids.limit != 0;
	}
	if (json_get(v, "network"))
		return wh_err_setx(c->err, EOPNOTSUPP,
				   "%s.network: net_cls/net_prio are not supported", c->field);
	if (json_get(v, "rdma"))
		return wh_err_setx(c->err, EOPNOTSUPP, "%s.rdma: not supported", c->field);
	return 0;
}

int oci_resources_parse(yajl_val v, const char *field, struct oci_resources *ret,
			struct wh_err **err)
{
	struct ctx c = {field, err};
	struct oci_resources res;
	int r;

	if (!v || YAJL_IS_NULL(v))
		return 0;
	if (!YAJL_IS_OBJECT(v))
		return wh_err_setx(err, EINVAL, "%s: expected an object", field);
	oci_resources_init(&res);
	r = parse_all(&c, v, &res);
	if (r < 0) {
		oci_resources_release(&res);
		return r;
	}
	oci_resources_release(ret);
	*ret = res;
	return 0;
}

/* ---------------------------------------------------------------- update flags ---- */

int oci_parse_mem_size(const char *s, int64_t *ret)
{
	static const char units[] = "kmgtp";
	char *end = NULL;
	double mult = 1;
	long double v;

	if (!s || !*s)
		return -EINVAL;
	if (streq(s, "-1")) {
		*ret = -1;
		return 0;
	}
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtold(s, &end);
	if (errno != 0 || end == s)
		return -EINVAL;
	if (*end) {
		const char *u = strchr(units, tolower((unsigned char)*end));

		if (!u)
			return -EINVAL;
		for (const char *p = units; p <= u; p++)
			mult *= 1024;
		end++;
		if (tolower((unsigned char)*end) == 'i')
			end++;
		if (tolower((unsigned char)*end) == 'b')
			end++;
		if (*end)
			return -EINVAL;
	}
	v *= mult;
	if (v >= (long double)INT64_MAX)
		return -ERANGE;
	*ret = (int64_t)v;
	return 0;
}

static int set_i64(const char *value, int64_t *ret, bool *has)
{
	int r = parse_i64(value, ret);

	if (r < 0)
		return r;
	*has = true;
	return 0;
}

static int set_u64(const char *value, uint64_t *ret, bool *has)
{
	int r = parse_u64(value, ret);

	if (r < 0)
		return r;
	*has = true;
	return 0;
}

static int set_mem(const char *value, int64_t *ret, bool *has)
{
	int r = oci_parse_mem_size(value, ret);

	if (r < 0)
		return r;
	*has = *ret != 0;
	return 0;
}

static int set_cpuset(const char *value, char **ret)
{
	for (const char *p = value; *p; p++)
		if (!isdigit((unsigned char)*p) && *p != ',' && *p != '-')
			return -EINVAL;
	free(*ret);
	*ret = xstrdup(value);
	return 0;
}

static int set_one(struct oci_resources *res, const char *name, const char *v)
{
	uint64_t u = 0;
	bool has = false;
	int r;

	if (streq(name, "memory"))
		return set_mem(v, &res->memory.limit, &res->memory.has_limit);
	if (streq(name, "memory-reservation"))
		return set_mem(v, &res->memory.reservation, &res->memory.has_reservation);
	if (streq(name, "memory-swap"))
		return set_mem(v, &res->memory.swap, &res->memory.has_swap);
	if (streq(name, "kernel-memory"))
		return set_mem(v, &res->memory.kernel, &res->memory.has_kernel);
	if (streq(name, "kernel-memory-tcp"))
		return set_mem(v, &res->memory.kernel_tcp, &res->memory.has_kernel_tcp);
	/* runc's flag is --cpu-share; --cpu-shares is accepted too. */
	if (streq(name, "cpu-share") || streq(name, "cpu-shares")) {
		r = set_u64(v, &res->cpu.shares, &res->cpu.has_shares);
		return r < 0						     ? r
		       : (res->cpu.shares >= 2 && res->cpu.shares <= 262144) ? 0
									     : -ERANGE;
	}
	if (streq(name, "cpu-quota"))
		return set_i64(v, &res->cpu.quota, &res->cpu.has_quota);
	if (streq(name, "cpu-period"))
		return set_u64(v, &res->cpu.period, &res->cpu.has_period);
	if (streq(name, "cpu-rt-runtime"))
		return set_i64(v, &res->cpu.realtime_runtime, &res->cpu.has_realtime_runtime);
	if (streq(name, "cpu-rt-period"))
		return set_u64(v, &res->cpu.realtime_period, &res->cpu.has_realtime_period);
	if (streq(name, "cpuset-cpus"))
		return set_cpuset(v, &res->cpu.cpus);
	if (streq(name, "cpuset-mems"))
		return set_cpuset(v, &res->cpu.mems);
	if (streq(name, "pids-limit"))
		return set_i64(v, &res->pids.limit, &res->pids.has_limit);
	if (streq(name, "blkio-weight")) {
		r = set_u64(v, &u, &has);
		if (r < 0)
			return r;
		if (u < 10 || u > 1000)
			return -ERANGE;
		res->blkio.weight = (uint16_t)u;
		res->blkio.has_weight = true;
		return 0;
	}
	return -ENOENT;
}

int oci_resources_set_flag(struct oci_resources *r, const char *name, const char *value,
			   struct wh_err **err)
{
	int k = set_one(r, name, value);

	if (k == -ENOENT)
		return wh_err_setx(err, ENOENT, "--%s: unknown resource flag", name);
	if (k < 0)
		return wh_err_setx(err, EINVAL, "--%s: invalid value '%s'", name, value);
	return 0;
}

/* ---------------------------------------------------------------------- merge ---- */

#define MERGE(sect, f)                             \
	do {                                       \
		if (src->sect.has_##f) {           \
			dst->sect.has_##f = true;  \
			dst->sect.f = src->sect.f; \
		}                                  \
	} while (0)

static void *dup_array(const void *p, size_t n, size_t size)
{
	return n ? xmemdup(p, n * size) : NULL;
}

#define MERGE_ARRAY(arr, n)                                                        \
	do {                                                                       \
		if (src->n) {                                                      \
			free(dst->arr);                                            \
			dst->arr = dup_array(src->arr, src->n, sizeof(*src->arr)); \
			dst->n = src->n;                                           \
		}                                                                  \
	} while (0)

void oci_resources_merge(struct oci_resources *dst, const struct oci_resources *src)
{
	MERGE(memory, limit);
	MERGE(memory, reservation);
	MERGE(memory, swap);
	MERGE(memory, kernel);
	MERGE(memory, kernel_tcp);
	MERGE(memory, swappiness);
	MERGE(memory, disable_oom_killer);
	MERGE(cpu, shares);
	MERGE(cpu, quota);
	MERGE(cpu, period);
	MERGE(cpu, realtime_runtime);
	MERGE(cpu, realtime_period);
	MERGE(pids, limit);
	MERGE(blkio, weight);
	MERGE(blkio, leaf_weight);
	if (src->cpu.cpus) {
		free(dst->cpu.cpus);
		dst->cpu.cpus = xstrdup(src->cpu.cpus);
	}
	if (src->cpu.mems) {
		free(dst->cpu.mems);
		dst->cpu.mems = xstrdup(src->cpu.mems);
	}
	MERGE_ARRAY(blkio.weight_devices, blkio.n_weight_devices);
	MERGE_ARRAY(blkio.throttle_read_bps, blkio.n_throttle_read_bps);
	MERGE_ARRAY(blkio.throttle_write_bps, blkio.n_throttle_write_bps);
	MERGE_ARRAY(blkio.throttle_read_iops, blkio.n_throttle_read_iops);
	MERGE_ARRAY(blkio.throttle_write_iops, blkio.n_throttle_write_iops);
	MERGE_ARRAY(devices, n_devices);
	if (src->n_hugepages) {
		for (size_t i = 0; i < dst->n_hugepages; i++)
			free(dst->hugepages[i].page_size);
		free(dst->hugepages);
		dst->hugepages = xnew0(struct oci_hugepage_limit, src->n_hugepages);
		for (size_t i = 0; i < src->n_hugepages; i++) {
			dst->hugepages[i].page_size = xstrdup(src->hugepages[i].page_size);
			dst->hugepages[i].limit = src->hugepages[i].limit;
		}
		dst->n_hugepages = src->n_hugepages;
	}
	if (src->unified) {
		strv_free(dst->unified);
		dst->unified = strv_copy(src->unified);
	}
}

/* ------------------------------------------------------------------ JSON output ---- */

static void gen_u64(yajl_gen g, const char *key, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

	json_gen_str(g, key);
	yajl_gen_number(g, buf, (size_t)n);
}

#define GEN_I64(sect, key, f)                                        \
	do {                                                         \
		if (r->sect.has_##f)                                 \
			json_gen_kv_int(g, key, (int64_t)r->sect.f); \
	} while (0)

static void gen_blkio_list(yajl_gen g, const char *key, const struct oci_blkio_device *d, size_t n,
			   bool throttle)
{
	if (!n)
		return;
	json_gen_str(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		json_gen_kv_int(g, "major", d[i].major);
		json_gen_kv_int(g, "minor", d[i].minor);
		if (throttle)
			gen_u64(g, "rate", d[i].rate);
		if (!throttle && d[i].has_weight)
			json_gen_kv_int(g, "weight", d[i].weight);
		if (!throttle && d[i].has_leaf_weight)
			json_gen_kv_int(g, "leafWeight", d[i].leaf_weight);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void gen_memory_cpu(yajl_gen g, const struct oci_resources *r)
{
	json_gen_str(g, "memory");
	yajl_gen_map_open(g);
	GEN_I64(memory, "limit", limit);
	GEN_I64(memory, "reservation", reservation);
	GEN_I64(memory, "swap", swap);
	GEN_I64(memory, "kernel", kernel);
	GEN_I64(memory, "kernelTCP", kernel_tcp);
	GEN_I64(memory, "swappiness", swappiness);
	if (r->memory.has_disable_oom_killer)
		json_gen_kv_bool(g, "disableOOMKiller", r->memory.disable_oom_killer);
	yajl_gen_map_close(g);
	json_gen_str(g, "cpu");
	yajl_gen_map_open(g);
	GEN_I64(cpu, "shares", shares);
	GEN_I64(cpu, "quota", quota);
	GEN_I64(cpu, "period", period);
	GEN_I64(cpu, "realtimeRuntime", realtime_runtime);
	GEN_I64(cpu, "realtimePeriod", realtime_period);
	if (r->cpu.cpus)
		json_gen_kv_str(g, "cpus", r->cpu.cpus);
	if (r->cpu.mems)
		json_gen_kv_str(g, "mems", r->cpu.mems);
	yajl_gen_map_close(g);
}

static void gen_devices(yajl_gen g, const struct oci_resources *r)
{
	json_gen_str(g, "devices");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_devices; i++) {
		const struct oci_device_rule *d = &r->devices[i];
		char type[2] = {d->type, 0};

		yajl_gen_map_open(g);
		json_gen_kv_bool(g, "allow", d->allow);
		json_gen_kv_str(g, "type", type);
		if (d->major >= 0)
			json_gen_kv_int(g, "major", d->major);
		if (d->minor >= 0)
			json_gen_kv_int(g, "minor", d->minor);
		json_gen_kv_str(g, "access", d->access);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

void oci_resources_gen_json(yajl_gen g, const struct oci_resources *r)
{
	yajl_gen_map_open(g);
	gen_memory_cpu(g, r);
	if (r->pids.has_limit) {
		json_gen_str(g, "pids");
		yajl_gen_map_open(g);
		json_gen_kv_int(g, "limit", r->pids.limit);
		yajl_gen_map_close(g);
	}
	json_gen_str(g, "blockIO");
	yajl_gen_map_open(g);
	GEN_I64(blkio, "weight", weight);
	GEN_I64(blkio, "leafWeight", leaf_weight);
	gen_blkio_list(g, "weightDevice", r->blkio.weight_devices, r->blkio.n_weight_devices,
		       false);
	gen_blkio_list(g, "throttleReadBpsDevice", r->blkio.throttle_read_bps,
		       r->blkio.n_throttle_read_bps, true);
	gen_blkio_list(g, "throttleWriteBpsDevice", r->blkio.throttle_write_bps,
		       r->blkio.n_throttle_write_bps, true);
	gen_blkio_list(g, "throttleReadIOPSDevice", r->blkio.throttle_read_iops,
		       r->blkio.n_throttle_read_iops, true);
	gen_blkio_list(g, "throttleWriteIOPSDevice", r->blkio.throttle_write_iops,
		       r->blkio.n_throttle_write_iops, true);
	yajl_gen_map_close(g);
	if (r->n_devices)
		gen_devices(g, r);
	if (r->n_hugepages) {
		json_gen_str(g, "hugepageLimits");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < r->n_hugepages; i++) {
			yajl_gen_map_open(g);
			json_gen_kv_str(g, "pageSize", r->hugepages[i].page_size);
			gen_u64(g, "limit", r->hugepages[i].limit);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
	}
	if (r->unified) {
		json_gen_str(g, "unified");
		yajl_gen_map_open(g);
		for (char **p = r->unified; p[0] && p[1]; p += 2)
			json_gen_kv_str(g, p[0], p[1]);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
}
