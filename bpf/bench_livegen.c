// SPDX-License-Identifier: MIT OR GPL-2.0
/* Bench only (bench/dataplane.ts): a packet generator. Loads xdp_gen from
 * bench_gen.bpf.o and runs it with BPF_PROG_TEST_RUN in live-frames mode
 * (BPF_F_TEST_XDP_LIVE_FRAMES): the kernel builds frames from data_in in a
 * page pool, runs the program on each and transmits what it returns XDP_TX
 * for out of --dev (ndo_xdp_xmit; on a veth, straight into the peer's ring).
 * No sockets, no skbs: one CPU makes several million frames a second.
 *
 * (Live mode reports no return value: what the program did shows at the
 * receiver.) Runs until --seconds pass or SIGTERM/SIGINT, then prints one JSON line:
 * {"packets","seconds","pps","calls"}; "packets" counts completed test runs
 * only (an interrupted run's frames are not counted). The frames the program
 * returned XDP_TX for are sent unless the peer's ring is full (veth drops
 * them then and counts them in its own statistics), so "pps" is what was
 * offered, not what arrived. Run it pinned (taskset) in the sender's
 * network namespace. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define HDR_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))
#define HDR6_LEN (sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct udphdr))

/* As in bench_gen.bpf.c. */
struct gen_cfg {
	__u8 hdr[HDR6_LEN];
	__u16 sport_count;
	__u32 dst_count;
	__u32 dst_stride;
	__u32 list_len;
	__u32 v6;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench-livegen OBJ --dev IF --src-mac M --dst-mac M --src-ip A --dst-ip A\n"
		"       [--sport P] [--sport-count N] [--dst-count N] [--dst-stride S] [--ttl T]\n"
		"       [--size BYTES] [--batch N] [--repeat N] [--seconds S] [--slice S]\n"
		"       [--family 4|6] [--dst-file FILE]\n"
		"  --family 6: --src-ip/--dst-ip are IPv6, frames Ethernet/IPv6/UDP (--size >= 62)\n"
		"  --dst-file: destinations, 16 bytes each in network order (IPv4: the first 4),\n"
		"              visited in a scattered order instead of --dst-count/--dst-stride\n");
	exit(2);
}

static void parse_mac(const char *s, __u8 *mac)
{
	unsigned int b[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) {
		fprintf(stderr, "bench-livegen: bad MAC %s\n", s);
		exit(2);
	}
	for (int i = 0; i < 6; i++)
		mac[i] = (__u8)b[i];
}

static __u32 parse_ip(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "bench-livegen: bad IPv4 address %s\n", s);
		exit(2);
	}
	return a.s_addr;
}

static void parse_ip6(const char *s, struct in6_addr *a)
{
	if (inet_pton(AF_INET6, s, a) != 1) {
		fprintf(stderr, "bench-livegen: bad IPv6 address %s\n", s);
		exit(2);
	}
}

