/* SPDX-License-Identifier: Apache-2.0 */
/* Image archives (OCI-layout tar, docker-archive) turned into OCI layout directories. */
#pragma once

struct wh_err;

/*
 * Extracts tar into a new directory below tmp_parent and makes it an OCI layout (converting a
 * docker-archive). *ret_dir: the layout; the caller removes it (rm_rf). On failure nothing stays.
 */
int archive_to_layout(const char *tar, const char *tmp_parent, char **ret_dir, struct wh_err **err);
