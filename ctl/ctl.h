/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libctl, the library half of wharfctl: argument parsing (global flags, `run`/`create` flags,
 * mount specs, durations), the default OCI spec (containerd's default plus the image config) as
 * JSON, image resolution (index -> manifest -> config, chain ID) and a synchronous API client
 * that carries the namespace and the timeout. Nothing here prints: commands (cmd-*.c) do.
 *
 * Ownership: structs filled by the parsers borrow strings from argv (they must outlive the
 * struct) except where noted; *_release() frees what the parser allocated.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"

struct wh_err;
struct ttrpc_client;
struct ev_loop;

#define CTL_DEFAULT_ADDRESS "/run/wharf/wharfd.sock"
#define CTL_DEFAULT_NAMESPACE "default"
#define CTL_DEFAULT_RUNTIME "io.containerd.wharf.v2"
#define CTL_DEFAULT_SNAPSHOTTER "overlayfs" /* as ctr; the daemon needs a name */
#define CTL_SPEC_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Spec"
#define CTL_PROCESS_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Process"

/* ---- args.c ---- */

struct ctl_global {
	const char *address; /* --address, $WHARF_ADDRESS, CTL_DEFAULT_ADDRESS */
	const char *ns;	     /* --namespace/-n, $WHARF_NAMESPACE, "default" */
	uint64_t timeout_ns; /* --timeout (per call; 0: none) */
	bool debug;	     /* --debug */
	bool help, version;  /* --help, --version */
};

/*
 * Parses the global flags that precede the command (stops at the first non-flag). env is
 * consulted for WHARF_ADDRESS and WHARF_NAMESPACE (pass getenv, or NULL in tests for none).
 * *ret_next is the index of the command word (argc when there is none).
 */
int ctl_parse_global(int argc, char **argv, char *(*env)(const char *), struct ctl_global *ret,
		     int *ret_next, struct wh_err **err);

/* "10s", "500ms", "2m", "1h", "250us", "3ns" or a bare number of seconds. -EINVAL otherwise. */
int ctl_parse_duration(const char *s, uint64_t *ret_ns);

/*
 * A --mount, Docker's and nerdctl's syntax with ctr's default type (bind) and options=a:b:
 * type=bind|tmpfs|volume, src|source, dst|destination|target, ro|readonly[=true|false],
 * size= (tmpfs; bytes with k/m/g/t suffixes) and mode= (tmpfs, octal), volume-nocopy (volume),
 * bind-propagation=[r]private|[r]shared|[r]slave and bind-nonrecursive (bind).
 * Without options= a bind or volume gets rbind and rw (ro: ro plus rro, recursively read-only),
 * a tmpfs nosuid,nodev,noexec. A volume is {"type": "volume", "source": NAME} in the spec, which
 * wharfd resolves at task creation; without src it gets a generated name and is anonymous.
 * -EINVAL naming the spec and what is wrong: missing or relative dst, a bind without src or
 * with a relative one, an unknown key or type, size or mode on a non-tmpfs, a bad size, a bad
 * volume name. Whether a bind source exists is checked by wharfd (the daemon's view counts).
 */
struct ctl_mount {
	char *type, *source, *destination;
	char **options;
	bool anonymous; /* a volume named here */
};
int ctl_parse_mount(const char *spec, struct ctl_mount *ret, struct wh_err **err);
/*
 * Docker's -v/--volume: "/host:/path[:OPTS]" binds, "name:/path[:OPTS]" is a named volume,
 * "/path" an anonymous one; OPTS are ro, rw, nocopy and the propagation modes ([r]private,
 * [r]shared, [r]slave), comma-separated. The same mounts and checks as ctl_parse_mount.
 */
int ctl_parse_volume_flag(const char *spec, struct ctl_mount *ret, struct wh_err **err);
/* "64m", "1g", "2MiB", "4096": bytes (k = 1024). -EINVAL, -ERANGE. */
int ctl_parse_size(const char *s, uint64_t *ret);
/* A volume name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 255 bytes. */
bool ctl_volume_name_valid(const char *name);
/* The container labels that record the volumes a container uses (wharfd's in-use check). */
#define CTL_LABEL_VOLUMES "wharf/volumes"
#define CTL_LABEL_VOLUMES_ANONYMOUS "wharf/volumes.anonymous"
void ctl_mount_release(struct ctl_mount *m);

/* The flags of `run` and `containers create` (create refuses --rm and -d). */
struct ctl_run_opts {
	bool rm, tty, detach;
	char **env;		  /* K=V, allocated */
	struct ctl_mount *mounts; /* allocated */
	size_t n_mounts;
	const char *runtime;	    /* default CTL_DEFAULT_RUNTIME */
	const char *runtime_binary; /* runc Options.binary_name (runc, crun, wharf-oci) or NULL */
	const char *user;	    /* U[:G] or NULL */
	const char *cwd;	    /* NULL: the image's */
	const char *snapshotter;    /* NULL: the daemon's default */
	char **labels;		    /* K=V, allocated */
	const char *image, *id;
	char **args; /* borrowed from argv: the rest after ID, NULL-terminated (may be empty) */
	/* Networking (--net, -p, --dns, --add-host, --hostname): checked here, then stated to
	 * wharfd in the wharf/networks, wharf/ports, wharf/dns, wharf/add-hosts and
	 * wharf/hostname labels (added to labels; JSON lists). Allocated. */
	char **networks; /* none, host or network names; default CTL_DEFAULT_NETWORK */
	char **ports;	 /* JSON objects {"hostPort","containerPort","protocol"[,"hostIP"]} */
	char **dns, **add_hosts;
	char *hostname;
};
#define CTL_DEFAULT_NETWORK "wharf0"

enum ctl_run_mode {
	CTL_RUN_MODE_RUN,
	CTL_RUN_MODE_CREATE,
};

/* Parses argv[0..argc) (argv[0] is the command word). -EINVAL with a message naming the flag. */
int ctl_parse_run(int argc, char **argv, enum ctl_run_mode mode, struct ctl_run_opts *ret,
		  struct wh_err **err);
void ctl_run_opts_release(struct ctl_run_opts *o);

/* ---- spec.c ---- */

/* What an image's config says about the process (OCI image-spec config.config). */
struct ctl_image_config {
	char **env, **entrypoint, **cmd;
	char *working_dir, *user;
	char **diff_ids; /* rootfs.diff_ids */
};
/* Parses an OCI (or Docker) image config blob. */
int ctl_image_config_parse(const char *json, size_t len, struct ctl_image_config *ret,
			   struct wh_err **err);
void ctl_image_config_release(struct ctl_image_config *c);

/* The OCI chain ID of diff_ids (image-spec: ChainID(L0|..|Ln)). -EINVAL when empty or bad. */
int ctl_chain_id(char *const *diff_ids, char out[DIGEST_STR_LEN], struct wh_err **err);

struct ctl_spec_opts {
	const char *id;	   /* hostname; also the cgroup name */
	const char *ns;	   /* the cgroups path is /<ns>/<id> as containerd's */
	char *const *args; /* replaces the image's Entrypoint and Cmd when non-empty (ctr) */
	char *const *env;  /* K=V appended after the image's (later wins) */
	bool tty;	   /* process.terminal */
	const char *user;  /* uid[:gid] (numbers, or "root"); NULL: the image's */
	const char *cwd;   /* NULL: the image's WorkingDir, else "/" */
	const struct ctl_mount *mounts;
	size_t n_mounts;
	bool no_seccomp;   /* leave linux.seccomp out */
	bool host_network; /* --net host: no network namespace of its own */
};

/*
 * Generates containerd's default spec (populateDefaultUnixSpec + WithImageConfig): the default
 * capability set, namespaces, mounts, masked and read-only paths, rlimit NOFILE 1024, no
 * devices beyond the default ones, the default seccomp profile, then the image's
 * Env/Entrypoint/Cmd/WorkingDir/User and the options'. ic may be NULL (no image config).
 * -EINVAL when no args result, or the user is not numeric.
 */
int ctl_spec_generate(const struct ctl_spec_opts *o, const struct ctl_image_config *ic,
		      char **ret_json, size_t *ret_len, struct wh_err **err);

/*
 * The process of an exec (ctr's): the container spec's process with args, terminal and (when
 * non-NULL) cwd replaced, as runtime-spec Process JSON.
 */
int ctl_process_from_spec(const char *spec, size_t len, char *const *args, bool tty,
			  const char *cwd, char **ret_json, size_t *ret_len, struct wh_err **err);

/* "uid[:gid]" or "root" -> numbers (gid defaults to uid's 0 when absent as containerd's). */
int ctl_parse_user(const char *s, uint32_t *ret_uid, uint32_t *ret_gid, struct wh_err **err);

/* ---- client.c ---- */

struct ctl_client {
	struct ev_loop *loop;
	struct ttrpc_client *c;
	const char *address, *ns;
	uint64_t timeout_ns;
};

/*
 * Connects to g->address. When nothing listens there (-ECONNREFUSED, -ENOENT, -ENOTDIR): "cannot
 * connect to ADDR: is wharfd running?"; other failures (-EACCES ...) name the cause.
 */
int ctl_client_open(const struct ctl_global *g, struct ctl_client **ret, struct wh_err **err);
struct ctl_client *ctl_client_free(struct ctl_client *c);
/*
 * One unary call of service/method with the namespace and timeout. The error message is the
 * daemon's status message (a lost connection gives "wharfd closed the connection").
 */
int ctl_call(struct ctl_client *c, const char *service, const char *method,
	     const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
	     ProtobufCMessage **ret, struct wh_err **err);
/* The same with no timeout (Wait, Pull). */
int ctl_call_long(struct ctl_client *c, const char *service, const char *method,
		  const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
		  ProtobufCMessage **ret, struct wh_err **err);
/* Calls from now on carry containerd-lease: lease (NULL: none again). */
void ctl_client_set_lease(struct ctl_client *c, const char *lease);
/* The metadata array for async calls: {"containerd-namespace", ns, [lease,] NULL}. Owned by c. */
const char *const *ctl_client_metadata(struct ctl_client *c);

/* ---- image.c ---- */

/* Reads a whole blob through the content service (1 MiB per call), at most max bytes. */
int ctl_content_read(struct ctl_client *c, const char *digest, size_t max, char **ret,
		     size_t *ret_len, struct wh_err **err);

struct ctl_image {
	char *name;
	char *target_digest, *target_media_type;
	char *manifest_digest;
	char *config_digest;
	struct ctl_image_config config;
	char chain_id[DIGEST_STR_LEN];
};
/*
 * Gets image name (or its normalized form), walks an index to this host's platform (linux/<arch>),
 * reads the manifest and the config. -ENOENT with `image "NAME" not found` when there is no such
 * image.
 */
int ctl_image_resolve(struct ctl_client *c, const char *name, struct ctl_image *ret,
		      struct wh_err **err);
void ctl_image_release(struct ctl_image *img);
/*
 * Docker-style normalization of a reference: "busybox" -> "docker.io/library/busybox:latest",
 * "me/x" -> "docker.io/me/x:latest", "host:5000/x" -> "host:5000/x:latest"; a digest or tag is
 * kept. Caller frees. Image lookups try the name as given first, then this form.
 */
char *ctl_normalize_ref(const char *ref);
/* This host's OCI architecture name ("amd64", "arm64", ...). */
const char *ctl_host_arch(void);
/* From an index's JSON, the manifest digest for linux/arch (first match); -ENOENT if none. */
int ctl_index_pick(const char *json, size_t len, const char *arch, char **ret_digest,
		   char **ret_media_type, struct wh_err **err);

/* A platform to select from an index. os NULL (in a non-NULL ctl_platform): every platform. */
struct ctl_platform {
	const char *os, *arch, *variant; /* variant NULL or "": any */
};
/*
 * containerd's image.Usage: the sum of the sizes of the image's target (index or manifest), the
 * manifests selected from indexes (plat NULL: linux/<this host's arch>) and their config and
 * layer blobs, each digest counted once. Manifests and indexes are read through the content
 * service; config and layer sizes are their descriptors'. -ENOENT with `image "NAME" not found`.
 */
int ctl_image_usage(struct ctl_client *c, const char *name, const struct ctl_platform *plat,
		    int64_t *ret_size, struct wh_err **err);
/* The same from a target digest (an image record's). */
int ctl_usage_of(struct ctl_client *c, const char *target_digest, const struct ctl_platform *plat,
		 int64_t *ret_size, struct wh_err **err);

/* ---- fmt.c ---- */

/* Human sizes: "1.2 MiB", "512 B". Caller frees. */
char *ctl_fmt_size(int64_t n);
/* One progress line: "REF [====      ] DONE/TOTAL" (REF cut to 24 columns; total <= 0: "?"). */
#define CTL_PROGRESS_WIDTH 40
char *ctl_fmt_progress(const char *ref, int64_t offset, int64_t total);
/* A text table: rows of cells separated by columns padded to the widest (tabwriter-like). */
struct ctl_table;
struct ctl_table *ctl_table_new(size_t ncols);
/* Adds a row of ncols cells (copied; NULL prints as "-"). */
void ctl_table_add(struct ctl_table *t, const char *const *cells);
/* Renders with two spaces between columns; the caller frees. */
char *ctl_table_render(const struct ctl_table *t);
struct ctl_table *ctl_table_free(struct ctl_table *t);
