/* Map layouts shared by the XDP program (fib_offload.bpf.c) and the agent
 * (src/xdp/layout.ts mirrors every struct here byte for byte; the unit tests
 * compare sizes against the object's BTF). All multi-byte fields are host
 * order unless named *_be; addresses and MACs are byte arrays in wire order. */
#ifndef FIB_OFFLOAD_H
#define FIB_OFFLOAD_H

#include <linux/types.h>

#define FO_MAX_MEMBERS 64   /* members per adjacency group */
#define FO_MAX_BUCKETS 256  /* 2^MAX_BUCKET_BITS (src/plan/buckets.ts) */
#define FO_BUCKET_PUNT 0xff /* bucket target: the kernel forwards this share */

/* Ingress ports: (ifindex, VLAN id or 0) -> the table to look up and the MAC
 * frames must be addressed to (the kernel routes only PACKET_HOST frames). */
struct fo_port_key {
	__u32 ifindex;
	__u16 vid;
	__u16 pad;
};
struct fo_port_val {
	__u32 table;
	__u8 mac[6];
	__u16 flags;   /* FO_PORT_* */
	__u32 ifindex; /* the port's own device: the VLAN sub-interface for a (parent, vid) key, else the key's */
};
/* The port's effective rp_filter (max of net.ipv4.conf.all and its own):
 * the IPv4 source must be forwarded by the port's table (loose), out of
 * this port (strict), or the kernel decides (fib_validate_source()). */
#define FO_PORT_RPF_STRICT 0x1
#define FO_PORT_RPF_LOOSE 0x2
/* The kernel keeps this family's arriving traffic (a netfilter hook that
 * sees only it): passed as if the port were not one (FO_V_NOT_PORT). */
#define FO_PORT_KERNEL_V4 0x4
#define FO_PORT_KERNEL_V6 0x8

/* LPM keys: prefixlen counts the 32 table bits plus the address bits, so one
 * trie per family serves every offloaded table (VRF). table is big-endian so
 * it is a bit prefix of the key. */
struct fo_lpm4_key {
	__u32 prefixlen;
	__u32 table_be;
	__u8 addr[4];
};
struct fo_lpm6_key {
	__u32 prefixlen;
	__u32 table_be;
	__u8 addr[16];
};
/* Flat IPv4 tables (DIR-24-8, as DPDK's rte_lpm): one u32 array per large
 * table, reached through fo_flat4 (table -> array). Indices [0, 2^24) are
 * tbl24, indexed by the top 24 address bits; tbl8 group g holds the 256
 * entries of one /24 at FO_TBL24_SIZE + g * 256. At most two dependent reads
 * per lookup, whatever the table size. src/xdp/dir24.ts keeps the contents. */
#define FO_TBL24_SIZE (1u << 24)
#define FO_TBL8_GROUPS 16384
#define FO_FLAT4_ENTRIES (FO_TBL24_SIZE + FO_TBL8_GROUPS * 256)
#define FO_D24_EXT 0x80000000u   /* tbl24 only: | tbl8 group */
#define FO_D24_PUNT 0x40000000u  /* the kernel forwards */
#define FO_D24_FWD 0x20000000u   /* | adjacency group id */
#define FO_D24_GROUP_MASK 0x0fffffffu
#define FO_D24_TBL8_MASK 0x0fffffffu

#define FO_ACTION_FORWARD 0
#define FO_ACTION_PUNT 1
struct fo_route_val {
	__u32 action;
	__u32 group;
};

/* ifindex is the device the frame is sent from (the devmap key): for an
 * egress onto a VLAN sub-interface, its parent, with vid the 802.1Q tag to
 * push and mtu the VLAN device's MTU (the L3 length it takes; the parent's
 * bpf_check_mtu() can't know it). port is the egress as the kernel names it
 * (the VLAN device; = ifindex otherwise): what the audit compares and the
 * per-member counters are keyed by. vid 0 and mtu 0: untagged, the
 * device's own MTU. */
struct fo_member {
	__u32 ifindex;
	__u8 dmac[6];
	__u8 smac[6];
	__u16 vid;
	__u16 mtu;
	__u32 port;
};
/* An adjacency group: flow hash & bucket_mask picks a bucket, the bucket
 * names a member (or FO_BUCKET_PUNT). Replaced as a whole, so a neighbour's
 * MAC change or a member leaving is one atomic map update. mtu: the routes'
 * MTU metric (RTAX_MTU) when it is below an egress MTU, else 0; a packet
 * longer than that (L3 length) goes to the kernel, which sends the ICMP
 * error. Once a u32 nmembers: 0 there in groups an older agent wrote.
 * Layout (1800 bytes): bucket_mask at 0, nmembers 4, mtu 6, bucket[] at 8,
 * member[i] at 264 + 24 i (fo_member: 16 bytes before the VLAN fields, so a
 * pinned map of an older agent has another value size and is made anew). */
struct fo_group_val {
	__u32 bucket_mask;
	__u16 nmembers;
	__u16 mtu;
	__u8 bucket[FO_MAX_BUCKETS];
	struct fo_member member[FO_MAX_MEMBERS];
};

/* Flow hash fields, as the kernel's fib_multipath_hash_policy 0 / 1. */
#define FO_HASH_L3 0
#define FO_HASH_L4 1
struct fo_config {
	__u32 hash_v4;
	__u32 hash_v6;
	__u32 seed;     /* kept across restarts and upgrades, so flows keep their paths */
	__u32 build_id; /* first 32 bits of the SHA-256 of the object that was loaded */
};

