/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tasks start|ls|kill|exec|attach|ps|pause|resume|metrics|delete, over the Tasks service.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ctl/cmd.h"
#include "proto/cgroups/v1/metrics.pb-c.h"
#include "proto/cgroups/v2/metrics.pb-c.h"
#include "proto/google/protobuf/any.pb-c.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/google/protobuf/timestamp.pb-c.h"
#include "proto/services/containers/v1/containers.pb-c.h"
#include "proto/services/tasks/v1/tasks.pb-c.h"

#define TASKS_SVC "containerd.services.tasks.v1.Tasks"

int cmd_task_create(struct ctl_client *c, const char *id, const struct cmd_io *io, bool tty,
		    struct wh_err **err)
{
	Containerd__Services__Tasks__V1__CreateTaskRequest q =
		CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int r;

	q.container_id = (char *)id;
	if (io) {
		q.stdin = io->stdin_path ? io->stdin_path : (char *)"";
		q.stdout = io->stdout_path ? io->stdout_path : (char *)"";
		q.stderr = io->stderr_path ? io->stderr_path : (char *)"";
	}
	q.terminal = tty;
	r = ctl_call(c, TASKS_SVC, "Create", &q.base,
		     &containerd__services__tasks__v1__create_task_response__descriptor, &resp,
		     err);
	if (r < 0)
		return wh_err_wrap(err, r, "create task '%s'", id);
	cmd_free_msg(resp);
	return 0;
}

int cmd_task_start(struct ctl_client *c, const char *id, const char *exec_id, struct wh_err **err)
{
	Containerd__Services__Tasks__V1__StartRequest q =
		CONTAINERD__SERVICES__TASKS__V1__START_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int r;

	q.container_id = (char *)id;
	q.exec_id = (char *)exec_id;
	r = ctl_call(c, TASKS_SVC, "Start", &q.base,
		     &containerd__services__tasks__v1__start_response__descriptor, &resp, err);
	if (r < 0)
		return wh_err_wrap(err, r, "start '%s'", *exec_id ? exec_id : id);
	cmd_free_msg(resp);
	return 0;
}

int cmd_task_delete(struct ctl_client *c, const char *id, uint32_t *ret_status, struct wh_err **err)
{
	Containerd__Services__Tasks__V1__DeleteTaskRequest q =
		CONTAINERD__SERVICES__TASKS__V1__DELETE_TASK_REQUEST__INIT;
	Containerd__Services__Tasks__V1__DeleteResponse *resp = NULL;
	Containerd__Services__Tasks__V1__GetRequest gq =
		CONTAINERD__SERVICES__TASKS__V1__GET_REQUEST__INIT;
	cleanup_msg Containerd__Services__Tasks__V1__GetResponse *got = NULL;
	int r;

	q.container_id = (char *)id;
	gq.container_id = (char *)id;
	/* The stdio paths, to remove the fifos of a `run -d` once the task is gone. */
	if (ctl_call(c, TASKS_SVC, "Get", &gq.base,
		     &containerd__services__tasks__v1__get_response__descriptor,
		     (ProtobufCMessage **)&got, NULL) < 0)
		got = NULL;
	r = ctl_call(c, TASKS_SVC, "Delete", &q.base,
		     &containerd__services__tasks__v1__delete_response__descriptor,
		     (ProtobufCMessage **)&resp, err);
	if (r < 0)
		return r;
	if (ret_status)
		*ret_status = resp->exit_status;
	cmd_free_msg(resp);
	if (got && got->process)
		cmd_io_remove_paths(got->process->stdin, got->process->stdout,
				    got->process->stderr);
	return 0;
}

/* A call whose answer is Empty, with the container id (and exec id) set by the caller. */
static int simple(struct cmd_ctx *x, const char *method, ProtobufCMessage *q)
{
	ProtobufCMessage *resp = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	if (!(c = cmd_client(x)))
		return 1;
	if (ctl_call(c, TASKS_SVC, method, q, &google__protobuf__empty__descriptor, &resp, &e) < 0)
		return cmd_fail(e);
	cmd_free_msg(resp);
	return 0;
}

