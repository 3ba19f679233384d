// Runs a bench script inside the Debian-kernel VM (scripts/vm/run.sh: qemu
// TCG on the host's root filesystem) and returns the JSON it wrote to /vmout.
// For the benches that need flower, pedit and csum, which the host kernel
// lacks: `--only tc,tc-dataplane`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * `script` is a path under dist/bench (e.g. 'tc.js'); it gets `--out
 * /vmout/result.json` after `args`. The guest's console goes to `log` line by
 * line. Throws with the console's tail when the VM or the script fails.
 */
export async function inVm(script: string, args: readonly string[], opts: { kernel?: string; timeoutS: number; log: (s: string) => void }): Promise<unknown> {
  const out = mkdtempSync(join(tmpdir(), 'fo-bench-vm-'));
  try {
    const argv = ['--kernel', opts.kernel ?? '6.1', '--out', out, '--timeout', String(opts.timeoutS), '--',
      process.execPath, `dist/bench/${script}`, ...args, '--out', '/vmout/result.json'];
    const child = spawn(join(ROOT, 'scripts/vm/run.sh'), argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let partial = '';
    const onData = (b: Buffer): void => {
      const lines = (partial + b.toString('utf8')).replace(/\r/g, '').split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        tail.push(l);
        if (tail.length > 40) tail.shift();
        opts.log(`  vm: ${l}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`${script} in the ${opts.kernel ?? '6.1'} VM: exit ${code}\n${tail.join('\n')}`);
    return JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as unknown;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
