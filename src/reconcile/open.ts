// The real backends, as the reconciler opens them: XDP (load or reuse the
// pinned program), tc (a netlink channel) and dry-run. Shared by the daemon
// and `apply`, so both open them the same way from the same config keys.
import type { Config } from '../config.js';
import { TcBackend, readbackThresholdFromEnv } from '../tc/backend.js';
import { XdpBackend } from '../xdp/backend.js';
import type { BackendFactories } from './reconciler.js';
import { TcAdapter } from './tc.js';
import { DryRunBackend, XdpAdapter } from './xdp.js';

/** `config` is read when a backend is opened and, for XDP's hash and audit rate, at every reconcile (SIGHUP may change them). */
export function realBackends(config: () => Config, xdpLoaded?: (xdp: XdpBackend) => void): BackendFactories {
  return {
    xdp: async () => {
      const c = config();
      const xdp = await XdpBackend.open({
        bpffs: c.xdp.bpffs, mode: c.xdp.mode, hash: c.ecmp.hash, flatThreshold: c.xdp.flatThreshold, auditRate: c.xdp.auditRate,
      });
      xdpLoaded?.(xdp);
      return new XdpAdapter(xdp, () => ({ hash: config().ecmp.hash, auditRate: config().xdp.auditRate }));
    },
    tc: () => {
      const c = config();
      return new TcAdapter(new TcBackend({ policy: c.tc.policy, fallback: c.tc.fallback, compress: c.tc.compress, ...readbackThresholdFromEnv(process.env) }));
    },
    dryRun: () => new DryRunBackend(),
  };
}
