/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container networking in wharfd: what a container's labels ask for (the plan), the network
 * namespace, CNI attachments and /etc files a task gets at Tasks.Create, their teardown at
 * Tasks.Delete and after a crash, interface counters for Metrics, and the Networks service over
 * the conflists of [cni] conf_dir. Private to supervisor/.
 *
 * The wish is stated in container labels (as nerdctl does):
 *   wharf/networks   JSON list of network names, or "none" / "host" (a bare name works too);
 *                    no label: networking is left to the spec (containers made by ctr)
 *   wharf/ports      JSON list of {"hostPort","containerPort","protocol","hostIP"} (portmap)
 *   wharf/dns        JSON list of name server addresses
 *   wharf/add-hosts  JSON list of "name:ip"
 *   wharf/hostname   the container's host name (default: its id)
 *
 * Paths (key = "<ns>--<id>": identifiers never hold "--", so the key splits back uniquely):
 *   <state>/netns/<key>       the container's network namespace (a bind mount)
 *   <state>/net/<key>/        record.json (what was set up), resolv.conf, hosts, hostname
 *   <root>/cni/cache/         the CNI result cache (survives reboots: leases are freed later)
 *   <root>/cni/networks/      host-local IPAM data of the networks wharf writes
 * The CNI container id is the key; interfaces are eth0, eth1 ... in label order, plus lo through
 * the loopback plugin. "none" is a namespace of our own with lo up and no plugin; "host" keeps
 * the host's network namespace (no namespace entry in the spec) and its resolv.conf and hosts.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "supervisor/supervisor.h"

#define NETSETUP_LABEL_NETWORKS "wharf/networks"
#define NETSETUP_LABEL_PORTS "wharf/ports"
#define NETSETUP_LABEL_DNS "wharf/dns"
#define NETSETUP_LABEL_ADD_HOSTS "wharf/add-hosts"
#define NETSETUP_LABEL_HOSTNAME "wharf/hostname"
/* The top-level member that marks a conflist as wharf's own (with its labels as an object). */
#define NETSETUP_MANAGED_KEY "wharfManaged"

struct net_plan;

/*
 * Reads the wharf/ labels of a container (kv: alternating keys and values). *ret is NULL when
 * there is no wharf/networks label. -EINVAL naming the label and what is wrong; ports with
 * "none" or "host" are refused.
 */
int netsetup_plan(char *const *kv, struct net_plan **ret, struct wh_err **err);
void netsetup_plan_free(struct net_plan *p);

/*
 * On the runtime thread, before the bundle is written: creates the network namespace, runs CNI
 * ADD for lo and each network (the default one is written to conf_dir first when absent), writes
 * resolv.conf, hosts and hostname, and rewrites *spec (netns path or no network namespace for
 * host, the hostname, bind mounts of the three files). Everything is undone on failure.
 */
int netsetup_up(struct daemon *d, const char *ns, const char *id, const struct net_plan *p,
		void **spec, size_t *spec_len, struct wh_err **err);
/* Undoes netsetup_up for ns/id: CNI DEL (cached result and conflist), the namespace and the
 * files. Idempotent; problems are logged. Blocks on plugins (runtime thread). */
void netsetup_down(struct daemon *d, const char *ns, const char *id);
/*
 * After a restart: tears down every record, CNI cache entry and namespace whose container keep()
 * does not claim (a task with a live shim). Blocks on plugins (runtime thread).
 */
void netsetup_sweep(struct daemon *d, bool (*keep)(void *userdata, const char *ns, const char *id),
		    void *userdata);
/*
 * Adds the counters of the interfaces in process pid's network namespace to *data when it holds
 * cgroups v1 Metrics (the Network messages); other payloads are left alone.
 */
void netsetup_metrics(uint32_t pid, Google__Protobuf__Any **data);

/* wharf.services.networks.v1.Networks */
extern const struct svc_service svc_networks;
