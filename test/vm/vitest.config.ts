// The VM tier: test files that need Debian's 6.1 kernel (cls_flower, act_pedit,
// act_csum). Run inside the VM by test/integration/tc-vm.test.ts through
// scripts/vm/run.sh; the host's `vitest run` never picks them up (*.vmtest.ts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/vm/**/*.vmtest.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
