/* SPDX-License-Identifier: Apache-2.0 */
/*
 * liboci's capabilities: `process.capabilities` parsing into five 64-bit sets, applying them
 * through libcap and prctl, JSON output and containerd's default set.
 *
 * The order the container's init must follow (runc's finalizeNamespace):
 *
 *   1. [noNewPrivileges false and seccomp set: oci_seccomp_load() here, or better
 *       oci_seccomp_load_bpf() of a filter compiled before the fork, see seccomp.h]
 *   2. oci_caps_apply_bounding(&caps)   drops the bounding set (needs CAP_SETPCAP: still root)
 *   3. oci_caps_keep(true)              PR_SET_KEEPCAPS, so that setuid keeps permitted caps
 *   4. setgroups(), setgid(), setuid()  the process.user switch (by the runtime)
 *   5. oci_caps_keep(false)
 *   6. oci_caps_apply(&caps)            sets effective, permitted, inheritable (capset), then
 *                                       clears the ambient set and raises each ambient cap
 *   7. [noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS); oci_seccomp_load() / _load_bpf()]
 *   8. execve
 *
 * Without a user switch, steps 3-5 are no-ops and may be skipped. When process.capabilities is
 * absent, runc leaves the capabilities alone: do not call steps 2 and 6 (oci_caps.present is
 * false after parsing a NULL object). An absent set inside a present object is empty.
 * A cap in the ambient set must also be in permitted and inheritable or the kernel refuses it;
 * oci_caps_apply() reports which cap failed.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

struct wh_err;

/* Bit n stands for capability n (CAP_CHOWN = bit 0 ...). */
struct oci_caps {
	bool present; /* process.capabilities was given */
	uint64_t bounding, effective, inheritable, permitted, ambient;
};

/* "CAP_SYS_ADMIN" (exact case, the CAP_ prefix required as in runtime-spec) → number, or
 * -EINVAL when unknown to this build's libcap. */
int oci_cap_from_name(const char *name);
/* Number → "CAP_SYS_ADMIN" (static string), NULL when unknown. */
const char *oci_cap_to_name(int cap);
/* The highest capability the running kernel knows (cap_max_bits() - 1). */
int oci_cap_last(void);

/*
 * Parses process.capabilities (v: the object; NULL or JSON null leaves present false).
 * field is the path for errors ("process.capabilities"): unknown names fail with -EINVAL
 * "process.capabilities.bounding[2]: unknown capability 'CAP_FOO'". Caps this build knows but
 * the running kernel does not (above oci_cap_last()) are dropped silently, as runc does.
 */
int oci_caps_parse(yajl_val v, const char *field, struct oci_caps *ret, struct wh_err **err);

/* Writes the present sets as a process.capabilities object to g. */
void oci_caps_gen_json(yajl_gen g, const struct oci_caps *c);

/* Step 2: PR_CAPBSET_DROP of every cap not in c->bounding. */
int oci_caps_apply_bounding(const struct oci_caps *c, struct wh_err **err);
/* Steps 3 and 5: PR_SET_KEEPCAPS on or off. */
int oci_caps_keep(bool on, struct wh_err **err);
/* Step 6: capset(effective, permitted, inheritable), then ambient clear + raise. */
int oci_caps_apply(const struct oci_caps *c, struct wh_err **err);

/* containerd's default set (oci.populateDefaultUnixSpec): CAP_CHOWN, CAP_DAC_OVERRIDE,
 * CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SETFCAP,
 * CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE.
 * NULL-terminated, static. */
const char *const *oci_caps_default_names(void);
/* That set in bounding, effective and permitted (inheritable and ambient empty), present. */
void oci_caps_default(struct oci_caps *ret);
/* The names of the caps in mask as a NULL-terminated strv (caller frees), e.g. to feed
 * oci_seccomp_default_profile(). */
char **oci_caps_to_strv(uint64_t mask);
