// A network interface as the kernel reports it (RTM_NEWLINK).

export interface Link {
  readonly ifindex: number;
  readonly name: string;
  /** IFLA_ADDRESS as lower-case colon text; null when the link has none. */
  readonly mac: string | null;
  /** IFF_UP: administratively up. */
  readonly adminUp: boolean;
  /** IFF_LOWER_UP: carrier present. Routes over a link without carrier are RTNH_F_LINKDOWN. */
  readonly carrier: boolean;
  /** IFLA_OPERSTATE as lower-case RFC 2863 name: 'up', 'down', 'lowerlayerdown', 'unknown', ... */
  readonly operState: string;
  readonly mtu: number;
  /** IFLA_MASTER: the enslaving device (VRF, bridge, bond), if any. */
  readonly master: number | null;
  /** IFLA_INFO_KIND: 'veth', 'vrf', 'bridge', ...; null for physical NICs. */
  readonly kind: string | null;
  /** IFLA_VRF_TABLE when kind === 'vrf'. */
  readonly vrfTable: number | null;
  /** IFLA_PHYS_SWITCH_ID as hex; present on switchdev representors and switch ports. */
  readonly physSwitchId: string | null;
  /** IFLA_PHYS_PORT_NAME, e.g. 'pf0vf1' on an mlx5 VF representor. */
  readonly physPortName: string | null;
  /** kind === 'vlan' only: what IFLA_LINK and IFLA_INFO_DATA say about the sub-interface. */
  readonly vlan?: VlanInfo;
}

/** A VLAN sub-interface (IFLA_INFO_KIND 'vlan'). Fixed at creation: the kernel changes none of these on a live device. */
export interface VlanInfo {
  /** IFLA_LINK: the device it sends and receives through; null when that is in another namespace (IFLA_LINK_NETNSID) or unknown. */
  readonly parent: number | null;
  /** IFLA_VLAN_ID. */
  readonly vid: number;
  /** IFLA_VLAN_PROTOCOL: the tag's TPID (0x8100 or 0x88a8). */
  readonly protocol: '802.1Q' | '802.1ad';
  /** IFLA_VLAN_EGRESS_QOS holds a mapping: the kernel sets the pushed tag's priority bits from skb->priority. */
  readonly egressQos: boolean;
}

/** Usable for forwarding: admin up and carrier present. */
export function linkIsUp(link: Link): boolean {
  return link.adminUp && link.carrier;
}
