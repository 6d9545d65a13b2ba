/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capabilities: process.capabilities parsing, applying the five sets with libcap in runc's
 * order (see caps.h), JSON output and containerd's default set.
 */
#include "oci/caps.h"

#include <errno.h>
#include <string.h>

#include <sys/capability.h>
#include <sys/prctl.h>

#include "common/common.h"

/* Indexed by capability number; the names of <linux/capability.h>. */
static const char *const cap_names[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

static const char *const default_caps[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
	NULL,
};

int oci_cap_from_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (streq(cap_names[i], name))
			return (int)i;
	return -EINVAL;
}

const char *oci_cap_to_name(int cap)
{
	if (cap < 0 || (size_t)cap >= ARRAY_SIZE(cap_names))
		return NULL;
	return cap_names[cap];
}

int oci_cap_last(void)
{
	int n = (int)cap_max_bits();

	/* cap_max_bits() asks the kernel; never beyond what this build can name. */
	if (n <= 0 || (size_t)n > ARRAY_SIZE(cap_names))
		n = (int)ARRAY_SIZE(cap_names);
	return n - 1;
}

static int parse_set(yajl_val obj, const char *key, const char *field, uint64_t *ret,
		     struct wh_err **err)
{
	yajl_val a = json_get(obj, key);
	uint64_t mask = 0;
	int last = oci_cap_last();
	int r;

	if (!a || YAJL_IS_NULL(a)) {
		*ret = 0;
		return 0;
	}
	if (!YAJL_IS_ARRAY(a))
		return wh_err_setx(err, EINVAL, "%s.%s: expected an array", field, key);
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val e = a->u.array.values[i];
		const char *s = YAJL_IS_STRING(e) ? YAJL_GET_STRING(e) : NULL;

		if (!s)
			return wh_err_setx(err, EINVAL, "%s.%s[%zu]: expected a string", field, key,
					   i);
		r = oci_cap_from_name(s);
		if (r < 0)
			return wh_err_setx(err, EINVAL, "%s.%s[%zu]: unknown capability '%s'",
					   field, key, i, s);
		/* Known to us but not to the running kernel: ignored, as runc does. */
		if (r <= last)
			mask |= UINT64_C(1) << r;
	}
	*ret = mask;
	return 0;
}

int oci_caps_parse(yajl_val v, const char *field, struct oci_caps *ret, struct wh_err **err)
{
	struct oci_caps c = {0};
	int r;

	if (!v || YAJL_IS_NULL(v)) {
		*ret = c;
		return 0;
	}
	if (!YAJL_IS_OBJECT(v))
		return wh_err_setx(err, EINVAL, "%s: expected an object", field);
	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *k = v->u.object.keys[i];

		if (!streq(k, "bounding") && !streq(k, "effective") && !streq(k, "inheritable") &&
		    !streq(k, "permitted") && !streq(k, "ambient"))
			return wh_err_setx(err, EINVAL, "%s.%s: unknown capability set", field, k);
	}
	r = parse_set(v, "bounding", field, &c.bounding, err);
	if (r >= 0)
		r = parse_set(v, "effective", field, &c.effective, err);
	if (r >= 0)
		r = parse_set(v, "inheritable", field, &c.inheritable, err);
	if (r >= 0)
		r = parse_set(v, "permitted", field, &c.permitted, err);
	if (r >= 0)
		r = parse_set(v, "ambient", field, &c.ambient, err);
	if (r < 0)
		return r;
	c.present = true;
	*ret = c;
	return 0;
}

static void gen_set(yajl_gen g, const char *key, uint64_t mask)
{
	json_gen_str(g, key);
	yajl_gen_array_open(g);
	for (int i = 0; i < 64; i++)
		if ((mask & (UINT64_C(1) << i)) && oci_cap_to_name(i))
			json_gen_str(g, oci_cap_to_name(i));
	yajl_gen_array_close(g);
}

void oci_caps_gen_json(yajl_gen g, const struct oci_caps *c)
{
	yajl_gen_map_open(g);
	gen_set(g, "bounding", c->bounding);
	gen_set(g, "effective", c->effective);
	gen_set(g, "inheritable", c->inheritable);
	gen_set(g, "permitted", c->permitted);
	gen_set(g, "ambient", c->ambient);
	yajl_gen_map_close(g);
}

int oci_caps_apply_bounding(const struct oci_caps *c, struct wh_err **err)
{
	int last = oci_cap_last();

	for (int i = 0; i <= last; i++) {
		if (c->bounding & (UINT64_C(1) << i))
			continue;
		if (prctl(PR_CAPBSET_READ, (unsigned long)i, 0, 0, 0) == 0)
			continue;
		if (prctl(PR_CAPBSET_DROP, (unsigned long)i, 0, 0, 0) < 0)
			return wh_err_set(err, errno, "drop '%s' from the bounding set",
					  oci_cap_to_name(i));
	}
	return 0;
}

int oci_caps_keep(bool on, struct wh_err **err)
{
	if (prctl(PR_SET_KEEPCAPS, on ? 1UL : 0UL, 0, 0, 0) < 0)
		return wh_err_set(err, errno, "prctl PR_SET_KEEPCAPS %d", on);
	return 0;
}

static void cap_freep(cap_t *c)
{
	if (*c)
		cap_free(*c);
}

static int set_flag(cap_t c, cap_flag_t flag, uint64_t mask)
{
	for (int i = 0; i < 64; i++) {
		cap_value_t v = i;

		if (!(mask & (UINT64_C(1) << i)))
			continue;
		if (cap_set_flag(c, flag, 1, &v, CAP_SET) < 0)
			return -errno;
	}
	return 0;
}

int oci_caps_apply(const struct oci_caps *c, struct wh_err **err)
{
	cleanup(cap_freep) cap_t caps = cap_init();
	int last = oci_cap_last();
	int r;

	if (!caps)
		return wh_err_set(err, errno, "cap_init");
	r = set_flag(caps, CAP_EFFECTIVE, c->effective);
	if (r >= 0)
		r = set_flag(caps, CAP_PERMITTED, c->permitted);
	if (r >= 0)
		r = set_flag(caps, CAP_INHERITABLE, c->inheritable);
	if (r < 0)
		return wh_err_set(err, r, "build the capability sets");
	if (cap_set_proc(caps) < 0)
		return wh_err_set(err, errno,
				  "set effective/permitted/inheritable capabilities (capset)");
	if (cap_reset_ambient() < 0)
		return wh_err_set(err, errno, "clear the ambient capability set");
	for (int i = 0; i <= last; i++) {
		if (!(c->ambient & (UINT64_C(1) << i)))
			continue;
		if (cap_set_ambient(i, CAP_SET) < 0)
			return wh_err_set(err, errno, "raise ambient capability '%s'",
					  oci_cap_to_name(i));
	}
	return 0;
}

const char *const *oci_caps_default_names(void)
{
	return default_caps;
}

void oci_caps_default(struct oci_caps *ret)
{
	uint64_t mask = 0;

	for (size_t i = 0; default_caps[i]; i++)
		mask |= UINT64_C(1) << oci_cap_from_name(default_caps[i]);
	*ret = (struct oci_caps){
		.present = true,
		.bounding = mask,
		.effective = mask,
		.permitted = mask,
	};
}

char **oci_caps_to_strv(uint64_t mask)
{
	char **v = xnew0(char *, 1);

	for (int i = 0; i < 64; i++)
		if ((mask & (UINT64_C(1) << i)) && oci_cap_to_name(i))
			strv_push(&v, oci_cap_to_name(i));
	return v;
}
