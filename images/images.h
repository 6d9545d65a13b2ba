/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The public header of libimages: image references, platforms, OCI and Docker manifests and
 * indexes, the registry client (OCI distribution-spec /v2/ over libcurl's multi interface: auth,
 * mirrors and hosts.toml, TLS, retries, parallel and resumable blob downloads, uploads), pull and
 * push of whole images, pull into the content store (content/) with unpacking into snapshots
 * (snapshots/) while downloading, and OCI layout directories as a store and a source.
 *
 * Everything here is synchronous and blocking: call it from a worker thread, never from the
 * supervisor's loop. Objects are owned by one caller; a client is not thread-safe.
 * Errors follow common/err.h: -errno and a message naming what was wrong.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"

struct wh_err;

/* ---- references ---- */

#define IMG_DEFAULT_DOMAIN "docker.io"
#define IMG_DEFAULT_TAG "latest"

/*
 * A normalized reference. "busybox" -> domain "docker.io", path "library/busybox", tag
 * "latest". tag is NULL when only a digest was given; both may be set ("name:tag@digest",
 * where the digest wins for fetching).
 */
struct img_ref {
	char *domain; /* "docker.io", "127.0.0.1:5000", "[::1]:5000" */
	char *path;   /* "library/busybox" */
	char *tag;    /* "latest", or NULL */
	char *digest; /* "sha256:<hex>", or NULL */
};

/* Parses and normalizes s. -EINVAL with "invalid reference 's': <what is wrong>". */
int img_ref_parse(const char *s, struct img_ref *ret, struct wh_err **err);
void img_ref_release(struct img_ref *r);
/* "domain/path[:tag][@digest]". Caller frees. */
char *img_ref_string(const struct img_ref *r);
/* "domain/path". Caller frees. */
char *img_ref_name(const struct img_ref *r);
/* What to ask the registry for: the digest when set, else the tag. */
const char *img_ref_object(const struct img_ref *r);
/* Checks a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}). */
bool img_tag_is_valid(const char *tag);

/* ---- platforms ---- */

struct img_platform {
	char *os;	  /* "linux" */
	char *arch;	  /* normalized: "amd64", "arm64", "arm", "386", ... */
	char *variant;	  /* normalized ("v8" for arm64), or NULL */
	char *os_version; /* Windows only, or NULL */
};

/*
 * Parses "os[/arch[/variant]]" or "arch" alone (os = linux), normalizing aliases as containerd
 * does (x86_64 -> amd64, aarch64 -> arm64 with variant v8, armhf -> arm/v7). -EINVAL naming
 * the bad part.
 */
int img_platform_parse(const char *s, struct img_platform *ret, struct wh_err **err);
/* This host's platform (uname, and the arm variant). */
void img_platform_host(struct img_platform *ret);
void img_platform_release(struct img_platform *p);
void img_platform_copy(struct img_platform *dst, const struct img_platform *src);
/* "os/arch[/variant]". Caller frees. */
char *img_platform_string(const struct img_platform *p);
/*
 * 0 when have does not satisfy want; otherwise a positive score, higher is better: an exact
 * variant beats a compatible one (arm v6 runs on a v7 host; an empty variant matches any).
 * os and arch must be equal after normalization.
 */
int img_platform_match(const struct img_platform *want, const struct img_platform *have);

/* ---- descriptors, manifests, indexes ---- */

#define IMG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMG_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define IMG_MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define IMG_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
/* The Accept header of a manifest request, as containerd sends it. */
#define IMG_MANIFEST_ACCEPT                                                     \
	IMG_MT_DOCKER_MANIFEST ", " IMG_MT_DOCKER_LIST ", " IMG_MT_OCI_MANIFEST \
			       ", " IMG_MT_OCI_INDEX ", */*"
