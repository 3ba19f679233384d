// Offload port selection: which links the offload may receive on and send
// out of, and which backend each gets.
import { portPatternMatches } from '../config.js';
import type { Link } from '../model/link.js';
import type { PlanPort, PortBackend, UnsupportedReason } from './types.js';

/**
 * A tc port whose arriving traffic its table's flower block forwards: the
 * table is offloaded and no policy rule, firewall hook or rp_filter hands
 * its ingress to the kernel (such a port is an egress only). The tc
 * backend's blocks and `plan`'s compressed view both select tables by it.
 */
export function tcBlockMember(p: PlanPort, tables: readonly number[]): boolean {
  return p.backend === 'tc' && tables.includes(p.table) && !p.policy;
}

/** Backend of a selected port; 'none' excludes it (e.g. a `port_backends` override). */
export type BackendFor = (link: Link) => PortBackend;

const defaultBackend: BackendFor = () => 'xdp';

/** A spec list selects a link when any entry names it, globs it, or is `switchdev` and the link is a representor. */
export function portSelected(link: Link, specs: readonly string[]): boolean {
  return specs.some((spec) =>
    spec === 'switchdev' ? link.physSwitchId !== null : portPatternMatches(spec, link.name),
  );
}

/**
 * Links that can never be offload ports whatever the specs say: the rewrite
 * sets Ethernet addresses, so the port needs one; a VRF device is a routing
 * domain, not a wire.
 */
export function portCapable(link: Link): boolean {
  if (link.mac === null || link.mac === '00:00:00:00:00:00') return false;
  return link.kind !== 'vrf';
}

/**
 * A selected VLAN sub-interface as an XDP port, or why it can't be one. Only
 * an 802.1Q VLAN directly on a device of this namespace: the program parses
 * one 802.1Q tag and pushes one.
 */
export function vlanPort(
  link: Link, linkOf: (ifindex: number) => Link | undefined, backend: PortBackend,
): { vlan: NonNullable<PlanPort['vlan']> } | { unsupported: UnsupportedReason } | null {
  const v = link.vlan;
  if (link.kind !== 'vlan' || !v) return null;
  if (v.protocol !== '802.1Q') return { unsupported: 'vlan-802.1ad' };
  const parent = v.parent === null ? undefined : linkOf(v.parent);
  if (!parent) return { unsupported: 'vlan-parent-elsewhere' };
  if (parent.kind === 'vlan') return { unsupported: 'vlan-stacked' };
  if (v.egressQos) return { unsupported: 'vlan-egress-qos' };
  if (backend === 'tc') return { unsupported: 'vlan-tc' };
  return { vlan: { parent: parent.ifindex, parentDev: parent.name, vid: v.vid } };
}

/**
 * Every link with its backend ('none' when not selected), sorted by ifindex.
 * `tableOf` maps a link to the table its ingress packets are looked up in.
 * A selected VLAN sub-interface the offload can't serve gets 'none' and the
 * reason (`unsupported`).
 */
export function selectPorts(
  links: Iterable<Link>,
  specs: readonly string[],
  backendFor: BackendFor = defaultBackend,
  tableOf: (ifindex: number) => number = () => 254,
): PlanPort[] {
  const all = [...links];
  const byIfindex = new Map(all.map((l) => [l.ifindex, l] as const));
  const out: PlanPort[] = [];
  for (const link of all) {
    const selected = portCapable(link) && portSelected(link, specs);
    let backend = selected ? backendFor(link) : 'none';
    const v = selected && backend !== 'none' ? vlanPort(link, (i) => byIfindex.get(i), backend) : null;
    if (v && 'unsupported' in v) backend = 'none';
    out.push({
      ifindex: link.ifindex,
      dev: link.name,
      backend,
      mac: link.mac,
      table: tableOf(link.ifindex),
      ...(link.mtu > 0 ? { mtu: link.mtu } : {}),
      ...(v ?? {}),
    });
  }
  return out.sort((a, b) => a.ifindex - b.ifindex);
}
