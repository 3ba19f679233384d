// rtnetlink numbers from linux/netlink.h, linux/rtnetlink.h, linux/neighbour.h,
// linux/nexthop.h and linux/if_link.h that the codec and adapter use.

export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_ECHO = 0x08;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** In an NLMSG_ERROR ack: the error message carries TLVs (extended ack). */
export const NLM_F_ACK_TLVS = 0x200;
/** In an NLMSG_ERROR ack: the original request was not echoed back in full. */
export const NLM_F_CAPPED = 0x100;

export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;
export const RTM_NEWNEXTHOP = 104;
export const RTM_DELNEXTHOP = 105;
export const RTM_GETNEXTHOP = 106;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_BRIDGE = 7;

/** rtnetlink multicast groups (enum rtnetlink_groups), joined with NETLINK_ADD_MEMBERSHIP. */
export const RTNLGRP_LINK = 1;
export const RTNLGRP_NEIGH = 3;
export const RTNLGRP_IPV4_IFADDR = 5;
export const RTNLGRP_IPV4_ROUTE = 7;
export const RTNLGRP_IPV4_RULE = 8;
export const RTNLGRP_IPV6_IFADDR = 9;
export const RTNLGRP_IPV6_ROUTE = 11;
export const RTNLGRP_IPV6_RULE = 19;
export const RTNLGRP_NEXTHOP = 32;

export const NETLINK_ROUTE = 0;

/** Names for logs and errors: what a message type is. */
export const RTM_NAMES: Readonly<Record<number, string>> = {
  16: 'RTM_NEWLINK', 17: 'RTM_DELLINK', 18: 'RTM_GETLINK',
  20: 'RTM_NEWADDR', 21: 'RTM_DELADDR', 22: 'RTM_GETADDR',
  24: 'RTM_NEWROUTE', 25: 'RTM_DELROUTE', 26: 'RTM_GETROUTE',
  28: 'RTM_NEWNEIGH', 29: 'RTM_DELNEIGH', 30: 'RTM_GETNEIGH',
  32: 'RTM_NEWRULE', 33: 'RTM_DELRULE', 34: 'RTM_GETRULE',
  80: 'RTM_NEWNETCONF', 81: 'RTM_DELNETCONF', 82: 'RTM_GETNETCONF',
  104: 'RTM_NEWNEXTHOP', 105: 'RTM_DELNEXTHOP', 106: 'RTM_GETNEXTHOP',
};

export function rtmName(type: number): string {
  return RTM_NAMES[type] ?? `RTM_${type}`;
}

// ---- Decoder numbers (added with the rtnetlink decoders) ----

/** rtattr type bits that are not part of the type number. */
export const NLA_TYPE_MASK = 0x3fff;

/** struct sizes of the fixed headers before the attributes. */
export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const NDMSG_LEN = 12;
export const RTMSG_LEN = 12;
export const NHMSG_LEN = 8;
export const RTNEXTHOP_LEN = 8;

/** net_device_flags (linux/if.h). */
export const IFF_UP = 0x1;
export const IFF_LOWER_UP = 0x10000;

/** enum IFLA_* (linux/if_link.h). */
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_PHYS_SWITCH_ID = 36;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_PHYS_PORT_NAME = 38;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_VRF_TABLE = 1;
/** enum IFLA_VLAN_* (IFLA_INFO_DATA of kind 'vlan'); IFLA_VLAN_PROTOCOL is big-endian. */
export const IFLA_VLAN_ID = 1;
export const IFLA_VLAN_EGRESS_QOS = 3;
export const IFLA_VLAN_PROTOCOL = 5;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;

/** IF_OPER_* (RFC 2863 operstates) indexed by value. */
export const OPER_STATES: readonly string[] = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'];

/** enum IFA_* (linux/if_addr.h). */
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_FLAGS = 8;

/** enum NDA_* and ndm_flags (linux/neighbour.h). */
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NTF_USE = 0x01;

