/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unpacking images from the content store into a snapshotter: layers applied in order onto
 * active snapshots, diff IDs checked against the config, committed under their chain IDs, and
 * existing chains reused. img_pull_unpack runs the unpacker in a thread beside the download, so
 * that each layer is applied as soon as it and those below it are complete.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <unistd.h>

#include "content/content.h"
#include "images/internal.h"
#include "snapshots/snapshots.h"

#define CONFIG_MAX (16 * 1024 * 1024)

enum { BLOB_PENDING = 0, BLOB_READY = 1, BLOB_FAILED = -1 };

struct unpack_job {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct content_store *cs;
	struct snapshotter *sn;
	struct img_manifest m;
	bool have_manifest;
	int config_state;
	int *layer_state;
	bool stop; /* the download is over: what is still pending will not come */
	int result;
	struct wh_err *err;
	struct img_unpack_result res;
};

/* Waits until the blob in *state is ready; -EIO when it failed or will not come. */
static int wait_ready(struct unpack_job *j, const int *state, const char *digest,
		      struct wh_err **err)
{
	pthread_mutex_lock(&j->mu);
	while (*state == BLOB_PENDING && !j->stop)
		pthread_cond_wait(&j->cv, &j->mu);
	int s = *state;
	pthread_mutex_unlock(&j->mu);
	if (s == BLOB_READY)
		return 0;
	return wh_err_setx(err, EIO, "blob %s was not downloaded", digest);
}

static int read_blob(struct content_store *cs, const char *digest, size_t max, char **ret,
		     size_t *ret_len, struct wh_err **err)
{
	struct content_reader *rd = NULL;
	int r = content_reader_open(cs, digest, &rd, err);
	if (r < 0)
		return r;
	uint64_t size = content_reader_size(rd);
	if (size > max) {
		content_reader_free(rd);
		return wh_err_setx(err, EFBIG, "blob %s: %" PRIu64 " bytes, more than %zu", digest,
				   size, max);
	}
	char *buf = xmalloc((size_t)size + 1);
	ssize_t n = content_reader_read_at(rd, buf, (size_t)size, 0, err);
	content_reader_free(rd);
	if (n < 0 || (uint64_t)n != size) {
		free(buf);
		return n < 0 ? (int)n : wh_err_setx(err, EIO, "blob %s: short read", digest);
	}
	buf[size] = 0;
	*ret = buf;
	*ret_len = (size_t)size;
	return 0;
}

/* rootfs.diff_ids of an image config. */
static int config_diff_ids(struct content_store *cs, const struct img_desc *d, char ***ret,
			   struct wh_err **err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	yajl_val doc = NULL;
	int r = read_blob(cs, d->digest, CONFIG_MAX, &text, &len, err);
	if (r >= 0)
		r = json_parse(text, len, &doc, err);
	yajl_val rootfs = json_get(doc, "rootfs");
	if (r >= 0)
		r = json_expect_object(rootfs, "rootfs", err);
	if (r >= 0 && !rootfs)
		r = wh_err_setx(err, EBADMSG, "rootfs: missing");
	if (r >= 0)
		r = json_get_strv_opt(rootfs, "diff_ids", "rootfs.diff_ids", ret, err);
	yajl_tree_free(doc);
	return r < 0 ? wh_err_wrap(err, r, "image config %s", d->digest) : 0;
}

