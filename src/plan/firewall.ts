// Netfilter on the forwarding path and what it leaves to the kernel. Pure.
//
// The XDP program forwards before netfilter's hooks run, and tc's redirect
// skips the IP stack, so a packet the offload forwards never meets a
// prerouting, forward or postrouting chain, nor a netdev/inet ingress chain
// on its port, nor (XDP) a netdev egress chain. Whatever such a chain could
// do — drop, NAT, mark, count — would be lost. So a chain that can act on
// forwarded traffic hands the traffic it sees to the kernel:
//  - an ip, ip6 or inet chain on prerouting, forward or postrouting that
//    holds a rule, or whose policy is not accept: every offload port;
//  - a netdev or inet ingress chain on an offload port (rule or non-accept
//    policy): that port; on a VLAN port's parent: the VLAN port too (the
//    parent's ingress hooks see its tagged frames first);
//  - a netdev egress chain on an offload port: every offload port (traffic
//    from any port can leave through it);
//  - an iptables-legacy table in the namespace: every offload port (its
//    rules are not readable over netlink, and all of filter, nat, mangle,
//    raw and security hook the forwarding path).
// Chains of dormant tables are not registered and count for nothing; bridge
// and arp chains never see routed packets; input and output chains only see
// the router's own traffic. No rule is decoded: one rule is enough, since
// the agent can't tell what it matches. `firewall: bypass` keeps this report
// but punts nothing.
import { chainText, type FirewallMode, type FirewallState, type NftChain } from '../model/firewall.js';
import type { Family } from '../model/ip.js';

const BOTH: readonly Family[] = [4, 6];

/** The families a chain sees: an ip chain IPv4 only, an ip6 chain IPv6 only; inet and netdev both. */
function familiesOf(c: NftChain): readonly Family[] {
  return c.family === 'ip' ? [4] : c.family === 'ip6' ? [6] : BOTH;
}

/** One netfilter hook that can act on forwarded traffic. */
export interface FirewallHook {
  /** "nft inet filter forward", "iptables-legacy ipv4 filter". */
  readonly what: string;
  /** Hook name ('forward', 'prerouting', 'postrouting', 'ingress', 'egress'), or 'legacy'. */
  readonly hook: string;
  /** Why it can act: "policy drop", "2 rules", "rules not readable". */
  readonly detail: string;
  /** 'all': every offload port's traffic passes it; 'ports': only the listed ports' ingress. */
  readonly scope: 'all' | 'ports';
  /** Offload ports it concerns (scope 'ports'). */
  readonly ports: readonly string[];
  /** The IP families whose packets it sees: [4] for ip and iptables-legacy ipv4, [6] for ip6 and ipv6, else both. */
  readonly families: readonly Family[];
}

/** What hands a port's ingress to the kernel: the hooks concerned, and the families they see. */
export interface FirewallPunt {
  readonly hooks: readonly FirewallHook[];
  /** Ascending; [4, 6] when both. */
  readonly families: readonly Family[];
}

export interface FirewallVerdict {
  readonly mode: FirewallMode;
  readonly hooks: readonly FirewallHook[];
  /** nf_tables could not be read because the kernel has none (the errno name); no chain can exist then. */
  readonly nftUnavailable?: string;
}

const FORWARD_PATH = new Set(['prerouting', 'forward', 'postrouting']);
const IP_FAMILIES = new Set(['ip', 'ip6', 'inet']);

function acts(c: NftChain): string | null {
  if (c.policy !== null && c.policy !== 'accept') return `policy ${c.policy}${c.rules > 0 ? `, ${c.rules} rule${c.rules === 1 ? '' : 's'}` : ''}`;
  if (c.rules > 0) return `${c.rules} rule${c.rules === 1 ? '' : 's'}`;
  return null;
}

