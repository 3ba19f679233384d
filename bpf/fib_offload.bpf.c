// SPDX-License-Identifier: MIT OR GPL-2.0
/* fib-offload XDP forwarder: does for an offloaded prefix exactly what the
 * kernel's IPv4/IPv6 forwarding would do to the frame (TTL / hop limit minus
 * one with the kernel's incremental checksum, Ethernet addresses from the
 * adjacency), and hands everything else to the kernel untouched (XDP_PASS).
 * Maps are filled by the agent from its plan; layouts in fib_offload.h. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "fib_offload.h"

_Static_assert(sizeof(struct bpf_fib_lookup) == 64, "struct bpf_fib_lookup is 64 bytes on every kernel (6.1 and later)");

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct fo_port_key);
	__type(value, struct fo_port_val);
	__uint(max_entries, 1024);
} fo_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct fo_lpm4_key);
	__type(value, struct fo_route_val);
	__uint(max_entries, 4194304);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fo_lpm4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct fo_lpm6_key);
	__type(value, struct fo_route_val);
	__uint(max_entries, 1048576);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fo_lpm6 SEC(".maps");

/* Large IPv4 tables: table -> its DIR-24-8 array (fib_offload.h). A table
 * moves between the LPM trie and its flat array with one update here. The
 * inner maps are made and pinned by the agent; this is their template. */
struct fo_flat4_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, FO_FLAT4_ENTRIES);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 4096);
	__array(values, struct fo_flat4_inner);
} fo_flat4 SEC(".maps");

/* Not preallocated: an update swaps in a new element under RCU, so a reader
 * sees the old group or the new one, never a mix. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct fo_group_val);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fo_groups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1024);
} fo_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct fo_config);
	__uint(max_entries, 1);
} fo_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct fo_stat_key);
	__type(value, struct fo_counter);
	__uint(max_entries, 65536);
} fo_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct fo_counter);
	__uint(max_entries, FO_V_COUNT);
} fo_verdicts SEC(".maps");

/* xdp.audit_rate, written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct fo_audit_conf);
	__uint(max_entries, 1);
} fo_audit_conf SEC(".maps");

/* Audit counters and the ring of recent disagreements, per CPU: no atomics,
 * no lock; the agent sums and merges. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct fo_audit_cpu);
	__uint(max_entries, 1);
} fo_audit SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* Frame length without subtracting packet pointers: pointer minus pointer
 * needs CAP_PERFMON from the verifier (allow_ptr_leaks), and a router needs
 * only CAP_BPF and CAP_NET_ADMIN for XDP. */
static __always_inline __u32 frame_len(struct xdp_md *ctx)
{
	return (__u32)bpf_xdp_get_buff_len(ctx);
}

static __always_inline int verdict(struct xdp_md *ctx, __u32 v, int action)
{
	struct fo_counter *c = bpf_map_lookup_elem(&fo_verdicts, &v);

	if (c) {
		c->packets++;
		c->bytes += frame_len(ctx);
	}
	return action;
}

#define PASS(v) return verdict(ctx, (v), XDP_PASS)

/* A big-endian 16-bit length field, with bounds the verifier can see.
 * Verifiers before 6.x (Debian 12's 6.1) lose a value's bounds through a
 * BPF_END swap and through an OR of two bounded values, and then refuse
 * packet-pointer arithmetic with it. The empty asm hides the value from
 * clang, so the mask survives into the program and bounds it for them. */
static __always_inline __u32 load_be16(const __be16 *p)
{
	__u32 v = bpf_ntohs(*p);

	asm volatile("" : "+r"(v));
	return v & 0xffff;
}