/* Applies layer i on a fresh active snapshot over parent and commits it as chain. */
static int apply_layer(struct unpack_job *j, size_t i, const char *parent, const char *chain,
		       const char *diff_id, struct wh_err **err)
{
	const struct img_desc *l = &j->m.layers[i];
	static uint64_t seq;
	cleanup_free char *key = xasprintf("extract-%d-%" PRIu64 "-%" PRIu64 " %s", (int)getpid(),
					   now_mono_ns(), __atomic_add_fetch(&seq, 1, 0), chain);
	struct wh_mount_list mounts = {0};
	struct content_reader *rd = NULL;
	struct layer_apply_result res;
	int r = snapshotter_prepare(j->sn, key, parent, NULL, &mounts, err);
	if (r < 0)
		return wh_err_wrap(err, r, "layer %zu (%s)", i, l->digest);
	r = content_reader_open(j->cs, l->digest, &rd, err);
	if (r >= 0)
		r = layer_apply(&mounts, content_reader_fd(rd), l->media_type, &res, err);
	if (r >= 0 && !streq(res.digest, l->digest))
		r = wh_err_setx(err, EBADMSG, "read %s back as %s", l->digest, res.digest);
	if (r >= 0 && !streq(res.diff_id, diff_id))
		r = wh_err_setx(err, EBADMSG, "diff ID %s, the config says %s", res.diff_id,
				diff_id);
	content_reader_free(rd);
	wh_mount_list_done(&mounts);
	if (r >= 0) {
		cleanup_err struct wh_err *e = NULL;
		r = snapshotter_commit(j->sn, chain, key, NULL, &e);
		if (r == -EEXIST)
			r = 0; /* unpacked by someone else meanwhile: theirs is as good */
		else if (r < 0)
			r = wh_err_move(err, &e);
		else
			return 0;
	}
	(void)snapshotter_remove(j->sn, key, NULL);
	return r < 0 ? wh_err_wrap(err, r, "layer %zu (%s)", i, l->digest) : 0;
}

static bool snapshot_committed(struct snapshotter *sn, const char *name)
{
	struct snapshot_info info = {0};
	if (snapshotter_stat(sn, name, &info, NULL) < 0)
		return false;
	bool ok = info.kind == SNAPSHOT_KIND_COMMITTED;
	snapshot_info_done(&info);
	return ok;
}

static int unpack_run(struct unpack_job *j, struct wh_err **err)
{
	const struct img_manifest *m = &j->m;
	cleanup_strv char **diff_ids = NULL;
	int r = wait_ready(j, &j->config_state, m->config.digest, err);
	if (r >= 0)
		r = config_diff_ids(j->cs, &m->config, &diff_ids, err);
	if (r < 0)
		return r;
	size_t n = strv_length(diff_ids);
	if (n != m->n_layers)
		return wh_err_setx(err, EBADMSG,
				   "image config %s lists %zu diff IDs for %zu layers",
				   m->config.digest, n, m->n_layers);
	j->res.layers = n;
	if (n == 0)
		return wh_err_setx(err, EINVAL, "the image has no layers");
	char(*chain)[DIGEST_STR_LEN] = xcalloc(n, sizeof(*chain));
	r = snapshots_chain_ids((const char *const *)diff_ids, n, chain, err);
	/* The longest chain already unpacked is reused as it is. */
	size_t start = n;
	while (r >= 0 && start > 0 && !snapshot_committed(j->sn, chain[start - 1]))
		start--;
	j->res.reused = start;
	for (size_t i = start; r >= 0 && i < n; i++) {
		r = wait_ready(j, &j->layer_state[i], m->layers[i].digest, err);
		if (r >= 0)
			r = apply_layer(j, i, i ? chain[i - 1] : NULL, chain[i], diff_ids[i], err);
		if (r >= 0)
			j->res.applied++;
	}
	if (r >= 0)
		memcpy(j->res.chain_id, chain[n - 1], DIGEST_STR_LEN);
	free(chain);
	return r;
}

static void *unpack_thread(void *arg)
{
	struct unpack_job *j = arg;
	j->result = unpack_run(j, &j->err);
	return NULL;
}

static void job_init(struct unpack_job *j, struct content_store *cs, struct snapshotter *sn)
{
	*j = (struct unpack_job){.cs = cs, .sn = sn};
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
}

static void job_release(struct unpack_job *j)
{
	img_manifest_release(&j->m);
	free(j->layer_state);
	wh_err_free(j->err);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
}

static int job_set_manifest(struct unpack_job *j, const struct img_desc *d, const char *data,
			    size_t len, struct wh_err **err)
{
	int r = img_manifest_parse(d->media_type, data, len, &j->m, err);
	if (r < 0)
		return r;
	if (j->m.kind != IMG_KIND_MANIFEST)
		return wh_err_setx(err, EINVAL, "%s is an index, not an image manifest", d->digest);
	j->layer_state = xnew0(int, j->m.n_layers ? j->m.n_layers : 1);
	j->have_manifest = true;
	return 0;
}

