// The VM tier's vitest config, run inside the VM (scripts/vm/run.sh) by
// test/integration/tc-vm.test.ts, which names the files per kernel:
// - test/vm/*.vmtest.ts: need cls_flower/act_pedit/act_csum, which the host
//   kernel lacks (the host's `vitest run` never picks them up: *.vmtest.ts);
// - the XDP integration suites, which also run on the host's kernel: here they
//   check the program on Debian's 6.1 and 6.12 verifiers and datapaths.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: [
      'test/vm/**/*.vmtest.ts',
      'test/integration/xdp.test.ts',
      'test/integration/xdp-ecmp.test.ts',
      'test/integration/xdp-prog.test.ts',
      'test/integration/xdp-mtu.test.ts',
      'test/integration/xdp-vlan.test.ts',
    ],
    fileParallelism: false,
    // TCG is 5-10x slower than the host for packet tests.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
