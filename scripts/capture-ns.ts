// The orchestration the netlink capture scripts share: run the script itself
// (`--inside`) in a throw-away network namespace, parse the JSON it prints,
// write the fixture with the capture's context, remove the namespace.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/**
 * Run `self --inside` in a fresh namespace named `<prefix>-<pid>` and write
 * `{ ...header, ...what it printed }` to `out`; the namespace is deleted
 * whatever happens.
 */
export function captureInNamespace(prefix: string, self: string, out: string, header: Record<string, unknown>): void {
  const ns = `${prefix}-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const text = execFileSync('ip', ['netns', 'exec', ns, process.execPath, self, '--inside'], { encoding: 'utf8' });
    const got = JSON.parse(text) as Record<string, unknown>;
    writeFileSync(out, JSON.stringify({ ...header, ...got }, null, 1) + '\n');
    process.stdout.write(`wrote ${out}\n`);
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}
