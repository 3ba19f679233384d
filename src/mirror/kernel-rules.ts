// How each kernel event changes the mirror, including what the kernel changes
// WITHOUT telling us, so the event-built mirror equals what a fresh dump shows.
//
// Silent (or only partly notified) kernel behaviours emulated here, each with
// its reason (kernel function in brackets):
//  L1 Admin down [fib_sync_down_dev(NETDEV_DOWN) + fib_flush]: IPv4 routes with
//     their own nexthops on the link get those nexthops marked DEAD+LINKDOWN;
//     a route whose nexthops are then all dead is deleted, with no
//     RTM_DELROUTE. Routes of scope host (the `local` routes of the link's
//     addresses) are exempt: their nexthop scope is RT_SCOPE_NOWHERE, which the
//     non-forced sync skips. Broadcast and connected routes go.
//  L2 Admin down [fib6_ifdown(NETDEV_DOWN)]: IPv6 single-path routes on the
//     link are deleted (notified, but deleting again is harmless); multipath
//     routes are deleted when every nexthop is dead or on the link, else the
//     link's nexthops are marked DEAD+LINKDOWN silently.
//  L3 Admin down, link deletion, and carrier loss [nh_netdev_event →
//     nexthop_flush_dev → remove_nexthop(nlinfo=NULL)]: nexthop objects with
//     that oif are removed with no RTM_DELNEXTHOP, which cascades (N1).
//     Blackhole objects survive down/carrier loss (they sit on lo).
//  L4 Admin down and deletion [neigh_ifdown]: every neighbour on the link,
//     PERMANENT included, is flushed (notified; removing first is harmless).
//  L5 Carrier loss [fib_sync_down_dev(NETDEV_CHANGE), fib6_ifdown]: nexthops
//     on the link get LINKDOWN (IPv4: not scope host, not already DEAD; IPv6:
//     not local/anycast routes). Nothing is deleted.
//  L6 Admin up [fib_sync_up / rt6_sync_up(RTNH_F_DEAD)]: DEAD is cleared from
//     nexthops on the link, LINKDOWN too when it has carrier. Carrier up
//     clears LINKDOWN. (Connected/local routes come back with notifications.)
//  L7 Link deletion [NETDEV_UNREGISTER]: IPv4 routes with any nexthop on the
//     link are deleted outright, multipath too; IPv6 multipath routes lose
//     just those nexthops; nexthop objects (blackholes too), neighbours and
//     addresses on the link go.
//  L8 Enslaving to / releasing from a VRF [vrf cycle_netdev]: the port is
//     cycled down and up, so L1–L4 then L6 apply even if the down/up
//     RTM_NEWLINKs were coalesced away.
//  A1 IPv4 address deletion [fib_del_ifaddr → fib_sync_down_addr]: once no
//     link in that table holds the address any more, IPv4 routes in the
//     link's table with it as prefsrc are flushed silently.
//  A2 Deleting the LAST IPv4 address of a link [fib_inetaddr_event →
//     fib_disable_ip(force)]: like L1 but scope host routes included, plus the
//     IPv4 neighbours of the link (arp_ifdown). Nexthop objects are untouched.
//  N1 Nexthop object removal [remove_nexthop]: routes using it are deleted
//     (IPv4 never notified; IPv6 only with nexthop_compat_mode=1); it leaves
//     every group it is in (the group's RTM_NEWNEXTHOP is sent only for an
//     explicit delete — applying ours first makes that a no-op); a group
//     losing its last member is removed the same way.
//  R1 IPv6 RTM_DELROUTE naming a strict subset of a multipath route's
//     nexthops removes only those (the kernel deletes one sibling and reports
//     just it); any other delete removes the whole route.
// Route identity is (table, family, prefix, tos, priority), plus the device for
// IPv6 device routes (see ipv6DeviceRouteIfindex): a RTM_NEWROUTE with an
// existing identity replaces it in place (IPv6 appends are reported as the
// whole merged route). Routes sharing a prefix and metric (IPv6 only) keep
// their insertion order, which decides the one that forwards: the rules below
// rewrite routes in place, as the kernel does (see rewriteRoute).
import type { Address } from '../model/address.js';
import type { KernelEvent } from '../model/events.js';
import type { Link } from '../model/link.js';
import { neighborKey } from '../model/neighbor.js';
import type { NexthopObject } from '../model/nexthop.js';
import type { Route, RouteNexthop } from '../model/route.js';
import { sameRouteIdentity, type KernelTables } from './tables.js';
import { isVrfIfindex, tableOfLink } from './vrf.js';

const RT_SCOPE_HOST = 254;

export type DownMode = 'down' | 'carrier' | 'unregister' | 'lastaddr';