/* Largest manifest or index accepted from a peer (containerd's bound). */
#define IMG_MAX_MANIFEST_SIZE (4 * 1048 * 1048)
/* Largest number of entries (layers, manifests) accepted in one document. */
#define IMG_MAX_ENTRIES 4096

struct img_desc {
	char *media_type;
	char *digest;
	uint64_t size;
	bool has_platform;
	struct img_platform platform;
	char **urls;	    /* strv or NULL */
	char **annotations; /* strv of key, value pairs, or NULL */
};

void img_desc_release(struct img_desc *d);
void img_desc_copy(struct img_desc *dst, const struct img_desc *src);
/* The value of an annotation, or NULL. */
const char *img_desc_annotation(const struct img_desc *d, const char *key);

enum img_kind {
	IMG_KIND_INDEX,	   /* OCI index or Docker manifest list */
	IMG_KIND_MANIFEST, /* OCI manifest or Docker schema 2 */
};

struct img_manifest {
	enum img_kind kind;
	char *media_type; /* of the document itself */
	/* IMG_KIND_INDEX */
	struct img_desc *manifests;
	size_t n_manifests;
	/* IMG_KIND_MANIFEST */
	struct img_desc config;
	struct img_desc *layers;
	size_t n_layers;
};

bool img_media_type_is_index(const char *mt);
bool img_media_type_is_manifest(const char *mt);

/*
 * Parses a manifest or an index. media_type is the type the peer announced (Content-Type or a
 * descriptor's mediaType), or NULL; the document's own mediaType field and shape decide when
 * they are absent. Docker schema 1 is refused with -ENOTSUP naming it; malformed documents
 * get -EBADMSG naming the field. Every descriptor's digest is validated.
 */
int img_manifest_parse(const char *media_type, const char *data, size_t len,
		       struct img_manifest *ret, struct wh_err **err);
void img_manifest_release(struct img_manifest *m);

/*
 * Picks entries of an index for a platform. want == NULL selects every entry; otherwise the
 * single best match (-ENOENT naming the wanted platform and those on offer when none fits).
 * *ret_idx is a malloc'ed array of indexes into m->manifests.
 */
int img_index_select(const struct img_manifest *m, const struct img_platform *want,
		     size_t **ret_idx, size_t *ret_n, struct wh_err **err);

/* ---- registry auth ---- */

struct img_challenge {
	char *scheme; /* "bearer", "basic" (lowercased) */
	char *realm;
	char *service;
	char *scope;
	char *error; /* error="insufficient_scope" and the like, or NULL */
};

/*
 * Parses one WWW-Authenticate header value, which may hold several challenges
 * ("Basic realm=\"x\", Bearer realm=\"y\",service=\"z\""). -EBADMSG on malformed input.
 */
int img_challenges_parse(const char *header, struct img_challenge **ret, size_t *ret_n,
			 struct wh_err **err);
void img_challenges_free(struct img_challenge *c, size_t n);

/*
 * Looks host up in a Docker config.json (its "auths": keys "host", "https://host",
 * "http://host/..." and, for docker.io, "https://index.docker.io/v1/"). "auth" is base64 of
 * "user:pass"; "username"/"password" are read too. Returns 1 and sets *ret_user and *ret_pass
 * (caller frees) when found, 0 when not, -errno on a malformed file.
 */
int img_docker_config_lookup(const char *json, size_t len, const char *host, char **ret_user,
			     char **ret_pass, struct wh_err **err);

/* ---- hosts: registries and mirrors ---- */

enum img_host_caps {
	IMG_CAP_PULL = 1 << 0,
	IMG_CAP_RESOLVE = 1 << 1,
	IMG_CAP_PUSH = 1 << 2,
};

/* One endpoint (containerd hosts.toml's [host."..."]). */
struct img_endpoint {
	char *url;	    /* "https://mirror.local:5000" or "http://127.0.0.1:5001" */
	unsigned caps;	    /* IMG_CAP_*; 0 means pull|resolve */
	bool skip_verify;   /* TLS: do not verify the peer */
	char *ca_file;	    /* TLS: extra CA bundle, or NULL for the system's */
	bool override_path; /* url already holds the API root (no "/v2" appended) */
};

