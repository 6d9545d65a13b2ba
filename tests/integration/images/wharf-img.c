/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharf-img: a test tool (not installed) driving libimages against real registries without the
 * daemon: pull a reference into an OCI layout directory, push a layout to a reference, resolve,
 * and tag. Prints client counters with --stats so tests can check retries, resumes and reuse.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>

#include "common/common.h"
#include "content/content.h"
#include "images/images.h"
#include "snapshots/snapshots.h"

static const char *arg_platform;
static bool arg_all;
static bool arg_stats;
static const char *arg_mount_from;
static const char *arg_content;
static bool arg_progress;
static const char *arg_snapshots;
static const char *arg_snapshotter = "overlayfs";

struct progress_slot {
	char digest[DIGEST_STR_LEN];
	int tenth;
};
static struct progress_slot *progress_slots;
static size_t n_progress_slots;

/* Prints "progress DIGEST DONE TOTAL" at every tenth of a blob and at its end. */
static void on_progress(void *userdata, const char *digest, uint64_t done, uint64_t total)
{
	struct progress_slot *p = NULL;
	for (size_t i = 0; i < n_progress_slots && !p; i++)
		if (streq(progress_slots[i].digest, digest))
			p = &progress_slots[i];
	if (!p) {
		progress_slots =
			xrealloc(progress_slots, (n_progress_slots + 1) * sizeof(*progress_slots));
		p = &progress_slots[n_progress_slots++];
		snprintf(p->digest, sizeof(p->digest), "%s", digest);
		p->tenth = -1;
	}
	int tenth = total ? (int)(done * 10 / total) : 10;
	if (tenth == p->tenth)
		return;
	p->tenth = tenth;
	fprintf(stderr, "progress %s %" PRIu64 " %" PRIu64 "\n", digest, done, total);
}
static struct img_client_opts arg_opts;
static struct img_host_config *arg_hosts;
static size_t arg_n_hosts;

static void usage(void)
{
	fprintf(stderr,
		"usage: wharf-img [options] pull REF DIR [NAME]\n"
		"       wharf-img [options] push DIR[:NAME] REF\n"
		"       wharf-img [options] resolve REF\n"
		"       wharf-img [options] tag REF TAG\n"
		"options: --platform P --all-platforms --user U:P --docker-config F --ca F\n"
		"         --skip-verify --plain-http HOST --mirror HOST=URL --server HOST=URL\n"
		"         --chunk BYTES --parallel N --retries N --backoff-ms N --mount-from REPO\n"
		"         --hosts-dir DIR (containerd config_path) --stats --progress\n"
		"         --content DIR (pull into a content store instead of DIR)\n"
		"         --snapshots DIR [--snapshotter overlayfs|native] (with --content: unpack)\n"
		"       wharf-img --content DIR --snapshots DIR unpack MANIFEST_DIGEST\n"
		"       wharf-img --snapshots DIR view KEY PARENT (prints the mounts)\n"
		"       wharf-img --snapshots DIR ls (prints name, kind, parent)\n");
}

static struct img_host_config *host_cfg(const char *name)
{
	for (size_t i = 0; i < arg_n_hosts; i++)
		if (streq(arg_hosts[i].name, name))
			return &arg_hosts[i];
	arg_hosts = xrealloc(arg_hosts, (arg_n_hosts + 1) * sizeof(*arg_hosts));
	struct img_host_config *h = &arg_hosts[arg_n_hosts++];
	*h = (struct img_host_config){.name = xstrdup(name)};
	return h;
}

static int parse_host_url(const char *arg, bool mirror)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return -EINVAL;
	cleanup_free char *name = xstrndup(arg, (size_t)(eq - arg));
	struct img_host_config *h = host_cfg(name);
	if (!mirror) {
		free(h->server);
		h->server = xstrdup(eq + 1);
		return 0;
	}
	h->mirrors = xrealloc(h->mirrors, (h->n_mirrors + 1) * sizeof(*h->mirrors));
	h->mirrors[h->n_mirrors++] = (struct img_endpoint){.url = xstrdup(eq + 1)};
	return 0;
}

