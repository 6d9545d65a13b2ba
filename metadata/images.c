/* SPDX-License-Identifier: Apache-2.0 */
/* Images: name -> target descriptor, labels, timestamps (containerd's metadata/images.go). */
#include <errno.h>

#include "common/filter.h"
#include "metadata/internal.h"

#define IMAGE_NAME_MAX 4096

void meta_image_release(struct meta_image *img)
{
	if (!img)
		return;
	free(img->name);
	free(img->target.media_type);
	strv_free(img->target.annotations);
	strv_free(img->labels);
	memset(img, 0, sizeof(*img));
}

void meta_images_free(struct meta_image *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		meta_image_release(&v[i]);
	free(v);
}

static int check_name(const char *name, struct wh_err **err)
{
	if (!name || !*name)
		return wh_err_setx(err, EINVAL, "image name required");
	if (strlen(name) > IMAGE_NAME_MAX)
		return wh_err_setx(err, EINVAL, "image name longer than %d bytes", IMAGE_NAME_MAX);
	return 0;
}

static int check_image(const struct meta_image *img, struct wh_err **err)
{
	int r = check_name(img->name, err);

	if (r < 0)
		return r;
	if (!img->target.media_type || !*img->target.media_type)
		return wh_err_setx(err, EINVAL, "image '%s': target media type required",
				   img->name);
	if (!digest_is_valid(img->target.digest))
		return wh_err_setx(err, EINVAL, "image '%s': invalid target digest '%s'", img->name,
				   img->target.digest);
	if (img->target.size < 0)
		return wh_err_setx(err, EINVAL, "image '%s': negative target size", img->name);
	r = labels_check(img->labels, err);
	if (r >= 0)
		r = labels_check(img->target.annotations, err);
	return r;
}

static int write_target(struct meta_db *db, const char *ns, const struct meta_image *img,
			bool insert, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = (int64_t)now_real_ns();
	int r;

	if (insert)
		r = db_prepare(
			db, &st,
			"INSERT INTO images (media_type, digest, size, updated, created, ns, "
			"name) VALUES (?, ?, ?, ?, ?, ?, ?)",
			err);
	else
		r = db_prepare(
			db, &st,
			"UPDATE images SET media_type = ?, digest = ?, size = ?, updated = ? "
			"WHERE ?5 IS NOT NULL AND ns = ?6 AND name = ?7",
			err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, img->target.media_type);
	db_bind_text(st, 2, img->target.digest);
	sqlite3_bind_int64(st, 3, img->target.size);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, now);
	db_bind_text(st, 6, ns);
	db_bind_text(st, 7, img->name);
	r = db_step_done(db, st, err);
	if (r >= 0)
		r = labels_replace(db, ns, KIND_ANNOTATION, img->name, img->target.annotations,
				   err);
	return r;
}

int meta_image_create(struct meta_db *db, const char *ns, struct meta_image *img,
		      struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_image(img, err);
	if (r < 0)
		return wh_err_wrap(err, r, "create image");
	r = db_begin(db, err);
	if (r >= 0)
		r = ensure_namespace(db, ns, err);
	if (r >= 0)
		r = write_target(db, ns, img, true, err);
	if (r >= 0)
		r = labels_replace(db, ns, KIND_IMAGE, img->name, img->labels, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		if (r == -EEXIST) {
			err_clear(err);
			return wh_err_setx(err, EEXIST, "image '%s' already exists", img->name);
		}
		return wh_err_wrap(err, r, "create image '%s'", img->name);
	}
	return 0;
}

static int load_image(struct meta_db *db, const char *ns, sqlite3_stmt *st, struct meta_image *ret,
		      struct wh_err **err)
{
	struct meta_image img = {0};
	int r;

	img.name = db_col_strdup(st, 0);
	img.target.media_type = db_col_strdup(st, 1);
	snprintf(img.target.digest, sizeof(img.target.digest), "%s",
		 (const char *)sqlite3_column_text(st, 2));
	img.target.size = sqlite3_column_int64(st, 3);
	img.created_ns = (uint64_t)sqlite3_column_int64(st, 4);
	img.updated_ns = (uint64_t)sqlite3_column_int64(st, 5);
	r = labels_load(db, ns, KIND_IMAGE, img.name, &img.labels, err);
	if (r >= 0)
		r = labels_load(db, ns, KIND_ANNOTATION, img.name, &img.target.annotations, err);
	if (r < 0) {
		meta_image_release(&img);
		return r;
	}
	*ret = img;
	return 0;
}

