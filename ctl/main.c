/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfctl's entry point: the global flags (--address, --namespace/-n, --timeout), the command
 * dispatch, and the helpers every command shares (errors in one line, list flags, labels).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl/cmd.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/google/protobuf/timestamp.pb-c.h"

cmd_fn cmd_volume;  /* cmd-volume.c */
cmd_fn cmd_network; /* cmd-network.c */

static const struct {
	const char *name, *alias;
	cmd_fn *fn;
} commands[] = {
	{"version", NULL, cmd_version},
	{"namespaces", "ns", cmd_namespaces},
	{"images", "i", cmd_images},
	{"containers", "c", cmd_containers},
	{"tasks", "t", cmd_tasks},
	{"snapshots", "snapshot", cmd_snapshots},
	{"content", NULL, cmd_content},
	{"events", NULL, cmd_events},
	{"run", NULL, cmd_run},
	{"volume", "volumes", cmd_volume},
	{"network", "networks", cmd_network},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: wharfctl [--address PATH] [-n NAMESPACE] [--timeout DUR] COMMAND ...\n"
		"  --address PATH     wharfd's socket ($WHARF_ADDRESS, default %s)\n"
		"  -n, --namespace NS namespace ($WHARF_NAMESPACE, default %s)\n"
		"  --timeout DUR      per-call timeout (10s, 500ms; default none)\n"
		"Commands:\n"
		"  version\n"
		"  namespaces ls|create|rm|label\n"
		"  images pull|push|ls|rm|tag|import|export|check|usage\n"
		"  containers create|ls|info|rm\n"
		"  tasks start|ls|kill|exec|attach|ps|pause|resume|metrics|delete\n"
		"  snapshots ls|rm\n"
		"  content ls|get\n"
		"  events\n"
		"  volume create|ls|inspect|rm|prune\n"
		"  network create|ls|inspect|rm\n"
		"  run [--rm] [-t] [-d] [--env K=V] [--mount SPEC] [--runtime NAME] [--user U[:G]]\n"
		"      [--cwd DIR] [--snapshotter NAME] [--label K=V] [--net none|host|NETWORK]\n"
		"      [-p [IP:]HOSTPORT:CONTAINERPORT[/PROTO]] [--dns IP] [--add-host NAME:IP]\n"
		"      [--hostname NAME] IMAGE ID [ARGS...]\n"
		"  --mount SPEC: type=bind,src=/host,dst=/path[,ro] | type=tmpfs,dst=/path[,size=64m]\n"
		"      [,mode=1777] | type=volume[,src=NAME],dst=/path[,ro][,volume-nocopy]\n"
		"  -v, --volume [/HOST:|NAME:]/path[:ro|rw|nocopy] (a bind, or a named or anonymous volume)\n",
		CTL_DEFAULT_ADDRESS, CTL_DEFAULT_NAMESPACE);
}

int cmd_fail(struct wh_err *e)
{
	fprintf(stderr, "wharfctl: %s\n", wh_err_msg(e));
	wh_err_free(e);
	return 1;
}