static __always_inline __u32 rotl(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* murmur3 round and finaliser: cheap, and good enough to spread flows. */
static __always_inline __u32 mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotl(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 fmix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline int same_mac(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

/* same_mac() for a MAC only 2-byte aligned (bpf_fib_lookup.dmac is at
 * offset 58): the verifier refuses misaligned stack loads. */
static __always_inline int same_mac16(const __u8 *a, const __u8 *b)
{
	const __u16 *x = (const __u16 *)a, *y = (const __u16 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2];
}

/* Source and destination ports of an unfragmented TCP/UDP/SCTP packet, as one
 * word; 0 when there are none (the kernel's L4 hash also has none then). */
static __always_inline __u32 l4_ports(void *l4, void *end, __u8 proto)
{
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP)
		return 0;
	if (l4 + 4 > end)
		return 0;
	return *(__u32 *)l4;
}

struct decision {
	const struct fo_member *m;
	__u32 member;  /* m's index in its group */
	__u32 group;
	__u32 mtu;     /* the group's route MTU, 0 = none */
	__u32 l3len;   /* IPv4 total length, or 40 + IPv6 payload length: what the kernel compares with it */
	__u32 l3off;   /* 14, or 18 with an 802.1Q tag */
	__u32 trim;    /* bytes after the IP packet (Ethernet padding) to cut */
	int tagged;
	int family;
};

/* The IPv4 longest match of addr (network order) in the port's table,
 * through its flat array when it has one (flat), else the LPM trie: 0 with
 * *group set when the prefix is forwarded, else the verdict to pass with. */
static __always_inline __u32 lookup4(void *flat, __u32 table, __be32 addr, __u32 *group)
{
	if (flat) {
		__u32 a = bpf_ntohl(addr);
		__u32 idx = a >> 8;
		const __u32 *e = bpf_map_lookup_elem(flat, &idx);
		__u32 v;

		if (!e)
			return FO_V_NO_ROUTE;
		v = *e;
		if (v & FO_D24_EXT) {
			idx = FO_TBL24_SIZE + ((v & FO_D24_TBL8_MASK) << 8) + (a & 0xff);
			e = bpf_map_lookup_elem(flat, &idx);
			if (!e)
				return FO_V_NO_ROUTE;
			v = *e;
		}
		if (!(v & FO_D24_FWD))
			return v & FO_D24_PUNT ? FO_V_ROUTE_PUNT : FO_V_NO_ROUTE;
		*group = v & FO_D24_GROUP_MASK;
		return 0;
	} else {
		struct fo_lpm4_key key = { .prefixlen = 64, .table_be = bpf_htonl(table) };
		const struct fo_route_val *rv;

		__builtin_memcpy(key.addr, &addr, 4);
		rv = bpf_map_lookup_elem(&fo_lpm4, &key);
		if (!rv)
			return FO_V_NO_ROUTE;
		if (rv->action != FO_ACTION_FORWARD)
			return FO_V_ROUTE_PUNT;
		*group = rv->group;
		return 0;
	}
}

/* Whether a usable member of the group leaves through the port (ifindex,
 * vid): the ingress device and VLAN id, as fo_ports keys it (members are
 * written out, as in fo_audit_sample(): no loop, no pointer arithmetic). */
static __always_inline int group_uses(__u32 group, __u32 ifindex, __u32 vid)
{
	const struct fo_group_val *g = bpf_map_lookup_elem(&fo_groups, &group);
	__u32 nm;

	if (!g)
		return 0;
	nm = g->nmembers;
#define FO_USES(k)                                       \
	do {                                             \
		if ((k) >= nm)                           \
			return 0;                        \
		if (g->member[k].ifindex == ifindex &&   \
		    g->member[k].vid == vid)             \
			return 1;                        \
	} while (0)
#define FO_USES_8(k)                                                         \
	FO_USES(k); FO_USES(k + 1); FO_USES(k + 2); FO_USES(k + 3);          \
	FO_USES(k + 4); FO_USES(k + 5); FO_USES(k + 6); FO_USES(k + 7)
	_Static_assert(FO_MAX_MEMBERS == 64, "FO_USES_8 below covers 64 members");
	FO_USES_8(0); FO_USES_8(8); FO_USES_8(16); FO_USES_8(24);
	FO_USES_8(32); FO_USES_8(40); FO_USES_8(48); FO_USES_8(56);
#undef FO_USES_8
#undef FO_USES
	return 0;
}

static __always_inline const struct fo_group_val *
pick(__u32 group, __u32 hash, const struct fo_member **m, __u32 *index)
{
	const struct fo_group_val *g = bpf_map_lookup_elem(&fo_groups, &group);
	__u32 b;

	if (!g)
		return 0;
	b = g->bucket[hash & g->bucket_mask & (FO_MAX_BUCKETS - 1)];
	if (b >= g->nmembers || b >= FO_MAX_MEMBERS)
		return 0;
	/* The address below from the bounded b, not one clang computed before
	 * the check (6.1's verifier refuses the access then: the check bounds b,
	 * not a pointer derived from it earlier). The empty asm keeps the mask. */
	asm volatile("" : "+r"(b));
	b &= FO_MAX_MEMBERS - 1;
	*m = &g->member[b];
	*index = b;
	return g;
}

/* v, as a value the verifier can't see through: stored in the map and
 * loaded back (the empty asm with a memory clobber makes clang reload it).
 * Without CAP_PERFMON the verifier's Spectre v1 sanitation wants one
 * pointer-arithmetic state per instruction, so a map pointer plus an index
 * that is a different constant on each path or loop pass is refused; an
 * unknown but bounded index is one state. */
static __always_inline __u32 opaque(struct fo_audit_cpu *a, __u32 v)
{
	a->scratch = v;
	asm volatile("" ::: "memory");
	return (__u32)a->scratch;
}

/* The kernel's own answer for a frame the program is about to forward
 * (xdp.audit_rate; fib_offload.h), compared with the program's: counted per
 * result, and a disagreement recorded in this CPU's ring.
 *
 * bpf_fib_lookup() without flags is the kernel's input route lookup from the
 * ingress device (fib_lookup: ip rules, the local table, the VRF's table
 * through l3mdev), then its ECMP choice and its neighbour. No
 * BPF_FIB_LOOKUP_TBID (6.5+; 6.1 refuses the flag with -EINVAL at run time):
 * the table follows from the ingress port exactly as the plan's port table
 * does, and ip rules the plan does not model show up as disagreements. The
 * helper answers FWD_DISABLED, before any lookup, when forwarding is off on
 * the ingress device; that is counted as such, never as a disagreement.
 *
 * A global function: the verifier checks it once, on its own, with unknown
 * arguments (ctx and scalars only, which 6.1 takes), instead of once for
 * every path of the main program that reaches it with its 64-member loop.
 * `where` is the L3 offset (14 or 18) | family << 8 | the ingress VLAN id
 * << 16. The group is looked up again by id, and the port by its key (for
 * the port's own device: a VLAN port is asked about as the VLAN device, as
 * the kernel would route it); a group replaced in between costs one odd
 * sample. Members are compared by port, the egress as the kernel names it. */
__attribute__((noinline)) int fo_audit_sample(struct xdp_md *ctx, __u32 group, __u32 member, __u32 where, __u32 table)
{
	__u32 zero = 0, result, k, l3off = where & 0xff, family = (where >> 8) & 0xff, ingress;
	const struct fo_group_val *g = bpf_map_lookup_elem(&fo_groups, &group);
	struct fo_audit_cpu *a = bpf_map_lookup_elem(&fo_audit, &zero);
	struct fo_port_key pk = { .ifindex = ctx->ingress_ifindex, .vid = (where >> 16) & 0x0fff };
	const struct fo_port_val *port = bpf_map_lookup_elem(&fo_ports, &pk);
	const struct fo_member *m;
	struct fo_audit_rec *r;
	struct bpf_fib_lookup p;
	/* Headers are copied out with bpf_xdp_load_bytes() (5.18+): no packet
	 * pointer plus a variable offset, which the verifier allows only with
	 * CAP_PERFMON (Spectre v1 sanitation refuses it for packet pointers). */
	union {
		struct iphdr v4;
		struct ipv6hdr v6;
	} h;
	__be16 ports[2];
	__u64 n;
	long ret;

	if (!g || !a || member >= FO_MAX_MEMBERS || l3off > 18)
		return -1;
	/* Every byte set: the verifier wants initialised stack for the helper,
	 * and without CAP_PERFMON it also explores mispredicted branches (the
	 * IPv6 copy after an IPv4 load), which must not read unset bytes. */
	__builtin_memset(&p, 0, sizeof(p));
	__builtin_memset(&h, 0, sizeof(h));
	__builtin_memset(ports, 0, sizeof(ports));
	if (family == 4) {
		if (bpf_xdp_load_bytes(ctx, l3off, &h.v4, sizeof(h.v4)))
			return -1;
		p.family = 2; /* AF_INET */
		p.tos = h.v4.tos;
		p.l4_protocol = h.v4.protocol;
		p.tot_len = bpf_ntohs(h.v4.tot_len);
		p.ipv4_src = h.v4.saddr;
		p.ipv4_dst = h.v4.daddr;
		/* The main program forwards only ihl 5: the L4 header follows. */
		if (!(h.v4.frag_off & bpf_htons(0x3fff)) &&
		    (h.v4.protocol == IPPROTO_TCP || h.v4.protocol == IPPROTO_UDP || h.v4.protocol == IPPROTO_SCTP) &&
		    !bpf_xdp_load_bytes(ctx, l3off + sizeof(h.v4), ports, sizeof(ports))) {
			p.sport = ports[0];
			p.dport = ports[1];
		}
	} else {
		if (bpf_xdp_load_bytes(ctx, l3off, &h.v6, sizeof(h.v6)))
			return -1;
		p.family = 10; /* AF_INET6 */
		p.flowinfo = *(__be32 *)&h.v6 & bpf_htonl(0x0fffffff);
		p.l4_protocol = h.v6.nexthdr;
		p.tot_len = sizeof(h.v6) + bpf_ntohs(h.v6.payload_len);
		__builtin_memcpy(p.ipv6_src, &h.v6.saddr, 16);
		__builtin_memcpy(p.ipv6_dst, &h.v6.daddr, 16);
		if ((h.v6.nexthdr == IPPROTO_TCP || h.v6.nexthdr == IPPROTO_UDP || h.v6.nexthdr == IPPROTO_SCTP) &&
		    !bpf_xdp_load_bytes(ctx, l3off + sizeof(h.v6), ports, sizeof(ports))) {
			p.sport = ports[0];
			p.dport = ports[1];
		}
	}
	ingress = port && port->ifindex ? port->ifindex : ctx->ingress_ifindex;
	p.ifindex = ingress;
	ret = bpf_fib_lookup(ctx, &p, sizeof(p), 0);

	if (ret == BPF_FIB_LKUP_RET_SUCCESS) {
		/* ECMP: the kernel's own hash picks its member; any of ours agrees. */
		__u32 nm = g->nmembers;

		result = FO_A_EGRESS;
		/* Written out 64 times, each member at a constant offset: no loop
		 * (a bounded loop's counter must stay precise for the verifier to
		 * tell its passes apart) and no pointer arithmetic (a different
		 * index on each pass is refused without CAP_PERFMON). */
#define FO_CHECK_MEMBER(k)                                                   \
		do {                                                         \
			if ((k) >= nm)                                       \
				goto members_done;                           \
			if (g->member[k].port == p.ifindex) {                \
				if (same_mac16(g->member[k].dmac, p.dmac)) { \
					result = FO_A_AGREE;                 \
					goto members_done;                   \
				}                                            \
				result = FO_A_NEIGH;                         \
			}                                                    \
		} while (0)
#define FO_CHECK_8(k)                                                         \
		FO_CHECK_MEMBER(k); FO_CHECK_MEMBER(k + 1); FO_CHECK_MEMBER(k + 2); \
		FO_CHECK_MEMBER(k + 3); FO_CHECK_MEMBER(k + 4); FO_CHECK_MEMBER(k + 5); \
		FO_CHECK_MEMBER(k + 6); FO_CHECK_MEMBER(k + 7)
		_Static_assert(FO_MAX_MEMBERS == 64, "FO_CHECK_8 below covers 64 members");
		FO_CHECK_8(0); FO_CHECK_8(8); FO_CHECK_8(16); FO_CHECK_8(24);
		FO_CHECK_8(32); FO_CHECK_8(40); FO_CHECK_8(48); FO_CHECK_8(56);
#undef FO_CHECK_8
#undef FO_CHECK_MEMBER
members_done:;
	} else if (ret == BPF_FIB_LKUP_RET_NO_NEIGH) {
		result = FO_A_NO_NEIGH;
	} else if (ret == BPF_FIB_LKUP_RET_FWD_DISABLED) {
		result = FO_A_FWD_OFF;
	} else if (ret < 0) {
		result = FO_A_ERROR;
	} else {
		result = FO_A_NO_FORWARD;
	}
	k = opaque(a, result);
	if (k >= FO_A_COUNT)
		return -1;
	a->result[k]++;
	if (result == FO_A_AGREE || result == FO_A_FWD_OFF)
		return result;

	n = a->recorded + 1;
	r = &a->rec[(n - 1) & (FO_AUDIT_SLOTS - 1)];
	r->seq = n;
	asm volatile("" ::: "memory"); /* seq before the fields, seq_end after: the agent skips torn records */
	r->ktime_ns = bpf_ktime_get_ns();
	if (family == 4) {
		__builtin_memcpy(r->src, &h.v4.saddr, 4);
		__builtin_memset(r->src + 4, 0, 12);
		__builtin_memcpy(r->dst, &h.v4.daddr, 4);
		__builtin_memset(r->dst + 4, 0, 12);
	} else {
		__builtin_memcpy(r->src, &h.v6.saddr, 16);
		__builtin_memcpy(r->dst, &h.v6.daddr, 16);
	}
	r->table = table;
	r->ingress = ingress;
	r->group = group;
	/* clang knows member < 64 from the check at the top and would drop the
	 * mask; the verifier may not (that check was on another copy). */
	asm volatile("" : "+r"(member));
	m = &g->member[member & (FO_MAX_MEMBERS - 1)];
	r->ifindex = m->port;
	__builtin_memcpy(r->dmac, m->dmac, 6);
	r->kernel_ret = (__s32)ret;
	r->kernel_ifindex = ret == BPF_FIB_LKUP_RET_SUCCESS || ret == BPF_FIB_LKUP_RET_NO_NEIGH ? p.ifindex : 0;
	if (ret == BPF_FIB_LKUP_RET_SUCCESS)
		__builtin_memcpy(r->kernel_dmac, p.dmac, 6);
	else
		__builtin_memset(r->kernel_dmac, 0, 6);
	r->family = family;
	r->result = result;
	asm volatile("" ::: "memory");
	r->seq_end = n;
	a->recorded = n;
	return result;
}

/* Every rate-th forwarded packet per CPU (xdp.audit_rate), by a per-CPU
 * counter rather than bpf_get_prandom_u32(): no helper call on the fast
 * path, and a test that sends N packets at rate 1 sees N samples. */
static __always_inline int audit_due(void)
{
	__u32 zero = 0;
	const struct fo_audit_conf *conf = bpf_map_lookup_elem(&fo_audit_conf, &zero);
	struct fo_audit_cpu *a;

	if (!conf || conf->rate == 0)
		return 0;
	a = bpf_map_lookup_elem(&fo_audit, &zero);
	if (!a)
		return 0;
	if (++a->tick < conf->rate)
		return 0;
	a->tick = 0;
	return 1;
}

/* data + 18 behind an 802.1Q tag, else data + 14: immediates only. Without
 * CAP_PERFMON the verifier hardens pointer arithmetic against Spectre v1 and
 * refuses a packet pointer plus a register outright ("pointer with
 * unsupported alu operation ... prohibited for !root"); a pointer plus an
 * immediate is always allowed. The empty asm keeps clang from merging the
 * two branches back into one register add. */
static __always_inline void *l3_of(void *data, __u32 tagged)
{
	void *p = data;

	if (tagged) {
		p += 18;
		asm volatile("" : "+r"(p));
	} else {
		p += 14;
		asm volatile("" : "+r"(p));
	}
	return p;
}

SEC("xdp")
int fib_offload(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct fo_port_key pk = { .ifindex = ctx->ingress_ifindex };
	const struct fo_port_val *port;
	const struct fo_config *cfg;
	const struct fo_group_val *g;
	struct decision d = { .l3off = sizeof(struct ethhdr) };
	__u32 zero = 0, seed = 0, pol4 = FO_HASH_L3, pol6 = FO_HASH_L3, mtu = 0;
	__be16 proto;
	void *l3;

	if ((void *)(eth + 1) > end)
		PASS(FO_V_MALFORMED);
	proto = eth->h_proto;
	/* 802.1Q only: fo_ports is keyed by the vid alone, and the kernel hands
	 * an 802.1ad (S-)tagged frame to an 802.1ad VLAN device, never to the
	 * 802.1Q one with the same vid. An S-tagged frame goes to the kernel. */
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > end)
			PASS(FO_V_MALFORMED);
		pk.vid = bpf_ntohs(vh->tci) & 0x0fff;
		proto = vh->encap_proto;
		d.l3off += sizeof(*vh);
		d.tagged = 1;
	}
	port = bpf_map_lookup_elem(&fo_ports, &pk);
	if (!port)
		PASS(FO_V_NOT_PORT);
	if (!same_mac(eth->h_dest, port->mac))
		PASS(FO_V_NOT_HOST);
	cfg = bpf_map_lookup_elem(&fo_config, &zero);
	if (cfg) {
		seed = cfg->seed;
		pol4 = cfg->hash_v4;
		pol6 = cfg->hash_v6;
	}
	l3 = l3_of(data, d.tagged);

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		void *flat;
		__u32 sum = 0, tot, h, a, v, group, sgroup;
		__u16 *w;

		if (port->flags & FO_PORT_KERNEL_V4)
			PASS(FO_V_NOT_PORT);
		if ((void *)(ip + 1) > end)
			PASS(FO_V_MALFORMED);
		if (ip->version != 4 || ip->ihl < 5)
			PASS(FO_V_MALFORMED);
		if (ip->ihl != 5)
			PASS(FO_V_OPTIONS);
		tot = load_be16(&ip->tot_len);
		/* Lengths, not pointers: a packet pointer plus a register needs CAP_PERFMON (l3_of()). */
		if (tot < sizeof(*ip) || d.l3off + tot > frame_len(ctx))
			PASS(FO_V_MALFORMED);
		w = (__u16 *)ip;
#pragma unroll
		for (int i = 0; i < 10; i++)
			sum += w[i];
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		if (sum != 0xffff)
			PASS(FO_V_MALFORMED);
		if (ip->ttl <= 1)
			PASS(FO_V_TTL);
		a = bpf_ntohl(ip->saddr);
		/* Sources the kernel drops as martians; destinations it never forwards. */
		if ((a >> 28) == 0xe || (a >> 24) == 0 || (a >> 24) == 127 || a == 0xffffffff)
			PASS(FO_V_SPECIAL);
		a = bpf_ntohl(ip->daddr);
		if ((a >> 28) == 0xe || (a >> 24) == 0 || (a >> 24) == 127 || a == 0xffffffff)
			PASS(FO_V_SPECIAL);
		flat = bpf_map_lookup_elem(&fo_flat4, &port->table);
		v = lookup4(flat, port->table, ip->daddr, &group);
		if (v)
			PASS(v);
		/* rp_filter: the reverse lookup of the source in the same table must
		 * forward it (loose), out of the ingress port (strict; any member of
		 * an ECMP group, as fib_info_nh_uses_dev()). What this lookup can't
		 * confirm — no entry, a punt, an unresolved member — the kernel
		 * checks itself. */
		if (port->flags & (FO_PORT_RPF_STRICT | FO_PORT_RPF_LOOSE)) {
			if (lookup4(flat, port->table, ip->saddr, &sgroup))
				PASS(FO_V_RPF);
			if ((port->flags & FO_PORT_RPF_STRICT) && !group_uses(sgroup, ctx->ingress_ifindex, pk.vid))
				PASS(FO_V_RPF);
		}
		h = mix(seed, ip->saddr);
		h = mix(h, ip->daddr);
		if (pol4 == FO_HASH_L4) {
			int frag = ip->frag_off & bpf_htons(0x3fff); /* MF or an offset */

			h = mix(h, ip->protocol);
			if (!frag)
				h = mix(h, l4_ports(ip + 1, end, ip->protocol));
		}
		h = fmix(h);
		g = pick(group, h, &d.m, &d.member);
		if (!g)
			PASS(FO_V_BUCKET_PUNT);
		d.group = group;
		d.mtu = g->mtu;
		d.l3len = tot;
		d.trim = frame_len(ctx) - (d.l3off + tot);
		d.family = 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		struct fo_lpm6_key key = { .prefixlen = 160, .table_be = bpf_htonl(port->table) };
		const struct fo_route_val *rv;
		const __u32 *sw, *dw;
		__u32 plen, h;
		__u8 s0, s1, d0, d1;

		if (port->flags & FO_PORT_KERNEL_V6)
			PASS(FO_V_NOT_PORT);
		if ((void *)(ip6 + 1) > end)
			PASS(FO_V_MALFORMED);
		if (ip6->version != 6)
			PASS(FO_V_MALFORMED);
		plen = load_be16(&ip6->payload_len);
		if (plen == 0 && ip6->nexthdr == 0)
			PASS(FO_V_OPTIONS); /* jumbogram */
		if (d.l3off + sizeof(*ip6) + plen > frame_len(ctx))
			PASS(FO_V_MALFORMED);
		if (ip6->nexthdr == 0)
			PASS(FO_V_OPTIONS); /* hop-by-hop: router alert etc. */
		if (ip6->hop_limit <= 1)
			PASS(FO_V_TTL);
		s0 = ip6->saddr.in6_u.u6_addr8[0];
		s1 = ip6->saddr.in6_u.u6_addr8[1];
		d0 = ip6->daddr.in6_u.u6_addr8[0];
		d1 = ip6->daddr.in6_u.u6_addr8[1];
		/* Multicast and link-local scope: never forwarded as unicast. */
		if (s0 == 0xff || (s0 == 0xfe && (s1 & 0xc0) == 0x80) ||
		    d0 == 0xff || (d0 == 0xfe && (d1 & 0xc0) == 0x80))
			PASS(FO_V_SPECIAL);
		/* Loopback (::1) and unspecified (::): ip6_rcv_core() drops ::1 as
		 * source or destination from any non-loopback device, ip6_forward()
		 * drops :: as source; :: as destination is nonsense, the kernel decides. */
		sw = ip6->saddr.in6_u.u6_addr32;
		dw = ip6->daddr.in6_u.u6_addr32;
		if (((sw[0] | sw[1] | sw[2]) == 0 && (sw[3] & ~bpf_htonl(1)) == 0) ||
		    ((dw[0] | dw[1] | dw[2]) == 0 && (dw[3] & ~bpf_htonl(1)) == 0))
			PASS(FO_V_SPECIAL);
		__builtin_memcpy(key.addr, &ip6->daddr, 16);
		rv = bpf_map_lookup_elem(&fo_lpm6, &key);
		if (!rv)
			PASS(FO_V_NO_ROUTE);
		if (rv->action != FO_ACTION_FORWARD)
			PASS(FO_V_ROUTE_PUNT);
		h = seed;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			h = mix(h, ip6->saddr.in6_u.u6_addr32[i]);
			h = mix(h, ip6->daddr.in6_u.u6_addr32[i]);
		}
		h = mix(h, ip6->nexthdr);
		if (pol6 == FO_HASH_L4)
			h = mix(h, l4_ports(ip6 + 1, end, ip6->nexthdr));
		else /* the kernel's L3 policy for IPv6 includes the flow label */
			h = mix(h, *(__u32 *)ip6 & bpf_htonl(0x000fffff));
		h = fmix(h);
		g = pick(rv->group, h, &d.m, &d.member);
		if (!g)
			PASS(FO_V_BUCKET_PUNT);
		d.group = rv->group;
		d.mtu = g->mtu;
		d.l3len = sizeof(*ip6) + plen;
		d.trim = frame_len(ctx) - (d.l3off + sizeof(*ip6) + plen);
		d.family = 6;
	} else {
		PASS(FO_V_NOT_IP);
	}

	/* Decided: forward to d.m. Checks that leave the frame untouched come first. */
	{
		const struct fo_member *m = d.m;
		__u32 egress = m->ifindex;
		__u32 out_vid = m->vid & 0x0fff;
		__u32 out_mtu = m->mtu;
		struct fo_stat_key sk = { .group = d.group, .ifindex = m->port };
		struct fo_counter *c;
		/* bpf_check_mtu() compares the L3 length with egress's MTU: the
		 * frame without its padding and without an arriving tag. */
		__s32 len_diff = -(__s32)d.trim - (d.tagged ? 4 : 0);
		__u8 dmac[6], smac[6];

		/* The route's MTU metric, as ip_forward() / ip6_forward() apply it
		 * before anything else (ip_dst_mtu_maybe_forward() honours it
		 * locked or not): a longer packet gets "fragmentation needed" or
		 * "packet too big" (or, IPv4 without DF, fragments) from the kernel. */
		if (d.mtu && d.l3len > d.mtu)
			PASS(FO_V_MTU);
		/* The same port: the same device and the same VLAN (a VLAN port and
		 * its parent, or two VLANs of one parent, are different ports). */
		if (egress == ctx->ingress_ifindex && out_vid == pk.vid)
			PASS(FO_V_HAIRPIN);
		/* Before the MTU check: bpf_check_mtu() fails (-ENODEV) for an
		 * ifindex that does not exist, which is no_tx, not mtu. */
		if (!bpf_map_lookup_elem(&fo_tx, &egress))
			PASS(FO_V_NO_TX);
		/* Out of a VLAN sub-interface: its own MTU, which the parent's
		 * check can't know (the parent's takes the tag on top). */
		if (out_mtu && d.l3len > out_mtu)
			PASS(FO_V_MTU);
		if (bpf_check_mtu(ctx, egress, &mtu, len_diff, 0))
			PASS(FO_V_MTU);
		/* Forwarded for sure now (but for the devmap race): the frame is still as received. */
		if (audit_due())
			fo_audit_sample(ctx, d.group, d.member, d.l3off | (d.family << 8) | (pk.vid << 16), port->table);
		__builtin_memcpy(dmac, m->dmac, 6);
		__builtin_memcpy(smac, m->smac, 6);
		__builtin_memcpy(sk.dmac, dmac, 6);

		/* The kernel trims Ethernet padding to the IP length before forwarding. */
		if (d.trim && bpf_xdp_adjust_tail(ctx, -(int)d.trim))
			PASS(FO_V_ADJUST_ERR);
		/* The tag first, while a failure still leaves the frame as it came
		 * (but for padding): pop drops the first 4 bytes (the Ethernet
		 * addresses are rewritten below, the encapsulated type ends up
		 * where the Ethernet type goes), push makes 4 bytes of room in
		 * front (the original type stays at offset 16: the tag's
		 * encapsulated type). Tagged in and out: the tag is rewritten in
		 * place. */
		if (d.tagged && !out_vid) {
			if (bpf_xdp_adjust_head(ctx, 4))
				PASS(FO_V_ADJUST_ERR);
		} else if (!d.tagged && out_vid) {
			if (bpf_xdp_adjust_head(ctx, -4))
				PASS(FO_V_ADJUST_ERR);
		}
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		l3 = l3_of(data, out_vid != 0);
		if (d.family == 4) {
			struct iphdr *ip = l3;
			__u32 check;

			if ((void *)(ip + 1) > end)
				return verdict(ctx, FO_V_DROPPED, XDP_DROP);
			/* ip_decrease_ttl(), to the bit: the same checksum encoding. */
			check = ip->check;
			check += bpf_htons(0x0100);
			ip->check = (__u16)(check + (check >= 0xffff));
			ip->ttl--;
		} else {
			struct ipv6hdr *ip6 = l3;

			if ((void *)(ip6 + 1) > end)
				return verdict(ctx, FO_V_DROPPED, XDP_DROP);
			ip6->hop_limit--;
		}
		/* New Ethernet header; out of a VLAN sub-interface with its tag:
		 * priority 0 (the kernel's VLAN device without an egress QoS map,
		 * which the plan requires), DEI 0, the VLAN's id. */
		{
			struct ethhdr *e = data;

			if ((void *)(e + 1) > end)
				return verdict(ctx, FO_V_DROPPED, XDP_DROP);
			__builtin_memcpy(e->h_dest, dmac, 6);
			__builtin_memcpy(e->h_source, smac, 6);
			if (out_vid) {
				struct vlan_hdr *vh = (void *)(e + 1);

				if ((void *)(vh + 1) > end)
					return verdict(ctx, FO_V_DROPPED, XDP_DROP);
				e->h_proto = bpf_htons(ETH_P_8021Q);
				vh->tci = bpf_htons((__u16)out_vid);
			}
		}

		c = bpf_map_lookup_elem(&fo_stats, &sk);
		if (!c) {
			struct fo_counter init = {};

			bpf_map_update_elem(&fo_stats, &sk, &init, BPF_NOEXIST);
			c = bpf_map_lookup_elem(&fo_stats, &sk);
		}
		if (c) {
			c->packets++;
			c->bytes += frame_len(ctx);
		}
		/* Looked up above; a miss now means the entry went away meanwhile. */
		if (bpf_redirect_map(&fo_tx, egress, XDP_DROP) != XDP_REDIRECT)
			return verdict(ctx, FO_V_DROPPED, XDP_DROP);
		return verdict(ctx, FO_V_FORWARDED, XDP_REDIRECT);
	}
}
