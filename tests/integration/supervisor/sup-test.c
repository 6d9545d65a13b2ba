/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfd integration tests: each scenario starts a real wharfd on a temp root/state/socket
 * (waiting for its sd_notify READY=1), drives it over its ttrpc socket with our client, and stops
 * it with SIGTERM. Usage: sup-test WHARFD SCENARIO [SHIM]; exit 0 pass, 1 fail, 77 skip.
 * Scenarios: api (version, introspection, namespaces, containers, leases, events), content,
 * snapshots (+ diff), images (records, import of layouts and archives, unpack, export, GC),
 * registry (pull, push, progress events), lifecycle (flags, config errors, lock, socket mode,
 * SIGTERM), task, exec (+ pause/resume/metrics, containerd-shim-runc-v2), many (20 containers),
 * restart (kill -9 and SIGTERM of wharfd with 11 containers, an upgraded binary, reaping,
 * a shim killed with -9), runtimes (config runtime options: the runc exec driver).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "common/common.h"
#include "common/ev.h"
#include "common/fs.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/services/containers/v1/containers.pb-c.h"
#include "proto/services/content/v1/content.pb-c.h"
#include "proto/services/diff/v1/diff.pb-c.h"
#include "proto/services/events/v1/events.pb-c.h"
#include "proto/services/images/v1/images.pb-c.h"
#include "proto/services/introspection/v1/introspection.pb-c.h"
#include "proto/services/leases/v1/leases.pb-c.h"
#include "proto/services/namespaces/v1/namespace.pb-c.h"
#include "proto/services/snapshots/v1/snapshots.pb-c.h"
#include "proto/services/tasks/v1/tasks.pb-c.h"
#include "proto/services/version/v1/version.pb-c.h"
#include "proto/services/wharf/v1/subscriptions.pb-c.h"
#include "proto/services/wharf/v1/transfer.pb-c.h"
#include "ttrpc/ttrpc.h"

