/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmark driver: applies layer blobs in order with wharf's layer apply and prints the
 * elapsed wall time. Modes: "dir" (all layers into one directory, as `tar -xzf` does) and
 * "overlay" / "native" (a snapshot chain: prepare, apply, commit per layer).
 * Usage: bench-apply MODE DEST MEDIA_TYPE LAYER...
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "snapshots/snapshots.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ssize_t fd_read(void *ud, void *buf, size_t n)
{
	ssize_t r = read(*(int *)ud, buf, n);
	return r < 0 ? -errno : r;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s dir|overlay|native DEST MEDIA_TYPE LAYER...\n", argv[0]);
		return 2;
	}
	const char *mode = argv[1], *dest = argv[2], *mt = argv[3];
	struct wh_err *err = NULL;
	struct snapshotter *s = NULL;
	int r = 0;
	double t0 = now();
	if (streq(mode, "dir")) {
		int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			perror(dest);
			return 1;
		}
		for (int i = 4; i < argc && r >= 0; i++) {
			int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				perror(argv[i]);
				return 1;
			}
			struct layer_apply_result res;
			r = layer_apply_dir(dfd, false, fd_read, &fd, mt, &res, &err);
			close(fd);
		}
		close(dfd);
	} else {
		r = streq(mode, "overlay") ? snapshotter_overlay_new(dest, &s, &err)
					   : snapshotter_native_new(dest, &s, &err);
		char parent[32] = "";
		for (int i = 4; i < argc && r >= 0; i++) {
			char key[32];
			snprintf(key, sizeof(key), "extract-%d", i);
			struct wh_mount_list m = {0};
			r = snapshotter_prepare(s, key, *parent ? parent : NULL, NULL, &m, &err);
			if (r < 0)
				break;
			int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				perror(argv[i]);
				return 1;
			}
			r = layer_apply(&m, fd, mt, NULL, &err);
			close(fd);
			wh_mount_list_done(&m);
			snprintf(parent, sizeof(parent), "layer-%d", i);
			if (r >= 0)
				r = snapshotter_commit(s, parent, key, NULL, &err);
		}
		snapshotter_close(s);
	}
	double t1 = now();
	if (r < 0) {
		fprintf(stderr, "bench-apply: %s\n", wh_err_msg(err));
		wh_err_free(err);
		return 1;
	}
	printf("%.3f\n", t1 - t0);
	return 0;
}
