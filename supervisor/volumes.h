/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Named volumes in wharfd: the store under <root>/volumes/<ns>/<name>/ (data in _data/, the
 * record volume.json beside it, written atomically), the Volumes service, the two steps of
 * Tasks.Create that give a container its volumes, and the pre-fill copy. Private to
 * supervisor/ (and its tests).
 *
 * How a container gets a volume: wharfctl puts a mount {"type": "volume", "source": NAME,
 * "destination": DST, "options": [...]} in the container's spec and names NAME in the
 * container's label "wharf/volumes" (comma-separated; anonymous ones also in
 * "wharf/volumes.anonymous"). At Tasks.Create, volumes_task_prepare (API thread) creates the
 * volumes that are missing and rewrites each such mount of the bundle's spec into a bind mount
 * of the volume's _data; volumes_task_prefill (runtime thread, before the shim starts) copies
 * the image's content at DST into each volume that no container used before and that is still
 * empty (Docker's behaviour; the mount option "nocopy" opts out), then marks it initialized.
 *
 * The pre-fill reads the container's rootfs snapshot read-only (the overlay's upper and lower
 * directories all as lower layers, a bind read-only) mounted on a temp dir inside a private
 * mount namespace of a short-lived thread, so no mount is ever visible on the host and none can
 * leak when wharfd dies; the image's DST is resolved inside that rootfs (RESOLVE_IN_ROOT) and
 * the walk never follows a symlink. Reading the mounted snapshot rather than the layers' dirs
 * gives exactly what the container sees (whiteouts, opaque dirs, any snapshotter). The copy
 * goes to a stage dir beside _data that replaces the empty _data in one rename, so a wharfd
 * killed mid-copy leaves the volume empty and uninitialized, never half filled.
 *
 * Thread safety: the store functions serialize on one process-wide lock.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

struct wh_err;
struct wh_mount_list;
struct meta_container;
struct daemon;
struct svc_service;

#define VOLUME_LABEL_USES "wharf/volumes"
#define VOLUME_LABEL_ANONYMOUS "wharf/volumes.anonymous"
#define VOLUME_NAME_MAX 255

extern const struct svc_service svc_volumes;

/* [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most VOLUME_NAME_MAX bytes. */
bool volume_name_valid(const char *name);

struct volume {
	char *name;
	char *dir;	  /* <root>/volumes/<ns>/<name> */
	char *mountpoint; /* dir/_data */
	char **labels;	  /* key, value, ... (may be NULL) */
	uint64_t created_ns;
	bool anonymous, initialized;
};
void volume_release(struct volume *v);
void volumes_free(struct volume *v, size_t n);

/*
 * Creates volume ns/name (labels: key, value, ... or NULL) or, when it exists, returns it as it
 * is with *ret_created false. -EINVAL for a bad name or namespace. ret may be NULL.
 */
int volume_create(const char *root, const char *ns, const char *name, char *const *labels,
		  bool anonymous, struct volume *ret, bool *ret_created, struct wh_err **err);
/* -ENOENT `volume "NAME" not found`. */
int volume_get(const char *root, const char *ns, const char *name, struct volume *ret,
	       struct wh_err **err);
/* Every volume of ns, sorted by name (records that do not parse are skipped with a warning). */
int volume_list(const char *root, const char *ns, struct volume **ret, size_t *ret_n,
		struct wh_err **err);
/* Removes the volume and its data (no in-use check: the service does it). */
int volume_remove(const char *root, const char *ns, const char *name, struct wh_err **err);
/* Bytes on disk under path (st_blocks * 512, each inode once, mounts not crossed). */
int volume_disk_usage(const char *path, int64_t *ret);

/* True when label_value (a "wharf/volumes" label: names separated by ',') names name. */
bool volume_label_has(const char *label_value, const char *name);

/*
 * Tasks.Create, API thread: creates the volumes named by the spec's "volume" mounts that do not
 * exist (anonymous when listed in mc's "wharf/volumes.anonymous" label) and replaces those
 * mounts in *spec with bind mounts of their _data (options kept, "nocopy" dropped: a new volume
 * mounted with it is marked initialized at once). *spec is replaced (realloc'd) only when it
 * had volume mounts. -EINVAL naming the mount for a bad volume name.
 */
int volumes_task_prepare(struct daemon *d, const char *ns, const struct meta_container *mc,
			 void **spec, size_t *spec_len, struct wh_err **err);

/*
 * Tasks.Create, runtime thread, before the shim starts: for each bind mount of spec whose
 * source is a volume's _data of ns that is not initialized, copies the image's content at the
 * mount's destination from rootfs into it when it is empty, then marks it initialized. A failed
 * copy empties the volume again (it stays uninitialized) and fails with the reason.
 */
int volumes_task_prefill(const char *root, const char *ns, const void *spec, size_t spec_len,
			 const struct wh_mount_list *rootfs, struct wh_err **err);

/* ---- volumes_copy.c ---- */

/* Inodes seen in a walk (hard links counted or copied once): a hash table on (dev, ino). */
struct inode_entry {
	dev_t dev;
	ino_t ino;
	bool used;
	char *path; /* the caller's (freed by inode_map_release) */
};
struct inode_map {
	struct inode_entry *v;
	size_t n, cap; /* cap: 0 or a power of two */
};
/* The entry of (dev, ino); a new one (used, path NULL) is made when absent (*ret_new true). */
struct inode_entry *inode_map_get(struct inode_map *m, dev_t dev, ino_t ino, bool *ret_new);
void inode_map_release(struct inode_map *m);

/*
 * Copies the tree under directory src_dir into directory dst_dir (both O_DIRECTORY fds):
 * regular files, directories, symlinks (as links, never followed), hard links (as hard links),
 * fifos and device nodes, with owners, modes (set-id bits included), timestamps and extended
 * attributes (those the destination refuses are skipped). Then gives dst_dir src_dir's owner and
 * mode. Sockets are skipped. Depth is bounded (-ELOOP beyond 512 levels). Never blocks on a fifo
 * and never writes outside dst_dir.
 */
int volume_copy_tree(int src_dir, int dst_dir, struct wh_err **err);

/* One volume to fill: the image's path (absolute, resolved in the rootfs) and the data dir. */
struct volume_fill {
	const char *image_path;
	const char *data_dir;
};
/*
 * Mounts rootfs read-only on a temp dir under tmp_parent in a private mount namespace (a
 * thread of its own: the caller's namespace is untouched), then for each fill copies the
 * image's directory at image_path into data_dir (a path that is not a directory in the image,
 * or is missing, copies nothing). Returns the number of fills that copied something.
 */
int volume_prefill(const struct wh_mount_list *rootfs, const char *tmp_parent,
		   const struct volume_fill *fills, size_t n, struct wh_err **err);