static struct {
	const char *wharfd, *shim;
	char tmp[64];
	char *root, *state, *address, *config;
	pid_t pid;
	struct ev_loop *loop;
	struct ttrpc_client *c;
	const char *ns;
	const char *lease;
	int failures;
} T = {.ns = "default"};

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			T.failures++;                                                   \
			return -1;                                                      \
		}                                                                       \
	} while (0)

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int r;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	r = system(cmd);
	free(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* ---- the daemon ---- */

static int start_daemon(const char *extra_config)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cleanup_free char *nsock = xasprintf("%s/notify", T.tmp);
	int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char buf[256];
	ssize_t n;
	struct timeval tv = {20, 0};

	cleanup_free char *cfg =
		xasprintf("root = \"%s\"\nstate = \"%s\"\n[ttrpc]\naddress = \"%s\"\n"
			  "%s",
			  T.root, T.state, T.address, extra_config ? extra_config : "");
	if (write_file_atomic(T.config, cfg, strlen(cfg), 0600) < 0)
		return -1;
	strcpy(sa.sun_path, nsock);
	unlink(nsock);
	if (nfd < 0 || bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	setsockopt(nfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	T.pid = fork();
	if (T.pid == 0) {
		cleanup_free char *log = xasprintf("%s/wharfd.log", T.tmp);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		dup2(fd, 1);
		dup2(fd, 2);
		setenv("NOTIFY_SOCKET", nsock, 1);
		execl(T.wharfd, "wharfd", "--config", T.config, "--log-level", "debug", NULL);
		_exit(127);
	}
	n = recv(nfd, buf, sizeof(buf) - 1, 0);
	close(nfd);
	if (n < 0) {
		fprintf(stderr, "wharfd sent no READY=1\n");
		return -1;
	}
	buf[n] = 0;
	if (!strstr(buf, "READY=1")) {
		fprintf(stderr, "unexpected notify '%s'\n", buf);
		return -1;
	}
	if (ttrpc_client_connect(T.loop, T.address, &T.c, NULL) < 0)
		return -1;
	return 0;
}

/* SIGTERM and wait; returns the exit status (or -1). */
static int stop_daemon(void)
{
	int st;

	T.c = ttrpc_client_free(T.c);
	if (T.pid <= 0)
		return -1;
	kill(T.pid, SIGTERM);
	if (waitpid(T.pid, &st, 0) < 0)
		return -1;
	T.pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- calls ---- */

static int call_ns(const char *ns, const char *svc, const char *method, const void *req,
		   const ProtobufCMessageDescriptor *rd, void *ret, char **ret_msg)
{
	const char *md[5] = {"containerd-namespace", ns, NULL, NULL, NULL};
	const char *none[1] = {NULL};
	struct ttrpc_call_opts o = {.timeout_ns = 120ull * 1000000000ull, .metadata = md};
	struct wh_err *e = NULL;
	ProtobufCMessage *resp = NULL;
	int r;

	if (T.lease) {
		md[2] = "containerd-lease";
		md[3] = T.lease;
	}
	if (!ns) /* no metadata at all: the daemon's default namespace */
		o.metadata = none;
	r = ttrpc_client_call(T.c, svc, method, req, rd, &o, &resp, &e);
	if (ret_msg)
		*ret_msg = xstrdup(r < 0 ? wh_err_msg(e) : "");
	if (r < 0)
		fprintf(stderr, "  %s/%s -> %d %s\n", svc, method, r, wh_err_msg(e));
	wh_err_free(e);
	if (r >= 0 && ret)
		*(ProtobufCMessage **)ret = resp;
	else if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return r;
}

static int call(const char *svc, const char *method, const void *req,
		const ProtobufCMessageDescriptor *rd, void *ret)
{
	return call_ns(T.ns, svc, method, req, rd, ret, NULL);
}

/* A call that must fail with errno want and a message containing needle. */
static int call_fails(const char *svc, const char *method, const void *req,
		      const ProtobufCMessageDescriptor *rd, int want, const char *needle)
{
	cleanup_free char *msg = NULL;
	int r = call_ns(T.ns, svc, method, req, rd, NULL, &msg);

	if (r != want || (needle && !strstr(msg, needle))) {
		fprintf(stderr, "  expected %d '%s', got %d '%s'\n", want, needle ? needle : "", r,
			msg);
		return -1;
	}
	return 0;
}

static bool pb_nz_test(const char *s)
{
	return s && *s;
}

static void pbfree(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

#define S_NS "containerd.services.namespaces.v1.Namespaces"
#define S_CTR "containerd.services.containers.v1.Containers"
#define S_LEASE "containerd.services.leases.v1.Leases"
#define S_CONTENT "containerd.services.content.v1.Content"
#define S_SNAP "containerd.services.snapshots.v1.Snapshots"
#define S_IMG "containerd.services.images.v1.Images"
#define S_TASK "containerd.services.tasks.v1.Tasks"
#define S_SUB "wharf.services.events.v1.Subscriptions"
#define S_XFER "wharf.services.images.v1.Transfer"

/* ---- scenario: api (version, introspection, namespaces, containers, leases, events) ---- */

static int create_container(const char *id, const char *image, const char *spec_json,
			    const char *runtime, const char *snapshotter, const char *snap_key)
{
	Containerd__Services__Containers__V1__CreateContainerRequest q =
		CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
	Containerd__Services__Containers__V1__Container c =
		CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
	Containerd__Services__Containers__V1__Container__Runtime rt =
		CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__RUNTIME__INIT;
	Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
	Containerd__Services__Containers__V1__CreateContainerResponse *resp = NULL;
	int r;

	c.id = (char *)id;
	c.image = (char *)(image ? image : "");
	rt.name = (char *)(runtime ? runtime : "io.containerd.wharf.v2");
	c.runtime = &rt;
	if (spec_json) {
		spec.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
		spec.value.data = (uint8_t *)spec_json;
		spec.value.len = strlen(spec_json);
		c.spec = &spec;
	}
	if (snapshotter)
		c.snapshotter = (char *)snapshotter;
	if (snap_key)
		c.snapshot_key = (char *)snap_key;
	q.container = &c;
	r = call(S_CTR, "Create", &q,
		 &containerd__services__containers__v1__create_container_response__descriptor,
		 &resp);
	if (r >= 0 && (!resp->container || strcmp(resp->container->id, id) != 0 ||
		       !resp->container->created_at))
		r = -EBADMSG;
	pbfree(resp);
	return r;
}

static int delete_container(const char *id)
{
	Containerd__Services__Containers__V1__DeleteContainerRequest q =
		CONTAINERD__SERVICES__CONTAINERS__V1__DELETE_CONTAINER_REQUEST__INIT;

	q.id = (char *)id;
	return call(S_CTR, "Delete", &q, &google__protobuf__empty__descriptor, NULL);
}

/* Opens an events subscription with one filter; its id, or NULL. */
static char *subscribe(const char *filter)
{
	Wharf__Services__Events__V1__OpenRequest oq =
		WHARF__SERVICES__EVENTS__V1__OPEN_REQUEST__INIT;
	Wharf__Services__Events__V1__OpenResponse *resp = NULL;
	char *evf[] = {(char *)filter};
	char *id;

	oq.filters = evf;
	oq.n_filters = 1;
	if (call(S_SUB, "Open", &oq, &wharf__services__events__v1__open_response__descriptor,
		 &resp) < 0)
		return NULL;
	id = xstrdup(resp->id);
	pbfree(resp);
	return id;
}

static int scenario_api(void)
{
	Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
	Containerd__Services__Version__V1__VersionResponse *ver = NULL;
	Containerd__Services__Introspection__V1__ServerResponse *srv = NULL;
	Containerd__Services__Introspection__V1__PluginsResponse *pl = NULL;
	Containerd__Services__Introspection__V1__PluginsRequest plq =
		CONTAINERD__SERVICES__INTROSPECTION__V1__PLUGINS_REQUEST__INIT;
	char *plf[] = {"type==io.containerd.snapshotter.v1"};

	CHECK(call("containerd.services.version.v1.Version", "Version", &empty,
		   &containerd__services__version__v1__version_response__descriptor, &ver) >= 0);
	CHECK(ver->version && *ver->version);
	pbfree(ver);
	CHECK(call("containerd.services.introspection.v1.Introspection", "Server", &empty,
		   &containerd__services__introspection__v1__server_response__descriptor,
		   &srv) >= 0);
	CHECK(strlen(srv->uuid) == 36);
	pbfree(srv);
	plq.filters = plf;
	plq.n_filters = 1;
	CHECK(call("containerd.services.introspection.v1.Introspection", "Plugins", &plq,
		   &containerd__services__introspection__v1__plugins_response__descriptor,
		   &pl) >= 0);
	CHECK(pl->n_plugins == 2);
	pbfree(pl);

	/* Namespaces. */
	{
		Containerd__Services__Namespaces__V1__CreateNamespaceRequest cq =
			CONTAINERD__SERVICES__NAMESPACES__V1__CREATE_NAMESPACE_REQUEST__INIT;
		Containerd__Services__Namespaces__V1__Namespace nsm =
			CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__INIT;
		Containerd__Services__Namespaces__V1__Namespace__LabelsEntry le =
			CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__LABELS_ENTRY__INIT;
		Containerd__Services__Namespaces__V1__Namespace__LabelsEntry *lv[] = {&le};
		Containerd__Services__Namespaces__V1__ListNamespacesRequest lq =
			CONTAINERD__SERVICES__NAMESPACES__V1__LIST_NAMESPACES_REQUEST__INIT;
		Containerd__Services__Namespaces__V1__ListNamespacesResponse *lr = NULL;
		Containerd__Services__Namespaces__V1__DeleteNamespaceRequest dq =
			CONTAINERD__SERVICES__NAMESPACES__V1__DELETE_NAMESPACE_REQUEST__INIT;
		Containerd__Services__Namespaces__V1__GetNamespaceRequest gq =
			CONTAINERD__SERVICES__NAMESPACES__V1__GET_NAMESPACE_REQUEST__INIT;
		Containerd__Services__Namespaces__V1__GetNamespaceResponse *gr = NULL;
		bool found = false;

		nsm.name = "testns";
		le.key = "team";
		le.value = "wharf";
		nsm.labels = lv;
		nsm.n_labels = 1;
		cq.namespace_ = &nsm;
		CHECK(call(S_NS, "Create", &cq,
			   &containerd__services__namespaces__v1__create_namespace_response__descriptor,
			   NULL) >= 0);
		CHECK(call_fails(
			      S_NS, "Create", &cq,
			      &containerd__services__namespaces__v1__create_namespace_response__descriptor,
			      -EEXIST, NULL) == 0);
		lq.filter = "labels.team==wharf";
		CHECK(call(S_NS, "List", &lq,
			   &containerd__services__namespaces__v1__list_namespaces_response__descriptor,
			   &lr) >= 0);
		for (size_t i = 0; i < lr->n_namespaces; i++)
			if (streq(lr->namespaces[i]->name, "testns"))
				found = true;
		CHECK(found && lr->n_namespaces == 1);
		pbfree(lr);
		gq.name = "testns";
		CHECK(call(S_NS, "Get", &gq,
			   &containerd__services__namespaces__v1__get_namespace_response__descriptor,
			   &gr) >= 0);
		CHECK(gr->namespace_->n_labels == 1 &&
		      streq(gr->namespace_->labels[0]->value, "wharf"));
		pbfree(gr);
		/* A namespace with a container in it cannot be deleted. */
		T.ns = "testns";
		CHECK(create_container("inns", NULL, "{}", NULL, NULL, NULL) >= 0);
		dq.name = "testns";
		CHECK(call_fails(S_NS, "Delete", &dq, &google__protobuf__empty__descriptor, -EBUSY,
				 "must be empty") == 0);
		CHECK(delete_container("inns") >= 0);
		T.ns = "default";
		CHECK(call(S_NS, "Delete", &dq, &google__protobuf__empty__descriptor, NULL) >= 0);
		CHECK(call_fails(
			      S_NS, "Get", &gq,
			      &containerd__services__namespaces__v1__get_namespace_response__descriptor,
			      -ENOENT, NULL) == 0);
	}

	/* Events: a subscription sees container events of every namespace it matches. */
	Wharf__Services__Events__V1__OpenRequest oq =
		WHARF__SERVICES__EVENTS__V1__OPEN_REQUEST__INIT;
	Wharf__Services__Events__V1__OpenResponse * or = NULL;
	char *evf[] = {"topic~=\"^/containers/\""};

	oq.filters = evf;
	oq.n_filters = 1;
	CHECK(call(S_SUB, "Open", &oq, &wharf__services__events__v1__open_response__descriptor,
		   & or) >= 0);

	/* Containers CRUD, duplicates and bad requests. */
	CHECK(create_container("c1", "docker.io/library/busybox:latest",
			       "{\"ociVersion\":\"1.0.2\"}", NULL, NULL, NULL) >= 0);
	{
		cleanup_free char *msg = NULL;
		Containerd__Services__Containers__V1__CreateContainerRequest q =
			CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
		Containerd__Services__Containers__V1__Container c =
			CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
		Containerd__Services__Containers__V1__Container__Runtime rt =
			CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__RUNTIME__INIT;

		CHECK(create_container("c1", NULL, "{}", NULL, NULL, NULL) == -EEXIST);
		CHECK(create_container("bad id!", NULL, "{}", NULL, NULL, NULL) == -EINVAL);
		/* No runtime. */
		c.id = "c2";
		q.container = &c;
		CHECK(call_fails(
			      S_CTR, "Create", &q,
			      &containerd__services__containers__v1__create_container_response__descriptor,
			      -EINVAL, NULL) == 0);
		c.runtime = &rt;
		rt.name = "io.containerd.wharf.v2";
		/* A bad namespace name. */
		CHECK(call_ns("bad/ns", S_CTR, "Create", &q,
			      &containerd__services__containers__v1__create_container_response__descriptor,
			      NULL, &msg) == -EINVAL);
	}
	{
		Containerd__Services__Containers__V1__ListContainersRequest lq =
			CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_REQUEST__INIT;
		Containerd__Services__Containers__V1__ListContainersResponse *lr = NULL;
		Containerd__Services__Containers__V1__GetContainerRequest gq =
			CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
		Containerd__Services__Containers__V1__GetContainerResponse *gr = NULL;
		Containerd__Services__Containers__V1__UpdateContainerRequest uq =
			CONTAINERD__SERVICES__CONTAINERS__V1__UPDATE_CONTAINER_REQUEST__INIT;
		Containerd__Services__Containers__V1__Container uc =
			CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
		Containerd__Services__Containers__V1__Container__LabelsEntry le =
			CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__LABELS_ENTRY__INIT;
		Containerd__Services__Containers__V1__Container__LabelsEntry *lv[] = {&le};
		Wharf__Types__FieldMask mask = WHARF__TYPES__FIELD_MASK__INIT;
		char *paths[] = {"labels.role"};
		char *lf[] = {"labels.role==web"};

		CHECK(create_container("c2", NULL, "{}", NULL, NULL, NULL) >= 0);
		/* A request without containerd-namespace is in "default". */
		CHECK(call_ns(NULL, S_CTR, "List", &lq,
			      &containerd__services__containers__v1__list_containers_response__descriptor,
			      &lr, NULL) >= 0);
		CHECK(lr->n_containers == 2);
		pbfree(lr);
		CHECK(call(S_CTR, "List", &lq,
			   &containerd__services__containers__v1__list_containers_response__descriptor,
			   &lr) >= 0);
		CHECK(lr->n_containers == 2);
		pbfree(lr);
		uc.id = "c1";
		le.key = "role";
		le.value = "web";
		uc.labels = lv;
		uc.n_labels = 1;
		mask.paths = paths;
		mask.n_paths = 1;
		uq.container = &uc;
		uq.update_mask = &mask;
		CHECK(call(S_CTR, "Update", &uq,
			   &containerd__services__containers__v1__update_container_response__descriptor,
			   NULL) >= 0);
		lq.filters = lf;
		lq.n_filters = 1;
		CHECK(call(S_CTR, "List", &lq,
			   &containerd__services__containers__v1__list_containers_response__descriptor,
			   &lr) >= 0);
		CHECK(lr->n_containers == 1 && streq(lr->containers[0]->id, "c1"));
		pbfree(lr);
		gq.id = "c1";
		CHECK(call(S_CTR, "Get", &gq,
			   &containerd__services__containers__v1__get_container_response__descriptor,
			   &gr) >= 0);
		CHECK(streq(gr->container->image, "docker.io/library/busybox:latest"));
		CHECK(gr->container->spec && gr->container->spec->value.len == 22);
		pbfree(gr);
		CHECK(delete_container("c1") >= 0 && delete_container("c2") >= 0);
		gq.id = "c1";
		CHECK(call_fails(
			      S_CTR, "Get", &gq,
			      &containerd__services__containers__v1__get_container_response__descriptor,
			      -ENOENT, NULL) == 0);
		CHECK(delete_container("c1") == -ENOENT);
	}
	/* The subscription got create c1, create c2, update c1, delete c1, delete c2 (in order). */
	{
		Wharf__Services__Events__V1__NextRequest nq =
			WHARF__SERVICES__EVENTS__V1__NEXT_REQUEST__INIT;
		Wharf__Services__Events__V1__NextResponse *nr = NULL;
		Wharf__Services__Events__V1__CloseRequest cq =
			WHARF__SERVICES__EVENTS__V1__CLOSE_REQUEST__INIT;
		const char *want[] = {"/containers/create", "/containers/create",
				      "/containers/update", "/containers/delete",
				      "/containers/delete"};

		nq.id = or->id;
		nq.wait_ms = 5000;
		CHECK(call(S_SUB, "Next", &nq,
			   &wharf__services__events__v1__next_response__descriptor, &nr) >= 0);
		CHECK(nr->n_envelopes == 5);
		for (size_t i = 0; i < 5; i++) {
			CHECK(streq(nr->envelopes[i]->topic, want[i]));
			CHECK(streq(nr->envelopes[i]->namespace_, "default"));
			CHECK(strstr(nr->envelopes[i]->event->type_url,
				     "containerd.events.Container"));
		}
		pbfree(nr);
		/* Nothing more: an empty answer after the wait. */
		nq.wait_ms = 200;
		CHECK(call(S_SUB, "Next", &nq,
			   &wharf__services__events__v1__next_response__descriptor, &nr) >= 0);
		CHECK(nr->n_envelopes == 0);
		pbfree(nr);
		cq.id = or->id;
		CHECK(call(S_SUB, "Close", &cq, &google__protobuf__empty__descriptor, NULL) >= 0);
		CHECK(call_fails(S_SUB, "Next", &nq,
				 &wharf__services__events__v1__next_response__descriptor, -ENOENT,
				 "not found") == 0);
		pbfree(or);
	}

	/* Leases. */
	{
		Containerd__Services__Leases__V1__CreateRequest cq =
			CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
		Containerd__Services__Leases__V1__CreateResponse *cr = NULL;
		Containerd__Services__Leases__V1__ListRequest lq =
			CONTAINERD__SERVICES__LEASES__V1__LIST_REQUEST__INIT;
		Containerd__Services__Leases__V1__ListResponse *lr = NULL;
		Containerd__Services__Leases__V1__AddResourceRequest aq =
			CONTAINERD__SERVICES__LEASES__V1__ADD_RESOURCE_REQUEST__INIT;
		Containerd__Services__Leases__V1__Resource res =
			CONTAINERD__SERVICES__LEASES__V1__RESOURCE__INIT;
		Containerd__Services__Leases__V1__ListResourcesRequest rq =
			CONTAINERD__SERVICES__LEASES__V1__LIST_RESOURCES_REQUEST__INIT;
		Containerd__Services__Leases__V1__ListResourcesResponse *rr = NULL;
		Containerd__Services__Leases__V1__DeleteRequest dq =
			CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;

		cq.id = "l1";
		CHECK(call(S_LEASE, "Create", &cq,
			   &containerd__services__leases__v1__create_response__descriptor,
			   &cr) >= 0);
		CHECK(streq(cr->lease->id, "l1") && cr->lease->created_at);
		pbfree(cr);
		CHECK(call_fails(S_LEASE, "Create", &cq,
				 &containerd__services__leases__v1__create_response__descriptor,
				 -EEXIST, NULL) == 0);
		cq.id = "";
		CHECK(call(S_LEASE, "Create", &cq,
			   &containerd__services__leases__v1__create_response__descriptor,
			   &cr) >= 0);
		CHECK(str_startswith(cr->lease->id, "lease-"));
		dq.id = cr->lease->id;
		CHECK(call(S_LEASE, "Delete", &dq, &google__protobuf__empty__descriptor, NULL) >=
		      0);
		pbfree(cr);
		res.id = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
		res.type = "content";
		aq.id = "l1";
		aq.resource = &res;
		CHECK(call(S_LEASE, "AddResource", &aq, &google__protobuf__empty__descriptor,
			   NULL) >= 0);
		rq.id = "l1";
		CHECK(call(S_LEASE, "ListResources", &rq,
			   &containerd__services__leases__v1__list_resources_response__descriptor,
			   &rr) >= 0);
		CHECK(rr->n_resources == 1 && streq(rr->resources[0]->type, "content"));
		pbfree(rr);
		res.type = "bogus";
		CHECK(call_fails(S_LEASE, "AddResource", &aq, &google__protobuf__empty__descriptor,
				 -EINVAL, NULL) == 0);
		CHECK(call(S_LEASE, "List", &lq,
			   &containerd__services__leases__v1__list_response__descriptor, &lr) >= 0);
		CHECK(lr->n_leases == 1);
		pbfree(lr);
		dq.id = "l1";
		dq.sync = true;
		CHECK(call(S_LEASE, "Delete", &dq, &google__protobuf__empty__descriptor, NULL) >=
		      0);
		CHECK(call_fails(S_LEASE, "Delete", &dq, &google__protobuf__empty__descriptor,
				 -ENOENT, NULL) == 0);
	}
	/* Unknown methods and the unstreamable Subscribe answer clearly. */
	{
		Containerd__Services__Events__V1__SubscribeRequest sq =
			CONTAINERD__SERVICES__EVENTS__V1__SUBSCRIBE_REQUEST__INIT;

		CHECK(call_fails("containerd.services.events.v1.Events", "Subscribe", &sq,
				 &containerd__services__events__v1__envelope__descriptor, -ENOSYS,
				 "Subscriptions") == 0);
		CHECK(call_fails("containerd.services.nope.v1.Nope", "Get", &sq,
				 &containerd__services__events__v1__envelope__descriptor, -ENOSYS,
				 NULL) == 0);
	}
	return 0;
}

/* ---- scenario: content ---- */

static int write_req(const char *ref, int action, int64_t total, const char *expected,
		     int64_t offset, const void *data, size_t len,
		     Containerd__Services__Content__V1__WriteContentResponse **ret)
{
	Containerd__Services__Content__V1__WriteContentRequest q =
		CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;

	q.action = action;
	q.ref = (char *)ref;
	q.total = total;
	q.expected = (char *)(expected ? expected : "");
	q.offset = offset;
	q.data.data = (uint8_t *)data;
	q.data.len = len;
	return call(S_CONTENT, "Write", &q,
		    &containerd__services__content__v1__write_content_response__descriptor, ret);
}

static int scenario_content(void)
{
	size_t len = 3u << 20; /* three Read chunks */
	cleanup_free uint8_t *blob = xmalloc(len);
	char digest[DIGEST_STR_LEN];
	Containerd__Services__Content__V1__WriteContentResponse *wr = NULL;
	size_t half = len / 2;

	for (size_t i = 0; i < len; i++)
		blob[i] = (uint8_t)(i * 7 + i / 4093);
	digest_buf(blob, len, digest);
	T.lease = NULL;
	/* STAT opens the ingest; WRITE in two pieces; a wrong offset is refused. */
	CHECK(write_req("ref-1", 0, (int64_t)len, digest, 0, NULL, 0, &wr) >= 0);
	CHECK(wr->offset == 0 && wr->total == (int64_t)len);
	pbfree(wr);
	CHECK(write_req("ref-1", 1, 0, NULL, 0, blob, half, &wr) >= 0);
	CHECK(wr->offset == (int64_t)half);
	pbfree(wr);
	CHECK(write_req("ref-1", 1, 0, NULL, 5, blob, 10, NULL) == -EINVAL);
	{
		Containerd__Services__Content__V1__ListStatusesRequest lq =
			CONTAINERD__SERVICES__CONTENT__V1__LIST_STATUSES_REQUEST__INIT;
		Containerd__Services__Content__V1__ListStatusesResponse *lr = NULL;

		CHECK(call(S_CONTENT, "ListStatuses", &lq,
			   &containerd__services__content__v1__list_statuses_response__descriptor,
			   &lr) >= 0);
		CHECK(lr->n_statuses == 1 && streq(lr->statuses[0]->ref, "ref-1") &&
		      lr->statuses[0]->offset == (int64_t)half);
		pbfree(lr);
	}
	CHECK(write_req("ref-1", 2, (int64_t)len, digest, (int64_t)half, blob + half, len - half,
			&wr) >= 0);
	CHECK(streq(wr->digest, digest) && wr->offset == (int64_t)len);
	pbfree(wr);
	/* Info, Read in chunks, Update labels, List with a filter. */
	{
		Containerd__Services__Content__V1__InfoRequest iq =
			CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
		Containerd__Services__Content__V1__InfoResponse *ir = NULL;
		Containerd__Services__Content__V1__ReadContentRequest rq =
			CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_REQUEST__INIT;
		Containerd__Services__Content__V1__ReadContentResponse *rr = NULL;
		cleanup_free uint8_t *back = xmalloc(len);
		size_t got = 0;

		iq.digest = digest;
		CHECK(call(S_CONTENT, "Info", &iq,
			   &containerd__services__content__v1__info_response__descriptor,
			   &ir) >= 0);
		CHECK(ir->info->size == (int64_t)len);
		pbfree(ir);
		rq.digest = digest;
		for (;;) {
			rq.offset = (int64_t)got;
			CHECK(call(S_CONTENT, "Read", &rq,
				   &containerd__services__content__v1__read_content_response__descriptor,
				   &rr) >= 0);
			CHECK(rr->offset == (int64_t)got && got + rr->data.len <= len);
			if (rr->data.len == 0) {
				pbfree(rr);
				break;
			}
			memcpy(back + got, rr->data.data, rr->data.len);
			got += rr->data.len;
			pbfree(rr);
		}
		CHECK(got == len && memcmp(back, blob, len) == 0);
		rq.offset = 10;
		rq.size = 5;
		CHECK(call(S_CONTENT, "Read", &rq,
			   &containerd__services__content__v1__read_content_response__descriptor,
			   &rr) >= 0);
		CHECK(rr->data.len == 5 && memcmp(rr->data.data, blob + 10, 5) == 0);
		pbfree(rr);
	}
	{
		Containerd__Services__Content__V1__UpdateRequest uq =
			CONTAINERD__SERVICES__CONTENT__V1__UPDATE_REQUEST__INIT;
		Containerd__Services__Content__V1__Info info =
			CONTAINERD__SERVICES__CONTENT__V1__INFO__INIT;
		Containerd__Services__Content__V1__Info__LabelsEntry le =
			CONTAINERD__SERVICES__CONTENT__V1__INFO__LABELS_ENTRY__INIT;
		Containerd__Services__Content__V1__Info__LabelsEntry *lv[] = {&le};
		Containerd__Services__Content__V1__UpdateResponse *ur = NULL;
		Containerd__Services__Content__V1__ListContentRequest lq =
			CONTAINERD__SERVICES__CONTENT__V1__LIST_CONTENT_REQUEST__INIT;
		Containerd__Services__Content__V1__ListContentResponse *lr = NULL;
		char *lf[] = {"labels.kind==test"};

		info.digest = digest;
		le.key = "kind";
		le.value = "test";
		info.labels = lv;
		info.n_labels = 1;
		uq.info = &info;
		CHECK(call(S_CONTENT, "Update", &uq,
			   &containerd__services__content__v1__update_response__descriptor,
			   &ur) >= 0);
		CHECK(ur->info->n_labels == 1);
		pbfree(ur);
		lq.filters = lf;
		lq.n_filters = 1;
		CHECK(call(S_CONTENT, "List", &lq,
			   &containerd__services__content__v1__list_content_response__descriptor,
			   &lr) >= 0);
		CHECK(lr->n_info == 1 && streq(lr->info[0]->digest, digest));
		pbfree(lr);
	}
	/* Another namespace does not see it. */
	{
		Containerd__Services__Content__V1__InfoRequest iq =
			CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;

		iq.digest = digest;
		T.ns = "other";
		CHECK(call_fails(S_CONTENT, "Info", &iq,
				 &containerd__services__content__v1__info_response__descriptor,
				 -ENOENT, NULL) == 0);
		T.ns = "default";
	}
	/* A wrong digest at commit: an error naming both, nothing committed. */
	{
		const char *bad =
			"sha256:0000000000000000000000000000000000000000000000000000000000000000";
		cleanup_free char *msg = NULL;
		Containerd__Services__Content__V1__WriteContentRequest q =
			CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
		Containerd__Services__Content__V1__InfoRequest iq =
			CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
		Containerd__Services__Content__V1__AbortRequest aq =
			CONTAINERD__SERVICES__CONTENT__V1__ABORT_REQUEST__INIT;

		q.action = 2;
		q.ref = "ref-bad";
		q.total = 5;
		q.expected = (char *)bad;
		q.data.data = (uint8_t *)"hello";
		q.data.len = 5;
		CHECK(call_ns("default", S_CONTENT, "Write", &q,
			      &containerd__services__content__v1__write_content_response__descriptor,
			      NULL, &msg) == -EINVAL);
		CHECK(strstr(msg, bad) != NULL);
		iq.digest = (char *)bad;
		CHECK(call_fails(S_CONTENT, "Info", &iq,
				 &containerd__services__content__v1__info_response__descriptor,
				 -ENOENT, NULL) == 0);
		aq.ref = "ref-bad";
		CHECK(call(S_CONTENT, "Abort", &aq, &google__protobuf__empty__descriptor, NULL) >=
		      0);
		CHECK(call_fails(S_CONTENT, "Abort", &aq, &google__protobuf__empty__descriptor,
				 -ENOENT, NULL) == 0);
	}
	/* Delete. */
	{
		Containerd__Services__Content__V1__DeleteContentRequest dq =
			CONTAINERD__SERVICES__CONTENT__V1__DELETE_CONTENT_REQUEST__INIT;
		Containerd__Services__Content__V1__InfoRequest iq =
			CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;

		dq.digest = digest;
		CHECK(call(S_CONTENT, "Delete", &dq, &google__protobuf__empty__descriptor, NULL) >=
		      0);
		iq.digest = digest;
		CHECK(call_fails(S_CONTENT, "Info", &iq,
				 &containerd__services__content__v1__info_response__descriptor,
				 -ENOENT, NULL) == 0);
	}
	/* A lease protects what is written under it from GC; deleting the lease frees it. */
	{
		Containerd__Services__Leases__V1__CreateRequest lc =
			CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
		Containerd__Services__Leases__V1__DeleteRequest ld =
			CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
		Containerd__Services__Leases__V1__ListResourcesRequest lr =
			CONTAINERD__SERVICES__LEASES__V1__LIST_RESOURCES_REQUEST__INIT;
		Containerd__Services__Leases__V1__ListResourcesResponse *lrr = NULL;
		Containerd__Services__Content__V1__InfoRequest iq =
			CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
		const char *small = "leased bytes";
		char sd[DIGEST_STR_LEN];
		bool found = false;

		digest_buf(small, strlen(small), sd);
		lc.id = "keep";
		CHECK(call(S_LEASE, "Create", &lc,
			   &containerd__services__leases__v1__create_response__descriptor,
			   NULL) >= 0);
		lc.id = "other";
		CHECK(call(S_LEASE, "Create", &lc,
			   &containerd__services__leases__v1__create_response__descriptor,
			   NULL) >= 0);
		T.lease = "keep";
		CHECK(write_req("ref-leased", 2, (int64_t)strlen(small), sd, 0, small,
				strlen(small), NULL) >= 0);
		T.lease = NULL;
		lr.id = "keep";
		CHECK(call(S_LEASE, "ListResources", &lr,
			   &containerd__services__leases__v1__list_resources_response__descriptor,
			   &lrr) >= 0);
		for (size_t i = 0; i < lrr->n_resources; i++)
			if (streq(lrr->resources[i]->id, sd) &&
			    streq(lrr->resources[i]->type, "content"))
				found = true;
		pbfree(lrr);
		CHECK(found);
		/* A collection (sync delete of the other lease) keeps it... */
		ld.id = "other";
		ld.sync = true;
		CHECK(call(S_LEASE, "Delete", &ld, &google__protobuf__empty__descriptor, NULL) >=
		      0);
		iq.digest = sd;
		CHECK(call(S_CONTENT, "Info", &iq,
			   &containerd__services__content__v1__info_response__descriptor,
			   NULL) >= 0);
		/* ...until its own lease goes. */
		ld.id = "keep";
		CHECK(call(S_LEASE, "Delete", &ld, &google__protobuf__empty__descriptor, NULL) >=
		      0);
		CHECK(call_fails(S_CONTENT, "Info", &iq,
				 &containerd__services__content__v1__info_response__descriptor,
				 -ENOENT, NULL) == 0);
	}
	return 0;
}

/* ---- scenario: snapshots ---- */

static int prepare(const char *sn, const char *key, const char *parent,
		   Containerd__Services__Snapshots__V1__PrepareSnapshotResponse **ret)
{
	Containerd__Services__Snapshots__V1__PrepareSnapshotRequest q =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;

	q.snapshotter = (char *)sn;
	q.key = (char *)key;
	q.parent = (char *)(parent ? parent : "");
	return call(S_SNAP, "Prepare", &q,
		    &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor,
		    ret);
}

static int snap_remove(const char *sn, const char *key)
{
	Containerd__Services__Snapshots__V1__RemoveSnapshotRequest q =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;

	q.snapshotter = (char *)sn;
	q.key = (char *)key;
	return call(S_SNAP, "Remove", &q, &google__protobuf__empty__descriptor, NULL);
}

static int scenario_snapshots(void)
{
	Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *pr = NULL;
	Containerd__Services__Snapshots__V1__CommitSnapshotRequest cq =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__COMMIT_SNAPSHOT_REQUEST__INIT;
	Containerd__Services__Snapshots__V1__StatSnapshotRequest sq =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
	Containerd__Services__Snapshots__V1__StatSnapshotResponse *sr = NULL;
	Containerd__Services__Snapshots__V1__MountsRequest mq =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_REQUEST__INIT;
	Containerd__Services__Snapshots__V1__MountsResponse *mr = NULL;
	Containerd__Services__Snapshots__V1__ListSnapshotsRequest lq =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_REQUEST__INIT;
	Containerd__Services__Snapshots__V1__ListSnapshotsResponse *lr = NULL;
	cleanup_free char *mnt = xasprintf("%s/mnt", T.tmp);
	cleanup_free char *sub = NULL;
	const char *sns[] = {"native", ""};

	CHECK((sub = subscribe("topic~=\"^/snapshot/\"")) != NULL);

	for (size_t s = 0; s < 2; s++) {
		const char *sn = sns[s];

		/* An active snapshot, written through its mounts, committed. */
		CHECK(prepare(sn, "base-active", NULL, &pr) >= 0);
		CHECK(pr->n_mounts >= 1);
		CHECK(mkdir_p(mnt, 0700) >= 0);
		{
			cleanup_free char *opts = NULL;

			/* Mount it the way a client would (mount(8) understands every type). */
			opts = xasprintf("%s", pr->mounts[0]->n_options ? pr->mounts[0]->options[0]
									: "rw");
			for (size_t i = 1; i < pr->mounts[0]->n_options; i++) {
				char *o = xasprintf("%s,%s", opts, pr->mounts[0]->options[i]);

				free(opts);
				opts = o;
			}
			CHECK(sh("mount -t %s -o %s %s %s", pr->mounts[0]->type, opts,
				 pr->mounts[0]->source, mnt) == 0);
			CHECK(sh("echo layer1 > %s/hello && umount %s", mnt, mnt) == 0);
		}
		pbfree(pr);
		CHECK(prepare(sn, "base-active", NULL, NULL) == -EEXIST);
		cq.snapshotter = (char *)sn;
		cq.name = "base";
		cq.key = "base-active";
		CHECK(call(S_SNAP, "Commit", &cq, &google__protobuf__empty__descriptor, NULL) >= 0);
		sq.snapshotter = (char *)sn;
		sq.key = "base";
		CHECK(call(S_SNAP, "Stat", &sq,
			   &containerd__services__snapshots__v1__stat_snapshot_response__descriptor,
			   &sr) >= 0);
		CHECK(sr->info->kind == CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED);
		pbfree(sr);
		sq.key = "base-active";
		CHECK(call_fails(
			      S_SNAP, "Stat", &sq,
			      &containerd__services__snapshots__v1__stat_snapshot_response__descriptor,
			      -ENOENT, "does not exist") == 0);
		/* A child sees the parent's file. */
		CHECK(prepare(sn, "child", "base", &pr) >= 0);
		pbfree(pr);
		mq.snapshotter = (char *)sn;
		mq.key = "child";
		CHECK(call(S_SNAP, "Mounts", &mq,
			   &containerd__services__snapshots__v1__mounts_response__descriptor,
			   &mr) >= 0);
		{
			cleanup_free char *opts = xstrdup("");

			for (size_t i = 0; i < mr->mounts[0]->n_options; i++) {
				char *o = xasprintf("%s%s%s", opts, i ? "," : "",
						    mr->mounts[0]->options[i]);

				free(opts);
				opts = o;
			}
			CHECK(sh("mount -t %s -o %s %s %s", mr->mounts[0]->type,
				 *opts ? opts : "rw", mr->mounts[0]->source, mnt) == 0);
			CHECK(sh("grep -q layer1 %s/hello; r=$?; umount %s; exit $r", mnt, mnt) ==
			      0);
		}
		pbfree(mr);
		CHECK(prepare(sn, "orphan", "no-such-parent", NULL) == -ENOENT);
		lq.snapshotter = (char *)sn;
		CHECK(call(S_SNAP, "List", &lq,
			   &containerd__services__snapshots__v1__list_snapshots_response__descriptor,
			   &lr) >= 0);
		CHECK(lr->n_info == 2);
		pbfree(lr);
		/* Diff of a view of "base" against nothing, applied to a fresh snapshot. */
		{
			Containerd__Services__Snapshots__V1__ViewSnapshotRequest vq =
				CONTAINERD__SERVICES__SNAPSHOTS__V1__VIEW_SNAPSHOT_REQUEST__INIT;
			Containerd__Services__Snapshots__V1__ViewSnapshotResponse *vr = NULL;
			Containerd__Services__Diff__V1__DiffRequest dq =
				CONTAINERD__SERVICES__DIFF__V1__DIFF_REQUEST__INIT;
			Containerd__Services__Diff__V1__DiffResponse *dr = NULL;
			Containerd__Services__Diff__V1__ApplyRequest aq =
				CONTAINERD__SERVICES__DIFF__V1__APPLY_REQUEST__INIT;
			Containerd__Services__Diff__V1__ApplyResponse *ar = NULL;
			Containerd__Services__Content__V1__InfoRequest iq =
				CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
			Containerd__Services__Content__V1__InfoResponse *ir = NULL;
			const char *uncompressed = NULL;

			vq.snapshotter = (char *)sn;
			vq.key = "base-view";
			vq.parent = "base";
			CHECK(call(S_SNAP, "View", &vq,
				   &containerd__services__snapshots__v1__view_snapshot_response__descriptor,
				   &vr) >= 0);
			dq.right = vr->mounts;
			dq.n_right = vr->n_mounts;
			CHECK(call("containerd.services.diff.v1.Diff", "Diff", &dq,
				   &containerd__services__diff__v1__diff_response__descriptor,
				   &dr) >= 0);
			pbfree(vr);
			CHECK(snap_remove(sn, "base-view") >= 0);
			CHECK(str_endswith(dr->diff->media_type, "tar+gzip"));
			iq.digest = dr->diff->digest;
			CHECK(call(S_CONTENT, "Info", &iq,
				   &containerd__services__content__v1__info_response__descriptor,
				   &ir) >= 0);
			for (size_t i = 0; i < ir->info->n_labels; i++)
				if (streq(ir->info->labels[i]->key, "containerd.io/uncompressed"))
					uncompressed = ir->info->labels[i]->value;
			CHECK(uncompressed);
			CHECK(prepare(sn, "fresh", NULL, &pr) >= 0);
			aq.diff = dr->diff;
			aq.mounts = pr->mounts;
			aq.n_mounts = pr->n_mounts;
			CHECK(call("containerd.services.diff.v1.Diff", "Apply", &aq,
				   &containerd__services__diff__v1__apply_response__descriptor,
				   &ar) >= 0);
			CHECK(streq(ar->applied->digest, uncompressed));
			pbfree(ar);
			pbfree(ir);
			pbfree(dr);
			{
				cleanup_free char *opts = xstrdup("");

				for (size_t i = 0; i < pr->mounts[0]->n_options; i++) {
					char *o = xasprintf("%s%s%s", opts, i ? "," : "",
							    pr->mounts[0]->options[i]);

					free(opts);
					opts = o;
				}
				CHECK(sh("mount -t %s -o %s %s %s", pr->mounts[0]->type,
					 *opts ? opts : "rw", pr->mounts[0]->source, mnt) == 0);
				CHECK(sh("grep -q layer1 %s/hello; r=$?; umount %s; exit $r", mnt,
					 mnt) == 0);
			}
			pbfree(pr);
			CHECK(snap_remove(sn, "fresh") >= 0);
		}
		/* The parent cannot go while the child exists. */
		CHECK(snap_remove(sn, "base") == -EBUSY);
		CHECK(snap_remove(sn, "child") >= 0);
		CHECK(snap_remove(sn, "base") >= 0);
		CHECK(call(S_SNAP, "List", &lq,
			   &containerd__services__snapshots__v1__list_snapshots_response__descriptor,
			   &lr) >= 0);
		CHECK(lr->n_info == 0);
		pbfree(lr);
	}
	CHECK(prepare("zfs", "x", NULL, NULL) == -ENOENT);
	/* The snapshot events reached the bus (published from the worker threads). */
	{
		Wharf__Services__Events__V1__NextRequest nq =
			WHARF__SERVICES__EVENTS__V1__NEXT_REQUEST__INIT;
		Wharf__Services__Events__V1__NextResponse *nr = NULL;
		size_t prep = 0, commit = 0, rm = 0;

		nq.id = sub;
		nq.wait_ms = 2000;
		nq.max_events = 1000;
		CHECK(call(S_SUB, "Next", &nq,
			   &wharf__services__events__v1__next_response__descriptor, &nr) >= 0);
		for (size_t i = 0; i < nr->n_envelopes; i++) {
			prep += streq(nr->envelopes[i]->topic, "/snapshot/prepare");
			commit += streq(nr->envelopes[i]->topic, "/snapshot/commit");
			rm += streq(nr->envelopes[i]->topic, "/snapshot/remove");
		}
		pbfree(nr);
		/* Per snapshotter: prepare base-active, child, fresh; commit base; remove
		 * base-view, fresh, child, base. */
		CHECK(prep == 6 && commit == 2 && rm == 8);
	}
	return 0;
}

/* ---- scenario: images (records, import of the fixture, unpack) ---- */

static char *fixture_dir;

static int build_fixture(void)
{
	const char *src = getenv("WHARF_SOURCE_DIR");

	fixture_dir = xasprintf("%s/fixture", T.tmp);
	if (!src)
		src = WHARF_SOURCE_DIR;
	return sh("%s/tests/fixtures/build-image.sh %s > %s/fixture.log 2>&1", src, fixture_dir,
		  T.tmp) == 0
		       ? 0
		       : -1;
}

static int import_fixture(const char *name, bool unpack,
			  Wharf__Services__Images__V1__ImportResponse **ret)
{
	Wharf__Services__Images__V1__ImportRequest q =
		WHARF__SERVICES__IMAGES__V1__IMPORT_REQUEST__INIT;
	cleanup_free char *path = xasprintf("%s/oci", fixture_dir);

	q.path = path;
	q.base_name = (char *)name;
	q.unpack = unpack;
	return call(S_XFER, "Import", &q, &wharf__services__images__v1__import_response__descriptor,
		    ret);
}

/* The chain ID the unpack recorded on the image config ("containerd.io/gc.ref.snapshot.X"). */
static char *image_chain_id(const char *manifest_digest, const char *sn)
{
	Containerd__Services__Content__V1__InfoRequest iq =
		CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
	Containerd__Services__Content__V1__InfoResponse *ir = NULL;
	cleanup_free char *key = xasprintf("containerd.io/gc.ref.snapshot.%s", sn);
	char *config = NULL, *chain = NULL;

	iq.digest = (char *)manifest_digest;
	if (call(S_CONTENT, "Info", &iq,
		 &containerd__services__content__v1__info_response__descriptor, &ir) < 0)
		return NULL;
	for (size_t i = 0; i < ir->info->n_labels; i++)
		if (streq(ir->info->labels[i]->key, "containerd.io/gc.ref.content.config"))
			config = xstrdup(ir->info->labels[i]->value);
	pbfree(ir);
	if (!config)
		return NULL;
	iq.digest = config;
	if (call(S_CONTENT, "Info", &iq,
		 &containerd__services__content__v1__info_response__descriptor, &ir) >= 0) {
		for (size_t i = 0; i < ir->info->n_labels; i++)
			if (streq(ir->info->labels[i]->key, key))
				chain = xstrdup(ir->info->labels[i]->value);
		pbfree(ir);
	}
	free(config);
	return chain;
}

/* The chain ID the fixture image's unpack gave: overlayfs when the host has it, else native. */
static char *chain_of(const Wharf__Services__Images__V1__ImportResponse *imp)
{
	char *chain = image_chain_id(imp->images[0]->target->digest, "overlayfs");

	return chain ? chain : image_chain_id(imp->images[0]->target->digest, "native");
}

/* Builds and imports (unpacked) the fixture image; its chain ID, or NULL. */
static char *fixture_chain(void)
{
	Wharf__Services__Images__V1__ImportResponse *imp = NULL;
	char *chain;

	if (build_fixture() != 0 || import_fixture("wharf.test/busybox", true, &imp) < 0)
		return NULL;
	chain = chain_of(imp);
	pbfree(imp);
	return chain;
}

static int scenario_images(void)
{
	Wharf__Services__Images__V1__ImportResponse *imp = NULL;
	Containerd__Services__Images__V1__ListImagesRequest lq =
		CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
	Containerd__Services__Images__V1__ListImagesResponse *lr = NULL;
	Containerd__Services__Images__V1__GetImageRequest gq =
		CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
	Containerd__Services__Images__V1__DeleteImageRequest dq =
		CONTAINERD__SERVICES__IMAGES__V1__DELETE_IMAGE_REQUEST__INIT;
	cleanup_free char *chain = NULL, *target = NULL;

	CHECK(build_fixture() == 0);
	CHECK(import_fixture("wharf.test/busybox", true, &imp) >= 0);
	CHECK(imp->n_images == 1 && streq(imp->images[0]->name, "wharf.test/busybox:latest"));
	target = xstrdup(imp->images[0]->target->digest);
	pbfree(imp);
	/* The image is listed; its manifest's content carries GC references; it was unpacked. */
	CHECK(call(S_IMG, "List", &lq,
		   &containerd__services__images__v1__list_images_response__descriptor, &lr) >= 0);
	CHECK(lr->n_images == 1);
	pbfree(lr);
	{
		Containerd__Services__Images__V1__GetImageResponse *gr = NULL;
		const char *manifest = target;
		Containerd__Services__Snapshots__V1__StatSnapshotRequest sq =
			CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
		Containerd__Services__Snapshots__V1__StatSnapshotResponse *sr = NULL;

		gq.name = "wharf.test/busybox:latest";
		CHECK(call(S_IMG, "Get", &gq,
			   &containerd__services__images__v1__get_image_response__descriptor,
			   &gr) >= 0);
		CHECK(streq(gr->image->target->digest, target));
		pbfree(gr);
		chain = image_chain_id(manifest, "overlayfs");
		if (!chain)
			chain = image_chain_id(manifest, "native");
		CHECK(chain && str_startswith(chain, "sha256:"));
		sq.key = chain;
		CHECK(call(S_SNAP, "Stat", &sq,
			   &containerd__services__snapshots__v1__stat_snapshot_response__descriptor,
			   &sr) >= 0);
		CHECK(sr->info->kind == CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED);
		pbfree(sr);
	}
	/* A second import reuses everything. */
	CHECK(import_fixture("wharf.test/busybox", true, &imp) >= 0);
	pbfree(imp);
	/* Bad imports. */
	{
		Wharf__Services__Images__V1__ImportRequest q =
			WHARF__SERVICES__IMAGES__V1__IMPORT_REQUEST__INIT;

		q.path = "/nonexistent/layout";
		CHECK(call_fails(S_XFER, "Import", &q,
				 &wharf__services__images__v1__import_response__descriptor, -ENOENT,
				 "/nonexistent/layout") == 0);
	}
	/* Records: create needs a target; duplicates and unknown names are refused. */
	{
		Containerd__Services__Images__V1__CreateImageRequest cq =
			CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
		Containerd__Services__Images__V1__Image img =
			CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
		Containerd__Types__Descriptor desc = CONTAINERD__TYPES__DESCRIPTOR__INIT;

		img.name = "wharf.test/alias:1";
		desc.media_type = "application/vnd.oci.image.manifest.v1+json";
		desc.digest = target;
		desc.size = 100;
		img.target = &desc;
		cq.image = &img;
		CHECK(call(S_IMG, "Create", &cq,
			   &containerd__services__images__v1__create_image_response__descriptor,
			   NULL) >= 0);
		CHECK(call_fails(
			      S_IMG, "Create", &cq,
			      &containerd__services__images__v1__create_image_response__descriptor,
			      -EEXIST, NULL) == 0);
		desc.digest = "sha256:nothex";
		img.name = "wharf.test/alias:2";
		CHECK(call_fails(
			      S_IMG, "Create", &cq,
			      &containerd__services__images__v1__create_image_response__descriptor,
			      -EINVAL, NULL) == 0);
		dq.name = "wharf.test/alias:1";
		CHECK(call(S_IMG, "Delete", &dq, &google__protobuf__empty__descriptor, NULL) >= 0);
		gq.name = "wharf.test/unknown:1";
		CHECK(call_fails(S_IMG, "Get", &gq,
				 &containerd__services__images__v1__get_image_response__descriptor,
				 -ENOENT, NULL) == 0);
	}
	/* Export to a layout and import it again under another namespace. */
	{
		Wharf__Services__Images__V1__ExportRequest eq =
			WHARF__SERVICES__IMAGES__V1__EXPORT_REQUEST__INIT;
		Wharf__Services__Images__V1__ImportRequest iq =
			WHARF__SERVICES__IMAGES__V1__IMPORT_REQUEST__INIT;
		cleanup_free char *out = xasprintf("%s/exported", T.tmp);
		char *names[] = {"wharf.test/busybox:latest"};

		eq.names = names;
		eq.n_names = 1;
		eq.path = out;
		CHECK(call(S_XFER, "Export", &eq,
			   &wharf__services__images__v1__export_response__descriptor, NULL) >= 0);
		iq.path = out;
		T.ns = "second";
		CHECK(call(S_XFER, "Import", &iq,
			   &wharf__services__images__v1__import_response__descriptor, &imp) >= 0);
		CHECK(imp->n_images == 1 && streq(imp->images[0]->target->digest, target));
		pbfree(imp);
		/* A plain delete (no sync): GC follows shortly by itself. */
		{
			Containerd__Services__Images__V1__DeleteImageRequest d2 =
				CONTAINERD__SERVICES__IMAGES__V1__DELETE_IMAGE_REQUEST__INIT;
			Containerd__Services__Content__V1__InfoRequest iq2 =
				CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
			cleanup_free char *msg = NULL;
			int gone = 0;

			d2.name = "wharf.test/busybox:latest";
			CHECK(call(S_IMG, "Delete", &d2, &google__protobuf__empty__descriptor,
				   NULL) >= 0);
			iq2.digest = target;
			for (int i = 0; i < 100 && !gone; i++) {
				free(TAKE_PTR(msg));
				gone = call_ns("second", S_CONTENT, "Info", &iq2,
					       &containerd__services__content__v1__info_response__descriptor,
					       NULL, &msg) == -ENOENT;
				if (!gone)
					usleep(100000);
			}
			CHECK(gone);
		}
		T.ns = "default";
	}
	/* Archives: an OCI-layout tar and a docker-archive, each unpacked in its own namespace. */
	{
		const char *tars[] = {"busybox-oci.tar", "busybox.tar"};
		const char *nss[] = {"ocitar", "dockertar"};

		for (size_t i = 0; i < 2; i++) {
			Wharf__Services__Images__V1__ImportRequest iq =
				WHARF__SERVICES__IMAGES__V1__IMPORT_REQUEST__INIT;
			cleanup_free char *tar = xasprintf("%s/%s", fixture_dir, tars[i]);
			cleanup_free char *ch = NULL;

			iq.path = tar;
			iq.base_name = "wharf.test/busybox";
			iq.unpack = true;
			T.ns = nss[i];
			CHECK(call(S_XFER, "Import", &iq,
				   &wharf__services__images__v1__import_response__descriptor,
				   &imp) >= 0);
			CHECK(imp->n_images == 1 &&
			      streq(imp->images[0]->name, "wharf.test/busybox:latest"));
			ch = chain_of(imp);
			/* The same layers give the same chain ID whatever the archive. */
			CHECK(ch && streq(ch, chain));
			pbfree(imp);
		}
		T.ns = "default";
		/* No temp dirs left in the state dir. */
		CHECK(sh("ls %s | grep -q import-", T.state) != 0);
	}
	/* A file that is no image archive. */
	{
		Wharf__Services__Images__V1__ImportRequest iq =
			WHARF__SERVICES__IMAGES__V1__IMPORT_REQUEST__INIT;

		iq.path = T.config;
		CHECK(call_fails(S_XFER, "Import", &iq,
				 &wharf__services__images__v1__import_response__descriptor, -EINVAL,
				 NULL) == 0);
		CHECK(sh("ls %s | grep -q import-", T.state) != 0);
	}
	/* Delete with sync GC: the image goes; the namespace's content is collected. */
	dq.name = "wharf.test/busybox:latest";
	dq.sync = true;
	CHECK(call(S_IMG, "Delete", &dq, &google__protobuf__empty__descriptor, NULL) >= 0);
	{
		Containerd__Services__Content__V1__InfoRequest iq =
			CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;

		iq.digest = target;
		CHECK(call_fails(S_CONTENT, "Info", &iq,
				 &containerd__services__content__v1__info_response__descriptor,
				 -ENOENT, NULL) == 0);
	}
	/* ... and so are its unpacked snapshots (the other namespaces keep theirs). */
	{
		Containerd__Services__Snapshots__V1__StatSnapshotRequest sq =
			CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;

		sq.key = chain;
		CHECK(call_fails(
			      S_SNAP, "Stat", &sq,
			      &containerd__services__snapshots__v1__stat_snapshot_response__descriptor,
			      -ENOENT, NULL) == 0);
		T.ns = "ocitar";
		CHECK(call(S_SNAP, "Stat", &sq,
			   &containerd__services__snapshots__v1__stat_snapshot_response__descriptor,
			   NULL) >= 0);
		T.ns = "default";
	}
	return 0;
}

/* ---- scenario: task (import, snapshot, container, task create/start/wait/delete) ---- */

static char *spec_json(const char *id, const char *script)
{
	cleanup_free char *dir = xasprintf("%s/spec-%s", T.tmp, id);
	cleanup_free char *path = xasprintf("%s/config.json", dir);
	char *data = NULL;

	setenv("SUP_SCRIPT", script, 1);
	if (mkdir(dir, 0700) < 0 ||
	    sh("cd %s && runc spec && jq --arg s \"$SUP_SCRIPT\" --arg cg '/wharfd-test-%d-%s' "
	       "'.process.terminal=false | .process.args=[\"/bin/sh\",\"-c\",$s] | "
	       ".root.readonly=false | .root.path=\"rootfs\" | .linux.cgroupsPath=$cg' "
	       "config.json > c2 && mv c2 config.json",
	       dir, (int)getpid(), id) != 0 ||
	    read_file(path, 1 << 20, &data, NULL) < 0)
		return NULL;
	return data;
}

static int task_simple(const char *id, void *req, const char *method,
		       const ProtobufCMessageDescriptor *rd, void *ret)
{
	(void)id;
	return call(S_TASK, method, req, rd, ret);
}

static int run_container(const char *id, const char *chain, const char *script, const char *runtime,
			 uint32_t *ret_status, char **ret_out)
{
	cleanup_free char *spec = spec_json(id, script);
	cleanup_free char *out = xasprintf("%s/%s.out", T.tmp, id);
	Containerd__Services__Tasks__V1__CreateTaskRequest cq =
		CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_REQUEST__INIT;
	Containerd__Services__Tasks__V1__CreateTaskResponse *cr = NULL;
	Containerd__Services__Tasks__V1__StartRequest sq =
		CONTAINERD__SERVICES__TASKS__V1__START_REQUEST__INIT;
	Containerd__Services__Tasks__V1__WaitRequest wq =
		CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
	Containerd__Services__Tasks__V1__WaitResponse *wr = NULL;
	Containerd__Services__Tasks__V1__DeleteTaskRequest dq =
		CONTAINERD__SERVICES__TASKS__V1__DELETE_TASK_REQUEST__INIT;
	Containerd__Services__Tasks__V1__DeleteResponse *dr = NULL;
	Containerd__Services__Tasks__V1__GetRequest gq =
		CONTAINERD__SERVICES__TASKS__V1__GET_REQUEST__INIT;
	Containerd__Services__Tasks__V1__GetResponse *gr = NULL;
	size_t len;

	CHECK(spec);
	CHECK(write_file_atomic(out, "", 0, 0600) >= 0); /* the shim opens stdio, never creates */
	CHECK(prepare("", id, chain, NULL) >= 0);
	CHECK(create_container(id, "wharf.test/busybox:latest", spec, runtime, "", id) >= 0);
	cq.container_id = (char *)id;
	cq.stdout = out;
	cq.stderr = out;
	CHECK(call(S_TASK, "Create", &cq,
		   &containerd__services__tasks__v1__create_task_response__descriptor, &cr) >= 0);
	CHECK(cr->pid > 0);
	pbfree(cr);
	/* A second create of the same task is refused; the first stays. */
	CHECK(call_fails(S_TASK, "Create", &cq,
			 &containerd__services__tasks__v1__create_task_response__descriptor,
			 -EEXIST, NULL) == 0);
	/* The container cannot go while its task exists. */
	CHECK(delete_container(id) == -EBUSY);
	gq.container_id = (char *)id;
	CHECK(task_simple(id, &gq, "Get",
			  &containerd__services__tasks__v1__get_response__descriptor, &gr) >= 0);
	CHECK(gr->process->status == CONTAINERD__V1__TYPES__STATUS__CREATED);
	pbfree(gr);
	sq.container_id = (char *)id;
	CHECK(call(S_TASK, "Start", &sq,
		   &containerd__services__tasks__v1__start_response__descriptor, NULL) >= 0);
	wq.container_id = (char *)id;
	CHECK(call(S_TASK, "Wait", &wq, &containerd__services__tasks__v1__wait_response__descriptor,
		   &wr) >= 0);
	*ret_status = wr->exit_status;
	CHECK(wr->exited_at && wr->exited_at->seconds > 0);
	pbfree(wr);
	CHECK(task_simple(id, &gq, "Get",
			  &containerd__services__tasks__v1__get_response__descriptor, &gr) >= 0);
	CHECK(gr->process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED);
	pbfree(gr);
	dq.container_id = (char *)id;
	CHECK(call(S_TASK, "Delete", &dq,
		   &containerd__services__tasks__v1__delete_response__descriptor, &dr) >= 0);
	CHECK(dr->exit_status == *ret_status);
	pbfree(dr);
	CHECK(call_fails(S_TASK, "Get", &gq,
			 &containerd__services__tasks__v1__get_response__descriptor, -ENOENT,
			 "not found") == 0);
	CHECK(delete_container(id) >= 0);
	CHECK(snap_remove("", id) >= 0);
	CHECK(read_file(out, 1 << 20, ret_out, &len) >= 0);
	/* Nothing left of the bundle. */
	{
		cleanup_free char *bundle = xasprintf("%s/tasks/default/%s", T.state, id);

		CHECK(access(bundle, F_OK) < 0 && errno == ENOENT);
	}
	return 0;
}

static int scenario_task(void)
{
	cleanup_free char *chain = NULL, *out = NULL, *sub_id = NULL;
	uint32_t status = 99;

	CHECK((chain = fixture_chain()) != NULL);
	CHECK((sub_id = subscribe("topic~=\"^/tasks/\"")) != NULL);
	CHECK(run_container("hello", chain, "echo hello from wharf; exit 3", NULL, &status, &out) ==
	      0);
	/* The shim's events reached the bus, in order: create, start, exit, delete. */
	{
		const char *want[] = {"/tasks/create", "/tasks/start", "/tasks/exit",
				      "/tasks/delete"};
		size_t seen = 0;

		for (int round = 0; round < 10 && seen < 4; round++) {
			Wharf__Services__Events__V1__NextRequest nq =
				WHARF__SERVICES__EVENTS__V1__NEXT_REQUEST__INIT;
			Wharf__Services__Events__V1__NextResponse *nr = NULL;

			nq.id = sub_id;
			nq.wait_ms = 1000;
			CHECK(call(S_SUB, "Next", &nq,
				   &wharf__services__events__v1__next_response__descriptor,
				   &nr) >= 0);
			for (size_t i = 0; i < nr->n_envelopes; i++)
				if (seen < 4 && streq(nr->envelopes[i]->topic, want[seen]))
					seen++;
			pbfree(nr);
		}
		CHECK(seen == 4);
	}
	CHECK(status == 3);
	CHECK(strstr(out, "hello from wharf") != NULL);
	free(TAKE_PTR(out));
	/* Bad requests: unknown runtime, unknown container, missing spec. */
	{
		cleanup_free char *spec = spec_json("bad", "true");
		Containerd__Services__Tasks__V1__CreateTaskRequest cq =
			CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_REQUEST__INIT;
		cleanup_free char *bundle = xasprintf("%s/tasks/default/bad", T.state);

		CHECK(prepare("", "bad", chain, NULL) >= 0);
		CHECK(create_container("bad", NULL, spec, "io.containerd.nosuch.v9", "", "bad") >=
		      0);
		cq.container_id = "bad";
		CHECK(call_fails(S_TASK, "Create", &cq,
				 &containerd__services__tasks__v1__create_task_response__descriptor,
				 -ENOENT, "containerd-shim-nosuch-v9") == 0);
		CHECK(access(bundle, F_OK) < 0 && errno == ENOENT);
		CHECK(delete_container("bad") >= 0);
		CHECK(snap_remove("", "bad") >= 0);
		cq.container_id = "ghost";
		CHECK(call_fails(S_TASK, "Create", &cq,
				 &containerd__services__tasks__v1__create_task_response__descriptor,
				 -ENOENT, NULL) == 0);
		/* A spec that is not JSON: refused, no bundle left. */
		{
			cleanup_free char *b2 = xasprintf("%s/tasks/default/badspec", T.state);

			CHECK(prepare("", "badspec", chain, NULL) >= 0);
			CHECK(create_container("badspec", NULL, "this is not json", NULL, "",
					       "badspec") >= 0);
			cq.container_id = "badspec";
			CHECK(call_fails(
				      S_TASK, "Create", &cq,
				      &containerd__services__tasks__v1__create_task_response__descriptor,
				      -EINVAL, NULL) == 0);
			CHECK(access(b2, F_OK) < 0 && errno == ENOENT);
			CHECK(delete_container("badspec") >= 0);
			CHECK(snap_remove("", "badspec") >= 0);
		}
		CHECK(create_container("nospec", NULL, NULL, NULL, NULL, NULL) >= 0);
		cq.container_id = "nospec";
		CHECK(call_fails(S_TASK, "Create", &cq,
				 &containerd__services__tasks__v1__create_task_response__descriptor,
				 -EINVAL, "no spec") == 0);
		CHECK(delete_container("nospec") >= 0);
	}
	return 0;
}

/* ---- scenario: restart (kill -9 and SIGTERM of wharfd with running tasks; a dead shim) ---- */

static int start_task(const char *id, const char *chain, const char *script, uint32_t *ret_pid)
{
	cleanup_free char *spec = spec_json(id, script);
	cleanup_free char *out = xasprintf("%s/%s.out", T.tmp, id);
	Containerd__Services__Tasks__V1__CreateTaskRequest cq =
		CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_REQUEST__INIT;
	Containerd__Services__Tasks__V1__StartRequest sq =
		CONTAINERD__SERVICES__TASKS__V1__START_REQUEST__INIT;
	Containerd__Services__Tasks__V1__StartResponse *sr = NULL;

	CHECK(spec);
	CHECK(write_file_atomic(out, "", 0, 0600) >= 0);
	CHECK(prepare("", id, chain, NULL) >= 0);
	CHECK(create_container(id, NULL, spec, NULL, "", id) >= 0);
	cq.container_id = (char *)id;
	cq.stdout = out;
	CHECK(call(S_TASK, "Create", &cq,
		   &containerd__services__tasks__v1__create_task_response__descriptor, NULL) >= 0);
	sq.container_id = (char *)id;
	CHECK(call(S_TASK, "Start", &sq,
		   &containerd__services__tasks__v1__start_response__descriptor, &sr) >= 0);
	*ret_pid = sr->pid;
	pbfree(sr);
	return 0;
}

static int task_state(const char *id, uint32_t *ret_status, uint32_t *ret_exit)
{
	Containerd__Services__Tasks__V1__GetRequest gq =
		CONTAINERD__SERVICES__TASKS__V1__GET_REQUEST__INIT;
	Containerd__Services__Tasks__V1__GetResponse *gr = NULL;

	gq.container_id = (char *)id;
	CHECK(call(S_TASK, "Get", &gq, &containerd__services__tasks__v1__get_response__descriptor,
		   &gr) >= 0);
	*ret_status = gr->process->status;
	*ret_exit = gr->process->exit_status;
	pbfree(gr);
	return 0;
}

static int wait_task(const char *id, uint32_t *ret_exit)
{
	Containerd__Services__Tasks__V1__WaitRequest wq =
		CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
	Containerd__Services__Tasks__V1__WaitResponse *wr = NULL;

	wq.container_id = (char *)id;
	CHECK(call(S_TASK, "Wait", &wq, &containerd__services__tasks__v1__wait_response__descriptor,
		   &wr) >= 0);
	*ret_exit = wr->exit_status;
	pbfree(wr);
	return 0;
}

static int remove_task(const char *id)
{
	Containerd__Services__Tasks__V1__DeleteTaskRequest dq =
		CONTAINERD__SERVICES__TASKS__V1__DELETE_TASK_REQUEST__INIT;

	dq.container_id = (char *)id;
	CHECK(call(S_TASK, "Delete", &dq,
		   &containerd__services__tasks__v1__delete_response__descriptor, NULL) >= 0);
	CHECK(delete_container(id) >= 0);
	CHECK(snap_remove("", id) >= 0);
	return 0;
}

/* A live process (zombies awaiting a late reaper are dead). */
static bool alive(pid_t pid)
{
	cleanup_free char *p = xasprintf("/proc/%d/stat", (int)pid);
	cleanup_free char *s = NULL;
	char *rp;

	if (read_file(p, 4096, &s, NULL) < 0)
		return false;
	rp = strrchr(s, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static int restart_daemon(bool hard)
{
	cleanup_free char *extra =
		T.shim ? xasprintf("[runtimes.\"io.containerd.wharf.v2\"]\nshim = \"%s\"\n", T.shim)
		       : NULL;

	if (hard) {
		int st;

		T.c = ttrpc_client_free(T.c);
		kill(T.pid, SIGKILL);
		waitpid(T.pid, &st, 0);
		T.pid = 0;
	} else {
		CHECK(stop_daemon() == 0);
	}
	CHECK(start_daemon(extra) == 0);
	return 0;
}

static int scenario_restart(void)
{
	Containerd__Services__Tasks__V1__KillRequest kq =
		CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
	cleanup_free char *chain = NULL;
	uint32_t pid_long = 0, pid_short = 0, pid_victim = 0, pid_orphan = 0, status = 0, code = 0;
	uint32_t pid_crowd[9] = {0};

	CHECK((chain = fixture_chain()) != NULL);
	CHECK(start_task("long", chain, "sleep 1000", &pid_long) == 0);
	/* Nine more running containers ride through both restarts. */
	for (int i = 0; i < 9; i++) {
		cleanup_free char *id = xasprintf("crowd%d", i);

		CHECK(start_task(id, chain, "sleep 1000", &pid_crowd[i]) == 0);
	}
	CHECK(start_task("short", chain, "read x < /dev/null; sleep 2; exit 7", &pid_short) == 0);

	CHECK(start_task("orphan", chain, "sleep 1000", &pid_orphan) == 0);

	/* kill -9 wharfd; "short" exits while it is down; "orphan" loses its container record
	 * (edited out of the database behind wharfd's back): the next wharfd reaps its task. */
	{
		cleanup_free char *extra =
			xasprintf("[runtimes.\"io.containerd.wharf.v2\"]\nshim = \"%s\"\n", T.shim);
		cleanup_free char *bundle = xasprintf("%s/tasks/default/orphan", T.state);
		int wst;

		T.c = ttrpc_client_free(T.c);
		kill(T.pid, SIGKILL);
		waitpid(T.pid, &wst, 0);
		T.pid = 0;
		CHECK(sh("sqlite3 %s/metadata.db \"DELETE FROM containers WHERE ns='default' AND "
			 "id='orphan'\"",
			 T.root) == 0);
		CHECK(start_daemon(extra) == 0);
		for (int i = 0; i < 100 && (alive((pid_t)pid_orphan) || access(bundle, F_OK) == 0);
		     i++)
			usleep(100000);
		CHECK(!alive((pid_t)pid_orphan));
		CHECK(access(bundle, F_OK) < 0);
		{
			Containerd__Services__Tasks__V1__GetRequest gq =
				CONTAINERD__SERVICES__TASKS__V1__GET_REQUEST__INIT;

			gq.container_id = "orphan";
			CHECK(call_fails(S_TASK, "Get", &gq,
					 &containerd__services__tasks__v1__get_response__descriptor,
					 -ENOENT, NULL) == 0);
		}
		CHECK(snap_remove("", "orphan") >= 0);
	}
	CHECK(alive((pid_t)pid_long));
	sleep(3);
	CHECK(restart_daemon(true) == 0);
	CHECK(task_state("long", &status, &code) == 0);
	CHECK(status == CONTAINERD__V1__TYPES__STATUS__RUNNING);
	CHECK(task_state("short", &status, &code) == 0);
	CHECK(status == CONTAINERD__V1__TYPES__STATUS__STOPPED && code == 7);
	CHECK(wait_task("short", &code) == 0 && code == 7);
	CHECK(remove_task("short") == 0);

	/* SIGTERM leaves the container running; the next wharfd (an "upgraded" binary: another
	 * copy of the executable) reconnects. */
	{
		static char upgraded[128];

		snprintf(upgraded, sizeof(upgraded), "%s/wharfd-upgraded", T.tmp);
		CHECK(sh("cp %s %s", T.wharfd, upgraded) == 0);
		T.wharfd = upgraded;
	}
	CHECK(restart_daemon(false) == 0);
	CHECK(alive((pid_t)pid_long));
	CHECK(task_state("long", &status, &code) == 0);
	CHECK(status == CONTAINERD__V1__TYPES__STATUS__RUNNING);
	kq.container_id = "long";
	kq.signal = SIGKILL;
	CHECK(call(S_TASK, "Kill", &kq, &google__protobuf__empty__descriptor, NULL) >= 0);
	CHECK(wait_task("long", &code) == 0 && code == 128 + SIGKILL);
	CHECK(remove_task("long") == 0);
	for (int i = 0; i < 9; i++) {
		cleanup_free char *id = xasprintf("crowd%d", i);

		CHECK(alive((pid_t)pid_crowd[i]));
		CHECK(task_state(id, &status, &code) == 0);
		CHECK(status == CONTAINERD__V1__TYPES__STATUS__RUNNING);
		kq.container_id = id;
		CHECK(call(S_TASK, "Kill", &kq, &google__protobuf__empty__descriptor, NULL) >= 0);
		CHECK(wait_task(id, &code) == 0 && code == 128 + SIGKILL);
		CHECK(remove_task(id) == 0);
	}

	/* A shim killed with -9: its task is reported dead and cleaned, the daemon stays up. */
	CHECK(start_task("victim", chain, "sleep 1000", &pid_victim) == 0);
	{
		/* The shim is the subreaper and parent of the container's init. */
		cleanup_free char *statf = xasprintf("/proc/%u/stat", pid_victim);
		cleanup_free char *s = NULL;
		int shim_pid = 0;
		char *rp;

		CHECK(read_file(statf, 4096, &s, NULL) >= 0 && (rp = strrchr(s, ')')));
		CHECK(sscanf(rp + 2, "%*c %d", &shim_pid) == 1 && shim_pid > 1);
		CHECK(kill(shim_pid, SIGKILL) == 0);
		CHECK(wait_task("victim", &code) == 0);
		CHECK(task_state("victim", &status, &code) == 0);
		CHECK(status == CONTAINERD__V1__TYPES__STATUS__STOPPED);
		CHECK(remove_task("victim") == 0);
		for (int i = 0; i < 50 && alive((pid_t)pid_victim); i++)
			usleep(100000);
		CHECK(!alive((pid_t)pid_victim));
	}
	{
		Containerd__Services__Tasks__V1__GetRequest gq =
			CONTAINERD__SERVICES__TASKS__V1__GET_REQUEST__INIT;

		gq.container_id = "victim";
		CHECK(call_fails(S_TASK, "Get", &gq,
				 &containerd__services__tasks__v1__get_response__descriptor,
				 -ENOENT, "not found") == 0);
	}
	return 0;
}

/* ---- scenario: exec (a process added to a running task) and foreign shims ---- */

static int exec_in(const char *id, const char *exec_id, const char *script, uint32_t *ret_exit,
		   char **ret_out)
{
	cleanup_free char *out = xasprintf("%s/%s-%s.out", T.tmp, id, exec_id);
	cleanup_free char *proc = NULL;
	Containerd__Services__Tasks__V1__ExecProcessRequest eq =
		CONTAINERD__SERVICES__TASKS__V1__EXEC_PROCESS_REQUEST__INIT;
	Containerd__Services__Tasks__V1__StartRequest sq =
		CONTAINERD__SERVICES__TASKS__V1__START_REQUEST__INIT;
	Containerd__Services__Tasks__V1__WaitRequest wq =
		CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
	Containerd__Services__Tasks__V1__WaitResponse *wr = NULL;
	Containerd__Services__Tasks__V1__DeleteProcessRequest dq =
		CONTAINERD__SERVICES__TASKS__V1__DELETE_PROCESS_REQUEST__INIT;
	Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;

	setenv("SUP_SCRIPT", script, 1);
	CHECK(write_file_atomic(out, "", 0, 0600) >= 0);
	{
		FILE *f = popen(
			"jq -cn --arg s \"$SUP_SCRIPT\" '{terminal:false,user:{uid:0,gid:0},"
			"args:[\"/bin/sh\",\"-c\",$s],env:[\"PATH=/bin:/usr/bin\"],cwd:\"/\"}'",
			"r");
		char buf[4096];
		size_t n;

		CHECK(f);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		pclose(f);
		buf[n] = 0;
		proc = xstrdup(buf);
	}
	spec.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process";
	spec.value.data = (uint8_t *)proc;
	spec.value.len = strlen(proc);
	eq.container_id = (char *)id;
	eq.exec_id = (char *)exec_id;
	eq.stdout = out;
	eq.spec = &spec;
	CHECK(call(S_TASK, "Exec", &eq, &google__protobuf__empty__descriptor, NULL) >= 0);
	/* The same exec id twice is refused. */
	CHECK(call_fails(S_TASK, "Exec", &eq, &google__protobuf__empty__descriptor, -EEXIST,
			 NULL) == 0);
	sq.container_id = (char *)id;
	sq.exec_id = (char *)exec_id;
	CHECK(call(S_TASK, "Start", &sq,
		   &containerd__services__tasks__v1__start_response__descriptor, NULL) >= 0);
	wq.container_id = (char *)id;
	wq.exec_id = (char *)exec_id;
	CHECK(call(S_TASK, "Wait", &wq, &containerd__services__tasks__v1__wait_response__descriptor,
		   &wr) >= 0);
	*ret_exit = wr->exit_status;
	pbfree(wr);
	dq.container_id = (char *)id;
	dq.exec_id = (char *)exec_id;
	CHECK(call(S_TASK, "DeleteProcess", &dq,
		   &containerd__services__tasks__v1__delete_response__descriptor, NULL) >= 0);
	CHECK(read_file(out, 1 << 20, ret_out, NULL) >= 0);
	return 0;
}

static int scenario_exec(void)
{
	Containerd__Services__Tasks__V1__KillRequest kq =
		CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
	Containerd__Services__Tasks__V1__ListPidsRequest pq =
		CONTAINERD__SERVICES__TASKS__V1__LIST_PIDS_REQUEST__INIT;
	Containerd__Services__Tasks__V1__ListPidsResponse *pr = NULL;
	Containerd__Services__Tasks__V1__ListTasksRequest lq =
		CONTAINERD__SERVICES__TASKS__V1__LIST_TASKS_REQUEST__INIT;
	Containerd__Services__Tasks__V1__ListTasksResponse *lr = NULL;
	cleanup_free char *chain = NULL, *out = NULL;
	uint32_t pid = 0, code = 0;

	CHECK((chain = fixture_chain()) != NULL);
	CHECK(start_task("svc", chain, "echo started; sleep 1000", &pid) == 0);
	CHECK(exec_in("svc", "e1", "echo exec says hi; exit 5", &code, &out) == 0);
	CHECK(code == 5 && strstr(out, "exec says hi"));
	pq.container_id = "svc";
	CHECK(call(S_TASK, "ListPids", &pq,
		   &containerd__services__tasks__v1__list_pids_response__descriptor, &pr) >= 0);
	CHECK(pr->n_processes >= 1);
	{
		bool found = false;

		for (size_t i = 0; i < pr->n_processes; i++)
			if (pr->processes[i]->pid == pid)
				found = true;
		CHECK(found);
	}
	pbfree(pr);
	CHECK(call(S_TASK, "List", &lq,
		   &containerd__services__tasks__v1__list_tasks_response__descriptor, &lr) >= 0);
	CHECK(lr->n_tasks == 1 && streq(lr->tasks[0]->id, "svc") &&
	      lr->tasks[0]->status == CONTAINERD__V1__TYPES__STATUS__RUNNING);
	pbfree(lr);
	/* Pause, Resume, Metrics. */
	{
		Containerd__Services__Tasks__V1__PauseTaskRequest paq =
			CONTAINERD__SERVICES__TASKS__V1__PAUSE_TASK_REQUEST__INIT;
		Containerd__Services__Tasks__V1__ResumeTaskRequest rq =
			CONTAINERD__SERVICES__TASKS__V1__RESUME_TASK_REQUEST__INIT;
		Containerd__Services__Tasks__V1__MetricsRequest mq =
			CONTAINERD__SERVICES__TASKS__V1__METRICS_REQUEST__INIT;
		Containerd__Services__Tasks__V1__MetricsResponse *mr = NULL;
		uint32_t st = 0, ec = 0;

		paq.container_id = "svc";
		CHECK(call(S_TASK, "Pause", &paq, &google__protobuf__empty__descriptor, NULL) >= 0);
		CHECK(task_state("svc", &st, &ec) == 0 &&
		      st == CONTAINERD__V1__TYPES__STATUS__PAUSED);
		rq.container_id = "svc";
		CHECK(call(S_TASK, "Resume", &rq, &google__protobuf__empty__descriptor, NULL) >= 0);
		CHECK(task_state("svc", &st, &ec) == 0 &&
		      st == CONTAINERD__V1__TYPES__STATUS__RUNNING);
		CHECK(call(S_TASK, "Metrics", &mq,
			   &containerd__services__tasks__v1__metrics_response__descriptor,
			   &mr) >= 0);
		CHECK(mr->n_metrics == 1 && streq(mr->metrics[0]->id, "svc") &&
		      mr->metrics[0]->data && strstr(mr->metrics[0]->data->type_url, "cgroups"));
		pbfree(mr);
	}
	/* The init is PID 1 of its namespace: SIGTERM has no default action there, SIGKILL does. */
	kq.container_id = "svc";
	kq.signal = SIGKILL;
	CHECK(call(S_TASK, "Kill", &kq, &google__protobuf__empty__descriptor, NULL) >= 0);
	CHECK(wait_task("svc", &code) == 0 && code == 128 + SIGKILL);
	CHECK(remove_task("svc") == 0);

	/* Debian's containerd-shim-runc-v2 runs containers under wharfd unchanged. */
	if (access("/usr/bin/containerd-shim-runc-v2", X_OK) == 0 &&
	    access("/usr/sbin/runc", X_OK) == 0) {
		uint32_t status = 0;

		free(TAKE_PTR(out));
		CHECK(run_container("viarunc", chain, "echo through runc; exit 4",
				    "io.containerd.runc.v2", &status, &out) == 0);
		CHECK(status == 4 && strstr(out, "through runc"));
	} else {
		fprintf(stderr,
			"note: containerd-shim-runc-v2 or runc missing: foreign shim not run\n");
	}
	return 0;
}

/* ---- scenario: many (20 containers at once) ---- */

static int scenario_many(void)
{
	Containerd__Services__Tasks__V1__ListTasksRequest lq =
		CONTAINERD__SERVICES__TASKS__V1__LIST_TASKS_REQUEST__INIT;
	Containerd__Services__Tasks__V1__ListTasksResponse *lr = NULL;
	Containerd__Services__Tasks__V1__KillRequest kq =
		CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
	cleanup_free char *chain = NULL;
	enum { N = 20 };

	CHECK((chain = fixture_chain()) != NULL);
	for (int i = 0; i < N; i++) {
		cleanup_free char *id = xasprintf("m%02d", i);
		cleanup_free char *script = xasprintf("echo I am %d; read x < /proc/self/fd/0; "
						      "exec sleep 1000",
						      i);
		uint32_t pid;

		CHECK(start_task(id, chain, script, &pid) == 0);
	}
	CHECK(call(S_TASK, "List", &lq,
		   &containerd__services__tasks__v1__list_tasks_response__descriptor, &lr) >= 0);
	CHECK(lr->n_tasks == N);
	for (size_t i = 0; i < lr->n_tasks; i++)
		CHECK(lr->tasks[i]->status == CONTAINERD__V1__TYPES__STATUS__RUNNING);
	pbfree(lr);
	for (int i = 0; i < N; i++) {
		cleanup_free char *id = xasprintf("m%02d", i);
		cleanup_free char *outp = xasprintf("%s/%s.out", T.tmp, id);
		cleanup_free char *want = xasprintf("I am %d\n", i);
		cleanup_free char *out = NULL;
		uint32_t code;

		kq.container_id = id;
		kq.signal = SIGKILL;
		CHECK(call(S_TASK, "Kill", &kq, &google__protobuf__empty__descriptor, NULL) >= 0);
		CHECK(wait_task(id, &code) == 0 && code == 128 + SIGKILL);
		CHECK(remove_task(id) == 0);
		CHECK(read_file(outp, 4096, &out, NULL) >= 0 && streq(out, want));
	}
	return 0;
}

/* ---- scenario: registry (pull, push with Debian's docker-registry on 127.0.0.1) ---- */

static int pull(const char *ref, bool unpack, Wharf__Services__Images__V1__PullResponse **ret)
{
	Wharf__Services__Images__V1__PullRequest q =
		WHARF__SERVICES__IMAGES__V1__PULL_REQUEST__INIT;
	Wharf__Services__Images__V1__RegistryOptions ro =
		WHARF__SERVICES__IMAGES__V1__REGISTRY_OPTIONS__INIT;

	ro.plain_http = true;
	q.ref = (char *)ref;
	q.unpack = unpack;
	q.registry = &ro;
	return call(S_XFER, "Pull", &q, &wharf__services__images__v1__pull_response__descriptor,
		    ret);
}

static int scenario_registry(void)
{
	cleanup_free char *rdir = xasprintf("%s/registry", T.tmp), *addr = NULL, *ref = NULL;
	cleanup_free char *copy = NULL, *target = NULL, *missing = NULL, *sub = NULL;
	const char *src =
		getenv("WHARF_SOURCE_DIR") ? getenv("WHARF_SOURCE_DIR") : WHARF_SOURCE_DIR;
	Wharf__Services__Images__V1__PullResponse *pr = NULL;
	int r = -1;

	CHECK(build_fixture() == 0);
	if (sh("%s/tests/fixtures/registry.sh start %s > %s/addr.out 2>%s/registry.err", src, rdir,
	       T.tmp, T.tmp) != 0) {
		fprintf(stderr, "FAIL: the registry fixture did not start\n");
		sh("cat %s/registry.err >&2", T.tmp);
		return -1;
	}
	{
		cleanup_free char *p = xasprintf("%s/addr", rdir);
		size_t len = 0;

		if (read_file(p, 256, &addr, &len) < 0)
			goto out;
		while (len > 0 && (addr[len - 1] == '\n' || addr[len - 1] == ' '))
			addr[--len] = 0;
	}
	ref = xasprintf("%s/wharf/busybox:latest", addr);
	copy = xasprintf("%s/wharf/copy:1", addr);
	missing = xasprintf("%s/wharf/nothere:1", addr);
	if (sh("%s/tests/fixtures/registry.sh push %s %s/oci:latest wharf/busybox:latest > "
	       "%s/push.log 2>&1",
	       src, rdir, fixture_dir, T.tmp) != 0) {
		fprintf(stderr, "FAIL: skopeo push to the registry fixture failed\n");
		goto out;
	}
	/* Pull with unpack: the image and its snapshot chain; progress events on the bus. */
	{
		Wharf__Services__Events__V1__OpenRequest oq =
			WHARF__SERVICES__EVENTS__V1__OPEN_REQUEST__INIT;
		Wharf__Services__Events__V1__OpenResponse * or = NULL;
		char *evf[] = {"topic==\"/images/pull/progress\""};

		oq.filters = evf;
		oq.n_filters = 1;
		if (call(S_SUB, "Open", &oq,
			 &wharf__services__events__v1__open_response__descriptor, & or) < 0)
			goto out;
		sub = xstrdup(or->id);
		pbfree(or);
	}
	if (pull(ref, true, &pr) < 0 || !pr->image || !pb_nz_test(pr->chain_id)) {
		fprintf(stderr, "FAIL: pull %s\n", ref);
		goto out;
	}
	{
		Wharf__Services__Events__V1__NextRequest nq =
			WHARF__SERVICES__EVENTS__V1__NEXT_REQUEST__INIT;
		Wharf__Services__Events__V1__NextResponse *nr = NULL;
		size_t complete = 0;

		nq.id = sub;
		nq.wait_ms = 2000;
		if (call(S_SUB, "Next", &nq,
			 &wharf__services__events__v1__next_response__descriptor, &nr) < 0)
			goto out;
		for (size_t i = 0; i < nr->n_envelopes; i++) {
			Wharf__Services__Images__V1__PullProgress *pp =
				wharf__services__images__v1__pull_progress__unpack(
					NULL, nr->envelopes[i]->event->value.len,
					nr->envelopes[i]->event->value.data);

			if (pp && streq(pp->ref, ref) && pp->total > 0 && pp->offset == pp->total)
				complete++;
			if (pp)
				wharf__services__images__v1__pull_progress__free_unpacked(pp, NULL);
		}
		pbfree(nr);
		if (complete < 1) {
			fprintf(stderr, "FAIL: no completed blob in the pull's progress events\n");
			goto out;
		}
	}
	target = xstrdup(pr->image->target->digest);
	if (!streq(pr->image->name, ref) || pr->layers_applied + pr->layers_reused < 1) {
		fprintf(stderr, "FAIL: pull answered name %s, %u applied, %u reused\n",
			pr->image->name, pr->layers_applied, pr->layers_reused);
		goto out;
	}
	pbfree(TAKE_PTR(pr));
	/* Push it under another name, pull that into another namespace: the same manifest. */
	{
		Wharf__Services__Images__V1__PushRequest q =
			WHARF__SERVICES__IMAGES__V1__PUSH_REQUEST__INIT;
		Wharf__Services__Images__V1__RegistryOptions ro =
			WHARF__SERVICES__IMAGES__V1__REGISTRY_OPTIONS__INIT;

		ro.plain_http = true;
		q.name = ref;
		q.ref = copy;
		q.registry = &ro;
		if (call(S_XFER, "Push", &q,
			 &wharf__services__images__v1__push_response__descriptor, NULL) < 0)
			goto out;
	}
	T.ns = "pulled";
	if (pull(copy, false, &pr) < 0 || !streq(pr->image->target->digest, target)) {
		fprintf(stderr, "FAIL: pull of the pushed copy\n");
		goto out;
	}
	pbfree(TAKE_PTR(pr));
	/* An image the registry does not have: a clear error, nothing recorded. */
	{
		Wharf__Services__Images__V1__PullRequest q =
			WHARF__SERVICES__IMAGES__V1__PULL_REQUEST__INIT;
		Wharf__Services__Images__V1__RegistryOptions ro =
			WHARF__SERVICES__IMAGES__V1__REGISTRY_OPTIONS__INIT;
		Containerd__Services__Images__V1__ListImagesRequest lq =
			CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
		Containerd__Services__Images__V1__ListImagesResponse *lr = NULL;

		ro.plain_http = true;
		q.ref = missing;
		q.registry = &ro;
		if (call_fails(S_XFER, "Pull", &q,
			       &wharf__services__images__v1__pull_response__descriptor, -ENOENT,
			       "nothere") < 0)
			goto out;
		if (call(S_IMG, "List", &lq,
			 &containerd__services__images__v1__list_images_response__descriptor,
			 &lr) < 0)
			goto out;
		r = lr->n_images == 1 ? 0 : -1;
		pbfree(lr);
	}
out:
	T.ns = "default";
	pbfree(pr);
	sh("%s/tests/fixtures/registry.sh stop %s > /dev/null 2>&1", src, rdir);
	if (r < 0)
		T.failures++;
	return r;
}

/* ---- scenario: runtimes (config defaults: the wharf shim's exec driver with runc) ---- */

static int scenario_runtimes(void)
{
	Containerd__Services__Tasks__V1__KillRequest kq =
		CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
	cleanup_free char *chain = NULL;
	cleanup_free char *state = xasprintf("%s/runc-root/default/viaconfig/state.json", T.tmp);
	uint32_t pid = 0, code = 0;

	CHECK((chain = fixture_chain()) != NULL);
	/* The container names no options: the config's binary_name and root apply. */
	CHECK(start_task("viaconfig", chain, "sleep 1000", &pid) == 0);
	CHECK(access(state, F_OK) ==
	      0); /* runc: <root>/<namespace>/<id>, as containerd-shim-runc-v2 */
	CHECK(sh("runc --root %s/runc-root/default state viaconfig | grep -q running", T.tmp) == 0);
	kq.container_id = "viaconfig";
	kq.signal = SIGKILL;
	CHECK(call(S_TASK, "Kill", &kq, &google__protobuf__empty__descriptor, NULL) >= 0);
	CHECK(wait_task("viaconfig", &code) == 0 && code == 128 + SIGKILL);
	CHECK(remove_task("viaconfig") == 0);
	CHECK(access(state, F_OK) < 0);
	return 0;
}

/* ---- scenario: lifecycle (lock, config errors, SIGTERM) ---- */

static void on_reply_ignored(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	(void)c, (void)reply, (void)userdata;
}

static int scenario_lifecycle(void)
{
	cleanup_free char *log = xasprintf("%s/second.log", T.tmp);
	cleanup_free char *bad = xasprintf("%s/bad.toml", T.tmp);
	cleanup_free char *text = NULL;
	int st;

	/* --version, --help, bad flags. */
	CHECK(sh("%s --version | grep -q '^wharfd '", T.wharfd) == 0);
	CHECK(sh("%s --help | grep -q -- --config", T.wharfd) == 0);
	CHECK(sh("%s --bogus > /dev/null 2>&1", T.wharfd) == 2);
	CHECK(sh("%s --root relative > /dev/null 2>&1", T.wharfd) == 2);
	CHECK(sh("%s --config %s --log-level loud > /dev/null 2>&1", T.wharfd, T.config) == 2);
	/* A second daemon on the same state refuses to start, naming it. */
	CHECK(sh("%s --config %s > %s 2>&1", T.wharfd, T.config, log) == 1);
	CHECK(read_file(log, 1 << 16, &text, NULL) >= 0);
	CHECK(strstr(text, "another wharfd is running on") && strstr(text, T.state));
	free(TAKE_PTR(text));
	/* Config errors name file:line. */
	CHECK(write_file_atomic(bad, "root = \"/tmp/x\"\n[ttrpc]\nadress = \"/x\"\n", 37, 0600) >=
	      0);
	CHECK(sh("%s --config %s > %s 2>&1", T.wharfd, bad, log) == 1);
	CHECK(read_file(log, 1 << 16, &text, NULL) >= 0);
	CHECK(strstr(text, "bad.toml:3:") && strstr(text, "unknown key"));
	free(TAKE_PTR(text));
	CHECK(write_file_atomic(bad, "root = 5\n", 9, 0600) >= 0);
	CHECK(sh("%s --config %s > %s 2>&1", T.wharfd, bad, log) == 1);
	CHECK(read_file(log, 1 << 16, &text, NULL) >= 0);
	CHECK(strstr(text, "bad.toml:1:") && strstr(text, "expected a string"));
	free(TAKE_PTR(text));
	/* The socket's mode. */
	{
		struct stat sb;

		CHECK(stat(T.address, &sb) == 0 && (sb.st_mode & 0777) == 0660);
		CHECK(stat(T.state, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	}
	/* SIGTERM with a long poll pending: wharfd still exits 0, within its grace period. */
	{
		Wharf__Services__Events__V1__OpenRequest oq =
			WHARF__SERVICES__EVENTS__V1__OPEN_REQUEST__INIT;
		Wharf__Services__Events__V1__OpenResponse * or = NULL;
		Wharf__Services__Events__V1__NextRequest nq =
			WHARF__SERVICES__EVENTS__V1__NEXT_REQUEST__INIT;
		const char *md[] = {"containerd-namespace", "default", NULL};
		struct ttrpc_call_opts o = {.metadata = md};
		int wst;

		CHECK(call(S_SUB, "Open", &oq,
			   &wharf__services__events__v1__open_response__descriptor, & or) >= 0);
		nq.id = or->id;
		nq.wait_ms = 600000;
		CHECK(ttrpc_client_call_async(
			      T.c, S_SUB, "Next", &nq.base,
			      &wharf__services__events__v1__next_response__descriptor, &o,
			      on_reply_ignored, NULL, NULL) > 0);
		pbfree(or);
		ev_loop_run_once(T.loop, 200000000ull);
		CHECK(kill(T.pid, SIGTERM) == 0);
		CHECK(waitpid(T.pid, &wst, 0) == T.pid);
		T.pid = 0;
		CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
		T.c = ttrpc_client_free(T.c);
	}
	CHECK(start_daemon(NULL) == 0);
	/* SIGTERM: exit 0, socket gone, lock free (a new daemon starts). */
	st = stop_daemon();
	if (st != 0)
		fprintf(stderr, "wharfd exit status %d\n", st);
	CHECK(st == 0);
	CHECK(access(T.address, F_OK) < 0);
	CHECK(start_daemon(NULL) == 0);
	return 0;
}

/* The parent pid of pid, or 0. */
static pid_t ppid_of(pid_t pid)
{
	cleanup_free char *p = xasprintf("/proc/%d/stat", (int)pid);
	cleanup_free char *st = NULL;
	char *rp;
	int pp = 0;

	if (read_file(p, 4096, &st, NULL) < 0 || !(rp = strrchr(st, ')')))
		return 0;
	return sscanf(rp + 2, "%*c %d", &pp) == 1 ? pp : 0;
}

static void kill_leftovers(void)
{
	pid_t roots[256];
	size_t n = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) && n < ARRAY_SIZE(roots)) {
		cleanup_free char *p = NULL, *cmd = NULL;
		size_t len = 0;
		int pid;

		if (parse_int(de->d_name, &pid) < 0 || pid == getpid())
			continue;
		p = xasprintf("/proc/%d/cmdline", pid);
		if (read_file(p, 65536, &cmd, &len) < 0)
			continue;
		for (size_t i = 0; i < len; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		if (strstr(cmd, T.tmp) && alive(pid))
			roots[n++] = pid;
	}
	/* Their descendants (container processes) first, then the shims. */
	rewinddir(d);
	while ((de = readdir(d))) {
		int pid;

		if (parse_int(de->d_name, &pid) < 0)
			continue;
		for (pid_t a = ppid_of(pid); a > 1; a = ppid_of(a)) {
			bool hit = false;

			for (size_t i = 0; i < n; i++)
				hit = hit || roots[i] == a;
			if (hit) {
				fprintf(stderr, "cleanup: killing leftover pid %d\n", pid);
				kill(pid, SIGKILL);
				break;
			}
		}
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		fprintf(stderr, "cleanup: killing leftover shim pid %d\n", (int)roots[i]);
		kill(roots[i], SIGKILL);
	}
}

int main(int argc, char **argv)
{
	const char *scenario;
	int r, st;

	if (argc < 3) {
		fprintf(stderr, "usage: sup-test WHARFD SCENARIO [SHIM]\n");
		return 2;
	}
	T.wharfd = argv[1];
	scenario = argv[2];
	T.shim = argc > 3 ? argv[3] : NULL;
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return 77;
	}
	snprintf(T.tmp, sizeof(T.tmp), "/tmp/supervisor-test-XXXXXX");
	if (!mkdtemp(T.tmp))
		return 1;
	T.root = xasprintf("%s/root", T.tmp);
	T.state = xasprintf("%s/state", T.tmp);
	T.address = xasprintf("%s/state/wharfd.sock", T.tmp);
	T.config = xasprintf("%s/config.toml", T.tmp);
	if (ev_loop_new(&T.loop) < 0)
		return 1;
	{
		cleanup_free char *extra = NULL;

		if (T.shim && streq(scenario, "runtimes"))
			extra = xasprintf("[runtimes.\"io.containerd.wharf.v2\"]\nshim = \"%s\"\n"
					  "binary_name = \"runc\"\nroot = \"%s/runc-root\"\n",
					  T.shim, T.tmp);
		else if (T.shim)
			extra = xasprintf("[runtimes.\"io.containerd.wharf.v2\"]\nshim = \"%s\"\n",
					  T.shim);
		r = start_daemon(extra);
	}
	if (r < 0) {
		fprintf(stderr, "FAIL: wharfd did not start\n");
		r = -1;
	} else if (streq(scenario, "api")) {
		r = scenario_api();
	} else if (streq(scenario, "content")) {
		r = scenario_content();
	} else if (streq(scenario, "snapshots")) {
		r = scenario_snapshots();
	} else if (streq(scenario, "images")) {
		r = scenario_images();
	} else if (streq(scenario, "task")) {
		r = scenario_task();
	} else if (streq(scenario, "runtimes")) {
		r = scenario_runtimes();
	} else if (streq(scenario, "registry")) {
		if (access("/usr/bin/docker-registry", X_OK) < 0 ||
		    access("/usr/bin/skopeo", X_OK) < 0) {
			fprintf(stderr, "SKIP: docker-registry or skopeo missing\n");
			r = 77;
		} else {
			r = scenario_registry();
		}
	} else if (streq(scenario, "many")) {
		r = scenario_many();
	} else if (streq(scenario, "exec")) {
		r = scenario_exec();
	} else if (streq(scenario, "restart")) {
		r = scenario_restart();
	} else if (streq(scenario, "lifecycle")) {
		r = scenario_lifecycle();
	} else {
		fprintf(stderr, "unknown scenario '%s'\n", scenario);
		r = -1;
	}
	st = stop_daemon();
	if (r == 0 && st != 0) {
		fprintf(stderr, "FAIL: wharfd exited with %d on SIGTERM\n", st);
		r = -1;
	}
	if ((r != 0 && r != 77) || T.failures) {
		cleanup_free char *log = xasprintf("%s/wharfd.log", T.tmp);

		sh("tail -n 40 %s >&2", log);
	}
	/* Clean up: shims a failed scenario left (their command line names our temp dir) and their
	 * containers, by pid; then mounts below the temp dir; then the dir. */
	kill_leftovers();
	/* Clean up: any mounts left below the temp dir, then the dir. */
	sh("grep -o ' %s[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null",
	   T.tmp);
	sh("rm -rf %s", T.tmp);
	ttrpc_client_free(T.c);
	ev_loop_free(T.loop);
	free(T.root);
	free(T.state);
	free(T.address);
	free(T.config);
	free(fixture_dir);
	if (r == 77)
		return 77;
	if (r == 0 && !T.failures)
		printf("PASS %s\n", scenario);
	return r == 0 && !T.failures ? 0 : 1;
}