static unsigned parse_uint_arg(const char *s, const char *what)
{
	uint64_t v = 0;
	if (parse_u64(s, &v) < 0 || v > UINT32_MAX) {
		fprintf(stderr, "wharf-img: invalid %s '%s'\n", what, s);
		exit(2);
	}
	return (unsigned)v;
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{"platform", required_argument, NULL, 'p'},
		{"all-platforms", no_argument, NULL, 'a'},
		{"user", required_argument, NULL, 'u'},
		{"docker-config", required_argument, NULL, 'D'},
		{"ca", required_argument, NULL, 'C'},
		{"skip-verify", no_argument, NULL, 'k'},
		{"plain-http", required_argument, NULL, 'H'},
		{"mirror", required_argument, NULL, 'm'},
		{"server", required_argument, NULL, 'S'},
		{"chunk", required_argument, NULL, 'c'},
		{"parallel", required_argument, NULL, 'j'},
		{"retries", required_argument, NULL, 'r'},
		{"backoff-ms", required_argument, NULL, 'b'},
		{"mount-from", required_argument, NULL, 'M'},
		{"stats", no_argument, NULL, 's'},
		{"content", required_argument, NULL, 'K'},
		{"hosts-dir", required_argument, NULL, 'T'},
		{"progress", no_argument, NULL, 'P'},
		{"snapshots", required_argument, NULL, 'N'},
		{"snapshotter", required_argument, NULL, 'Y'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static char **plain;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			arg_platform = optarg;
			break;
		case 'a':
			arg_all = true;
			break;
		case 'u': {
			char *colon = strchr(optarg, ':');
			if (!colon) {
				fprintf(stderr, "wharf-img: --user wants USER:PASS\n");
				return -EINVAL;
			}
			*colon = 0;
			arg_opts.user = optarg;
			arg_opts.pass = colon + 1;
			break;
		}
		case 'D':
			arg_opts.docker_config = optarg;
			break;
		case 'C':
			arg_opts.ca_file = optarg;
			break;
		case 'k':
			arg_opts.skip_verify = true;
			break;
		case 'H':
			strv_push(&plain, optarg);
			arg_opts.plain_http_hosts = plain;
			break;
		case 'm':
		case 'S':
			if (parse_host_url(optarg, ch == 'm') < 0) {
				fprintf(stderr, "wharf-img: --mirror/--server want HOST=URL\n");
				return -EINVAL;
			}
			break;
		case 'c':
			arg_opts.chunk_size = parse_uint_arg(optarg, "chunk size");
			break;
		case 'j':
			arg_opts.max_parallel = parse_uint_arg(optarg, "parallelism");
			break;
		case 'r':
			arg_opts.retries = parse_uint_arg(optarg, "retry count");
			break;
		case 'b':
			arg_opts.backoff_ms = parse_uint_arg(optarg, "backoff");
			break;
		case 'M':
			arg_mount_from = optarg;
			break;
		case 's':
			arg_stats = true;
			break;
		case 'K':
			arg_content = optarg;
			break;
		case 'T':
			arg_opts.hosts_dir = optarg;
			break;
		case 'N':
			arg_snapshots = optarg;
			break;
		case 'Y':
			arg_snapshotter = optarg;
			break;
		case 'P':
			arg_progress = true;
			arg_opts.progress = on_progress;
			break;
		default:
			usage();
			return -EINVAL;
		}
	}
	return 0;
}

static void print_stats(struct img_client *c)
{
	struct img_client_stats s;
	if (!arg_stats)
		return;
	img_client_get_stats(c, &s);
	fprintf(stderr,
		"stats requests=%" PRIu64 " connects=%" PRIu64 " http2=%" PRIu64 " retries=%" PRIu64
		" resumed=%" PRIu64 " tokens=%" PRIu64 " bytes=%" PRIu64 " skipped=%" PRIu64
		" mounted=%" PRIu64 " uploaded=%" PRIu64 " chunks=%" PRIu64 "\n",
		s.requests, s.connects, s.http2, s.retries, s.resumed, s.tokens, s.bytes,
		s.blobs_skipped, s.blobs_mounted, s.blobs_uploaded, s.chunks_uploaded);
}

static int open_snapshotter(struct snapshotter **ret, struct wh_err **err)
{
	if (streq(arg_snapshotter, "overlayfs"))
		return snapshotter_overlay_new(arg_snapshots, ret, err);
	if (streq(arg_snapshotter, "native"))
		return snapshotter_native_new(arg_snapshots, ret, err);
	return wh_err_setx(err, EINVAL, "unknown snapshotter '%s'", arg_snapshotter);
}

