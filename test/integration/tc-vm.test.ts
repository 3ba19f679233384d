// The VM tier: boots Debian's 6.1 kernel under qemu (TCG) once, runs every
// test/vm/*.vmtest.ts inside it with vitest, and reports each VM test file
// here. The host kernel has no cls_flower/act_pedit/act_csum, so the tc
// backend is only checked there. See scripts/vm/run.sh.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const VM_DIR = join(ROOT, 'test/vm');
const RUN = join(ROOT, 'scripts/vm/run.sh');
/** The whole VM run: boot (~7 s), vitest startup (~10 s) and the suites. */
const VM_TIMEOUT_S = 720;

interface AssertionResult {
  readonly fullName: string;
  readonly status: 'passed' | 'failed' | 'skipped' | 'pending' | 'todo';
  readonly failureMessages: readonly string[];
  readonly duration?: number;
}
interface FileResult {
  readonly name: string;
  readonly status: string;
  readonly message: string;
  readonly assertionResults: readonly AssertionResult[];
}
interface Report {
  readonly testResults: readonly FileResult[];
}

const files = readdirSync(VM_DIR).filter((f) => f.endsWith('.vmtest.ts')).sort();

/** Why the VM can't run here at all (then the tier skips, loudly); null when it can. */
function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root (the VM tier installs packages and creates namespaces)';
  const deps = spawnSync(join(ROOT, 'scripts/vm/deps.sh'), { encoding: 'utf8' });
  if (deps.status !== 0) return `scripts/vm/deps.sh failed: ${deps.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  if (!existsSync('/dev/null') || spawnSync('qemu-system-x86_64', ['--version']).status !== 0) return 'qemu-system-x86_64 does not run';
  return null;
}

const why = unavailable();
if (why) console.warn(`\n*** tc VM tier SKIPPED: ${why} ***\n`);

describe.skipIf(why !== null)('tc VM tier (Debian 6.1 kernel under qemu TCG)', () => {
  let out = '';
  let console_ = '';
  let status: number | null = null;
  let report: Report | null = null;
  let seconds = 0;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'fo-vm-'));
    const t0 = Date.now();
    const argv = ['--out', out, '--timeout', String(VM_TIMEOUT_S), '--',
      process.execPath, 'node_modules/vitest/vitest.mjs', 'run', '--config', 'test/vm/vitest.config.ts',
      '--reporter=verbose', '--reporter=json', '--outputFile.json=/vmout/report.json'];
    const child = spawn(RUN, argv, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    seconds = (Date.now() - t0) / 1000;
    // eslint-disable-next-line no-control-regex
    console_ = Buffer.concat(chunks).toString('utf8').replace(/\x1b\[[0-9;?]*[a-zA-Z]|\x1bc/g, '');
    writeFileSync(join(out, 'console.log'), console_);
    const path = join(out, 'report.json');
    if (existsSync(path)) report = JSON.parse(readFileSync(path, 'utf8')) as Report;
    console.log(`tc VM tier: ${files.length} files in ${seconds.toFixed(1)} s (boot, vitest, suites), exit ${status}`);
  }, (VM_TIMEOUT_S + 60) * 1000);

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  const tail = () => console_.split('\n').slice(-60).join('\n');

  it('the VM booted and vitest reported', () => {
    expect(report, `no report from the VM (exit ${status}); console tail:\n${tail()}`).not.toBeNull();
  });

  for (const file of files) {
    it(`test/vm/${file}`, () => {
      if (!report) throw new Error(`no report from the VM; console tail:\n${tail()}`);
      const r = report.testResults.find((t) => relative(ROOT, t.name) === `test/vm/${file}`);
      if (!r) throw new Error(`test/vm/${file} did not run in the VM; console tail:\n${tail()}`);
      const failed = r.assertionResults.filter((a) => a.status === 'failed');
      const msg = failed.map((a) => `✗ ${a.fullName}\n${a.failureMessages.join('\n').split('\n').slice(0, 25).join('\n')}`).join('\n\n');
      expect(r.status === 'passed' && failed.length === 0, `${file}: ${r.message}\n${msg}`).toBe(true);
      expect(r.assertionResults.filter((a) => a.status === 'passed').length).toBeGreaterThan(0);
    });
  }
});
