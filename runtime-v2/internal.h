/* SPDX-License-Identifier: Apache-2.0 */
/* Private to runtime-v2/: the shim handle and the helpers the files share. */
#pragma once

#include <sys/types.h>

#include "common/common.h"
#include "runtime-v2/runtime.h"

#define RT_DEFAULT_TIMEOUT_NS (30ull * 1000000000ull)

struct rt_shim {
	struct ev_loop *loop;
	const struct rt_config *cfg;
	char *ns, *id, *bundle, *binary, *address;
	struct ttrpc_client *client;
	int log_fd;
	struct ev_source *log_src;
	struct strbuf log_line;
	void (*on_close)(struct rt_shim *, void *);
	void *on_close_data;
	/* rt_shim_shutdown_async */
	void (*shutdown_done)(struct rt_shim *, int, const char *, void *);
	void *shutdown_data;
	struct ev_source *shutdown_defer, *shutdown_timer;
};

static inline uint64_t rt_timeout(const struct rt_config *cfg)
{
	return cfg->start_timeout_ns ? cfg->start_timeout_ns : RT_DEFAULT_TIMEOUT_NS;
}

/* The result of running a shim binary to completion. */
struct rt_run_result {
	int status; /* waitpid status */
	char *out;  /* stdout (with stderr when combined) */
	size_t out_len;
	char *errout; /* stderr when not combined */
};

/*
 * Runs `binary args...` in cwd with the shim env, stdin = in (may be NULL/0), stdout (and stderr
 * when combined) captured. Kills the process group and fails with -ETIMEDOUT after timeout_ns.
 */
int rt_run_shim(const struct rt_config *cfg, const char *binary, char *const *argv, const char *cwd,
		const char *ns, const void *in, size_t in_len, bool combined,
		struct rt_run_result *ret, struct wh_err **err);
void rt_run_result_done(struct rt_run_result *r);
/* Describes a waitpid status: "exit status 3" or "killed by signal 9". */
char *rt_describe_status(int status);

/* Opens bundle/log (O_RDWR|O_NONBLOCK) and relays it to our log; the shim must exist. */
int rt_shim_open_log(struct rt_shim *s, struct wh_err **err);
/* Allocates a handle (no connection yet). */
struct rt_shim *rt_shim_alloc(struct ev_loop *l, const struct rt_config *cfg, const char *ns,
			      const char *id, const char *bundle);
/* Connects the handle to address. */
int rt_shim_dial(struct rt_shim *s, const char *address, struct wh_err **err);
/* argv of `<binary> -namespace .. -address .. -publish-binary .. -id .. [-bundle B] action`. */
char **rt_shim_argv(const struct rt_config *cfg, const char *binary, const char *ns, const char *id,
		    const char *bundle, const char *action);
