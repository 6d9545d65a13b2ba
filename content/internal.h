/* SPDX-License-Identifier: Apache-2.0 */
/* Private to content/: the store handle shared by the blob side (store.c) and ingests (writer.c).
 */
#pragma once

#include "content/content.h"

struct content_store {
	char *root;
	int root_fd;   /* O_PATH of root */
	int blobs_fd;  /* blobs/sha256 */
	int ingest_fd; /* ingest */
};

/* Reads an ingest directory's status; -ENOENT when it holds no complete ingest. */
int content_read_status(int dir_fd, struct content_status *ret);

/* Renames ingest/<name> to a .trash-* name and removes it (the caller holds its lock). */
int content_retire_ingest(struct content_store *cs, const char *name);
