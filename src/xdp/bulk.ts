// Bulk reads and writes of a u32 BPF array map straight from typed arrays:
// BPF_MAP_UPDATE_BATCH / BPF_MAP_LOOKUP_BATCH through the `bpf` package's
// native binding. Its RawMap batch methods take and return one Buffer per
// entry, which at 2^24 entries (a flat IPv4 table) costs more in garbage
// than the syscalls themselves.
import { createRequire } from 'node:module';
import type { MapRef } from 'bpf';
import { BpfError } from '../errors.js';

/** The two native calls used here, as the package's C++ binding defines them. */
interface NativeBatch {
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number, opts: { elemFlags: number }): [number, number];
  mapLookupBatch(
    fd: number, inBatch: Buffer | undefined, outBatch: Buffer, keys: Buffer, values: Buffer, count: number,
    opts: { elemFlags: number },
  ): [number, number];
}

const require = createRequire(import.meta.url);
const native = (require('bpf/dist/util.js') as { native: NativeBatch }).native;

const ENOENT = 2;
/** Entries per syscall: 1 MiB of keys and of values. */
export const BULK_CHUNK = 1 << 18;

function bufOf(a: Uint32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function checkU32Map(ref: MapRef, what: string): void {
  if (ref.keySize !== 4 || ref.valueSize !== 4) {
    throw new Error(`${what}: map ${ref.name ?? ref.id} has key/value size ${ref.keySize}/${ref.valueSize}, expected 4/4`);
  }
}

/**
 * Write values[i] at index indices[i], in order, in chunks. The kernel
 * applies a batch element by element in order, so a later write to the same
 * index wins, as it would one call at a time.
 */
export function arrayWrite(ref: MapRef, indices: Uint32Array, values: Uint32Array, what = 'update array'): void {
  checkU32Map(ref, what);
  if (indices.length !== values.length) throw new RangeError(`${what}: ${indices.length} indices, ${values.length} values`);
  for (let i = 0; i < indices.length; i += BULK_CHUNK) {
    const k = indices.subarray(i, i + BULK_CHUNK);
    const v = values.subarray(i, i + BULK_CHUNK);
    const [status, count] = native.mapUpdateBatch(ref.fd, bufOf(k), bufOf(v), k.length, { elemFlags: 0 });
    if (status < 0) throw new BpfError(`${what} (batch of ${k.length} at ${i}, ${count} applied)`, status);
  }
}

/** Every value of an array map of `n` entries, index = position. */
export function arrayReadAll(ref: MapRef, n: number, what = 'read array'): Uint32Array {
  checkU32Map(ref, what);
  const out = new Uint32Array(n);
  const keys = new Uint32Array(BULK_CHUNK);
  const values = new Uint32Array(BULK_CHUNK);
  let inBatch: Buffer | undefined;
  let outBatch: Buffer = Buffer.alloc(4);
  for (;;) {
    const [status, count] = native.mapLookupBatch(ref.fd, inBatch, outBatch, bufOf(keys), bufOf(values), BULK_CHUNK, { elemFlags: 0 });
    if (status < 0 && -status !== ENOENT) throw new BpfError(what, status);
    for (let i = 0; i < count; i++) {
      const k = keys[i]!;
      if (k < n) out[k] = values[i]!;
    }
    if (status < 0) return out; // ENOENT: that was the last batch
    [inBatch, outBatch] = [outBatch, inBatch ?? Buffer.alloc(4)];
  }
}