static int t_start(struct cmd_ctx *x, int argc, char **argv)
{
	struct ctl_client *c;
	struct wh_err *e = NULL;
	bool detach = argc >= 2 && (streq(argv[1], "-d") || streq(argv[1], "--detach"));
	bool tty = false;
	struct cmd_io io;
	uint32_t status = 0;
	const char *id;

	if (argc != 2 + detach)
		return cmd_failf("usage: tasks start [-d] ID");
	id = argv[1 + detach];
	if (!(c = cmd_client(x)))
		return 1;
	/* The terminal flag follows the container's spec. */
	{
		Containerd__Services__Containers__V1__GetContainerRequest q =
			CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
		cleanup_msg Containerd__Services__Containers__V1__GetContainerResponse *got = NULL;

		q.id = (char *)id;
		if (ctl_call(
			    c, "containerd.services.containers.v1.Containers", "Get", &q.base,
			    &containerd__services__containers__v1__get_container_response__descriptor,
			    (ProtobufCMessage **)&got, &e) < 0) {
			if (e && e->code == ENOENT)
				return wh_err_free(e), cmd_failf("container \"%s\" not found", id);
			return cmd_fail(e);
		}
		if (got->container->spec && got->container->spec->value.len)
			tty = memmem(got->container->spec->value.data,
				     got->container->spec->value.len, "\"terminal\":true",
				     15) != NULL;
	}
	if (detach) {
		if (tty)
			return cmd_failf(
				"tasks start: -d with a terminal container is not supported");
		if (cmd_task_create(c, id, NULL, false, &e) < 0)
			return cmd_fail(e);
		if (cmd_task_start(c, id, "", &e) < 0) {
			cmd_task_delete(c, id, NULL, NULL);
			return cmd_fail(e);
		}
		return 0;
	}
	if (cmd_io_create(tty, &io, &e) < 0)
		return cmd_fail(e);
	if (cmd_task_create(c, id, &io, tty, &e) < 0) {
		cmd_io_release(&io);
		return cmd_fail(e);
	}
	if (cmd_task_start(c, id, "", &e) < 0 || cmd_io_wait(c, &io, id, "", &status, &e) < 0) {
		cmd_io_release(&io);
		cmd_task_delete(c, id, NULL, NULL);
		return cmd_fail(e);
	}
	cmd_io_release(&io);
	cmd_task_delete(c, id, NULL, NULL);
	return (int)MIN(status, 255u);
}

static const char *status_name(int s)
{
	switch (s) {
	case CONTAINERD__V1__TYPES__STATUS__CREATED:
		return "CREATED";
	case CONTAINERD__V1__TYPES__STATUS__RUNNING:
		return "RUNNING";
	case CONTAINERD__V1__TYPES__STATUS__STOPPED:
		return "STOPPED";
	case CONTAINERD__V1__TYPES__STATUS__PAUSED:
		return "PAUSED";
	case CONTAINERD__V1__TYPES__STATUS__PAUSING:
		return "PAUSING";
	default:
		return "UNKNOWN";
	}
}

