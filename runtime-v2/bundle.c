/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bundles (PROTOCOLS.md §2.2, DESIGN.md paths): <state>/tasks/<ns>/<id>/ with config.json,
 * rootfs/ (the snapshot's mounts performed on it) and the `log` fifo; removal unmounts first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/stat.h>

#include "runtime-v2/internal.h"
#include "snapshots/snapshots.h"

char *rt_bundle_path(const char *state_dir, const char *ns, const char *id)
{
	return xasprintf("%s/tasks/%s/%s", state_dir, ns, id);
}

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* containerd's identifiers.Validate: [A-Za-z0-9]+ joined by single . _ or -, 1..76 chars. */
int rt_validate_identifier(const char *what, const char *s, struct wh_err **err)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0)
		return wh_err_setx(err, EINVAL, "%s must not be empty", what);
	if (n > 76)
		return wh_err_setx(err, EINVAL, "%s '%.20s...' is longer than 76 characters", what,
				   s);
	for (size_t i = 0; i < n; i++) {
		if (alnum(s[i]))
			continue;
		if ((s[i] == '.' || s[i] == '_' || s[i] == '-') && i > 0 && i + 1 < n &&
		    alnum(s[i - 1]) && alnum(s[i + 1]))
			continue;
		return wh_err_setx(err, EINVAL,
				   "%s '%s' is not a valid identifier (letters and digits joined "
				   "by single '.', '_' or '-')",
				   what, s);
	}
	return 0;
}

static int check_spec(const void *spec, size_t len, struct wh_err **err)
{
	yajl_val v = NULL;
	int r;

	if (!spec || len == 0)
		return wh_err_setx(err, EINVAL, "spec is empty");
	r = json_parse(spec, len, &v, err);
	if (r < 0)
		return wh_err_wrap(err, r, "spec");
	r = json_expect_object(v, "spec", err);
	yajl_tree_free(v);
	return r;
}

static int bundle_fill(const char *bundle, const void *spec, size_t spec_len,
		       const struct wh_mount_list *mounts, struct wh_err **err)
{
	cleanup_free char *cfg = path_join(bundle, "config.json");
	cleanup_free char *rootfs = path_join(bundle, "rootfs");
	cleanup_free char *log = path_join(bundle, "log");
	int r;

	r = write_file_atomic(cfg, spec, spec_len, 0644);
	if (r < 0)
		return wh_err_set(err, r, "write '%s'", cfg);
	if (mkdir(rootfs, 0711) < 0)
		return wh_err_set(err, errno, "create '%s'", rootfs);
	if (mkfifo(log, 0600) < 0)
		return wh_err_set(err, errno, "create log fifo '%s'", log);
	if (mounts && mounts->n > 0) {
		r = wh_mount_all(mounts, rootfs, err);
		if (r < 0)
			return wh_err_wrap(err, r, "mount rootfs");
	}
	return 0;
}

int rt_bundle_create(const char *state_dir, const char *ns, const char *id, const void *spec,
		     size_t spec_len, const struct wh_mount_list *mounts, char **ret_path,
		     struct wh_err **err)
{
	cleanup_free char *parent = NULL;
	cleanup_free char *bundle = NULL;
	int r;

	r = rt_validate_identifier("namespace", ns, err);
	if (r < 0)
		return r;
	r = rt_validate_identifier("task id", id, err);
	if (r < 0)
		return r;
	r = check_spec(spec, spec_len, err);
	if (r < 0)
		return r;
	parent = xasprintf("%s/tasks/%s", state_dir, ns);
	r = mkdir_p(parent, 0711);
	if (r < 0)
		return wh_err_set(err, r, "create '%s'", parent);
	bundle = rt_bundle_path(state_dir, ns, id);
	if (mkdir(bundle, 0700) < 0) {
		if (errno == EEXIST)
			return wh_err_setx(err, EEXIST, "bundle '%s' already exists", bundle);
		return wh_err_set(err, errno, "create bundle '%s'", bundle);
	}
	r = bundle_fill(bundle, spec, spec_len, mounts, err);
	if (r < 0) {
		rt_bundle_remove(bundle, NULL);
		return wh_err_wrap(err, r, "create bundle '%s'", bundle);
	}
	*ret_path = TAKE_PTR(bundle);
	return 0;
}

int rt_bundle_remove(const char *bundle, struct wh_err **err)
{
	cleanup_free char *rootfs = path_join(bundle, "rootfs");
	cleanup_free char *copy = xstrdup(bundle);
	cleanup_free char *hidden = NULL;
	char *slash = strrchr(copy, '/');
	struct stat st;
	int r;

	if (lstat(bundle, &st) < 0)
		return errno == ENOENT ? 0 : wh_err_set(err, errno, "stat bundle '%s'", bundle);
	r = wh_unmount_all(rootfs, 0, NULL);
	if (r < 0) {
		/* Busy (a process holds it): detach it, as containerd does for a dead shim. */
		r = wh_unmount_all(rootfs, MNT_DETACH, err);
		if (r < 0)
			return wh_err_wrap(err, r, "remove bundle '%s'", bundle);
	}
	if (!slash)
		return wh_err_setx(err, EINVAL, "bundle path '%s' has no parent", bundle);
	*slash = '\0';
	hidden = xasprintf("%s/.%s", copy, slash + 1);
	rm_rf(hidden);
	if (rename(bundle, hidden) < 0)
		return wh_err_set(err, errno, "rename bundle '%s'", bundle);
	r = rm_rf(hidden);
	if (r < 0)
		return wh_err_set(err, r, "remove '%s'", hidden);
	/* The namespace dir goes when it was the last task (containerd leaves it; harmless). */
	rmdir(copy);
	return 0;
}
