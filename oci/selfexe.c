/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Protection of the runtime binary against being overwritten through /proc/self/exe from inside
 * a container (CVE-2019-5736): the runtime re-executes itself from a sealed memfd copy, so that
 * the file a container process could reach is immutable and not the binary on disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include "common/common.h"
#include "oci/internal.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static bool is_cloned(void)
{
	cleanup_close int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	int seals = fcntl(fd, F_GET_SEALS);
	return seals >= 0 && (seals & SEALS) == SEALS;
}

int oci_ensure_cloned_binary(char **argv, char **envp)
{
	if (is_cloned())
		return 0;
	cleanup_close int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return -errno;
	struct stat st;
	if (fstat(src, &st) < 0)
		return -errno;
	cleanup_close int mfd = memfd_create("wharf-oci", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return -errno;
	off_t left = st.st_size;
	while (left > 0) {
		ssize_t n = sendfile(mfd, src, NULL, (size_t)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		left -= n;
	}
	if (fcntl(mfd, F_ADD_SEALS, SEALS) < 0)
		return -errno;
	fexecve(mfd, argv, envp);
	return -errno;
}