static void print_unpack(const struct img_unpack_result *u)
{
	printf("chain %s layers=%zu applied=%zu reused=%zu\n", u->chain_id, u->layers, u->applied,
	       u->reused);
}

static int pull_content(struct img_client *c, const struct img_ref *ref,
			const struct img_pull_opts *o, struct img_desc *root, struct wh_err **err)
{
	struct content_store *cs = NULL;
	struct snapshotter *sn = NULL;
	struct img_unpack_result u = {0};
	int r = content_store_open(arg_content, &cs, err);
	if (r >= 0 && arg_snapshots)
		r = open_snapshotter(&sn, err);
	if (r >= 0 && sn) {
		r = img_pull_unpack(c, ref, o, cs, sn, root, &u, err);
		if (r >= 0)
			print_unpack(&u);
	} else if (r >= 0) {
		struct img_store *s = img_content_store_new(cs);
		r = img_pull(c, ref, o, s, root, err);
		img_content_store_free(s);
	}
	snapshotter_close(sn);
	content_store_free(cs);
	return r;
}

static int cmd_unpack(char **args, int n, struct wh_err **err)
{
	if (n != 1 || !arg_content || !arg_snapshots)
		return wh_err_setx(err, EINVAL, "unpack wants --content, --snapshots and a digest");
	struct content_store *cs = NULL;
	struct snapshotter *sn = NULL;
	struct content_info info;
	struct img_unpack_result u = {0};
	int r = content_store_open(arg_content, &cs, err);
	if (r >= 0)
		r = open_snapshotter(&sn, err);
	if (r >= 0)
		r = content_info(cs, args[0], &info, err);
	if (r >= 0) {
		struct img_desc d = {.digest = args[0], .size = info.size};
		r = img_unpack(cs, sn, &d, &u, err);
	}
	if (r >= 0)
		print_unpack(&u);
	snapshotter_close(sn);
	content_store_free(cs);
	return r;
}

static int print_snapshot(const struct snapshot_info *info, void *userdata)
{
	printf("%s %s %s\n", info->name, snapshot_kind_to_string(info->kind),
	       info->parent ? info->parent : "-");
	return 0;
}

static int cmd_ls(char **args, int n, struct wh_err **err)
{
	if (n != 0 || !arg_snapshots)
		return wh_err_setx(err, EINVAL, "ls wants --snapshots");
	struct snapshotter *sn = NULL;
	int r = open_snapshotter(&sn, err);
	if (r >= 0)
		r = snapshotter_walk(sn, NULL, print_snapshot, NULL, err);
	snapshotter_close(sn);
	return r;
}

static int cmd_view(char **args, int n, struct wh_err **err)
{
	if (n != 2 || !arg_snapshots)
		return wh_err_setx(err, EINVAL, "view wants --snapshots, KEY and PARENT");
	struct snapshotter *sn = NULL;
	struct wh_mount_list ml = {0};
	int r = open_snapshotter(&sn, err);
	if (r >= 0)
		r = snapshotter_view(sn, args[0], args[1], NULL, &ml, err);
	for (size_t i = 0; r >= 0 && i < ml.n; i++) {
		printf("%s %s ", ml.v[i].type, ml.v[i].source);
		strv_foreach(o, ml.v[i].options)
			printf("%s%s", o == ml.v[i].options ? "" : ",", *o);
		printf("\n");
	}
	wh_mount_list_done(&ml);
	snapshotter_close(sn);
	return r;
}

static int cmd_pull(struct img_client *c, char **args, int n, struct wh_err **err)
{
	if (arg_content ? n != 1 : (n < 2 || n > 3))
		return wh_err_setx(err, EINVAL, "pull wants REF DIR [NAME] (or --content DIR REF)");
	struct img_ref ref = {0};
	struct img_platform plat = {0};
	struct img_layout *l = NULL;
	struct img_desc root = {0};
	struct img_pull_opts o = {.all_platforms = arg_all};
	int r = img_ref_parse(args[0], &ref, err);
	if (r >= 0 && arg_platform) {
		r = img_platform_parse(arg_platform, &plat, err);
		o.platform = &plat;
	}
	if (r >= 0 && arg_content)
		r = pull_content(c, &ref, &o, &root, err);
	else if (r >= 0)
		r = img_layout_open(args[1], true, &l, err);
	if (r >= 0 && l)
		r = img_pull(c, &ref, &o, img_layout_store(l), &root, err);
	if (r >= 0 && l)
		r = img_layout_add(l, &root, n == 3 ? args[2] : img_ref_object(&ref), err);
	if (r >= 0)
		printf("%s %s %" PRIu64 "\n", root.digest, root.media_type, root.size);
	img_desc_release(&root);
	img_layout_free(l);
	img_platform_release(&plat);
	img_ref_release(&ref);
	return r;
}

