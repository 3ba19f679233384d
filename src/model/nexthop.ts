// A kernel nexthop object (RTM_NEWNEXTHOP): a single nexthop or a group.
import type { IpAddr } from './ip.js';

export interface NexthopGroupMember {
  readonly id: number;
  /** 1-based weight (the kernel's nexthop_grp.weight is stored minus one). */
  readonly weight: number;
}

export interface NexthopObject {
  readonly id: number;
  /** nhm_family: 4 or 6 for single nexthops with a gateway family, 0 for groups/blackholes without one. */
  readonly family: 0 | 4 | 6;
  readonly protocol: number;
  readonly blackhole: boolean;
  /** NHA_OIF */
  readonly oif: number | null;
  /** NHA_GATEWAY; its family may differ from the routes using it (IPv6 gateway for IPv4 routes). */
  readonly gateway: IpAddr | null;
  /** RTNH_F_ONLINK in nhm_flags. */
  readonly onlink: boolean;
  /** RTNH_F_DEAD / RTNH_F_LINKDOWN in nhm_flags. */
  readonly dead: boolean;
  readonly linkdown: boolean;
  /** NHA_GROUP members; null for a single nexthop. */
  readonly group: readonly NexthopGroupMember[] | null;
  /** NHA_GROUP_TYPE: 'mpath' (hash-threshold) or 'resilient'. */
  readonly groupType: 'mpath' | 'resilient' | null;
  /** Resilient groups: NHA_RES_GROUP_BUCKETS. */
  readonly resilientBuckets: number | null;
  /** NHA_FDB: nexthop used by the bridge FDB, never by routes. */
  readonly fdb: boolean;
  /** NHA_ENCAP: a lightweight-tunnel encapsulation (MPLS, seg6, ...): never offloadable. */
  readonly encap?: true;
}
