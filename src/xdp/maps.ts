// The pinned BPF maps, opened from bpffs with the `bpf` package (maps only:
// loading and attaching are the loader's job). Raw byte access; layout.ts
// gives the bytes meaning.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BPFError, RawMap, createMapRef, objGet, type MapRef } from 'bpf';
import {
  MAP_NAMES,
  MAP_SIZES,
  VERDICTS,
  decodeAuditConf,
  decodeAuditPerCpu,
  decodeStatKey,
  encodeAuditConf,
  encodeU32,
  sumPerCpu,
  type AuditConf,
  type AuditCpu,
  type Counter,
  type MapName,
  type StatKey,
  type Verdict,
} from './layout.js';

/** Forwarded packets/bytes of one (group, egress, neighbour MAC), summed over CPUs. */
export interface MemberCounter extends StatKey, Counter {}
import { BpfError } from '../errors.js';

/** Number of possible CPUs: per-CPU map values hold one slot per possible CPU. */
export function possibleCpus(text: string = readFileSync('/sys/devices/system/cpu/possible', 'utf8')): number {
  let n = 0;
  for (const part of text.trim().split(',')) {
    const [a, b] = part.split('-').map((x) => Number.parseInt(x, 10));
    if (a === undefined || Number.isNaN(a)) throw new Error(`cannot parse possible CPUs "${text.trim()}"`);
    n = Math.max(n, (b ?? a) + 1);
  }
  return n;
}

/** Entries per batched syscall. */
const BATCH = 4096;

/** The kernel (or map type) has no batch operation: fall back to one entry per call. */
function batchUnsupported(err: unknown): boolean {
  if (!(err instanceof BPFError)) return false;
  const e = Math.abs(err.errno);
  return e === 22 /* EINVAL */ || e === 95 /* EOPNOTSUPP */ || e === 524 /* ENOTSUPP */;
}

const PERCPU: ReadonlySet<MapName> = new Set<MapName>(['fo_stats', 'fo_verdicts', 'fo_audit']);

/**
 * The package sizes value buffers by the map's value_size, but a per-CPU map
 * exchanges value_size rounded to 8, times the possible CPUs: a MapRef that
 * reports that size (the package documents implementing MapRef this way).
 */
function perCpuRef(ref: MapRef, cpus: number): MapRef {
  const slot = Math.ceil(ref.valueSize / 8) * 8;
  return {
    get fd() { return ref.fd; },
    close: () => ref.close(),
    type: ref.type,
    id: ref.id,
    keySize: ref.keySize,
    valueSize: slot * cpus,
    maxEntries: ref.maxEntries,
    flags: ref.flags,
    name: ref.name,
  };
}

/** Turn the package's BPFError into the project's error shape: the errno name and what was being done. */
export function mapError(op: string, err: unknown): Error {
  if (err instanceof BPFError) return new BpfError(op, err.errno);
  return err instanceof Error ? err : new Error(String(err));
}

export class PinnedMaps {
  readonly cpus: number;
  private readonly maps: Map<MapName, RawMap>;
  /** Maps whose batch operations the kernel refused once. */
  private readonly noBatch = new Set<MapName>();

  private constructor(maps: Map<MapName, RawMap>, cpus: number) {
    this.maps = maps;
    this.cpus = cpus;
  }

  /**
   * Open the maps pinned under `dir` (every map of the layout, or `names`:
   * the loader reads an older layout's maps before adding the new ones) and
   * check their sizes against the layout.
   */
  static open(dir: string, names: readonly MapName[] = MAP_NAMES): PinnedMaps {
    const cpus = possibleCpus();
    const maps = new Map<MapName, RawMap>();
    try {
      for (const name of names) {
        const path = join(dir, name);
        let ref: MapRef;
        try {
          ref = createMapRef(objGet(path), { transfer: true });
        } catch (err) {
          throw mapError(`open pinned map ${path}`, err);
        }
        const want = MAP_SIZES[name];
        if (ref.keySize !== want.key || ref.valueSize !== want.value) {
          ref.close();
          throw new Error(
            `pinned map ${path} has key/value size ${ref.keySize}/${ref.valueSize}, this agent expects ${want.key}/${want.value}: ` +
            'it was made by another version; run `fib-offload flush` first',
          );
        }
        maps.set(name, new RawMap(PERCPU.has(name) ? perCpuRef(ref, cpus) : ref));
      }
    } catch (err) {
      for (const m of maps.values()) m.ref.close();
      throw err;
    }
    return new PinnedMaps(maps, cpus);
  }

