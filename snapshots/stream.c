/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer byte streams: a reader thread that reads, hashes and decompresses (gzip, zstd or none)
 * into a small queue of buffers for the tar reader, and the compressor diff writes through.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/common.h"
#include "snapshots/internal.h"

#define SLOTS 4
#define SLOT_SIZE (1024 * 1024)
#define IN_SIZE (256 * 1024)

struct slot {
	char *buf;
	size_t len;
};

struct decomp {
	layer_read_fn read_fn;
	void *userdata;
	int expect;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot slots[SLOTS];
	size_t head, count; /* queue: count full slots starting at head */
	bool taken;	    /* the consumer holds slots[head] */
	bool eof, cancel;
	struct wh_err *error; /* set by the thread */

	/* thread side */
	struct digester *dig_in;
	uint64_t size_in;
	char *in;
	z_stream z;
	bool z_init;
	ZSTD_DCtx *zd;
	/* consumer side */
	struct digester *dig_out;
	uint64_t size_out;
	char digest[DIGEST_STR_LEN];
};

static const unsigned char gzip_magic[] = {0x1f, 0x8b};
static const unsigned char zstd_magic[] = {0x28, 0xb5, 0x2f, 0xfd};

/* Reads raw input; hashes it. */
static ssize_t raw_read(struct decomp *d, char *buf, size_t n, struct wh_err **err)
{
	for (;;) {
		ssize_t r = d->read_fn(d->userdata, buf, n);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return wh_err_set(err, (int)r, "read the layer");
		if (r > 0) {
			digester_update(d->dig_in, buf, (size_t)r);
			d->size_in += (uint64_t)r;
		}
		return r;
	}
}

static int detect(const unsigned char *b, size_t n)
{
	if (n >= 2 && memcmp(b, gzip_magic, 2) == 0)
		return LAYER_COMPRESSION_GZIP;
	if (n >= 4 && memcmp(b, zstd_magic, 4) == 0)
		return LAYER_COMPRESSION_ZSTD;
	return LAYER_COMPRESSION_NONE;
}

static const char *comp_name(int c)
{
	return c == LAYER_COMPRESSION_GZIP ? "gzip" : c == LAYER_COMPRESSION_ZSTD ? "zstd" : "tar";
}

/* Waits for a free slot; returns its index or -1 when cancelled. */
static int slot_acquire(struct decomp *d)
{
	pthread_mutex_lock(&d->lock);
	while (d->count == SLOTS && !d->cancel)
		pthread_cond_wait(&d->cond, &d->lock);
	int i = d->cancel ? -1 : (int)((d->head + d->count) % SLOTS);
	pthread_mutex_unlock(&d->lock);
	return i;
}

