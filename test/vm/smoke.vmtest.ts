import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('vm', () => {
  it('runs the Debian 6.1 kernel with flower', () => {
    expect(execFileSync('uname', ['-r'], { encoding: 'utf8' })).toMatch(/^6\.1\./);
  });
});
