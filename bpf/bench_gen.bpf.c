// SPDX-License-Identifier: MIT OR GPL-2.0
/* Bench only (bench/dataplane.ts): the packet generator's XDP program, run by
 * bench/gen/livegen.c through BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES. Every run writes a whole Ethernet/IPv4/UDP
 * header from the template in gen_cfg and returns XDP_TX, which in live mode
 * transmits the frame out of the ctx's ingress_ifindex (ndo_xdp_xmit).
 *
 * The whole header is rewritten, not just patched: live-mode pages are
 * initialised once and recycled, and a forwarder that rewrote the frame (MACs,
 * TTL) hands the page back with its changes. The destination address can walk
 * over dst_count /24-spaced addresses (a table of routes) or over a list of
 * addresses in gen_dsts (IPv4 or IPv6: bench/lookup.ts), and the UDP source
 * port over sport_count values (ECMP spread); the IPv4 checksum is computed
 * here for every frame (IPv6 has none; the UDP checksum is left 0 in both:
 * forwarding does not read it). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define HDR_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))
#define HDR6_LEN (sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct udphdr))
#define GEN_DSTS_MAX (1 << 20)

struct gen_cfg {
	__u8 hdr[HDR6_LEN]; /* template: Ethernet + IPv4 (checksum ignored) + UDP, or Ethernet + IPv6 + UDP */
	__u16 sport_count;  /* > 1: UDP source port = template's + seq % sport_count */
	__u32 dst_count;    /* > 1: IPv4 dst = template's + ((seq * K) % dst_count) * dst_stride */
	__u32 dst_stride;
	__u32 list_len;     /* > 0: dst = gen_dsts[(seq * K) % list_len] (IPv4: its first 4 bytes) */
	__u32 v6;           /* the template is IPv6 */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_cfg);
} gen_cfg SEC(".maps");

/* A destination list (bench/lookup.ts: addresses spread over a route table), network order. */
struct gen_dst {
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_DSTS_MAX);
	__type(key, __u32);
	__type(value, struct gen_dst);
} gen_dsts SEC(".maps");

/* Frames generated so far; the generator runs on one CPU. */
__u64 seq = 0;

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	struct gen_cfg *cfg = bpf_map_lookup_elem(&gen_cfg, &key);

	if (!cfg)
		return XDP_ABORTED;
	__u64 s = seq++;
	/* K is prime and coprime with the counts: consecutive frames jump across the table. */
	__u32 li = cfg->list_len ? (__u32)((s * 2654435761ULL) % cfg->list_len) : 0;
	struct gen_dst *dst = cfg->list_len ? bpf_map_lookup_elem(&gen_dsts, &li) : 0;

	if (cfg->v6) {
		if (data + HDR6_LEN > end)
			return XDP_ABORTED;
		__builtin_memcpy(data, cfg->hdr, HDR6_LEN);
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
		struct udphdr *udp6 = (void *)(ip6 + 1);

		if (dst)
			__builtin_memcpy(&ip6->daddr, dst->addr, 16);
		if (cfg->sport_count > 1)
			udp6->source = bpf_htons(bpf_ntohs(udp6->source) + (__u16)(s % cfg->sport_count));
		return XDP_TX;
	}
	if (data + HDR_LEN > end)
		return XDP_ABORTED;
	__builtin_memcpy(data, cfg->hdr, HDR_LEN);

	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct udphdr *udp = (void *)(ip + 1);

	if (dst) {
		__builtin_memcpy(&ip->daddr, dst->addr, 4);
	} else if (cfg->dst_count > 1) {
		__u32 i = (__u32)((s * 2654435761ULL) % cfg->dst_count);
		ip->daddr = bpf_htonl(bpf_ntohl(ip->daddr) + i * cfg->dst_stride);
	}
	if (cfg->sport_count > 1)
		udp->source = bpf_htons(bpf_ntohs(udp->source) + (__u16)(s % cfg->sport_count));

	ip->check = 0;
	__u16 *w = (__u16 *)ip;
	__u32 sum = 0;
#pragma unroll
	for (int k = 0; k < 10; k++)
		sum += w[k];
	ip->check = csum_fold(sum);
	return XDP_TX;
}