/** The hooks of `state` that can act on traffic through the offload ports `ports` (device names). */
export function firewallHooks(state: FirewallState | null, ports: ReadonlySet<string>): FirewallHook[] {
  if (state === null) return [];
  const out: FirewallHook[] = [];
  for (const c of state.nft ?? []) {
    if (c.hook === null || c.dormant) continue;
    const detail = acts(c);
    if (detail === null) continue;
    const on = c.devices.filter((d) => ports.has(d)).sort();
    const families = familiesOf(c);
    if (IP_FAMILIES.has(c.family) && FORWARD_PATH.has(c.hook)) {
      out.push({ what: chainText(c), hook: c.hook, detail, scope: 'all', ports: [], families });
    } else if ((c.family === 'netdev' || c.family === 'inet') && c.hook === 'ingress' && on.length > 0) {
      out.push({ what: chainText(c), hook: c.hook, detail: `${detail} on ${on.join(', ')}`, scope: 'ports', ports: on, families });
    } else if (c.family === 'netdev' && c.hook === 'egress' && on.length > 0) {
      out.push({ what: chainText(c), hook: c.hook, detail: `${detail} on ${on.join(', ')}`, scope: 'all', ports: [], families });
    }
  }
  for (const [name, family, tables] of [['ipv4', 4, state.legacy.ipv4], ['ipv6', 6, state.legacy.ipv6]] as const) {
    for (const t of tables) {
      out.push({ what: `iptables-legacy ${name} ${t}`, hook: 'legacy', detail: 'rules not readable over netlink', scope: 'all', ports: [], families: [family] });
    }
  }
  return out;
}

/**
 * The verdict for a plan: the hooks found, and per offload port the hooks
 * that hand its ingress to the kernel with the families they see (none with
 * `bypass`). An IPv4-only hook leaves the port's IPv6 traffic offloaded.
 */
export function firewallVerdict(
  state: FirewallState | null, mode: FirewallMode, ports: ReadonlySet<string>,
): { verdict: FirewallVerdict; puntOf: (...devs: string[]) => FirewallPunt | null } {
  const hooks = firewallHooks(state, ports);
  const verdict: FirewallVerdict = { mode, hooks, ...(state?.nftUnavailable ? { nftUnavailable: state.nftUnavailable } : {}) };
  if (mode === 'bypass' || hooks.length === 0) return { verdict, puntOf: () => null };
  return {
    verdict,
    // Several devices: a VLAN port's frames pass its parent's ingress hooks too (before the VLAN's own).
    puntOf: (...devs) => {
      const on = hooks.filter((h) => h.scope === 'all' || devs.some((d) => h.ports.includes(d)));
      if (on.length === 0) return null;
      const families = BOTH.filter((f) => on.some((h) => h.families.includes(f)));
      return { hooks: on, families };
    },
  };
}

/** "IPv6 " / "IPv4+IPv6 " before "ingress to kernel" when only those families go; "" for both (absent). */
export function familiesPrefix(families: readonly Family[] | undefined): string {
  return families ? `${families.map((f) => `IPv${f}`).join('+')} ` : '';
}

/** The port record's text: "nft inet filter forward (policy drop)". */
export function hookText(h: FirewallHook): string {
  return `${h.what} (${h.detail})`;
}

/** Lines for `plan` and `status`: what was found and what it means in this mode. */
export function firewallLines(v: FirewallVerdict): string[] {
  if (v.hooks.length === 0) {
    return [`firewall: nothing on the forwarding path${v.nftUnavailable ? ` (no nf_tables in this kernel: ${v.nftUnavailable})` : ''}`];
  }
  const head = v.mode === 'bypass'
    ? 'firewall: bypass (config): offloaded traffic skips these hooks'
    : 'firewall: the traffic these hooks see stays with the kernel';
  const fam = (h: FirewallHook): string => (h.families.length === 1 ? `, IPv${h.families[0]} only` : '');
  return [head, ...v.hooks.map((h) => `  ${hookText(h)}: ${h.scope === 'all' ? 'every offload port' : `ingress of ${h.ports.join(', ')}`}${fam(h)}`)];
}