/* A registry and its mirrors (one hosts.toml: server + hosts). */
struct img_host_config {
	char *name;		      /* the domain as in references: "docker.io", "host:5000" */
	struct img_endpoint *mirrors; /* tried in order before the registry itself */
	size_t n_mirrors;
	char *server; /* the registry's URL, or NULL for https://<name> (docker.io: registry-1) */
	bool plain_http; /* talk http to the registry */
	bool skip_verify;
	char *ca_file;
	char *user, *pass; /* credentials for this registry, or NULL */
};

void img_host_config_release(struct img_host_config *h);

/*
 * Parses a containerd hosts.toml for the registry name: server, ca, skip_verify and
 * [host."<url>"] tables (capabilities, ca, skip_verify, override_path), mirrors in file order.
 * source names the text in errors ("<source>:<line>:<col>: ..."); unsupported keys (header,
 * client) are refused with -ENOTSUP naming them.
 */
int img_hosts_parse(const char *name, const char *text, size_t len, const char *source,
		    struct img_host_config *ret, struct wh_err **err);
/*
 * Loads dir/<name>/hosts.toml, else dir/_default/hosts.toml (containerd's config_path layout).
 * 1 when one was loaded, 0 when neither exists.
 */
int img_hosts_load(const char *dir, const char *name, struct img_host_config *ret,
		   struct wh_err **err);

/* ---- the registry client ---- */

typedef void img_progress_fn(void *userdata, const char *digest, uint64_t done, uint64_t total);

struct img_client_opts {
	const char
		*docker_config;	 /* config.json path; NULL: $DOCKER_CONFIG or ~/.docker; "": none */
	const char *user, *pass; /* explicit credentials for every registry, or NULL */
	const char *ca_file;	 /* extra CA bundle for every registry, or NULL */
	const char *hosts_dir;	 /* containerd config_path: <dir>/<host>/hosts.toml, or NULL */
	bool skip_verify;	 /* do not verify TLS peers anywhere */
	char **plain_http_hosts; /* strv of domains spoken to in plain http */
	unsigned max_parallel;	 /* concurrent transfers; 0: 4 */
	unsigned retries;	 /* per request on 5xx/429/resets; 0: 3 */
	unsigned backoff_ms;	 /* first retry delay, doubled each time; 0: 200 */
	unsigned chunk_size;	 /* push: upload chunk size; 0: monolithic */
	const char *user_agent;	 /* NULL: "wharf/<version>" */
	img_progress_fn *progress; /* per blob, may be NULL */
	void *progress_userdata;
};

/* Counters for tests and benchmarks. */
struct img_client_stats {
	uint64_t requests;	  /* HTTP requests completed (incl. retries and token fetches) */
	uint64_t connects;	  /* new connections made */
	uint64_t http2;		  /* requests answered over HTTP/2 */
	uint64_t retries;	  /* retried attempts */
	uint64_t resumed;	  /* blob transfers resumed with a Range request */
	uint64_t tokens;	  /* bearer tokens fetched */
	uint64_t bytes;		  /* body bytes received into sinks */
	uint64_t blobs_skipped;	  /* push: already present (HEAD) */
	uint64_t blobs_mounted;	  /* push: cross-repository mounts */
	uint64_t blobs_uploaded;  /* push: uploaded */
	uint64_t chunks_uploaded; /* push: PATCH requests */
};

struct img_client;

int img_client_new(const struct img_client_opts *o, struct img_client **ret, struct wh_err **err);
struct img_client *img_client_free(struct img_client *c);
/* Adds a host configuration (copied). A later one for the same name replaces the earlier. */
void img_client_add_host(struct img_client *c, const struct img_host_config *h);
void img_client_get_stats(const struct img_client *c, struct img_client_stats *ret);

