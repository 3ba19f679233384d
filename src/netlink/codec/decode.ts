// The single entry point from a raw rtnetlink message to a KernelEvent:
// a table indexed by message type, each entry a decoder plus (kind, op).
import type { EventOp, KernelEvent } from '../../model/events.js';
import { decodeAddress } from './addr.js';
import {
  RTM_DELADDR, RTM_DELLINK, RTM_DELNEIGH, RTM_DELNEXTHOP, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH,
  RTM_NEWNEXTHOP, RTM_NEWROUTE, RTM_NEWRULE, RTM_DELRULE,
} from './constants.js';
import { decodeLink } from './link.js';
import { decodeNeighbor } from './neigh.js';
import { decodeNexthop } from './nexthop.js';
import { decodeRoute } from './route.js';
import { decodeRule } from './rule.js';
import { decodeNetconf, RTM_DELNETCONF, RTM_NEWNETCONF } from './netconf.js';

type EventDecoder = (buf: Buffer, off: number, end: number) => KernelEvent | null;

const link = (op: EventOp): EventDecoder => (b, o, e) => {
  const v = decodeLink(b, o, e);
  return v && { kind: 'link', op, link: v };
};
const addr = (op: EventOp): EventDecoder => (b, o, e) => {
  const v = decodeAddress(b, o, e);
  return v && { kind: 'addr', op, address: v };
};
const neigh = (op: EventOp): EventDecoder => (b, o, e) => {
  const v = decodeNeighbor(b, o, e);
  return v && { kind: 'neigh', op, neighbor: v };
};
const nexthop = (op: EventOp): EventDecoder => (b, o, e) => {
  const v = decodeNexthop(b, o, e);
  return v && { kind: 'nexthop', op, nexthop: v };
};
const route = (op: EventOp): EventDecoder => (b, o, e) => {
  const v = decodeRoute(b, o, e);
  return v && { kind: 'route', op, route: v };
};

const rule = (op: EventOp): EventDecoder => (b, o, e) => {
  const v = decodeRule(b, o, e);
  return v && { kind: 'rule', op, rule: v };
};

const netconf = (op: EventOp): EventDecoder => (b, o, e) => {
  const v = decodeNetconf(b, o, e);
  return v && { kind: 'netconf', op, netconf: v };
};

const DECODERS: ReadonlyMap<number, EventDecoder> = new Map([
  [RTM_NEWLINK, link('new')], [RTM_DELLINK, link('del')],
  [RTM_NEWADDR, addr('new')], [RTM_DELADDR, addr('del')],
  [RTM_NEWNEIGH, neigh('new')], [RTM_DELNEIGH, neigh('del')],
  [RTM_NEWNEXTHOP, nexthop('new')], [RTM_DELNEXTHOP, nexthop('del')],
  [RTM_NEWROUTE, route('new')], [RTM_DELROUTE, route('del')],
  [RTM_NEWRULE, rule('new')], [RTM_DELRULE, rule('del')],
  [RTM_NEWNETCONF, netconf('new')], [RTM_DELNETCONF, netconf('del')],
]);

/**
 * Decode one rtnetlink message payload [off, end) of type `type` (nlmsg_type).
 * Returns null for types the mirror does not track and for records the
 * decoders skip (bridge FDB neighbours, cloned routes, non-IP families).
 */
export function decodeEvent(type: number, buf: Buffer, off: number, end: number): KernelEvent | null {
  const d = DECODERS.get(type);
  return d === undefined ? null : d(buf, off, end);
}