/* Per-CPU packet/byte counters per (group, member) and per verdict. */
struct fo_stat_key {
	__u32 group;
	__u32 ifindex;
	__u8 dmac[6];
	__u16 pad;
};
struct fo_counter {
	__u64 packets;
	__u64 bytes;
};

/* Verdicts (index into fo_verdicts). Everything but FORWARDED and DROPPED is
 * XDP_PASS: the kernel sees the frame untouched. */
enum fo_verdict {
	FO_V_FORWARDED = 0,
	FO_V_NOT_PORT,     /* ingress (ifindex, vid) is not an offload port */
	FO_V_NOT_HOST,     /* destination MAC is not the port's (broadcast, multicast, other host) */
	FO_V_NOT_IP,       /* neither IPv4 nor IPv6 (ARP, LLDP, ...) */
	FO_V_MALFORMED,    /* truncated or inconsistent header, bad IPv4 checksum */
	FO_V_OPTIONS,      /* IPv4 options or IPv6 hop-by-hop header: the kernel processes them */
	FO_V_TTL,          /* TTL / hop limit <= 1: the kernel answers */
	FO_V_SPECIAL,      /* source or destination the kernel treats specially (multicast, link-local, ...) */
	FO_V_NO_ROUTE,     /* no offloaded prefix matches */
	FO_V_ROUTE_PUNT,   /* the prefix is the kernel's (local, unresolved, not offloadable, ...) */
	FO_V_BUCKET_PUNT,  /* the flow's bucket belongs to the kernel, or the group is missing */
	FO_V_HAIRPIN,      /* egress = ingress: the kernel also sends an ICMP redirect */
	FO_V_MTU,          /* larger than the route's or the egress MTU: the kernel fragments or sends the ICMP error */
	FO_V_NO_TX,        /* egress port not in the devmap */
	FO_V_ADJUST_ERR,   /* bpf_xdp_adjust_* failed (frame passed untouched) */
	FO_V_DROPPED,      /* redirect failed after the rewrite (devmap entry removed meanwhile) */
	FO_V_RPF,          /* rp_filter on the port: the source is not forwarded by the table (out of the port, strict) */
	FO_V_COUNT
};

/* Live audit (xdp.audit_rate): every rate-th forwarded packet on each CPU is
 * also looked up by the kernel (bpf_fib_lookup, no flags: the kernel's own
 * input route lookup from the ingress port, with its ip rules, VRF and local
 * table) and the two answers are compared. rate 0 = off. */
struct fo_audit_conf {
	__u32 rate;
	__u32 pad;
	__u64 taken_ns; /* the agent's own: records stamped up to here are logged (kept across its restarts) */
};

/* Results (index into fo_audit_cpu.result; src/xdp/layout.ts AUDIT_RESULTS). */
enum fo_audit_result {
	FO_A_AGREE = 0,    /* the kernel sends it to the same port and MAC (ECMP: to one of the group's members) */
	FO_A_EGRESS,       /* the kernel picks an egress port that is none of the group's members' */
	FO_A_NEIGH,        /* same egress port, another neighbour MAC */
	FO_A_NO_FORWARD,   /* the kernel would not forward it: no route, local, blackhole, unreachable,
	                    * prohibit, encapsulation, larger than the route's MTU */
	FO_A_NO_NEIGH,     /* the kernel has no usable neighbour for its next hop: it would resolve first */
	FO_A_FWD_OFF,      /* forwarding is off on the ingress port, so the kernel can't be asked
	                    * (not a disagreement: the offload forwards whatever ip_forward says) */
	FO_A_ERROR,        /* the helper failed (negative errno) */
	FO_A_COUNT
};

/* One disagreement (any result but AGREE and FWD_OFF). The record is whole
 * when seq == seq_end: seq is written first, seq_end last. */
#define FO_AUDIT_SLOTS 16 /* per CPU; a power of two */
struct fo_audit_rec {
	__u64 seq;            /* 1 + index of the record on its CPU; 0 = never written */
	__u64 ktime_ns;       /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u8 src[16];         /* IPv4: first 4 bytes */
	__u8 dst[16];
	__u32 table;          /* the ingress port's table (what the program looked up) */
	__u32 ingress;        /* ingress ifindex */
	__u32 group;          /* the adjacency group the program chose from */
	__u32 ifindex;        /* the program's egress */
	__u32 kernel_ifindex; /* the kernel's egress (SUCCESS and NO_NEIGH), else 0 */
	__s32 kernel_ret;     /* bpf_fib_lookup()'s return: BPF_FIB_LKUP_RET_* or -errno */
	__u8 dmac[6];         /* the program's neighbour MAC */
	__u8 kernel_dmac[6];  /* the kernel's (SUCCESS only) */
	__u8 family;          /* 4 or 6 */
	__u8 result;          /* enum fo_audit_result */
	__u16 pad;
	__u64 seq_end;
};

/* Per CPU (fo_audit, one entry): the sampling counter, sampled packets per
 * result, and a ring of the last disagreements. */
struct fo_audit_cpu {
	__u64 tick;          /* forwarded packets since the last sample */
	__u64 recorded;      /* disagreements recorded (the ring's write position) */
	__u64 result[FO_A_COUNT];
	__u64 scratch;       /* the program's: indices passed through memory (fib_offload.bpf.c, opaque()) */
	struct fo_audit_rec rec[FO_AUDIT_SLOTS];
};

#endif