int img_unpack(struct content_store *cs, struct snapshotter *sn, const struct img_desc *d,
	       struct img_unpack_result *ret, struct wh_err **err)
{
	struct unpack_job j;
	cleanup_free char *data = NULL;
	size_t len = 0;
	job_init(&j, cs, sn);
	int r = read_blob(cs, d->digest, IMG_MAX_MANIFEST_SIZE, &data, &len, err);
	if (r >= 0)
		r = job_set_manifest(&j, d, data, len, err);
	if (r >= 0) {
		/* Everything is local: mark what the store has. */
		j.config_state = content_exists(cs, j.m.config.digest) ? BLOB_READY : BLOB_FAILED;
		for (size_t i = 0; i < j.m.n_layers; i++)
			j.layer_state[i] =
				content_exists(cs, j.m.layers[i].digest) ? BLOB_READY : BLOB_FAILED;
		j.stop = true;
		r = unpack_run(&j, err);
	}
	if (r >= 0)
		*ret = j.res;
	job_release(&j);
	return r < 0 ? wh_err_wrap(err, r, "unpack %s", d->digest) : 0;
}

/* ---- the pipelined pull ---- */

struct pipe_ctx {
	struct unpack_job j;
	pthread_t th;
	bool started;
	int setup_result;
	struct wh_err *setup_err;
};

static void on_manifest(void *userdata, const struct img_desc *d, const char *data, size_t len)
{
	struct pipe_ctx *p = userdata;
	if (p->j.have_manifest || p->setup_result < 0)
		return;
	p->setup_result = job_set_manifest(&p->j, d, data, len, &p->setup_err);
	if (p->setup_result < 0)
		return;
	int r = pthread_create(&p->th, NULL, unpack_thread, &p->j);
	if (r != 0) {
		p->setup_result = wh_err_set(&p->setup_err, r, "start the unpack thread");
		return;
	}
	p->started = true;
}

static void on_blob(void *userdata, const struct img_desc *d, int result)
{
	struct pipe_ctx *p = userdata;
	struct unpack_job *j = &p->j;
	if (!j->have_manifest)
		return;
	int s = result < 0 ? BLOB_FAILED : BLOB_READY;
	pthread_mutex_lock(&j->mu);
	if (streq(d->digest, j->m.config.digest))
		j->config_state = s;
	for (size_t i = 0; i < j->m.n_layers; i++)
		if (streq(d->digest, j->m.layers[i].digest))
			j->layer_state[i] = s;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

int img_pull_unpack(struct img_client *c, const struct img_ref *ref, const struct img_pull_opts *o,
		    struct content_store *cs, struct snapshotter *sn, struct img_desc *ret_root,
		    struct img_unpack_result *ret, struct wh_err **err)
{
	if (o && o->all_platforms)
		return wh_err_setx(err, EINVAL, "unpack: one platform only, not all");
	struct pipe_ctx p = {0};
	struct img_pull_opts po = o ? *o : (struct img_pull_opts){0};
	struct img_desc root = {0};
	cleanup_err struct wh_err *pull_err = NULL;
	job_init(&p.j, cs, sn);
	po.manifest_cb = on_manifest;
	po.blob_cb = on_blob;
	po.userdata = &p;
	struct img_store *store = img_content_store_new(cs);
	int r = img_pull(c, ref, &po, store, &root, &pull_err);
	img_content_store_free(store);
	pthread_mutex_lock(&p.j.mu);
	p.j.stop = true;
	pthread_cond_broadcast(&p.j.cv);
	pthread_mutex_unlock(&p.j.mu);
	if (p.started)
		pthread_join(p.th, NULL);
	cleanup_free char *name = img_ref_string(ref);
	if (r < 0)
		r = wh_err_move(err, &pull_err);
	else if (p.setup_result < 0)
		r = wh_err_wrap(err, wh_err_move(err, &p.setup_err), "unpack '%s'", name);
	else if (!p.started)
		r = wh_err_setx(err, EINVAL, "unpack '%s': no image manifest", name);
	else if (p.j.result < 0)
		r = wh_err_wrap(err, wh_err_move(err, &p.j.err), "unpack '%s'", name);
	wh_err_free(p.setup_err);
	if (r < 0) {
		img_desc_release(&root);
		job_release(&p.j);
		return r;
	}
	*ret_root = root;
	*ret = p.j.res;
	job_release(&p.j);
	return 0;
}