/** enum rtattr_type_t (linux/rtnetlink.h). */
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
/** Nested RTAX_* u32 metrics (linux/rtnetlink.h): RTAX_LOCK is a bitmask of locked metrics (1 << RTAX_x). */
export const RTA_METRICS = 8;
export const RTAX_LOCK = 1;
export const RTAX_MTU = 2;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
export const RTA_VIA = 18;
export const RTA_NH_ID = 30;
/** Lightweight-tunnel encapsulation (MPLS, seg6, ip/ip6 tunnel, ...): such routes can't be offloaded. */
export const RTA_ENCAP_TYPE = 21;
export const RTA_ENCAP = 22;

/** rtnh_flags, also carried in rtm_flags for single-path routes and in nhm_flags. */
export const RTNH_F_DEAD = 0x01;
export const RTNH_F_ONLINK = 0x04;
export const RTNH_F_LINKDOWN = 0x10;
/** rtm_flags: a cached/cloned route (PMTU exceptions, redirects), not a FIB entry. */
export const RTM_F_CLONED = 0x200;
export const RT_TABLE_UNSPEC = 0;
/** rtm_type values bounding the reject routes (blackhole, unreachable, prohibit, throw). */
export const RTN_BLACKHOLE = 6;
export const RTN_THROW = 9;

/** enum NHA_* (linux/nexthop.h, checked against the uapi header). */
export const NHA_ID = 1;
export const NHA_GROUP = 2;
export const NHA_GROUP_TYPE = 3;
export const NHA_BLACKHOLE = 4;
export const NHA_OIF = 5;
export const NHA_GATEWAY = 6;
export const NHA_FDB = 11;
export const NHA_ENCAP_TYPE = 8;
export const NHA_ENCAP = 9;
export const NHA_RES_GROUP = 12;
export const NHA_RES_GROUP_BUCKETS = 1;
export const NEXTHOP_GRP_TYPE_MPATH = 0;
export const NEXTHOP_GRP_TYPE_RES = 1;
/** sizeof(struct nexthop_grp): id u32, weight u8, weight_high u8, resvd2 u16. */
export const NEXTHOP_GRP_LEN = 8;

/** struct fib_rule_hdr (linux/fib_rules.h): family, dst_len, src_len, tos, table, res1, res2, action, u32 flags. */
export const FIB_RULE_HDR_LEN = 12;
/** enum FRA_* (linux/fib_rules.h; 25.. are newer than Debian 12's uapi header: DSCP, flow label, port and DSCP masks). */
export const FRA_DST = 1;
export const FRA_SRC = 2;
export const FRA_IIFNAME = 3;
export const FRA_GOTO = 4;
export const FRA_PRIORITY = 6;
export const FRA_FWMARK = 10;
export const FRA_FLOW = 11;
export const FRA_TUN_ID = 12;
export const FRA_SUPPRESS_IFGROUP = 13;
export const FRA_SUPPRESS_PREFIXLEN = 14;
export const FRA_TABLE = 15;
export const FRA_FWMASK = 16;
export const FRA_OIFNAME = 17;
export const FRA_PAD = 18;
export const FRA_L3MDEV = 19;
export const FRA_UID_RANGE = 20;
export const FRA_PROTOCOL = 21;
export const FRA_IP_PROTO = 22;
export const FRA_SPORT_RANGE = 23;
export const FRA_DPORT_RANGE = 24;
/** enum FR_ACT_* (fib_rule_hdr.action). */
export const FR_ACT_TO_TBL = 1;
export const FR_ACT_GOTO = 2;
export const FR_ACT_NOP = 3;
export const FR_ACT_BLACKHOLE = 6;
export const FR_ACT_UNREACHABLE = 7;
export const FR_ACT_PROHIBIT = 8;
/** fib_rule_hdr.flags. */
export const FIB_RULE_INVERT = 0x2;
export const FIB_RULE_UNRESOLVED = 0x4;
export const FIB_RULE_IIF_DETACHED = 0x8;
export const FIB_RULE_OIF_DETACHED = 0x10;