  /** max_entries of a pinned map (an array map made by an older build may be shorter: fo_verdicts). */
  maxEntries(name: MapName): number {
    return this.get(name).ref.maxEntries;
  }

  get(name: MapName): RawMap {
    const m = this.maps.get(name);
    if (!m) throw new Error(`map ${name} is not open`);
    return m;
  }

  /**
   * Every (key, value) of a map: batched lookups (BPF_MAP_LOOKUP_BATCH; the
   * LPM trie has them on recent kernels), else a walk of the keys.
   */
  entries(name: MapName): Array<[Buffer, Buffer]> {
    const map = this.get(name);
    if (!this.noBatch.has(name)) {
      try {
        const out: Array<[Buffer, Buffer]> = [];
        for (const chunk of map.getBatch(BATCH)) out.push(...chunk);
        return out;
      } catch (err) {
        if (!batchUnsupported(err)) throw mapError(`read map ${name}`, err);
        this.noBatch.add(name);
      }
    }
    const out: Array<[Buffer, Buffer]> = [];
    try {
      for (const key of map.keys()) {
        const value = map.get(key);
        if (value) out.push([key, value]);
      }
    } catch (err) {
      throw mapError(`read map ${name}`, err);
    }
    return out;
  }

  /** Update many entries of one map (BPF_MAP_UPDATE_BATCH where the map has it). */
  setMany(name: MapName, entries: ReadonlyArray<readonly [Buffer, Buffer]>): void {
    const map = this.get(name);
    let i = 0;
    if (!this.noBatch.has(name)) {
      try {
        for (; i < entries.length; i += BATCH) map.setBatch(entries.slice(i, i + BATCH) as Array<[Buffer, Buffer]>);
        return;
      } catch (err) {
        if (!batchUnsupported(err)) throw mapError(`update map ${name}`, err);
        this.noBatch.add(name);
      }
    }
    // From the failed chunk on, one at a time (updates are idempotent).
    for (; i < entries.length; i++) this.set(name, entries[i]![0], entries[i]![1]);
  }

  set(name: MapName, key: Buffer, value: Buffer): void {
    try {
      this.get(name).set(key, value);
    } catch (err) {
      throw mapError(`update map ${name}`, err);
    }
  }

  /** Delete; a key that is already gone is not an error. */
  delete(name: MapName, key: Buffer): boolean {
    try {
      return this.get(name).delete(key);
    } catch (err) {
      throw mapError(`delete from map ${name}`, err);
    }
  }

  /** Per-verdict totals over all CPUs (fo_verdicts). */
  verdicts(): Record<Verdict, Counter> {
    const map = this.get('fo_verdicts');
    const out = {} as Record<Verdict, Counter>;
    VERDICTS.forEach((v, i) => {
      const value = map.get(encodeU32(i));
      out[v] = value ? sumPerCpu(value, this.cpus) : { packets: 0n, bytes: 0n };
    });
    return out;
  }

  /** Every fo_stats entry: what keepalive, metrics and tests read. */
  memberCounters(): MemberCounter[] {
    return this.entries('fo_stats').map(([k, v]) => ({ ...decodeStatKey(k), ...sumPerCpu(v, this.cpus) }));
  }

  /** fo_audit_conf: the audit's sampling rate and how far the agent has taken the rings. */
  auditConf(): AuditConf {
    try {
      const v = this.get('fo_audit_conf').get(encodeU32(0));
      return v ? decodeAuditConf(v) : { rate: 0, takenNs: 0n };
    } catch (err) {
      throw mapError('read map fo_audit_conf', err);
    }
  }

  setAuditConf(c: AuditConf): void {
    this.set('fo_audit_conf', encodeU32(0), encodeAuditConf(c));
  }

  /** 1 in `rate` forwarded packets per CPU is checked against the kernel's lookup; 0 = off. */
  auditRate(): number {
    return this.auditConf().rate;
  }

  /** fo_audit, CPU by CPU: counters per result and each CPU's ring of disagreements. */
  audit(): AuditCpu[] {
    let value: Buffer | undefined;
    try {
      value = this.get('fo_audit').get(encodeU32(0));
    } catch (err) {
      throw mapError('read map fo_audit', err);
    }
    if (!value) throw new Error('map fo_audit has no entry 0 (an array always has one)');
    return decodeAuditPerCpu(value, this.cpus);
  }

  close(): void {
    for (const m of this.maps.values()) m.ref.close();
    this.maps.clear();
  }
}