/** Apply one event to the tables (recording into t.delta). */
export function applyEvent(t: KernelTables, ev: KernelEvent): void {
  switch (ev.kind) {
    case 'link': if (ev.op === 'new') linkNew(t, ev.link); else linkDel(t, ev.link.ifindex); return;
    case 'addr': if (ev.op === 'new') t.setAddress(ev.address); else addrDel(t, ev.address); return;
    case 'neigh':
      if (ev.op === 'new') t.setNeighbor(ev.neighbor);
      else t.deleteNeighbor(neighborKey(ev.neighbor.ifindex, ev.neighbor.family, ev.neighbor.address));
      return;
    case 'nexthop': if (ev.op === 'new') t.setNexthop(ev.nexthop); else removeNexthop(t, ev.nexthop.id); return;
    case 'route': if (ev.op === 'new') t.putRoute(ev.route); else routeDel(t, ev.route); return;
    // Rules name their devices (iif/oif): a device going or coming changes whether a rule
    // matches, not the rule, so nothing here is silent. The planner matches names against links.
    case 'rule': if (ev.op === 'new') t.setRule(ev.rule); else t.deleteRule(ev.rule); return;
    case 'firewall': t.setFirewall(ev.firewall); return;
    case 'netconf': if (ev.op === 'new') t.setNetconf(ev.netconf); else t.deleteNetconf(ev.netconf.ifindex); return;
  }
}

// ---- links ------------------------------------------------------------------

function linkNew(t: KernelTables, link: Link): void {
  const prev = t.setLink(link);
  if (prev === undefined) return;
  const ifx = link.ifindex;
  const vrfCycle = prev.master !== link.master
    && (isVrfIfindex(t.links, prev.master) || isVrfIfindex(t.links, link.master));
  if (prev.adminUp && (!link.adminUp || vrfCycle)) {
    netdevDown(t, ifx, 'down'); // L1–L4, L8
  } else if (link.adminUp && prev.carrier && !link.carrier) {
    netdevDown(t, ifx, 'carrier'); // L3, L5
  }
  if (link.adminUp && (!prev.adminUp || vrfCycle)) {
    syncUp(t, ifx, true, link.carrier); // L6
  } else if (link.adminUp && !prev.carrier && link.carrier) {
    syncUp(t, ifx, false, true); // L6
  }
}

function linkDel(t: KernelTables, ifindex: number): void {
  netdevDown(t, ifindex, 'unregister'); // L7
  for (const a of t.addressesOn(ifindex)) t.deleteAddress(a);
  t.deleteLink(ifindex);
}

function netdevDown(t: KernelTables, ifx: number, mode: DownMode): void {
  // Object routes (nhId) are not in this index: they follow their object (L3/N1).
  for (const r of t.routesOnIfindex(ifx)) {
    const next = r.family === 4 ? downRule4(r, ifx, mode) : downRule6(r, ifx, mode);
    if (next === null) t.deleteRoute(r);
    else if (next !== undefined) rewriteRoute(t, r, next);
  }
  if (mode !== 'lastaddr') {
    for (const id of t.nexthopsOnIfindex(ifx)) {
      if (t.nexthops.get(id)?.blackhole === true && mode !== 'unregister') continue;
      removeNexthop(t, id);
    }
  }
  if (mode === 'down' || mode === 'unregister' || mode === 'lastaddr') {
    for (const k of t.neighborsOn(ifx)) {
      if (mode === 'lastaddr' && t.neighbors.get(k)?.family !== 4) continue;
      t.deleteNeighbor(k);
    }
  }
}

/** IPv4 [fib_sync_down_dev]: undefined = untouched, null = deleted, else the rewritten route. */
export function downRule4(r: Route, ifx: number, mode: DownMode): Route | null | undefined {
  if (!r.nexthops.some((n) => n.ifindex === ifx)) return undefined;
  if (mode === 'unregister') return null;
  if (r.scope === RT_SCOPE_HOST && mode !== 'lastaddr') return undefined;
  if (mode === 'carrier') return markOn(r, ifx, false, true);
  const marked = markOn(r, ifx, true, true) ?? r;
  return marked.nexthops.every((n) => n.dead) ? null : marked === r ? undefined : marked;
}

/** IPv6 [fib6_ifdown]. */
export function downRule6(r: Route, ifx: number, mode: DownMode): Route | null | undefined {
  if (!r.nexthops.some((n) => n.ifindex === ifx)) return undefined;
  switch (mode) {
    case 'lastaddr':
      return undefined;
    case 'unregister': {
      const rest = r.nexthops.filter((n) => n.ifindex !== ifx);
      return rest.length === 0 ? null : { ...r, nexthops: rest };
    }
    case 'carrier':
      return r.type === 'local' || r.type === 'anycast' ? undefined : markOn(r, ifx, false, true);
    case 'down': {
      if (r.nexthops.length <= 1) return null;
      if (r.nexthops.every((n) => n.ifindex === ifx || n.dead)) return null;
      return markOn(r, ifx, true, true);
    }
  }
}

