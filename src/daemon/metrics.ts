// Prometheus metrics (DESIGN.md "Metrics"), on a registry of their own.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const P = 'fib_offload_';

export class Metrics {
  readonly registry = new Registry();
  readonly routes = new Gauge({ name: `${P}routes`, help: 'Effective routes in the mirror', labelNames: ['family', 'table'] as const, registers: [this.registry] });
  readonly entries = new Gauge({
    name: `${P}entries`,
    help: 'Plan entries per backend by status: pending (sent, not yet acknowledged), installed, failed (retried with backoff)',
    labelNames: ['backend', 'state'] as const,
    registers: [this.registry],
  });
  readonly planEntries = new Gauge({ name: `${P}plan_entries`, help: 'Plan entries by action (forward, punt)', labelNames: ['action'] as const, registers: [this.registry] });
  readonly degraded = new Gauge({
    name: `${P}degraded`,
    help: '1 while any entry, group or batch failed to install (see /status failed), else 0',
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: `${P}retries_total`,
    help: 'Retries of failed work (after backoff), by backend and whether everything then installed',
    labelNames: ['backend', 'result'] as const,
    registers: [this.registry],
  });
  readonly adjacencyGroups = new Gauge({ name: `${P}adjacency_groups`, help: 'Adjacency groups in the plan', registers: [this.registry] });
  readonly unresolvedRoutes = new Gauge({
    name: `${P}unresolved_routes`,
    help: 'Routes left to the kernel because a nexthop neighbour is unresolved',
    registers: [this.registry],
  });
  readonly policyPunted = new Gauge({
    name: `${P}policy_punted`,
    help: 'Traffic the policy rules (ip rule) leave to the kernel, by reason and scope: port (everything arriving on an offload port) or prefix (a destination prefix of a table)',
    labelNames: ['reason', 'scope'] as const,
    registers: [this.registry],
  });
  readonly firewallHooks = new Gauge({
    name: `${P}firewall_hooks`,
    help: 'Netfilter hooks that can act on forwarded traffic (nf_tables chains with a rule or a non-accept policy, iptables-legacy tables), by the config\'s firewall mode',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });
  readonly firewallPunted = new Gauge({
    name: `${P}firewall_punted_ports`,
    help: 'Offload ports whose ingress stays with the kernel because a netfilter hook could act on it (0 with firewall: bypass)',
    registers: [this.registry],
  });
  readonly events = new Counter({ name: `${P}events_total`, help: 'Kernel events received', labelNames: ['type'] as const, registers: [this.registry] });
  readonly resyncs = new Counter({ name: `${P}resyncs_total`, help: 'Full resyncs, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly drift = new Counter({
    name: `${P}drift_total`,
    help: 'Differences a resync found: mirror (the kernel changed unseen), installed (map entries repaired)',
    labelNames: ['what'] as const,
    registers: [this.registry],
  });
  readonly programOps = new Counter({
    name: `${P}program_ops_total`,
    help: 'Backend programming operations',
    labelNames: ['backend', 'op', 'result'] as const,
    registers: [this.registry],
  });
  readonly programDuration = new Histogram({
    name: `${P}program_duration_seconds`,
    help: 'Time to program one batch into the backend',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly eventToInstall = new Histogram({
    name: `${P}event_to_install_seconds`,
    help: "From a kernel event's arrival to the backend's acknowledgement of the change it caused",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: `${P}queue_depth`, help: 'Kernel events waiting to be applied', registers: [this.registry] });
  readonly fallbacks = new Counter({
    name: `${P}fallbacks_total`,
    help: 'Ports moved to another backend or mode',
    labelNames: ['from', 'to', 'reason'] as const,
    registers: [this.registry],
  });
  readonly neighborRefreshes = new Counter({
    name: `${P}neighbor_refreshes_total`,
    help: 'Neighbour keepalive refreshes (NTF_USE) for neighbours behind offloaded traffic',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly xdpPackets = new Gauge({
    name: `${P}xdp_packets`,
    help: 'Packets seen by the XDP program, by verdict (forwarded, or why passed to the kernel)',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });

  readonly auditPackets = new Counter({
    name: `${P}audit_packets_total`,
    help: "Forwarded packets the XDP program sampled (xdp.audit_rate) and checked against the kernel's own bpf_fib_lookup(), by result",
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
