/* SPDX-License-Identifier: Apache-2.0 */
/* The snapshotter handle over its vtable, kinds and infos, chain IDs, and small shared helpers
 * (string map, failpoints, unmounting below a directory). */
#include <errno.h>
#include <signal.h>

#include <sys/mount.h>

#include "common/common.h"
#include "snapshots/internal.h"

struct snapshotter {
	const struct snapshotter_ops *ops;
	void *impl;
};

struct snapshotter *snapshotter_new(const struct snapshotter_ops *ops, void *impl)
{
	struct snapshotter *s = xnew0(struct snapshotter, 1);
	s->ops = ops;
	s->impl = impl;
	return s;
}

struct snapshotter *snapshotter_close(struct snapshotter *s)
{
	if (!s)
		return NULL;
	if (s->ops->close)
		s->ops->close(s->impl);
	free(s);
	return NULL;
}

const char *snapshotter_name(const struct snapshotter *s)
{
	return s->ops->name;
}

static void mounts_init(struct wh_mount_list *ret)
{
	if (ret)
		*ret = (struct wh_mount_list){0};
}

int snapshotter_stat(struct snapshotter *s, const char *key, struct snapshot_info *ret,
		     struct wh_err **err)
{
	*ret = (struct snapshot_info){0};
	return s->ops->stat(s->impl, key, ret, err);
}

int snapshotter_update(struct snapshotter *s, const struct snapshot_info *info,
		       char *const *fieldpaths, struct snapshot_info *ret, struct wh_err **err)
{
	if (ret)
		*ret = (struct snapshot_info){0};
	return s->ops->update(s->impl, info, fieldpaths, ret, err);
}

int snapshotter_usage(struct snapshotter *s, const char *key, struct snapshot_usage *ret,
		      struct wh_err **err)
{
	*ret = (struct snapshot_usage){0};
	return s->ops->usage(s->impl, key, ret, err);
}

int snapshotter_mounts(struct snapshotter *s, const char *key, struct wh_mount_list *ret,
		       struct wh_err **err)
{
	mounts_init(ret);
	return s->ops->mounts(s->impl, key, ret, err);
}

int snapshotter_prepare(struct snapshotter *s, const char *key, const char *parent,
			char *const *labels, struct wh_mount_list *ret, struct wh_err **err)
{
	mounts_init(ret);
	return s->ops->prepare(s->impl, key, parent, labels, ret, err);
}

int snapshotter_view(struct snapshotter *s, const char *key, const char *parent,
		     char *const *labels, struct wh_mount_list *ret, struct wh_err **err)
{
	mounts_init(ret);
	return s->ops->view(s->impl, key, parent, labels, ret, err);
}

int snapshotter_commit(struct snapshotter *s, const char *name, const char *key,
		       char *const *labels, struct wh_err **err)
{
	return s->ops->commit(s->impl, name, key, labels, err);
}

int snapshotter_remove(struct snapshotter *s, const char *key, struct wh_err **err)
{
	return s->ops->remove(s->impl, key, err);
}

int snapshotter_walk(struct snapshotter *s, char *const *filters, snapshot_walk_fn fn,
		     void *userdata, struct wh_err **err)
{
	return s->ops->walk(s->impl, filters, fn, userdata, err);
}

int snapshotter_cleanup(struct snapshotter *s, struct wh_err **err)
{
	if (!s->ops->cleanup)
		return 0;
	return (s->ops->cleanup)(s->impl, err);
}

const char *snapshot_kind_to_string(enum snapshot_kind k)
{
	switch (k) {
	case SNAPSHOT_KIND_VIEW:
		return "view";
	case SNAPSHOT_KIND_ACTIVE:
		return "active";
	case SNAPSHOT_KIND_COMMITTED:
		return "committed";
	default:
		return "unknown";
	}
}

int snapshot_kind_from_string(const char *s, enum snapshot_kind *ret)
{
	for (int k = SNAPSHOT_KIND_VIEW; k <= SNAPSHOT_KIND_COMMITTED; k++) {
		if (streq(s, snapshot_kind_to_string(k))) {
			*ret = k;
			return 0;
		}
	}
	return -EINVAL;
}

void snapshot_info_done(struct snapshot_info *i)
{
	free(i->name);
	free(i->parent);
	strv_free(i->labels);
	*i = (struct snapshot_info){0};
}

