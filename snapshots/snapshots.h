/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshotters (containerd's Snapshotter model), the mount descriptions they hand out and the
 * helper that performs them, OCI layer apply (tar, gzip, zstd; hostile archives contained) and
 * diff, and OCI chain IDs.
 *
 * A snapshotter lives in its own root directory (by convention <root>/snapshots/<name>/, e.g.
 * /var/lib/wharf/snapshots/overlay). Inside it: metadata.db (SQLite, WAL), and one directory
 * per snapshot <id>/ holding fs/ (and work/ for overlay). Keys and names are arbitrary strings
 * (1..4096 bytes); callers above (metadata) namespace them.
 *
 * Error codes (negative errno, with a struct wh_err message), mapped to containerd's errdefs:
 *   -ENOENT  not found             -EEXIST  already exists
 *   -EINVAL  invalid argument      -EBUSY   failed precondition (has children, wrong kind)
 *   -ENOTSUP not implemented / not supported on this host
 *
 * Thread safety: one snapshotter handle may be used from several threads; calls are serialized
 * inside. Handles from different processes on the same root are safe for metadata (SQLite
 * locking) but not recommended.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "common/digest.h"

struct wh_err;

/* ---- mounts (containerd.types.Mount) ---- */

struct wh_mount {
	char *type;	/* "overlay", "bind", "tmpfs", ... */
	char *source;	/* a path, or the fs type name for virtual filesystems */
	char *target;	/* a path relative to the mount point the list is applied on; NULL = "" */
	char **options; /* NULL-terminated strv, e.g. {"ro", "rbind", NULL} */
};

struct wh_mount_list {
	struct wh_mount *v;
	size_t n;
};

void wh_mount_list_done(struct wh_mount_list *l); /* frees the contents, leaves {NULL, 0} */
void wh_mount_list_add(struct wh_mount_list *l, const char *type, const char *source,
		       const char *target, char *const *options);
void wh_mount_list_copy(struct wh_mount_list *dst, const struct wh_mount_list *src);

/*
 * Performs the mounts of l, in order, on the directory target (containerd's mount.All):
 * mount i goes to target/l->v[i].target. Understands the mount(8) flag options (ro, rw, nosuid,
 * nodev, noexec, bind, rbind, private, ...), passes the rest as data. A "bind" mount with "ro"
 * is remounted read-only. An overlay whose option string does not fit a page is performed from
 * the common parent of its layer directories with short relative paths (in a forked child that
 * chdirs there), as containerd does (the kernel still caps an overlay at 500 layers). On
 * failure the mounts already made are undone.
 */
int wh_mount_all(const struct wh_mount_list *l, const char *target, struct wh_err **err);

/* Unmounts everything stacked on target (repeats until it is no mount point). flags are
 * umount2(2) flags (e.g. MNT_DETACH). Not being a mount point is success. */
int wh_unmount_all(const char *target, int flags, struct wh_err **err);

/* ---- snapshotter ---- */

enum snapshot_kind {
	SNAPSHOT_KIND_UNKNOWN = 0,
	SNAPSHOT_KIND_VIEW = 1,
	SNAPSHOT_KIND_ACTIVE = 2,
	SNAPSHOT_KIND_COMMITTED = 3, /* the values of containerd's snapshot Info.kind */
};
/* "view", "active", "committed" ("unknown" otherwise); and the reverse (-EINVAL). */
const char *snapshot_kind_to_string(enum snapshot_kind k);
int snapshot_kind_from_string(const char *s, enum snapshot_kind *ret);

/*
 * Labels are a NULL-terminated strv of alternating keys and values:
 * {"k1", "v1", "k2", "v2", NULL}. Keys are unique; a NULL labels pointer means none.
 */
struct snapshot_info {
	char *name;   /* the key (active, view) or the committed name */
	char *parent; /* committed name of the parent, NULL for none */
	enum snapshot_kind kind;
	char **labels;
	uint64_t created_ns; /* CLOCK_REALTIME */
	uint64_t updated_ns;
};
void snapshot_info_done(struct snapshot_info *i);
/* The value of label key, or NULL. */
const char *snapshot_labels_get(char *const *labels, const char *key);

struct snapshot_usage {
	int64_t size;	/* bytes on disk (st_blocks * 512, each inode once) */
	int64_t inodes; /* distinct inodes */
};

/* Walk callback: return 0 to go on, > 0 to stop early (walk returns 0), < 0 to fail with it. */
typedef int (*snapshot_walk_fn)(const struct snapshot_info *info, void *userdata);

struct snapshotter; /* opaque */

/*
 * The vtable behind a snapshotter. The builtin ones are made by snapshotter_overlay_new and
 * snapshotter_native_new; other modules (metadata's namespaced view, proxies) may wrap one with
 * their own ops via snapshotter_new. Every op may be called with err == NULL.
 */
struct snapshotter_ops {
	const char *name; /* "overlayfs", "native", ... */
	int (*stat)(void *impl, const char *key, struct snapshot_info *ret, struct wh_err **err);
	/* fieldpaths: NULL or empty = replace all labels; "labels" = replace all labels;
	 * "labels.<key>" = set that label from info->labels, or delete it when info lacks it.
	 * Other fields are immutable (-EINVAL). ret (may be NULL) gets the updated info. */
	int (*update)(void *impl, const struct snapshot_info *info, char *const *fieldpaths,
		      struct snapshot_info *ret, struct wh_err **err);
	int (*usage)(void *impl, const char *key, struct snapshot_usage *ret, struct wh_err **err);
	int (*mounts)(void *impl, const char *key, struct wh_mount_list *ret, struct wh_err **err);
	int (*prepare)(void *impl, const char *key, const char *parent, char *const *labels,
		       struct wh_mount_list *ret, struct wh_err **err);
	int (*view)(void *impl, const char *key, const char *parent, char *const *labels,
		    struct wh_mount_list *ret, struct wh_err **err);
	int (*commit)(void *impl, const char *name, const char *key, char *const *labels,
		      struct wh_err **err);
	int (*remove)(void *impl, const char *key, struct wh_err **err);
	/* filters: NULL or a NULL-terminated strv of containerd filter expressions (ORed). */
	int (*walk)(void *impl, char *const *filters, snapshot_walk_fn fn, void *userdata,
		    struct wh_err **err);
	int (*cleanup)(void *impl, struct wh_err **err);
	void (*close)(void *impl);
};

/* Wraps impl with ops; snapshotter_close calls ops->close(impl). */
struct snapshotter *snapshotter_new(const struct snapshotter_ops *ops, void *impl);

/*
 * The builtin snapshotters over their own root directory (created 0700 when missing). overlay
 * mounts a test overlay at start and fails with -ENOTSUP when the kernel or the filesystem
 * under root cannot do it (callers fall back to native). native makes full copies.
 */
int snapshotter_overlay_new(const char *root, struct snapshotter **ret, struct wh_err **err);
int snapshotter_native_new(const char *root, struct snapshotter **ret, struct wh_err **err);
/* True when an overlay can be mounted with its layers on the filesystem holding dir. */
bool snapshots_overlay_supported(const char *dir);

/* Closes and frees; NULL-safe; returns NULL. */
struct snapshotter *snapshotter_close(struct snapshotter *s);
const char *snapshotter_name(const struct snapshotter *s);

/*
 * The operations (containerd semantics):
 * - stat: info of key (any kind). -ENOENT.
 * - prepare: a new active snapshot key on top of the committed snapshot parent (NULL or "" for
 *   none); ret gets its mounts (read-write). -EEXIST when key exists, -ENOENT when parent does
 *   not, -EBUSY when parent is not committed.
 * - view: like prepare, but a read-only view that can never be committed.
 * - mounts: the mounts of an active snapshot or a view (-EBUSY for committed ones).
 * - commit: turns active key into committed name (the same directory; key stops existing).
 *   labels, when given, replace the snapshot's labels.
 * - remove: -EBUSY while it has children.
 * - usage: of active snapshots computed now; of committed ones as of their commit.
 * - walk: every snapshot matching filters, in the syntax of common/filter.h (fields: name,
 *   parent, kind, labels.<key>; e.g. "kind==committed,labels.\"containerd.io/gc.root\"");
 *   the strv entries are ORed. The callback runs without the snapshotter's lock held.
 * - cleanup: removes directories (and unmounts anything below them) that no record owns:
 *   what a crash in the middle of prepare, commit or remove left behind.
 */
int snapshotter_stat(struct snapshotter *s, const char *key, struct snapshot_info *ret,
		     struct wh_err **err);
int snapshotter_update(struct snapshotter *s, const struct snapshot_info *info,
		       char *const *fieldpaths, struct snapshot_info *ret, struct wh_err **err);
int snapshotter_usage(struct snapshotter *s, const char *key, struct snapshot_usage *ret,
		      struct wh_err **err);
int snapshotter_mounts(struct snapshotter *s, const char *key, struct wh_mount_list *ret,
		       struct wh_err **err);
int snapshotter_prepare(struct snapshotter *s, const char *key, const char *parent,
			char *const *labels, struct wh_mount_list *ret, struct wh_err **err);
int snapshotter_view(struct snapshotter *s, const char *key, const char *parent,
		     char *const *labels, struct wh_mount_list *ret, struct wh_err **err);
int snapshotter_commit(struct snapshotter *s, const char *name, const char *key,
		       char *const *labels, struct wh_err **err);
int snapshotter_remove(struct snapshotter *s, const char *key, struct wh_err **err);
int snapshotter_walk(struct snapshotter *s, char *const *filters, snapshot_walk_fn fn,
		     void *userdata, struct wh_err **err);
int snapshotter_cleanup(struct snapshotter *s, struct wh_err **err);

/* ---- layers: apply and diff ---- */

#define SNAPSHOTS_MEDIA_TYPE_TAR "application/vnd.oci.image.layer.v1.tar"
#define SNAPSHOTS_MEDIA_TYPE_TAR_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define SNAPSHOTS_MEDIA_TYPE_TAR_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

enum layer_compression {
	LAYER_COMPRESSION_NONE,
	LAYER_COMPRESSION_GZIP,
	LAYER_COMPRESSION_ZSTD,
};
/*
 * From an OCI or Docker layer media type (…tar, …tar+gzip, …tar+zstd, the nondistributable
 * variants, application/vnd.docker.image.rootfs.diff.tar.gzip). NULL or "" = detect from magic.
 * -ENOTSUP for other media types.
 */
int layer_compression_from_media_type(const char *media_type, enum layer_compression *ret);
const char *layer_media_type(enum layer_compression c); /* the OCI media type */

/* Reads up to n bytes; returns the count, 0 at the end, -errno on failure. It is called from a
 * reader thread that apply starts (so it may block; apply returns only after it has returned). */
typedef ssize_t (*layer_read_fn)(void *userdata, void *buf, size_t n);

struct layer_apply_result {
	char diff_id[DIGEST_STR_LEN]; /* sha256 of the uncompressed tar stream */
	char digest[DIGEST_STR_LEN];  /* sha256 of the bytes read (the blob's digest) */
	uint64_t size;		      /* bytes read (compressed size) */
	uint64_t uncompressed_size;
};

/*
 * Applies one layer onto the mounts of an active snapshot (as returned by prepare): into the
 * upperdir of an overlay mount (whiteouts become 0/0 character devices, opaque directories get
 * trusted.overlay.opaque=y), or into the source of a bind mount (whiteouts are applied as
 * deletions). In an overlay upperdir, parent directories and hard-link targets that exist only
 * in the lower layers are copied up first (with their metadata), as overlay itself would. The
 * stream is read to its end (so digest covers the whole blob); the compression
 * comes from media_type and is checked against the magic bytes.
 *
 * Hostile archives: ".." components, names over NAME_MAX/PATH_MAX, duplicate entries (other
 * than a directory repeated) and unknown entry types are refused; overlay-private xattrs
 * (trusted.overlay.*) are dropped; absolute names, symlinks on the path (resolved inside the
 * root, never followed out), hard links and whiteouts are confined to the snapshot. Nothing is ever
 * created outside it. Errors name the entry. On error the snapshot is left partly applied: remove
 * it.
 */
int layer_apply(const struct wh_mount_list *mounts, int fd, const char *media_type,
		struct layer_apply_result *ret, struct wh_err **err);
int layer_apply_read(const struct wh_mount_list *mounts, layer_read_fn read_fn, void *userdata,
		     const char *media_type, struct layer_apply_result *ret, struct wh_err **err);

/* The lower-level form: onto directory fd dirfd; overlay_whiteouts chooses the whiteout form. */
int layer_apply_dir(int dirfd, bool overlay_whiteouts, layer_read_fn read_fn, void *userdata,
		    const char *media_type, struct layer_apply_result *ret, struct wh_err **err);

struct layer_diff_result {
	char diff_id[DIGEST_STR_LEN]; /* sha256 of the uncompressed tar */
	char digest[DIGEST_STR_LEN];  /* sha256 of the bytes written */
	uint64_t size;		      /* bytes written */
	uint64_t uncompressed_size;
	const char *media_type; /* static string */
};

/*
 * Writes to out_fd the OCI layer that turns the tree of lower into the tree of upper (upper:
 * mounts of a snapshot, e.g. an active one or a view; lower: mounts of its parent, or an empty
 * list). An overlay upper is read from its upperdir (or first lowerdir) directly; otherwise both
 * trees are compared file by file (type, mode, owner, size, mtime, device, link target,
 * xattrs), mounting them read-only on temporary directories when they are not plain binds.
 * Deletions become .wh.<name>, opaque directories .wh..wh..opq; hard links stay hard links.
 */
int layer_diff(const struct wh_mount_list *lower, const struct wh_mount_list *upper,
	       enum layer_compression compression, int out_fd, struct layer_diff_result *ret,
	       struct wh_err **err);

/*
 * OCI chain IDs: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " +
 * DiffID(Ln)). out gets n entries. -EINVAL (naming the index) on an invalid diff ID.
 */
int snapshots_chain_ids(const char *const *diff_ids, size_t n, char (*out)[DIGEST_STR_LEN],
			struct wh_err **err);
/* The chain ID of the whole stack (the last entry of the above). */
int snapshots_chain_id(const char *const *diff_ids, size_t n, char out[DIGEST_STR_LEN],
		       struct wh_err **err);
