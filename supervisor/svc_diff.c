/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The diff service's work (layer apply/diff), run in wharfd-worker: parsing and writing layer
 * archives is the hostile-input part of wharf, kept out of the daemon's address space (worker.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "proto/services/diff/v1/diff.pb-c.h"
#include "snapshots/snapshots.h"
#include "supervisor/supervisor.h"

/* ---- diff: Apply streams a blob of the namespace into the given mounts (inline, blocking). ----
 */

static int do_apply(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	const Containerd__Services__Diff__V1__ApplyRequest *q = (const void *)req;
	Containerd__Services__Diff__V1__ApplyResponse *resp;
	struct content_reader *rd = NULL;
	struct wh_mount_list ml = {0};
	struct layer_apply_result res;
	int r;

	if (!q->diff || !pb_nz(q->diff->digest))
		return wh_err_setx(err, EINVAL, "apply: diff descriptor with a digest required");
	if (q->n_mounts == 0)
		return wh_err_setx(err, EINVAL, "apply: mounts required");
	r = meta_content_reader_open(c->d->db, c->ns, q->diff->digest, &rd, err);
	if (r < 0)
		return r;
	pb_mounts_to_list(q->mounts, q->n_mounts, &ml);
	{
		cleanup_close int fd = fcntl(content_reader_fd(rd), F_DUPFD_CLOEXEC, 3);

		if (fd < 0)
			r = wh_err_set(err, errno, "apply: dup");
		else if (lseek(fd, 0, SEEK_SET) < 0)
			r = wh_err_set(err, errno, "apply: seek");
		else
			r = layer_apply(&ml, fd, pb_nz(q->diff->media_type), &res, err);
	}
	wh_mount_list_done(&ml);
	content_reader_free(rd);
	if (r < 0)
		return r;
	if (!streq(res.digest, q->diff->digest))
		return wh_err_setx(err, EINVAL, "apply: layer digest %s, expected %s", res.digest,
				   q->diff->digest);
	resp = pb_new(&containerd__services__diff__v1__apply_response__descriptor);
	resp->applied = pb_new(&containerd__types__descriptor__descriptor);
	resp->applied->media_type = pb_str(SNAPSHOTS_MEDIA_TYPE_TAR);
	resp->applied->digest = pb_str(res.diff_id);
	resp->applied->size = (int64_t)res.uncompressed_size;
	*ret = &resp->base;
	return 0;
}

/* Diff: the layer between two mount sets, written to a temp file, then into the namespace. */
static int do_diff(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Containerd__Services__Diff__V1__DiffRequest *q = (const void *)req;
	Containerd__Services__Diff__V1__DiffResponse *resp;
	struct wh_mount_list left = {0}, right = {0};
	struct layer_diff_result res;
	enum layer_compression comp = LAYER_COMPRESSION_GZIP;
	struct meta_writer *w = NULL;
	cleanup_close int fd = -EBADF;
	cleanup_free char *buf = NULL, *ref = NULL;
	cleanup_strv char **labels = pb_map_to_strv((void *const *)q->labels, q->n_labels);
	char digest[DIGEST_STR_LEN];
	off_t off = 0;
	int r;

	if (q->n_right == 0)
		return wh_err_setx(err, EINVAL, "diff: right mounts required");
	if (pb_nz(q->media_type) &&
	    (r = layer_compression_from_media_type(q->media_type, &comp)) < 0)
		return wh_err_setx(err, ENOTSUP, "diff: unsupported media type '%s'",
				   q->media_type);
	fd = open(c->d->cfg.state, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return wh_err_set(err, errno, "diff: temp file in '%s'", c->d->cfg.state);
	pb_mounts_to_list(q->left, q->n_left, &left);
	pb_mounts_to_list(q->right, q->n_right, &right);
	r = layer_diff(&left, &right, comp, fd, &res, err);
	wh_mount_list_done(&left);
	wh_mount_list_done(&right);
	if (r < 0)
		return r;
	strv_push(&labels, "containerd.io/uncompressed");
	strv_push(&labels, res.diff_id);
	ref = pb_nz(q->ref) ? xstrdup(q->ref) : xasprintf("diff-%s", res.digest);
	r = meta_writer_open(c->d->db, c->ns, ref, res.size, res.digest, c->lease, &w, err);
	if (r < 0)
		return r;
	buf = xmalloc(1u << 20);
	for (;;) {
		ssize_t n = pread(fd, buf, 1u << 20, off);

		if (n < 0) {
			r = wh_err_set(err, errno, "diff: read back");
			goto out;
		}
		if (n == 0)
			break;
		if ((r = meta_writer_write(w, buf, (size_t)n, err)) < 0)
			goto out;
		off += n;
	}
	r = meta_writer_commit(w, res.size, res.digest, labels, digest, err);
	if (r == -EEXIST) {
		*err = wh_err_free(*err);
		r = 0;
	}
out:
	meta_writer_free(w);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__diff__v1__diff_response__descriptor);
	resp->diff = pb_new(&containerd__types__descriptor__descriptor);
	resp->diff->media_type = pb_str(res.media_type);
	resp->diff->digest = pb_str(res.digest);
	resp->diff->size = (int64_t)res.size;
	*ret = &resp->base;
	return 0;
}

const struct svc_service worker_svc_diff = {
	&containerd__services__diff__v1__diff__descriptor,
	(const struct svc_method[]){{"Apply", do_apply}, {"Diff", do_diff}, {NULL, NULL}},
};