/*
 * Where a download goes. The client calls prime once before the first byte when offset > 0
 * (feed the bytes already held into d so that the digest covers the whole blob), truncate
 * when the server ignored a Range request (drop what is held and start from 0), write for
 * each piece in order, and commit only after the size and digest were verified. A sink that
 * was not committed keeps what it holds, so a later fetch can resume from it.
 */
struct img_sink {
	/*
	 * Set when commit itself verifies size and digest against the expected ones (the content
	 * store's ingest hashes while writing): the client then skips its own hashing and prime.
	 * A verifying commit fails with -EINVAL or -EBADMSG on a mismatch.
	 */
	bool verifies;
	int (*prime)(struct img_sink *s, uint64_t offset, struct digester *d, struct wh_err **err);
	int (*truncate)(struct img_sink *s, struct wh_err **err);
	int (*write)(struct img_sink *s, const void *buf, size_t len, struct wh_err **err);
	int (*commit)(struct img_sink *s, const char *digest, uint64_t size, struct wh_err **err);
};

/* One blob download for img_fetch_blobs. */
struct img_fetch {
	const struct img_desc *desc; /* digest and size to verify */
	/* Called in the calling thread as soon as this fetch is committed or has failed. */
	void (*on_done)(struct img_fetch *f, int result);
	void *userdata;
	struct img_sink *sink;
	uint64_t offset;    /* bytes the sink already holds: resume with Range from here */
	int result;	    /* out: 0 when committed, -errno otherwise */
	struct wh_err *err; /* out: the failure, owned by the caller */
};

/*
 * Resolves ref (a tag or digest) to its root descriptor and returns the manifest or index
 * bytes (verified against the digest in ref and the Docker-Content-Digest header).
 */
int img_resolve(struct img_client *c, const struct img_ref *ref, struct img_desc *ret_desc,
		char **ret_data, size_t *ret_len, struct wh_err **err);
/* Fetches a manifest or index by descriptor from ref's repository, verified. */
int img_fetch_manifest(struct img_client *c, const struct img_ref *ref, const struct img_desc *d,
		       char **ret_data, size_t *ret_len, struct wh_err **err);
/*
 * Downloads blobs from ref's repository, up to max_parallel at once, verifying size and digest
 * while streaming, retrying and resuming as configured. Each fetch gets its own result;
 * returns 0 when all were committed, else the first failure (also in *err).
 */
int img_fetch_blobs(struct img_client *c, const struct img_ref *ref, struct img_fetch *v, size_t n,
		    struct wh_err **err);

/* ---- pull and push of whole images ---- */

/* Where a pull puts blobs: manifests, configs and layers alike. */
struct img_store {
	/* 1 when the blob is present and complete, 0 when not. */
	int (*has)(struct img_store *s, const struct img_desc *d, struct wh_err **err);
	/* Opens a sink for d; *ret_offset is what is already held from an earlier attempt. */
	int (*open)(struct img_store *s, const struct img_desc *d, struct img_sink **ret,
		    uint64_t *ret_offset, struct wh_err **err);
	/* Releases a sink from open (committed or not). */
	void (*close)(struct img_store *s, struct img_sink *sink);
};

/* Where a push reads blobs from. */
struct img_source {
	/* Opens the blob d for reading (O_CLOEXEC fd; the client reads d->size bytes from 0). */
	int (*open)(struct img_source *s, const struct img_desc *d, int *ret_fd,
		    struct wh_err **err);
};

struct img_pull_opts {
	const struct img_platform *platform; /* NULL: this host's */
	bool all_platforms;		     /* every manifest of an index */
	/*
	 * Hooks, called in the calling thread, may be NULL: manifest_cb with each image manifest
	 * chosen (verified and stored) before its blobs are fetched; blob_cb as each config or
	 * layer is complete in the store (fetched now, or already there) or failed (result < 0).
	 */
	void (*manifest_cb)(void *userdata, const struct img_desc *d, const char *data, size_t len);
	void (*blob_cb)(void *userdata, const struct img_desc *d, int result);
	void *userdata;
};

