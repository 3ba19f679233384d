// The FPM server's metrics (README "Metrics reference"), registered on the daemon's registry.
import { Counter, Gauge, type Registry } from 'prom-client';

const P = 'fib_offload_fpm_';

export class FpmMetrics {
  readonly connected: Gauge;
  readonly connections: Counter<'result'>;
  readonly routes: Gauge<'family'>;
  readonly nexthops: Gauge;
  readonly messages: Counter<'type'>;
  readonly replies: Counter<'flag'>;
  readonly driftRoutes: Gauge<'direction'>;
  readonly drift: Counter<'direction'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.connected = new Gauge({ name: `${P}connected`, help: '1 while zebra (dplane_fpm_nl) is connected to the FPM server, else 0', registers });
    this.connections = new Counter({
      name: `${P}connections_total`, help: 'zebra connections accepted, and ended (closed by zebra, protocol error, replaced by a newer one)',
      labelNames: ['result'] as const, registers,
    });
    this.routes = new Gauge({ name: `${P}routes`, help: 'Routes zebra sent over FPM and has not deleted', labelNames: ['family'] as const, registers });
    this.nexthops = new Gauge({ name: `${P}nexthops`, help: 'Nexthop objects zebra sent over FPM (fpm use-next-hop-groups)', registers });
    this.messages = new Counter({ name: `${P}messages_total`, help: 'Netlink messages received from zebra over FPM, by type', labelNames: ['type'] as const, registers });
    this.replies = new Counter({
      name: `${P}replies_total`,
      help: 'Route replies sent to zebra, by flag: offload (the agent forwards it), trap (RTM_F_OFFLOAD|RTM_F_TRAP: left to the kernel), offload_failed',
      labelNames: ['flag'] as const, registers,
    });
    this.driftRoutes = new Gauge({
      name: `${P}drift_routes`,
      help: 'zebra routes with no kernel route after a grace period (zebra_only), and kernel routes of routing-protocol origin zebra did not send (kernel_only)',
      labelNames: ['direction'] as const, registers,
    });
    this.drift = new Counter({
      name: `${P}drift_total`, help: 'Routes that entered drift (see fpm_drift_routes), by direction', labelNames: ['direction'] as const, registers,
    });
    for (const flag of ['offload', 'trap', 'offload_failed']) this.replies.inc({ flag }, 0);
    for (const direction of ['zebra_only', 'kernel_only']) { this.driftRoutes.set({ direction }, 0); this.drift.inc({ direction }, 0); }
    this.connected.set(0);
  }
}
