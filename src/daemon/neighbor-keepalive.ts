// Neighbour keepalive, the daemon's side: read what the offload forwarded per
// group member (XDP counters, tc rule counters), and mark the neighbours whose
// traffic grew used, as kernel forwarding would. Which ones is pure
// (keepalive.ts); this reads the counters and sends the NTF_USE requests.
import type { Logger } from '../log.js';
import type { Mirror } from '../mirror/mirror.js';
import type { KernelSource } from '../netlink/kernel.js';
import type { Plan } from '../plan/index.js';
import type { TcBackend } from '../tc/backend.js';
import { desiredBlocks } from '../tc/rules.js';
import type { XdpBackend } from '../xdp/backend.js';
import { keepaliveTick, mergeTraffic, tcMemberTraffic, type MemberTraffic } from './keepalive.js';
import type { Metrics } from './metrics.js';

export class NeighborKeepalive {
  private seen = new Map<string, bigint>();

  constructor(
    private readonly kernel: Pick<KernelSource, 'useNeighbor'>,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly fail: (what: string, err: unknown) => void,
  ) {}

  async tick(plan: Plan, mirror: Mirror, xdp: XdpBackend | null, tc: TcBackend | null): Promise<void> {
    if (!xdp && !tc) return;
    let tick;
    try {
      const x: readonly MemberTraffic[] = xdp ? xdp.memberCounters() : [];
      let t: MemberTraffic[] = [];
      if (tc && plan.ports.some((p) => p.backend === 'tc')) {
        const blocks = desiredBlocks(plan, () => 'none');
        t = tcMemberTraffic(blocks, await tc.stats(blocks.map((b) => b.block)));
      }
      tick = keepaliveTick(plan, mergeTraffic(x, t), this.seen, mirror);
    } catch (err) {
      this.fail('keepalive', err);
      return;
    }
    this.seen = tick.seen;
    for (const n of tick.refresh) {
      try {
        await this.kernel.useNeighbor(n);
        this.metrics.neighborRefreshes.inc({ result: 'ok' });
        this.log.debug({ neighbor: n.address, ifindex: n.ifindex, state: n.state }, 'neighbour refreshed');
      } catch (err) {
        this.metrics.neighborRefreshes.inc({ result: 'error' });
        this.fail('keepalive', err);
      }
    }
  }
}
