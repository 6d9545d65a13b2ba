/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runtime name -> shim binary (PROTOCOLS.md §2.1): io.containerd.<name>.<version> gives
 * containerd-shim-<name>-<version>, looked up in the configured shim dir, then in $PATH.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "runtime-v2/internal.h"

static bool is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* A name part: non-empty, [A-Za-z0-9_-] only (it becomes part of a file name). */
static bool part_ok(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(p[i] >= 'a' && p[i] <= 'z') && !(p[i] >= 'A' && p[i] <= 'Z') &&
		    !(p[i] >= '0' && p[i] <= '9') && p[i] != '_' && p[i] != '-')
			return false;
	return true;
}

static char *binary_name(const char *runtime)
{
	const char *last = strrchr(runtime, '.'), *prev;

	if (!last || last == runtime)
		return NULL;
	for (prev = last - 1; prev > runtime && *prev != '.'; prev--)
		;
	if (*prev == '.')
		prev++;
	if (!part_ok(prev, (size_t)(last - prev)) || !part_ok(last + 1, strlen(last + 1)))
		return NULL;
	for (const char *p = runtime; p < prev; p++)
		if (*p == '/' || (*p == '.' && (p == runtime || p[-1] == '.')))
			return NULL;
	return xasprintf("containerd-shim-%.*s-%s", (int)(last - prev), prev, last + 1);
}

int rt_resolve_shim(const char *runtime, const char *shim_dir, char **ret, struct wh_err **err)
{
	cleanup_free char *name = NULL;
	cleanup_free char *path_env = NULL;
	const char *path;

	if (!runtime || !*runtime)
		return wh_err_setx(err, EINVAL, "runtime name is empty");
	if (runtime[0] == '/') {
		if (!is_executable_file(runtime))
			return wh_err_setx(err, ENOENT, "runtime '%s': no executable file there",
					   runtime);
		*ret = xstrdup(runtime);
		return 0;
	}
	name = binary_name(runtime);
	if (!name)
		return wh_err_setx(
			err, EINVAL,
			"runtime '%s': malformed name (want io.containerd.<name>.<version>)",
			runtime);
	if (shim_dir && *shim_dir) {
		cleanup_free char *p = path_join(shim_dir, name);

		if (is_executable_file(p)) {
			*ret = TAKE_PTR(p);
			return 0;
		}
	}
	path = secure_getenv("PATH");
	path_env = xstrdup(
		path && *path ? path
			      : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	for (char *save = NULL, *dir = strtok_r(path_env, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		cleanup_free char *p = NULL;

		if (dir[0] != '/')
			continue; /* relative PATH entries would depend on our cwd */
		p = path_join(dir, name);
		if (is_executable_file(p)) {
			*ret = TAKE_PTR(p);
			return 0;
		}
	}
	return wh_err_setx(err, ENOENT, "runtime '%s': shim binary '%s' not found in %s%s$PATH",
			   runtime, name, shim_dir ? shim_dir : "", shim_dir ? " or " : "");
}