/*
 * Pulls ref into store: the root manifest or index, the selected manifests, their configs and
 * layers (in parallel, skipping what the store has). *ret_root gets the root descriptor.
 */
int img_pull(struct img_client *c, const struct img_ref *ref, const struct img_pull_opts *o,
	     struct img_store *store, struct img_desc *ret_root, struct wh_err **err);

struct img_push_opts {
	const char *mount_from; /* a repository path on the same registry to mount blobs from */
};

/*
 * Pushes the image rooted at root (a manifest or an index; every child must be in src) to
 * ref: blobs first (HEAD to skip, mount, then monolithic or chunked upload), then manifests
 * by digest, then the root under ref's tag (or digest).
 */
int img_push(struct img_client *c, const struct img_ref *ref, const struct img_desc *root,
	     struct img_source *src, const struct img_push_opts *o, struct wh_err **err);
/* Tags the manifest ref points at as tag in the same repository. */
int img_tag_remote(struct img_client *c, const struct img_ref *ref, const char *tag,
		   struct wh_err **err);

/* ---- the content store as a pull store ---- */
struct content_store;

/*
 * A store over content/content.h: blobs are written through resumable ingests keyed by
 * img_ref_key(d), so a later pull of the same blob resumes where an interrupted one stopped
 * (with a Range request), and a blob is visible only once the store verified it. cs is
 * borrowed and must outlive the store.
 */
struct img_store *img_content_store_new(struct content_store *cs);
struct img_store *img_content_store_free(struct img_store *s);
/* containerd's ingest ref key: "layer-", "config-", "manifest-" or "index-" + digest. */
char *img_ref_key(const struct img_desc *d);

/* ---- unpacking into snapshots ---- */
struct snapshotter;

struct img_unpack_result {
	char chain_id[DIGEST_STR_LEN]; /* the committed snapshot of the whole image */
	size_t layers;		       /* layers in the image */
	size_t applied;		       /* layers applied now */
	size_t reused;		       /* layers whose snapshot (by chain ID) already existed */
};

/*
 * Unpacks the image manifest d, whose config and layers are in cs, into sn: each layer is
 * applied on a fresh active snapshot over its parent, its diff ID checked against the
 * config's rootfs.diff_ids, and committed under its chain ID; snapshots already there are
 * reused. On failure the active snapshot is removed and nothing half-made stays.
 */
int img_unpack(struct content_store *cs, struct snapshotter *sn, const struct img_desc *d,
	       struct img_unpack_result *ret, struct wh_err **err);
/*
 * Pulls ref into cs and unpacks it into sn while it downloads: layers are fetched in parallel
 * and applied in order, each as soon as it and those below it are complete. One platform only
 * (o->all_platforms is refused).
 */
int img_pull_unpack(struct img_client *c, const struct img_ref *ref, const struct img_pull_opts *o,
		    struct content_store *cs, struct snapshotter *sn, struct img_desc *ret_root,
		    struct img_unpack_result *ret, struct wh_err **err);

/* ---- OCI layout directories (image-layout 1.0.0) ---- */

struct img_layout;

/*
 * Opens an OCI layout at dir (creating oci-layout, index.json and blobs/ when create is set).
 * Unfinished downloads live in dir/.ingest/<hex> and are resumed by the store.
 */
int img_layout_open(const char *dir, bool create, struct img_layout **ret, struct wh_err **err);
struct img_layout *img_layout_free(struct img_layout *l);
struct img_store *img_layout_store(struct img_layout *l);
struct img_source *img_layout_source(struct img_layout *l);
/* Adds (or replaces) root in index.json under org.opencontainers.image.ref.name = name. */
int img_layout_add(struct img_layout *l, const struct img_desc *root, const char *name,
		   struct wh_err **err);
