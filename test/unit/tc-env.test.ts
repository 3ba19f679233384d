// FIB_OFFLOAD_TC_READBACK: a count of writes, or an error naming the variable and the bad text.
import { describe, expect, it } from 'vitest';
import { readbackThresholdFromEnv, READBACK_THRESHOLD } from '../../src/tc/backend.js';

describe('FIB_OFFLOAD_TC_READBACK', () => {
  it('unset: the backend default', () => {
    expect(readbackThresholdFromEnv({})).toEqual({});
    expect(READBACK_THRESHOLD).toBeGreaterThan(0);
  });
  it('a count, 0 included', () => {
    expect(readbackThresholdFromEnv({ FIB_OFFLOAD_TC_READBACK: '0' })).toEqual({ readbackThreshold: 0 });
    expect(readbackThresholdFromEnv({ FIB_OFFLOAD_TC_READBACK: '2147483648' })).toEqual({ readbackThreshold: 2 ** 31 });
  });
  it('anything else is refused with the variable and the text', () => {
    for (const bad of ['-1', '1.5', 'many']) {
      expect(() => readbackThresholdFromEnv({ FIB_OFFLOAD_TC_READBACK: bad })).toThrow(new RegExp(`FIB_OFFLOAD_TC_READBACK.*"${bad.replace('.', '\\.')}"`));
    }
  });
});
