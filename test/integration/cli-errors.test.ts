// Expected CLI errors are one line naming what failed, and exit 1; the stack
// trace only with --log-level debug. (No daemon listens on 127.0.0.1:9: a
// refused connection, the commonest mistake with `status`.)
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { CLI } from './lib/probe.js';

function cli(...args: string[]): { status: number | null; stderr: string } {
  const p = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: p.status, stderr: p.stderr };
}

describe('CLI errors', () => {
  it('status with no daemon: one line, exit 1', () => {
    const r = cli('status', '--metrics', '127.0.0.1:9');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^fib-offload: cannot reach the daemon at http:\/\/127\.0\.0\.1:9\/status: .*ECONNREFUSED.*is `fib-offload run` running there\?\)\n$/);
  });

  it('the stack trace only with --log-level debug', () => {
    const r = cli('status', '--metrics', '127.0.0.1:9', '--log-level', 'debug');
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^fib-offload: cannot reach the daemon/);
    expect(lines.slice(1).some((l) => /^\s+at /.test(l))).toBe(true);
  });
});