/* Finds the root named name (NULL: the only entry). -ENOENT naming it when absent. */
int img_layout_find(struct img_layout *l, const char *name, struct img_desc *ret,
		    struct wh_err **err);
/* The path of a blob in the layout. Caller frees. */
char *img_layout_blob_path(struct img_layout *l, const char *digest);

/* ---- descriptor JSON ---- */
struct yajl_gen_t;
/* Writes d as an OCI descriptor object. */
void img_desc_gen(struct yajl_gen_t *g, const struct img_desc *d);

/* ==== import/export of image archives (images/archive.c) ==== */

struct content_store;

/* One image of an archive: its name (normalized reference, or NULL) and target descriptor. */
struct img_archive_image {
	char *name;
	struct img_desc target;
};

void img_archive_images_free(struct img_archive_image *v, size_t n);

/* Largest JSON file (oci-layout, index.json, manifest.json, repositories) read from an archive. */
#define IMG_ARCHIVE_MAX_JSON IMG_MAX_MANIFEST_SIZE

struct img_import_opts {
	/*
	 * Joined to an org.opencontainers.image.ref.name that is only a tag ("latest" ->
	 * "<base_name>:latest"); NULL leaves such images unnamed. A ref.name that is a full
	 * reference, and io.containerd.image.name, are used as they are (normalized).
	 */
	const char *base_name;
};

/*
 * Reads a tar stream (plain, gzip or zstd) from fd and imports it into cs: an OCI layout
 * (oci-layout, index.json, blobs/sha256/<hex>) or a docker-archive (`docker save`: manifest.json,
 * config JSON and layer tars, symlinked layers allowed), for which a Docker schema 2 manifest is
 * synthesized as containerd's importer does (byte for byte, so digests agree). Every blob's
 * digest is verified while it streams. Nothing is committed before the whole archive was read
 * and every referenced blob checked: a wrong digest, a truncated entry, a missing blob, an entry
 * outside blobs/ in an OCI layout, a path with "..", a symlink or hard link in blobs/, or a JSON
 * file over IMG_ARCHIVE_MAX_JSON fails with an error naming the entry, and the staged ingests
 * are removed. Only blobs that images reference are committed. Writes go only through the
 * content store. *ret (free with img_archive_images_free) lists the images: for an OCI layout
 * one per index.json entry, for a docker-archive one per RepoTag (an entry without tags gives
 * one unnamed image).
 */
int img_archive_import(struct content_store *cs, int fd, const struct img_import_opts *o,
		       struct img_archive_image **ret, size_t *ret_n, struct wh_err **err);

enum img_archive_format {
	IMG_ARCHIVE_OCI,    /* OCI layout tar (oci-layout, index.json, blobs/) */
	IMG_ARCHIVE_DOCKER, /* docker-archive: manifest.json (RepoTags) + blobs/sha256/<hex> */
};

struct img_export_opts {
	enum img_archive_format format;
	const struct img_platform *platform; /* NULL: this host's */
	bool all_platforms;		     /* OCI only: every manifest of an index */
};

/*
 * Writes the images v[0..n) (targets from cs; names may be NULL) as a tar stream to fd. OCI:
 * index.json lists each target with io.containerd.image.name (the name) and
 * org.opencontainers.image.ref.name (its tag, or the name without one); an index is exported
 * whole with the manifests of the selected platform(s) and their blobs. Docker: one
 * manifest.json entry per image (one platform each), RepoTags in familiar form. The bytes are
 * a function of the input only: sorted entries, mtime 0, uid/gid 0, fixed modes. Blobs are
 * verified against their digests while they are copied. On failure the stream is incomplete:
 * the caller discards it.
 */
int img_archive_export(struct content_store *cs, const struct img_archive_image *v, size_t n,
		       const struct img_export_opts *o, int fd, struct wh_err **err);