static int cmd_push(struct img_client *c, char **args, int n, struct wh_err **err)
{
	if (n != 2)
		return wh_err_setx(err, EINVAL, "push wants DIR[:NAME] REF");
	cleanup_free char *dir = xstrdup(args[0]);
	char *name = strrchr(dir, ':');
	if (name)
		*name++ = 0;
	struct img_ref ref = {0};
	struct img_layout *l = NULL;
	struct img_desc root = {0};
	struct img_push_opts o = {.mount_from = arg_mount_from};
	int r = img_ref_parse(args[1], &ref, err);
	if (r >= 0)
		r = img_layout_open(dir, false, &l, err);
	if (r >= 0)
		r = img_layout_find(l, name, &root, err);
	if (r >= 0)
		r = img_push(c, &ref, &root, img_layout_source(l), &o, err);
	if (r >= 0)
		printf("%s\n", root.digest);
	img_desc_release(&root);
	img_layout_free(l);
	img_ref_release(&ref);
	return r;
}

static int cmd_resolve(struct img_client *c, char **args, int n, struct wh_err **err)
{
	if (n != 1)
		return wh_err_setx(err, EINVAL, "resolve wants REF");
	struct img_ref ref = {0};
	struct img_desc d = {0};
	cleanup_free char *data = NULL;
	size_t len = 0;
	int r = img_ref_parse(args[0], &ref, err);
	if (r >= 0)
		r = img_resolve(c, &ref, &d, &data, &len, err);
	if (r >= 0)
		printf("%s %s %" PRIu64 "\n", d.digest, d.media_type, d.size);
	img_desc_release(&d);
	img_ref_release(&ref);
	return r;
}

static int cmd_tag(struct img_client *c, char **args, int n, struct wh_err **err)
{
	if (n != 2)
		return wh_err_setx(err, EINVAL, "tag wants REF TAG");
	struct img_ref ref = {0};
	int r = img_ref_parse(args[0], &ref, err);
	if (r >= 0)
		r = img_tag_remote(c, &ref, args[1], err);
	img_ref_release(&ref);
	return r;
}

int main(int argc, char **argv)
{
	cleanup_err struct wh_err *err = NULL;
	struct img_client *c = NULL;
	if (parse_args(argc, argv) < 0)
		return 2;
	if (optind >= argc) {
		usage();
		return 2;
	}
	const char *cmd = argv[optind];
	char **args = argv + optind + 1;
	int n = argc - optind - 1;
	int r = img_client_new(&arg_opts, &c, &err);
	for (size_t i = 0; r >= 0 && i < arg_n_hosts; i++)
		img_client_add_host(c, &arg_hosts[i]);
	if (r < 0)
		;
	else if (streq(cmd, "pull"))
		r = cmd_pull(c, args, n, &err);
	else if (streq(cmd, "push"))
		r = cmd_push(c, args, n, &err);
	else if (streq(cmd, "resolve"))
		r = cmd_resolve(c, args, n, &err);
	else if (streq(cmd, "tag"))
		r = cmd_tag(c, args, n, &err);
	else if (streq(cmd, "unpack"))
		r = cmd_unpack(args, n, &err);
	else if (streq(cmd, "view"))
		r = cmd_view(args, n, &err);
	else if (streq(cmd, "ls"))
		r = cmd_ls(args, n, &err);
	else
		r = wh_err_setx(&err, EINVAL, "unknown command '%s'", cmd);
	if (c)
		print_stats(c);
	img_client_free(c);
	for (size_t i = 0; i < arg_n_hosts; i++)
		img_host_config_release(&arg_hosts[i]);
	free(arg_hosts);
	strv_free((char **)arg_opts.plain_http_hosts);
	free(progress_slots);
	if (r < 0) {
		fprintf(stderr, "wharf-img: error: %s\n", wh_err_msg(err));
		return 1;
	}
	return 0;
}