static void slot_publish(struct decomp *d, size_t len)
{
	pthread_mutex_lock(&d->lock);
	d->slots[(d->head + d->count) % SLOTS].len = len;
	d->count++;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static int produce(struct decomp *d, struct wh_err **err)
{
	/* the first bytes tell the compression */
	size_t have = 0;
	while (have < 4) {
		ssize_t r = raw_read(d, d->in + have, IN_SIZE - have, err);
		if (r < 0)
			return (int)r;
		if (r == 0)
			break;
		have += (size_t)r;
	}
	int c = detect((unsigned char *)d->in, have);
	if (d->expect >= 0 && d->expect != c)
		return wh_err_setx(err, EINVAL,
				   "the layer's media type says %s but its first bytes are %s",
				   comp_name(d->expect), comp_name(c));
	if (c == LAYER_COMPRESSION_GZIP) {
		if (inflateInit2(&d->z, 15 + 32) != Z_OK)
			return wh_err_setx(err, ENOMEM, "inflateInit2");
		d->z_init = true;
	} else if (c == LAYER_COMPRESSION_ZSTD) {
		d->zd = ZSTD_createDCtx();
		if (!d->zd)
			return wh_err_setx(err, ENOMEM, "ZSTD_createDCtx");
	}
	size_t in_pos = 0, in_len = have;
	bool in_eof = have == 0, stream_end = false;
	for (;;) {
		int si = slot_acquire(d);
		if (si < 0)
			return -ECANCELED;
		char *out = d->slots[si].buf;
		size_t out_len = 0;
		while (out_len < SLOT_SIZE) {
			if (in_pos == in_len && !in_eof) {
				ssize_t r = raw_read(d, d->in, IN_SIZE, err);
				if (r < 0)
					return (int)r;
				in_pos = 0;
				in_len = (size_t)r;
				in_eof = r == 0;
			}
			if (in_pos == in_len && in_eof)
				break;
			if (c == LAYER_COMPRESSION_NONE) {
				size_t n = MIN(in_len - in_pos, SLOT_SIZE - out_len);
				memcpy(out + out_len, d->in + in_pos, n);
				in_pos += n;
				out_len += n;
			} else if (c == LAYER_COMPRESSION_GZIP) {
				if (stream_end) {
					/* another gzip member follows */
					if (inflateReset(&d->z) != Z_OK)
						return wh_err_setx(err, EIO, "inflateReset");
					stream_end = false;
				}
				d->z.next_in = (Bytef *)d->in + in_pos;
				d->z.avail_in = (uInt)(in_len - in_pos);
				d->z.next_out = (Bytef *)out + out_len;
				d->z.avail_out = (uInt)(SLOT_SIZE - out_len);
				int zr = inflate(&d->z, Z_NO_FLUSH);
				in_pos = in_len - d->z.avail_in;
				out_len = SLOT_SIZE - d->z.avail_out;
				if (zr == Z_STREAM_END)
					stream_end = true;
				else if (zr != Z_OK && zr != Z_BUF_ERROR)
					return wh_err_setx(err, EINVAL,
							   "gzip stream at byte %llu: %s",
							   (unsigned long long)d->size_in,
							   d->z.msg ? d->z.msg : "corrupt");
			} else {
				ZSTD_inBuffer ib = {d->in, in_len, in_pos};
				ZSTD_outBuffer ob = {out, SLOT_SIZE, out_len};
				size_t zr = ZSTD_decompressStream(d->zd, &ob, &ib);
				if (ZSTD_isError(zr))
					return wh_err_setx(err, EINVAL,
							   "zstd stream at byte %llu: %s",
							   (unsigned long long)d->size_in,
							   ZSTD_getErrorName(zr));
				in_pos = ib.pos;
				out_len = ob.pos;
				stream_end = zr == 0;
			}
		}
		if (out_len == 0) {
			if (c != LAYER_COMPRESSION_NONE && !stream_end)
				return wh_err_setx(err, EINVAL,
						   "the %s stream is truncated after %llu bytes",
						   comp_name(c), (unsigned long long)d->size_in);
			return 0;
		}
		slot_publish(d, out_len);
	}
}

static void *thread_main(void *arg)
{
	struct decomp *d = arg;
	struct wh_err *e = NULL;
	int r = produce(d, &e);
	pthread_mutex_lock(&d->lock);
	if (r < 0 && r != -ECANCELED)
		d->error = e;
	else
		wh_err_free(e);
	d->eof = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int decomp_new(int expect, layer_read_fn read_fn, void *userdata, struct decomp **ret,
	       struct wh_err **err)
{
	struct decomp *d = xnew0(struct decomp, 1);
	d->read_fn = read_fn;
	d->userdata = userdata;
	d->expect = expect;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	for (size_t i = 0; i < SLOTS; i++)
		d->slots[i].buf = xmalloc(SLOT_SIZE);
	d->in = xmalloc(IN_SIZE);
	d->dig_in = digester_new();
	d->dig_out = digester_new();
	int r = pthread_create(&d->thread, NULL, thread_main, d);
	if (r != 0) {
		decomp_free(d);
		return wh_err_set(err, r, "start the layer reader thread");
	}
	d->started = true;
	*ret = d;
	return 0;
}

int decomp_next(struct decomp *d, const void **ret_buf, size_t *ret_len, struct wh_err **err)
{
	pthread_mutex_lock(&d->lock);
	if (d->taken) {
		d->head = (d->head + 1) % SLOTS;
		d->count--;
		d->taken = false;
		pthread_cond_broadcast(&d->cond);
	}
	while (d->count == 0 && !d->eof)
		pthread_cond_wait(&d->cond, &d->lock);
	if (d->count == 0) {
		int r = 0;
		if (d->error) {
			r = -d->error->code;
			wh_err_move(err, &d->error);
		}
		pthread_mutex_unlock(&d->lock);
		*ret_buf = NULL;
		*ret_len = 0;
		return r;
	}
	struct slot *s = &d->slots[d->head];
	d->taken = true;
	pthread_mutex_unlock(&d->lock);
	digester_update(d->dig_out, s->buf, s->len);
	d->size_out += s->len;
	*ret_buf = s->buf;
	*ret_len = s->len;
	return 0;
}

int decomp_finish(struct decomp *d, struct layer_apply_result *ret, struct wh_err **err)
{
	for (;;) {
		const void *b;
		size_t n;
		int r = decomp_next(d, &b, &n, err);
		if (r < 0)
			return r;
		if (n == 0)
			break;
	}
	pthread_join(d->thread, NULL);
	d->started = false;
	digester_final(d->dig_out, ret->diff_id);
	digester_final(d->dig_in, ret->digest);
	ret->size = d->size_in;
	ret->uncompressed_size = d->size_out;
	return 0;
}

struct decomp *decomp_free(struct decomp *d)
{
	if (!d)
		return NULL;
	if (d->started) {
		pthread_mutex_lock(&d->lock);
		d->cancel = true;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	wh_err_free(d->error);
	for (size_t i = 0; i < SLOTS; i++)
		free(d->slots[i].buf);
	free(d->in);
	if (d->z_init)
		inflateEnd(&d->z);
	ZSTD_freeDCtx(d->zd);
	digester_free(d->dig_in);
	digester_free(d->dig_out);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
	return NULL;
}

/* ---- compression for diff ---- */

struct comp {
	enum layer_compression c;
	int fd;
	z_stream z;
	bool z_init;
	ZSTD_CCtx *zc;
	struct digester *dig_in, *dig_out;
	uint64_t size_in, size_out;
	char *out;
};

#define OUT_SIZE (256 * 1024)

static int comp_emit(struct comp *c, const void *buf, size_t n, struct wh_err **err)
{
	if (n == 0)
		return 0;
	digester_update(c->dig_out, buf, n);
	c->size_out += n;
	int r = write_all(c->fd, buf, n);
	if (r < 0)
		return wh_err_set(err, r, "write the layer");
	return 0;
}

int comp_new(enum layer_compression k, int fd, struct comp **ret, struct wh_err **err)
{
	struct comp *c = xnew0(struct comp, 1);
	c->c = k;
	c->fd = fd;
	c->dig_in = digester_new();
	c->dig_out = digester_new();
	c->out = xmalloc(OUT_SIZE);
	if (k == LAYER_COMPRESSION_GZIP) {
		if (deflateInit2(&c->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK) {
			comp_free(c);
			return wh_err_setx(err, ENOMEM, "deflateInit2");
		}
		c->z_init = true;
	} else if (k == LAYER_COMPRESSION_ZSTD) {
		c->zc = ZSTD_createCCtx();
		if (!c->zc) {
			comp_free(c);
			return wh_err_setx(err, ENOMEM, "ZSTD_createCCtx");
		}
		ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel, 3);
	}
	*ret = c;
	return 0;
}

static int comp_run(struct comp *c, const void *buf, size_t n, bool end, struct wh_err **err)
{
	int r;
	if (c->c == LAYER_COMPRESSION_NONE)
		return comp_emit(c, buf, n, err);
	if (c->c == LAYER_COMPRESSION_GZIP) {
		c->z.next_in = (Bytef *)buf;
		c->z.avail_in = (uInt)n;
		for (;;) {
			c->z.next_out = (Bytef *)c->out;
			c->z.avail_out = OUT_SIZE;
			int zr = deflate(&c->z, end ? Z_FINISH : Z_NO_FLUSH);
			if (zr == Z_STREAM_ERROR)
				return wh_err_setx(err, EIO, "deflate failed");
			if ((r = comp_emit(c, c->out, OUT_SIZE - c->z.avail_out, err)) < 0)
				return r;
			if (end ? zr == Z_STREAM_END : c->z.avail_in == 0 && c->z.avail_out != 0)
				return 0;
		}
	}
	ZSTD_inBuffer ib = {buf, n, 0};
	for (;;) {
		ZSTD_outBuffer ob = {c->out, OUT_SIZE, 0};
		size_t zr =
			ZSTD_compressStream2(c->zc, &ob, &ib, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(zr))
			return wh_err_setx(err, EIO, "zstd: %s", ZSTD_getErrorName(zr));
		if ((r = comp_emit(c, c->out, ob.pos, err)) < 0)
			return r;
		if (end ? zr == 0 : ib.pos == ib.size)
			return 0;
	}
}

int comp_write(struct comp *c, const void *buf, size_t n, struct wh_err **err)
{
	digester_update(c->dig_in, buf, n);
	c->size_in += n;
	return comp_run(c, buf, n, false, err);
}

int comp_finish(struct comp *c, struct layer_diff_result *ret, struct wh_err **err)
{
	int r = comp_run(c, NULL, 0, true, err);
	if (r < 0)
		return r;
	digester_final(c->dig_in, ret->diff_id);
	digester_final(c->dig_out, ret->digest);
	ret->size = c->size_out;
	ret->uncompressed_size = c->size_in;
	ret->media_type = layer_media_type(c->c);
	return 0;
}

struct comp *comp_free(struct comp *c)
{
	if (!c)
		return NULL;
	if (c->z_init)
		deflateEnd(&c->z);
	ZSTD_freeCCtx(c->zc);
	digester_free(c->dig_in);
	digester_free(c->dig_out);
	free(c->out);
	free(c);
	return NULL;
}

/* ---- media types ---- */

int layer_compression_from_media_type(const char *mt, enum layer_compression *ret)
{
	static const struct {
		const char *mt;
		enum layer_compression c;
	} table[] = {
		{"application/vnd.oci.image.layer.v1.tar", LAYER_COMPRESSION_NONE},
		{"application/vnd.oci.image.layer.v1.tar+gzip", LAYER_COMPRESSION_GZIP},
		{"application/vnd.oci.image.layer.v1.tar+zstd", LAYER_COMPRESSION_ZSTD},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar", LAYER_COMPRESSION_NONE},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		 LAYER_COMPRESSION_GZIP},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		 LAYER_COMPRESSION_ZSTD},
		{"application/vnd.docker.image.rootfs.diff.tar", LAYER_COMPRESSION_NONE},
		{"application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_COMPRESSION_GZIP},
		{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		 LAYER_COMPRESSION_GZIP},
	};
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		if (streq(mt, table[i].mt)) {
			*ret = table[i].c;
			return 0;
		}
	}
	return -ENOTSUP;
}

const char *layer_media_type(enum layer_compression c)
{
	switch (c) {
	case LAYER_COMPRESSION_GZIP:
		return SNAPSHOTS_MEDIA_TYPE_TAR_GZIP;
	case LAYER_COMPRESSION_ZSTD:
		return SNAPSHOTS_MEDIA_TYPE_TAR_ZSTD;
	default:
		return SNAPSHOTS_MEDIA_TYPE_TAR;
	}
}