int cmd_failf(const char *fmt, ...)
{
	va_list ap;

	fputs("wharfctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

struct ctl_client *cmd_client(struct cmd_ctx *x)
{
	struct wh_err *e = NULL;

	if (x->client)
		return x->client;
	if (ctl_client_open(&x->g, &x->client, &e) < 0) {
		cmd_fail(e);
		return NULL;
	}
	return x->client;
}

int cmd_parse_list(int argc, char **argv, struct cmd_list_opts *ret)
{
	static const struct option opts[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"format", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	struct cmd_list_opts o = {0};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+q", opts, NULL)) != -1) {
		if (c == 'q') {
			o.quiet = true;
		} else if (c == 'f' && (streq(optarg, "json") || streq(optarg, "table"))) {
			o.json = streq(optarg, "json");
		} else if (c == 'f') {
			return cmd_failf("%s: --format '%s': expected json or table", argv[0],
					 optarg);
		} else {
			return cmd_failf("%s: unknown flag '%s'", argv[0], argv[optind - 1]);
		}
	}
	o.rest = argv + optind;
	*ret = o;
	return 0;
}

int cmd_dispatch(struct cmd_ctx *x, const char *noun, const struct cmd_sub *subs, int argc,
		 char **argv)
{
	struct strbuf names = STRBUF_INIT;

	if (argc >= 2) {
		for (size_t i = 0; subs[i].name; i++)
			if (streq(argv[1], subs[i].name) ||
			    (subs[i].alias && streq(argv[1], subs[i].alias)))
				return subs[i].fn(x, argc - 1, argv + 1);
	}
	for (size_t i = 0; subs[i].name; i++)
		strbuf_addf(&names, "%s%s", i ? "|" : "", subs[i].name);
	if (argc >= 2)
		cmd_failf("%s: unknown command '%s' (%s)", noun, argv[1], names.buf);
	else
		cmd_failf("usage: wharfctl %s %s", noun, names.buf);
	strbuf_release(&names);
	return 1;
}

int cmd_print_json(yajl_gen g)
{
	cleanup_free char *s = json_gen_finish(g, NULL);

	printf("%s\n", s);
	return 0;
}

int cmd_each(struct ctl_client *c, char *const *names, int n, const char *service,
	     const char *method, ProtobufCMessage *req, char **field)
{
	int rc = 0;

	for (int i = 0; i < n; i++) {
		ProtobufCMessage *resp = NULL;
		struct wh_err *e = NULL;

		*field = names[i];
		if (ctl_call(c, service, method, req, &google__protobuf__empty__descriptor, &resp,
			     &e) < 0) {
			rc = cmd_fail(e);
			continue;
		}
		cmd_free_msg(resp);
		printf("%s\n", names[i]);
	}
	return rc;
}

int cmd_need_args(int argc, char **argv, int n, const char *usage)
{
	if (argc - 1 != n)
		return cmd_failf("usage: %s %s", argv[0], usage);
	return 0;
}

void **cmd_kv_new(char *const *kv, const ProtobufCMessageDescriptor *desc, size_t *ret_n)
{
	size_t n = strv_length(kv);
	void **out = xnew0(void *, n ? n : 1);

	/* Every generated map entry is {base, char *key, char *value}. */
	struct entry {
		ProtobufCMessage base;
		char *key, *value;
	};
	for (size_t i = 0; i < n; i++) {
		struct entry *e = xcalloc(1, desc->sizeof_message);
		const char *eq = strchr(kv[i], '=');

		protobuf_c_message_init(desc, e);
		e->key = eq ? xstrndup(kv[i], eq - kv[i]) : xstrdup(kv[i]);
		e->value = xstrdup(eq ? eq + 1 : "");
		out[i] = e;
	}
	*ret_n = n;
	return out;
}

void cmd_kv_free(void **entries, size_t n)
{
	struct entry {
		ProtobufCMessage base;
		char *key, *value;
	};
	for (size_t i = 0; i < n; i++) {
		struct entry *e = entries[i];

		free(e->key);
		free(e->value);
		free(e);
	}
	free(entries);
}

char *cmd_fmt_time(const struct Google__Protobuf__Timestamp *t)
{
	if (!t || (t->seconds == 0 && t->nanos == 0))
		return xstrdup("-");
	return time_rfc3339((uint64_t)t->seconds * 1000000000ULL + (uint64_t)t->nanos);
}

void cmd_free_msg(void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

void cmd_free_msgp(void *p)
{
	cmd_free_msg(*(void **)p);
}

int main(int argc, char **argv)
{
	struct cmd_ctx x = {0};
	struct wh_err *e = NULL;
	int next, rc = 1;

	signal(SIGPIPE, SIG_IGN);
	if (ctl_parse_global(argc, argv, getenv, &x.g, &next, &e) < 0)
		return cmd_fail(e);
	if (x.g.version && next >= argc) {
		rc = cmd_version(&x, 1, (char *[]){(char *)"version", NULL});
		ctl_client_free(x.client);
		return rc;
	}
	if (x.g.help || next >= argc) {
		usage(x.g.help ? stdout : stderr);
		return x.g.help ? 0 : 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (streq(argv[next], commands[i].name) ||
		    (commands[i].alias && streq(argv[next], commands[i].alias))) {
			rc = commands[i].fn(&x, argc - next, argv + next);
			ctl_client_free(x.client);
			return rc;
		}
	}
	return cmd_failf("unknown command '%s' (see wharfctl --help)", argv[next]);
}
