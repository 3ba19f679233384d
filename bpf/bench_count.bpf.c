// SPDX-License-Identifier: MIT OR GPL-2.0
/* Bench only (bench/dataplane.ts): the receiver at the far end of the
 * forwarder. Counts the frames that arrive (all, and IPv4 or IPv6 UDP to port
 * 9, the generator's) per CPU, and drops them all: XDP_DROP is the cheapest way to
 * take frames off a veth, so the receiver costs the forwarder's CPU little.
 * Also keeps the veth peer's NAPI on, which XDP-redirected frames need. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* 0: every frame, 1: IPv4 or IPv6 UDP to port 9 (the generator's). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void bump(__u32 key)
{
	__u64 *c = bpf_map_lookup_elem(&counts, &key);

	if (c)
		*c += 1;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	bump(0);
	if ((void *)(udp + 1) <= end && eth->h_proto == bpf_htons(ETH_P_IP) && ip->ihl == 5 &&
	    ip->protocol == IPPROTO_UDP && udp->dest == bpf_htons(9)) {
		bump(1);
	} else if ((void *)(eth + 1) <= end && eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct udphdr *udp6 = (void *)(ip6 + 1);

		if ((void *)(udp6 + 1) <= end && ip6->nexthdr == IPPROTO_UDP && udp6->dest == bpf_htons(9))
			bump(1);
	}
	return XDP_DROP;
}