const char *snapshot_labels_get(char *const *labels, const char *key)
{
	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		if (streq(labels[i], key))
			return labels[i + 1];
	}
	return NULL;
}

/* ---- chain IDs ---- */

int snapshots_chain_ids(const char *const *diff_ids, size_t n, char (*out)[DIGEST_STR_LEN],
			struct wh_err **err)
{
	for (size_t i = 0; i < n; i++) {
		if (!diff_ids[i] || !digest_is_valid(diff_ids[i]))
			return wh_err_setx(err, EINVAL, "diff ID %zu '%s' is not a sha256 digest",
					   i, diff_ids[i] ? diff_ids[i] : "(null)");
		if (i == 0) {
			memcpy(out[0], diff_ids[0], DIGEST_STR_LEN);
			continue;
		}
		char buf[2 * DIGEST_STR_LEN];
		int len = snprintf(buf, sizeof(buf), "%s %s", out[i - 1], diff_ids[i]);
		digest_buf(buf, (size_t)len, out[i]);
	}
	return 0;
}

int snapshots_chain_id(const char *const *diff_ids, size_t n, char out[DIGEST_STR_LEN],
		       struct wh_err **err)
{
	if (n == 0)
		return wh_err_setx(err, EINVAL, "no diff IDs");
	char(*all)[DIGEST_STR_LEN] = xmalloc(n * DIGEST_STR_LEN);
	int r = snapshots_chain_ids(diff_ids, n, all, err);
	if (r >= 0)
		memcpy(out, all[n - 1], DIGEST_STR_LEN);
	free(all);
	return r;
}

/* ---- string map ---- */

static size_t str_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

void strmap_done(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	*m = (struct strmap){0};
}

static size_t strmap_slot(const struct strmap *m, const char *key)
{
	size_t i = str_hash(key) & (m->cap - 1);
	while (m->keys[i] && !streq(m->keys[i], key))
		i = (i + 1) & (m->cap - 1);
	return i;
}

bool strmap_put(struct strmap *m, const char *key, void *val)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct strmap g = {.cap = m->cap ? m->cap * 2 : 64};
		g.keys = xnew0(char *, g.cap);
		g.vals = xnew0(void *, g.cap);
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->keys[i])
				continue;
			size_t j = strmap_slot(&g, m->keys[i]);
			g.keys[j] = m->keys[i];
			g.vals[j] = m->vals[i];
		}
		g.n = m->n;
		free(m->keys);
		free(m->vals);
		*m = g;
	}
	size_t i = strmap_slot(m, key);
	m->vals[i] = val;
	if (m->keys[i])
		return false;
	m->keys[i] = xstrdup(key);
	m->n++;
	return true;
}

bool strmap_get(const struct strmap *m, const char *key, void **ret)
{
	if (!m->cap)
		return false;
	size_t i = strmap_slot(m, key);
	if (!m->keys[i])
		return false;
	if (ret)
		*ret = m->vals[i];
	return true;
}

/* ---- failpoints ---- */

void failpoint(const char *name)
{
	const char *fp = getenv("WHARF_SNAPSHOTS_FAILPOINT");
	if (fp && streq(fp, name))
		raise(SIGKILL);
}

/* ---- unmounting ---- */

/* Undoes mountinfo's octal escapes (\040 and friends) in place. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*w++ = *p;
		}
	}
	*w = 0;
}

int unmount_below(const char *dir, struct wh_err **err)
{
	int count = 0;
	for (;;) {
		cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
		if (!f)
			return wh_err_set(err, errno, "open /proc/self/mountinfo");
		cleanup_free char *line = NULL;
		size_t cap = 0;
		cleanup_free char *deepest = NULL;
		size_t dlen = strlen(dir);
		while (getline(&line, &cap, f) > 0) {
			char mp[4096];
			if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
				continue;
			unescape_octal(mp);
			if (strncmp(mp, dir, dlen) != 0 || (mp[dlen] != 0 && mp[dlen] != '/'))
				continue;
			if (!deepest || strlen(mp) > strlen(deepest)) {
				free(deepest);
				deepest = xstrdup(mp);
			}
		}
		if (!deepest)
			return count;
		if (umount2(deepest, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
			return wh_err_set(err, errno, "unmount '%s'", deepest);
		if (++count > 10000)
			return wh_err_setx(err, EBUSY, "'%s' keeps being mounted", dir);
	}
}