static int t_ls(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Tasks__V1__ListTasksRequest q =
		CONTAINERD__SERVICES__TASKS__V1__LIST_TASKS_REQUEST__INIT;
	cleanup_msg Containerd__Services__Tasks__V1__ListTasksResponse *resp = NULL;
	struct cmd_list_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	if (cmd_parse_list(argc, argv, &o) || !(c = cmd_client(x)))
		return 1;
	if (o.rest[0])
		q.filter = o.rest[0];
	if (ctl_call(c, TASKS_SVC, "List", &q.base,
		     &containerd__services__tasks__v1__list_tasks_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (o.json) {
		yajl_gen g = json_gen_new(true);

		yajl_gen_array_open(g);
		for (size_t i = 0; i < resp->n_tasks; i++) {
			yajl_gen_map_open(g);
			json_gen_kv_str(g, "id", resp->tasks[i]->id);
			json_gen_kv_int(g, "pid", resp->tasks[i]->pid);
			json_gen_kv_str(g, "status", status_name(resp->tasks[i]->status));
			json_gen_kv_int(g, "exitStatus", resp->tasks[i]->exit_status);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		return cmd_print_json(g);
	}
	struct ctl_table *t = ctl_table_new(3);
	if (!o.quiet)
		ctl_table_add(t, (const char *[]){"TASK", "PID", "STATUS"});
	for (size_t i = 0; i < resp->n_tasks; i++) {
		cleanup_free char *pid = xasprintf("%u", resp->tasks[i]->pid);
		if (o.quiet)
			printf("%s\n", resp->tasks[i]->id);
		else
			ctl_table_add(t, (const char *[]){resp->tasks[i]->id, pid,
							  status_name(resp->tasks[i]->status)});
	}
	cleanup_free char *s = ctl_table_render(t);
	fputs(s, stdout);
	ctl_table_free(t);
	return 0;
}

static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {
		{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"KILL", SIGKILL},
		{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},   {"STOP", SIGSTOP},
		{"CONT", SIGCONT}, {"ALRM", SIGALRM}, {"WINCH", SIGWINCH},
	};
	int n;

	if (parse_int(s, &n) >= 0)
		return n > 0 && n < 65 ? n : -EINVAL;
	if (str_startswith(s, "SIG"))
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].sig;
	return -EINVAL;
}

static int t_kill(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{"signal", required_argument, NULL, 's'},
		{"all", no_argument, NULL, 'a'},
		{"exec-id", required_argument, NULL, 'e'},
		{NULL, 0, NULL, 0},
	};
	Containerd__Services__Tasks__V1__KillRequest q =
		CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
	int c, sig = SIGTERM;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+s:a", opts, NULL)) != -1) {
		if (c == 's' && (sig = parse_signal(optarg)) < 0)
			return cmd_failf("tasks kill: invalid signal '%s'", optarg);
		else if (c == 'a')
			q.all = true;
		else if (c == 'e')
			q.exec_id = optarg;
		else if (c != 's')
			return cmd_failf("usage: tasks kill [-s SIGNAL] [-a] [--exec-id ID] ID");
	}
	if (argc - optind != 1)
		return cmd_failf("usage: tasks kill [-s SIGNAL] [-a] [--exec-id ID] ID");
	q.container_id = argv[optind];
	q.signal = (uint32_t)sig;
	return simple(x, "Kill", &q.base);
}

static int t_pause(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Tasks__V1__PauseTaskRequest q =
		CONTAINERD__SERVICES__TASKS__V1__PAUSE_TASK_REQUEST__INIT;

	if (cmd_need_args(argc, argv, 1, "ID"))
		return 1;
	q.container_id = argv[1];
	return simple(x, "Pause", &q.base);
}

static int t_resume(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Tasks__V1__ResumeTaskRequest q =
		CONTAINERD__SERVICES__TASKS__V1__RESUME_TASK_REQUEST__INIT;

	if (cmd_need_args(argc, argv, 1, "ID"))
		return 1;
	q.container_id = argv[1];
	return simple(x, "Resume", &q.base);
}

static int t_delete(struct cmd_ctx *x, int argc, char **argv)
{
	struct ctl_client *c;
	uint32_t status = 0;
	int rc = 0;

	if (argc < 2)
		return cmd_failf("usage: tasks delete ID...");
	if (!(c = cmd_client(x)))
		return 1;
	for (int i = 1; i < argc; i++) {
		struct wh_err *e = NULL;

		if (cmd_task_delete(c, argv[i], &status, &e) < 0)
			rc = cmd_fail(e);
		else
			printf("%s: exit status %u\n", argv[i], status);
	}
	return rc;
}