/* The destination list into gen_dsts; returns how many. */
static __u32 load_dsts(struct bpf_map *map, const char *path)
{
	FILE *f = fopen(path, "rb");
	__u8 rec[16];
	__u32 n = 0, max = bpf_map__max_entries(map);

	if (!f) {
		fprintf(stderr, "bench-livegen: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (fread(rec, sizeof(rec), 1, f) == 1) {
		if (n >= max) {
			fprintf(stderr, "bench-livegen: %s: more than %u destinations\n", path, max);
			exit(1);
		}
		if (bpf_map_update_elem(bpf_map__fd(map), &n, rec, BPF_ANY)) {
			fprintf(stderr, "bench-livegen: gen_dsts[%u]: %s\n", n, strerror(errno));
			exit(1);
		}
		n++;
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "bench-livegen: %s: no destinations\n", path);
		exit(1);
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *obj_path, *dev = NULL, *dst_file = NULL, *src_text = NULL, *dst_text = NULL;
	int family = 4;
	__u8 smac[6] = {0}, dmac[6] = {0};
	__u32 saddr = 0, daddr = 0, dst_count = 1, dst_stride = 256, batch = 64, repeat = 1 << 16;
	unsigned int sport = 1024, sport_count = 1, ttl = 64, size = 60;
	double seconds = 10, slice = 0.25;
	int have = 0;

	if (argc < 2)
		usage();
	obj_path = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(k, "--dev"))
			dev = v;
		else if (!strcmp(k, "--src-mac"))
			parse_mac(v, smac), have |= 1;
		else if (!strcmp(k, "--dst-mac"))
			parse_mac(v, dmac), have |= 2;
		else if (!strcmp(k, "--src-ip"))
			src_text = v, have |= 4;
		else if (!strcmp(k, "--dst-ip"))
			dst_text = v, have |= 8;
		else if (!strcmp(k, "--family"))
			family = atoi(v);
		else if (!strcmp(k, "--dst-file"))
			dst_file = v;
		else if (!strcmp(k, "--sport"))
			sport = strtoul(v, NULL, 0);
		else if (!strcmp(k, "--sport-count"))
			sport_count = strtoul(v, NULL, 0);
		else if (!strcmp(k, "--dst-count"))
			dst_count = strtoul(v, NULL, 0);
		else if (!strcmp(k, "--dst-stride"))
			dst_stride = strtoul(v, NULL, 0);
		else if (!strcmp(k, "--ttl"))
			ttl = strtoul(v, NULL, 0);
		else if (!strcmp(k, "--size"))
			size = strtoul(v, NULL, 0);
		else if (!strcmp(k, "--batch"))
			batch = strtoul(v, NULL, 0);
		else if (!strcmp(k, "--repeat"))
			repeat = strtoul(v, NULL, 0);
		else if (!strcmp(k, "--seconds"))
			seconds = strtod(v, NULL);
		else if (!strcmp(k, "--slice"))
			slice = strtod(v, NULL);
		else
			usage();
	}
	if (!dev || have != 15 || (family != 4 && family != 6) || size < (family == 6 ? HDR6_LEN : HDR_LEN) || size > 1500 || sport_count < 1 || sport_count > 65535 ||
	    sport + sport_count > 65536 || dst_count < 1 || ttl < 1 || ttl > 255)
		usage();
	int ifindex = (int)if_nametoindex(dev);
	if (!ifindex) {
		fprintf(stderr, "bench-livegen: no device %s: %s\n", dev, strerror(errno));
		return 1;
	}

	/* The template: Ethernet + IPv4 (or IPv6) + UDP to port 9 (discard), zero payload. */
	struct gen_cfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	struct ethhdr *eth = (struct ethhdr *)cfg.hdr;
	if (family == 6) {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(eth + 1);
		struct udphdr *udp6 = (struct udphdr *)(ip6 + 1);
		memcpy(eth->h_dest, dmac, 6);
		memcpy(eth->h_source, smac, 6);
		eth->h_proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->payload_len = htons((__u16)(size - HDR6_LEN + sizeof(struct udphdr)));
		ip6->nexthdr = IPPROTO_UDP;
		ip6->hop_limit = (__u8)ttl;
		parse_ip6(src_text, &ip6->saddr);
		parse_ip6(dst_text, &ip6->daddr);
		udp6->source = htons((__u16)sport);
		udp6->dest = htons(9);
		udp6->len = ip6->payload_len;
		cfg.v6 = 1;
	} else {
		saddr = parse_ip(src_text);
		daddr = parse_ip(dst_text);
		struct iphdr *ip = (struct iphdr *)(eth + 1);
		struct udphdr *udp = (struct udphdr *)(ip + 1);
		memcpy(eth->h_dest, dmac, 6);
		memcpy(eth->h_source, smac, 6);
		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons((__u16)(size - sizeof(struct ethhdr)));
		ip->ttl = (__u8)ttl;
		ip->protocol = IPPROTO_UDP;
		ip->saddr = saddr;
		ip->daddr = daddr;
		udp->source = htons((__u16)sport);
		udp->dest = htons(9);
		udp->len = htons((__u16)(size - sizeof(struct ethhdr) - sizeof(struct iphdr)));
	}
	cfg.sport_count = (__u16)sport_count;
	cfg.dst_count = dst_count;
	cfg.dst_stride = dst_stride;

	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	if (!obj) {
		fprintf(stderr, "bench-livegen: open %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "bench-livegen: load %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "xdp_gen");
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "gen_cfg");
	if (!prog || !map) {
		fprintf(stderr, "bench-livegen: %s has no xdp_gen / gen_cfg\n", obj_path);
		return 1;
	}
	if (dst_file) {
		struct bpf_map *dsts = bpf_object__find_map_by_name(obj, "gen_dsts");
		if (!dsts) {
			fprintf(stderr, "bench-livegen: %s has no gen_dsts\n", obj_path);
			return 1;
		}
		cfg.list_len = load_dsts(dsts, dst_file);
	}
	__u32 key = 0;
	if (bpf_map_update_elem(bpf_map__fd(map), &key, &cfg, BPF_ANY)) {
		fprintf(stderr, "bench-livegen: gen_cfg: %s\n", strerror(errno));
		return 1;
	}

	__u8 frame[1500];
	memset(frame, 0, sizeof(frame));
	memcpy(frame, cfg.hdr, family == 6 ? HDR6_LEN : HDR_LEN);
	struct xdp_md ctx_in = { .data_end = size, .ingress_ifindex = (__u32)ifindex, .rx_queue_index = 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = size,
		.ctx_in = &ctx_in,
		.ctx_size_in = sizeof(ctx_in),
		.repeat = repeat,
		.batch_size = batch,
		.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
	);

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int prog_fd = bpf_program__fd(prog);
	unsigned long long packets = 0, calls = 0;
	double t0 = now(), t = t0;
	/* Each test run attaches the program to the XDP dispatcher and detaches it
	 * again, and both wait for an RCU grace period (milliseconds): size the
	 * runs to about --slice seconds each so those waits cost little. */
	while (!stop && t - t0 < seconds) {
		double t1 = t;
		int err = bpf_prog_test_run_opts(prog_fd, &opts);
		t = now();
		if (err) {
			if (errno == EINTR)
				break;
			fprintf(stderr, "bench-livegen: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			return 1;
		}
		packets += opts.repeat;
		calls++;
		double rate = opts.repeat / (t - t1), left = seconds - (t - t0);
		double want = rate * (left < slice ? left : slice);
		opts.repeat = want < 4096 ? 4096 : want > (1 << 28) ? (1 << 28) : (__u32)want;
	}
	printf("{\"packets\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"calls\":%llu,\"ifindex\":%d}\n",
	       packets, t - t0, packets / (t - t0), calls, ifindex);
	bpf_object__close(obj);
	return 0;
}
