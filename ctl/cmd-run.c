/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `run`: containers create + tasks start with stdio, wait, and the container's exit code as
 * ours; --rm deletes the container, its snapshot and its anonymous volumes afterwards, -d leaves
 * it running with its fifos in place for `tasks attach`.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "ctl/cmd.h"

/* Undoes a run that failed before its process ran: the container this command made goes too. */
static void undo(struct ctl_client *c, const struct ctl_run_opts *o, bool task)
{
	if (task)
		cmd_task_delete(c, o->id, NULL, NULL);
	cmd_container_delete(c, o->id, NULL);
	cmd_volumes_remove_anonymous(c, o);
}

static int run_attached(struct ctl_client *c, const struct ctl_run_opts *o, struct wh_err **err)
{
	struct cmd_io io;
	uint32_t status = 0;
	int r;

	if ((r = cmd_io_create(o->tty, &io, err)) < 0)
		return r;
	if ((r = cmd_task_create(c, o->id, &io, o->tty, err)) < 0) {
		cmd_io_release(&io);
		undo(c, o, false);
		return r;
	}
	if ((r = cmd_task_start(c, o->id, "", err)) < 0) {
		cmd_io_release(&io);
		undo(c, o, true);
		return r;
	}
	r = cmd_io_wait(c, &io, o->id, "", &status, err);
	cmd_io_release(&io);
	if (r < 0)
		return r;
	cmd_task_delete(c, o->id, NULL, NULL);
	if (o->rm && cmd_container_delete(c, o->id, NULL) >= 0)
		cmd_volumes_remove_anonymous(c, o);
	return (int)MIN(status, 255u);
}

/* -d: the fifos stay (in a wharfctl- dir) for `tasks attach`; tasks delete removes them. */
static int run_detached(struct ctl_client *c, const struct ctl_run_opts *o, struct wh_err **err)
{
	struct cmd_io io;
	int r;

	if ((r = cmd_io_create(false, &io, err)) < 0) {
		undo(c, o, false);
		return r;
	}
	if ((r = cmd_task_create(c, o->id, &io, false, err)) < 0) {
		cmd_io_release(&io);
		undo(c, o, false);
		return r;
	}
	if ((r = cmd_task_start(c, o->id, "", err)) < 0) {
		undo(c, o, true);
		cmd_io_release(&io);
		return r;
	}
	cmd_io_detach(&io);
	printf("%s\n", o->id);
	return 0;
}

int cmd_run(struct cmd_ctx *x, int argc, char **argv)
{
	struct ctl_run_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int r;

	if (ctl_parse_run(argc, argv, CTL_RUN_MODE_RUN, &o, &e) < 0)
		return cmd_fail(e);
	if (!(c = cmd_client(x))) {
		ctl_run_opts_release(&o);
		return 1;
	}
	if ((r = cmd_container_create(x, c, &o, &e)) < 0) {
		ctl_run_opts_release(&o);
		return cmd_fail(e);
	}
	if (o.detach) {
		r = run_detached(c, &o, &e);
	} else {
		r = run_attached(c, &o, &e);
	}
	ctl_run_opts_release(&o);
	if (r < 0)
		return cmd_fail(e);
	return r;
}