static int t_ps(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Tasks__V1__ListPidsRequest q =
		CONTAINERD__SERVICES__TASKS__V1__LIST_PIDS_REQUEST__INIT;
	cleanup_msg Containerd__Services__Tasks__V1__ListPidsResponse *resp = NULL;
	struct cmd_list_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	if (cmd_parse_list(argc, argv, &o))
		return 1;
	if (!o.rest[0] || o.rest[1])
		return cmd_failf("usage: tasks ps [-q] [--format json] ID");
	if (!(c = cmd_client(x)))
		return 1;
	q.container_id = o.rest[0];
	if (ctl_call(c, TASKS_SVC, "ListPids", &q.base,
		     &containerd__services__tasks__v1__list_pids_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (o.json) {
		yajl_gen g = json_gen_new(false);

		yajl_gen_array_open(g);
		for (size_t i = 0; i < resp->n_processes; i++)
			yajl_gen_integer(g, resp->processes[i]->pid);
		yajl_gen_array_close(g);
		return cmd_print_json(g);
	}
	if (!o.quiet)
		printf("PID\n");
	for (size_t i = 0; i < resp->n_processes; i++)
		printf("%u\n", resp->processes[i]->pid);
	return 0;
}

static void print_metrics(const Containerd__Types__Metric *m)
{
	const char *url = m->data ? m->data->type_url : "";

	printf("ID\t%s\n", m->id);
	if (!m->data)
		return;
	if (strstr(url, "cgroups.v1")) {
		Io__Containerd__Cgroups__V1__Metrics *v =
			io__containerd__cgroups__v1__metrics__unpack(NULL, m->data->value.len,
								     m->data->value.data);

		if (!v) {
			printf("(undecodable %s)\n", url);
			return;
		}
		if (v->memory && v->memory->usage)
			printf("memory.usage_in_bytes\t%llu\nmemory.limit_in_bytes\t%llu\n",
			       (unsigned long long)v->memory->usage->usage,
			       (unsigned long long)v->memory->usage->limit);
		if (v->cpu && v->cpu->usage)
			printf("cpuacct.usage\t%llu\n", (unsigned long long)v->cpu->usage->total);
		if (v->pids)
			printf("pids.current\t%llu\npids.limit\t%llu\n",
			       (unsigned long long)v->pids->current,
			       (unsigned long long)v->pids->limit);
		for (size_t i = 0; i < v->n_network; i++) {
			const Io__Containerd__Cgroups__V1__NetworkStat *n = v->network[i];

			printf("network.%s.rx_bytes\t%llu\nnetwork.%s.rx_packets\t%llu\n"
			       "network.%s.rx_errors\t%llu\nnetwork.%s.rx_dropped\t%llu\n"
			       "network.%s.tx_bytes\t%llu\nnetwork.%s.tx_packets\t%llu\n"
			       "network.%s.tx_errors\t%llu\nnetwork.%s.tx_dropped\t%llu\n",
			       n->name, (unsigned long long)n->rx_bytes, n->name,
			       (unsigned long long)n->rx_packets, n->name,
			       (unsigned long long)n->rx_errors, n->name,
			       (unsigned long long)n->rx_dropped, n->name,
			       (unsigned long long)n->tx_bytes, n->name,
			       (unsigned long long)n->tx_packets, n->name,
			       (unsigned long long)n->tx_errors, n->name,
			       (unsigned long long)n->tx_dropped);
		}
		io__containerd__cgroups__v1__metrics__free_unpacked(v, NULL);
		return;
	}
	Io__Containerd__Cgroups__V2__Metrics *v = io__containerd__cgroups__v2__metrics__unpack(
		NULL, m->data->value.len, m->data->value.data);
	if (!v) {
		printf("(undecodable %s)\n", url);
		return;
	}
	if (v->memory)
		printf("memory.current\t%llu\nmemory.max\t%llu\n",
		       (unsigned long long)v->memory->usage,
		       (unsigned long long)v->memory->usage_limit);
	if (v->cpu)
		printf("cpu.usage_usec\t%llu\n", (unsigned long long)v->cpu->usage_usec);
	if (v->pids)
		printf("pids.current\t%llu\npids.limit\t%llu\n",
		       (unsigned long long)v->pids->current, (unsigned long long)v->pids->limit);
	io__containerd__cgroups__v2__metrics__free_unpacked(v, NULL);
}

static int t_metrics(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Tasks__V1__MetricsRequest q =
		CONTAINERD__SERVICES__TASKS__V1__METRICS_REQUEST__INIT;
	cleanup_msg Containerd__Services__Tasks__V1__MetricsResponse *resp = NULL;
	cleanup_free char *filter = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	if (cmd_need_args(argc, argv, 1, "ID") || !(c = cmd_client(x)))
		return 1;
	filter = xasprintf("id==%s", argv[1]);
	q.filters = &filter;
	q.n_filters = 1;
	if (ctl_call(c, TASKS_SVC, "Metrics", &q.base,
		     &containerd__services__tasks__v1__metrics_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (resp->n_metrics == 0)
		return cmd_failf("task \"%s\" not found", argv[1]);
	for (size_t i = 0; i < resp->n_metrics; i++)
		print_metrics(resp->metrics[i]);
	return 0;
}

/* The container's spec JSON (caller frees). */
static int container_spec(struct ctl_client *c, const char *id, char **ret, size_t *ret_len,
			  struct wh_err **err)
{
	Containerd__Services__Containers__V1__GetContainerRequest q =
		CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
	cleanup_msg Containerd__Services__Containers__V1__GetContainerResponse *got = NULL;
	int r;

	q.id = (char *)id;
	r = ctl_call(c, "containerd.services.containers.v1.Containers", "Get", &q.base,
		     &containerd__services__containers__v1__get_container_response__descriptor,
		     (ProtobufCMessage **)&got, err);
	if (r == -ENOENT) {
		wh_err_free(*err), *err = NULL;
		return wh_err_setx(err, ENOENT, "container \"%s\" not found", id);
	}
	if (r < 0)
		return r;
	if (!got->container->spec || !got->container->spec->value.len)
		return wh_err_setx(err, EINVAL, "container \"%s\" has no spec", id);
	*ret = xstrndup((const char *)got->container->spec->value.data,
			got->container->spec->value.len);
	*ret_len = got->container->spec->value.len;
	return 0;
}

struct exec_opts {
	bool tty, detach;
	const char *exec_id, *cwd;
	char **rest;
};

static int parse_exec(int argc, char **argv, struct exec_opts *o)
{
	static const struct option opts[] = {
		{"tty", no_argument, NULL, 't'},
		{"detach", no_argument, NULL, 'd'},
		{"exec-id", required_argument, NULL, 'e'},
		{"cwd", required_argument, NULL, 'w'},
		{NULL, 0, NULL, 0},
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+td", opts, NULL)) != -1) {
		if (c == 't')
			o->tty = true;
		else if (c == 'd')
			o->detach = true;
		else if (c == 'e')
			o->exec_id = optarg;
		else if (c == 'w')
			o->cwd = optarg;
		else
			return -EINVAL;
	}
	o->rest = argv + optind;
	if (!o->exec_id || !*o->exec_id || !o->rest[0] || !o->rest[1] || (o->tty && o->detach))
		return -EINVAL;
	return 0;
}

static int t_exec(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Tasks__V1__ExecProcessRequest q =
		CONTAINERD__SERVICES__TASKS__V1__EXEC_PROCESS_REQUEST__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	cleanup_free char *spec = NULL, *proc = NULL;
	struct exec_opts o = {0};
	struct cmd_io io = {.in_fd = -EBADF, .out_fd = -EBADF, .err_fd = -EBADF};
	ProtobufCMessage *resp = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	size_t len = 0, plen = 0;
	uint32_t status = 0;
	int r;

	if (parse_exec(argc, argv, &o) < 0)
		return cmd_failf("usage: tasks exec [-t|-d] [--cwd DIR] --exec-id ID CONTAINER CMD "
				 "[ARGS...]");
	if (!(c = cmd_client(x)))
		return 1;
	if (container_spec(c, o.rest[0], &spec, &len, &e) < 0 ||
	    ctl_process_from_spec(spec, len, o.rest + 1, o.tty, o.cwd, &proc, &plen, &e) < 0)
		return cmd_fail(e);
	if (!o.detach && cmd_io_create(o.tty, &io, &e) < 0)
		return cmd_fail(e);
	any.type_url = (char *)CTL_PROCESS_TYPE_URL;
	any.value.data = (uint8_t *)proc;
	any.value.len = plen;
	q.container_id = o.rest[0];
	q.exec_id = (char *)o.exec_id;
	q.spec = &any;
	q.terminal = o.tty;
	q.stdin = io.stdin_path ? io.stdin_path : (char *)"";
	q.stdout = io.stdout_path ? io.stdout_path : (char *)"";
	q.stderr = io.stderr_path ? io.stderr_path : (char *)"";
	r = ctl_call(c, TASKS_SVC, "Exec", &q.base, &google__protobuf__empty__descriptor, &resp,
		     &e);
	cmd_free_msg(resp);
	if (r >= 0 && (r = cmd_task_start(c, o.rest[0], o.exec_id, &e)) < 0) {
		Containerd__Services__Tasks__V1__DeleteProcessRequest d =
			CONTAINERD__SERVICES__TASKS__V1__DELETE_PROCESS_REQUEST__INIT;

		d.container_id = o.rest[0];
		d.exec_id = (char *)o.exec_id;
		resp = NULL;
		if (ctl_call(c, TASKS_SVC, "DeleteProcess", &d.base,
			     &containerd__services__tasks__v1__delete_response__descriptor, &resp,
			     NULL) >= 0)
			cmd_free_msg(resp);
	}
	if (r >= 0 && !o.detach)
		r = cmd_io_wait(c, &io, o.rest[0], o.exec_id, &status, &e);
	cmd_io_release(&io);
	if (r < 0)
		return cmd_fail(e);
	if (!o.detach) {
		Containerd__Services__Tasks__V1__DeleteProcessRequest d =
			CONTAINERD__SERVICES__TASKS__V1__DELETE_PROCESS_REQUEST__INIT;

		d.container_id = o.rest[0];
		d.exec_id = (char *)o.exec_id;
		resp = NULL;
		if (ctl_call(c, TASKS_SVC, "DeleteProcess", &d.base,
			     &containerd__services__tasks__v1__delete_response__descriptor, &resp,
			     NULL) >= 0)
			cmd_free_msg(resp);
	}
	return (int)MIN(status, 255u);
}

static int t_attach(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Tasks__V1__GetRequest q =
		CONTAINERD__SERVICES__TASKS__V1__GET_REQUEST__INIT;
	cleanup_msg Containerd__Services__Tasks__V1__GetResponse *resp = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	struct cmd_io io;
	uint32_t status = 0;
	int r;

	if (cmd_need_args(argc, argv, 1, "ID") || !(c = cmd_client(x)))
		return 1;
	q.container_id = argv[1];
	r = ctl_call(c, TASKS_SVC, "Get", &q.base,
		     &containerd__services__tasks__v1__get_response__descriptor,
		     (ProtobufCMessage **)&resp, &e);
	if (r < 0)
		return cmd_fail(e);
	if (!resp->process)
		return cmd_failf("task \"%s\" not found", argv[1]);
	if (!*resp->process->stdout && !*resp->process->stdin)
		return cmd_failf("task \"%s\" has no stdio to attach to (started detached)",
				 argv[1]);
	if (cmd_io_open(resp->process->stdin, resp->process->stdout, resp->process->stderr,
			resp->process->terminal, &io, &e) < 0)
		return cmd_fail(e);
	r = cmd_io_wait(c, &io, argv[1], "", &status, &e);
	cmd_io_release(&io);
	if (r < 0)
		return cmd_fail(e);
	return (int)MIN(status, 255u);
}

int cmd_tasks(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct cmd_sub subs[] = {
		{"start", NULL, t_start},     {"ls", "list", t_ls},
		{"kill", NULL, t_kill},	      {"exec", NULL, t_exec},
		{"attach", NULL, t_attach},   {"ps", NULL, t_ps},
		{"pause", NULL, t_pause},     {"resume", NULL, t_resume},
		{"metrics", NULL, t_metrics}, {"delete", "rm", t_delete},
		{NULL, NULL, NULL},
	};
	return cmd_dispatch(x, "tasks", subs, argc, argv);
}