/** Set DEAD/LINKDOWN on the (not already dead) nexthops on ifx; undefined when nothing changes. */
function markOn(r: Route, ifx: number, dead: boolean, linkdown: boolean): Route | undefined {
  let changed = false;
  const nexthops = r.nexthops.map((n): RouteNexthop => {
    if (n.ifindex !== ifx || n.dead) return n;
    const next = { ...n, dead: n.dead || dead, linkdown: n.linkdown || linkdown };
    if (next.dead === n.dead && next.linkdown === n.linkdown) return n;
    changed = true;
    return next;
  });
  return changed ? { ...r, nexthops } : undefined;
}

/** L6: clear DEAD and/or LINKDOWN from nexthops on ifx. */
function syncUp(t: KernelTables, ifx: number, clearDead: boolean, clearLinkdown: boolean): void {
  for (const r of t.routesOnIfindex(ifx)) {
    let changed = false;
    const nexthops = r.nexthops.map((n): RouteNexthop => {
      if (n.ifindex !== ifx) return n;
      const dead = clearDead ? false : n.dead;
      const linkdown = clearLinkdown ? false : n.linkdown;
      if (dead === n.dead && linkdown === n.linkdown) return n;
      changed = true;
      return { ...n, dead, linkdown };
    });
    if (changed) rewriteRoute(t, r, { ...r, nexthops });
  }
}

/**
 * Store a rule's rewrite of a stored route. The kernel changes nexthop flags in
 * place and drops sibling hops without unlinking the route [fib6_ifdown,
 * fib6_ifup via rt6_sync_up, fib6_del_route for one sibling; fib_sync_down_dev
 * and fib_sync_up on the fib_info for IPv4], so the route keeps its place among
 * routes of the same metric (fib6_add_rt2node appends after them, and
 * find_match prefers the first of equal score) and putRoute replaces it in
 * place. Should a rewrite ever change the route's identity (only an IPv6 route
 * going from multipath to device-only could, and the kernel never mixes device
 * hops into a multipath route: rt6_qualify_for_ecmp needs a gateway), the old
 * entry must go first, or it would stay behind under its old identity.
 */
function rewriteRoute(t: KernelTables, old: Route, next: Route): void {
  if (!sameRouteIdentity(old, next)) t.deleteRoute(old);
  t.putRoute(next);
}

// ---- addresses ---------------------------------------------------------------

function addrDel(t: KernelTables, a: Address): void {
  t.deleteAddress(a);
  if (a.family !== 4) return;
  const table = tableOfLink(t.links, a.ifindex);
  // A1: only when the address is gone from every link in the same table.
  let stillLocal = false;
  for (const other of t.addresses.values()) {
    if (other.family === 4 && other.address === a.address && tableOfLink(t.links, other.ifindex) === table) {
      stillLocal = true;
      break;
    }
  }
  if (!stillLocal) {
    for (const r of t.routesWithPrefsrc(table, a.address)) t.deleteRoute(r);
  }
  // A2
  if (!t.addressesOn(a.ifindex).some((x) => x.family === 4)) netdevDown(t, a.ifindex, 'lastaddr');
}

// ---- nexthop objects ---------------------------------------------------------------

/** N1: remove an object, the routes using it, and it from its groups (empty groups cascade). */
export function removeNexthop(t: KernelTables, id: number): void {
  const obj = t.deleteNexthop(id);
  if (obj === undefined) return;
  for (const r of t.routesWithNhId(id)) t.deleteRoute(r);
  if (obj.group !== null) return; // a group's members live on; the kernel forbids nested groups
  for (const g of t.groupsContaining(id)) {
    const grp: NexthopObject | undefined = t.nexthops.get(g);
    if (grp === undefined || grp.group === null) continue;
    const members = grp.group.filter((m) => m.id !== id);
    if (members.length === grp.group.length) continue;
    if (members.length === 0) removeNexthop(t, g);
    else t.setNexthop({ ...grp, group: members });
  }
}

// ---- routes --------------------------------------------------------------------

function routeDel(t: KernelTables, r: Route): void {
  const stored = t.findRoute(r);
  if (stored === undefined) return;
  if (r.family === 6 && stored.nhId === null && r.nhId === null
      && r.nexthops.length > 0 && r.nexthops.length < stored.nexthops.length) {
    const rest = stored.nexthops.filter((n) => !r.nexthops.some((d) => sameNexthop(d, n)));
    if (rest.length === stored.nexthops.length - r.nexthops.length) {
      rewriteRoute(t, stored, { ...stored, nexthops: rest }); // R1
      return;
    }
  }
  t.deleteRoute(stored);
}

function sameNexthop(a: RouteNexthop, b: RouteNexthop): boolean {
  return a.ifindex === b.ifindex && a.gateway === b.gateway;
}
