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
 * over dst_count /24-spaced addresses (a table of routes) and the UDP source
 * port over sport_count values (ECMP spread); the IPv4 checksum is computed
 * here for every frame. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define HDR_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))

struct gen_cfg {
	__u8 hdr[HDR_LEN];  /* template: Ethernet + IPv4 (checksum ignored) + UDP */
	__u16 sport_count;  /* > 1: UDP source port = template's + seq % sport_count */
	__u32 dst_count;    /* > 1: IPv4 dst = template's + ((seq * K) % dst_count) * dst_stride */
	__u32 dst_stride;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_cfg);
} gen_cfg SEC(".maps");

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

	if (!cfg || data + HDR_LEN > end)
		return XDP_ABORTED;
	__builtin_memcpy(data, cfg->hdr, HDR_LEN);

	__u64 s = seq++;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct udphdr *udp = (void *)(ip + 1);

	if (cfg->dst_count > 1) {
		/* K is prime and coprime with the count: consecutive frames jump across the table. */
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
