/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runtime driver selection: runc Options.binary_name names an external runc-compatible binary
 * (the exec driver); empty means the builtin liboci driver (in-process, no fork/exec of a
 * runtime). The state root is Options.root or <state dir>/runc, with "/<namespace>" appended.
 */
#include <errno.h>

#include "shim/internal.h"

void runtime_opts_release(struct runtime_opts *o)
{
	free(o->binary_name);
	free(o->root);
	free(o->criu_path);
	free(o->shim_cgroup);
	*o = (struct runtime_opts){0};
}

static char *dup_or_null(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

int runtime_new(const struct runtime_opts *opts, const char *state_dir, const char *ns,
		struct runtime **ret, struct wh_err **err)
{
	const struct runtime_ops *ops = &runtime_exec_ops;
	if (!opts->binary_name || !*opts->binary_name) {
		ops = runtime_builtin_ops;
		if (!ops)
			return wh_err_setx(
				err, EOPNOTSUPP,
				"this shim was built without the builtin runtime: set "
				"the runtime option binary_name (runc, crun, wharf-oci)");
	}
	struct runtime *rt = xnew0(struct runtime, 1);
	rt->ops = ops;
	rt->opts = *opts;
	rt->opts.binary_name = dup_or_null(opts->binary_name);
	rt->opts.root = dup_or_null(opts->root);
	rt->opts.criu_path = dup_or_null(opts->criu_path);
	rt->opts.shim_cgroup = dup_or_null(opts->shim_cgroup);
	rt->binary = rt->opts.binary_name ? xstrdup(rt->opts.binary_name) : NULL;
	if (rt->opts.root)
		rt->state_root = xasprintf("%s/%s", rt->opts.root, ns);
	else
		rt->state_root = xasprintf("%s/runc/%s", state_dir, ns);
	*ret = rt;
	return 0;
}

struct runtime *runtime_free(struct runtime *rt)
{
	if (!rt)
		return NULL;
	runtime_opts_release(&rt->opts);
	free(rt->state_root);
	free(rt->binary);
	free(rt);
	return NULL;
}