#define IMAGE_COLS "name, media_type, digest, size, created, updated"

int meta_image_get(struct meta_db *db, const char *ns, const char *name, struct meta_image *ret,
		   struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = check_namespace(ns, err);

	if (r >= 0)
		r = check_name(name, err);
	if (r >= 0)
		r = db_prepare(db, &st,
			       "SELECT " IMAGE_COLS " FROM images WHERE ns = ? AND name = ?", err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return wh_err_setx(err, ENOENT, "image '%s' not found", name);
	if (rc != SQLITE_ROW)
		return db_error(db, rc, err, "get image '%s'", name);
	return load_image(db, ns, st, ret, err);
}

static int image_exists(struct meta_db *db, const char *ns, const char *name, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(db, &st, "SELECT 1 FROM images WHERE ns = ? AND name = ?", err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return wh_err_setx(err, ENOENT, "image '%s' not found", name);
	if (rc != SQLITE_ROW)
		return db_error(db, rc, err, "look up image '%s'", name);
	return 0;
}

static int update_image(struct meta_db *db, const char *ns, struct meta_image *img,
			const char *const *paths, struct wh_err **err)
{
	bool other = false, target = !paths || !*paths;
	int r = image_exists(db, ns, img->name, err);

	if (r >= 0)
		r = labels_apply_paths(db, ns, KIND_IMAGE, img->name, img->labels, paths, &other,
				       err);
	for (size_t i = 0; r >= 0 && other && paths[i]; i++) {
		if (streq(paths[i], "target"))
			target = true;
		else if (!streq(paths[i], "labels") && !str_startswith(paths[i], "labels."))
			r = wh_err_setx(err, EINVAL, "cannot update '%s' of image", paths[i]);
	}
	if (r >= 0 && target)
		r = write_target(db, ns, img, false, err);
	if (r >= 0 && !target)
		r = touch_row(db, "images", "name", ns, img->name, err);
	return r;
}

int meta_image_update(struct meta_db *db, const char *ns, struct meta_image *img,
		      const char *const *paths, struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_image(img, err);
	if (r < 0)
		return wh_err_wrap(err, r, "update image");
	r = db_begin(db, err);
	if (r >= 0)
		r = update_image(db, ns, img, paths, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		return wh_err_wrap(err, r, "update image '%s'", img->name);
	}
	return 0;
}

static bool image_field(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct meta_image *img = userdata;

	if (n == 1 && streq(path[0], "name")) {
		*ret = img->name;
		return true;
	}
	if (n == 2 && streq(path[0], "target") && streq(path[1], "digest")) {
		*ret = img->target.digest;
		return true;
	}
	if (n == 2 && streq(path[0], "target") && streq(path[1], "mediatype")) {
		*ret = img->target.media_type;
		return true;
	}
	return filter_lookup_labels(img->labels, path, n, ret);
}

int meta_image_list(struct meta_db *db, const char *ns, const struct filter *f,
		    struct meta_image **ret, size_t *ret_n, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct meta_image *v = NULL;
	size_t n = 0, cap = 0;
	int rc, r = check_namespace(ns, err);

	if (r >= 0)
		r = db_prepare(db, &st,
			       "SELECT " IMAGE_COLS " FROM images WHERE ns = ? ORDER BY name", err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_image img;
		r = load_image(db, ns, st, &img, err);
		if (r < 0) {
			meta_images_free(v, n);
			return r;
		}
		if (!filter_match(f, image_field, &img)) {
			meta_image_release(&img);
			continue;
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		v[n++] = img;
	}
	if (rc != SQLITE_DONE) {
		meta_images_free(v, n);
		return db_error(db, rc, err, "list images");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int meta_image_delete(struct meta_db *db, const char *ns, const char *name, struct wh_err **err)
{
	static const char *const sqls[] = {"DELETE FROM images WHERE ns = ? AND name = ?", NULL};
	static const char *const kinds[] = {KIND_IMAGE, KIND_ANNOTATION, NULL};
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_name(name, err);
	if (r >= 0)
		r = db_delete_object(db, ns, "image", name, sqls, kinds, err);
	return r < 0 ? wh_err_wrap(err, r, "delete image") : 0;
}
