// The flat IPv4 tables' arrays in the kernel: one BPF array per table,
// pinned beside the other maps as maps/fo_flat4_t<table> and published to the
// program through fo_flat4 (table -> array). Publishing or withdrawing a
// table is one update of fo_flat4, so the program switches between the LPM
// trie and the array atomically. dir24.ts decides the contents; bulk.ts
// writes them.
import { readdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createMapRef, objGet, type MapRef, type RawMap } from 'bpf';
import { FLAT4_ENTRIES, encodeU32 } from './layout.js';
import { mapError } from './maps.js';
import type { Runner } from './loader.js';

const PIN = /^fo_flat4_t(\d+)$/;

export class FlatStore {
  constructor(
    readonly mapsDir: string,
    private readonly outer: RawMap,
    private readonly run: Runner,
  ) {}

  pinPath(table: number): string {
    return join(this.mapsDir, `fo_flat4_t${table}`);
  }

  /** Tables with an array pinned (published or not). */
  pinnedTables(): number[] {
    if (!existsSync(this.mapsDir)) return [];
    return readdirSync(this.mapsDir).flatMap((f) => {
      const m = PIN.exec(f);
      return m ? [Number(m[1])] : [];
    });
  }

  /** Tables published in fo_flat4, with the id of the array each points at. */
  published(): Map<number, number> {
    const out = new Map<number, number>();
    try {
      for (const key of this.outer.keys()) {
        const v = this.outer.get(key);
        if (v) out.set(key.readUInt32LE(0), v.readUInt32LE(0));
      }
    } catch (err) {
      throw mapError('read map fo_flat4', err);
    }
    return out;
  }

  /** Open the pinned array of `table`, or null if none is pinned. Checks that this build can use it. */
  open(table: number): MapRef | null {
    const path = this.pinPath(table);
    if (!existsSync(path)) return null;
    let ref: MapRef;
    try {
      ref = createMapRef(objGet(path), { transfer: true });
    } catch (err) {
      throw mapError(`open pinned map ${path}`, err);
    }
    if (ref.keySize !== 4 || ref.valueSize !== 4 || ref.maxEntries !== FLAT4_ENTRIES) {
      ref.close();
      throw new Error(
        `pinned map ${path} has ${ref.maxEntries} entries of ${ref.keySize}/${ref.valueSize} bytes, this agent expects ` +
        `${FLAT4_ENTRIES} of 4/4: it was made by another version; run \`fib-offload flush\` first`,
      );
    }
    return ref;
  }

  /**
   * Make and pin a zeroed array for `table` (bpftool, argv only: the `bpf`
   * package can create maps but not pin them, and the pin is how a restart
   * finds the array again without CAP_SYS_ADMIN's get-by-id).
   */
  async create(table: number): Promise<MapRef> {
    const path = this.pinPath(table);
    rmSync(path, { force: true });
    await this.run(
      ['bpftool', 'map', 'create', path, 'type', 'array', 'key', '4', 'value', '4', 'entries', String(FLAT4_ENTRIES), 'name', `fof4_${table}`],
      `create the flat IPv4 array of table ${table}`,
    );
    const ref = this.open(table);
    if (!ref) throw new Error(`bpftool map create ${path} left nothing pinned`);
    return ref;
  }

  /** Point fo_flat4[table] at `ref` (a map-in-map update takes the inner map's fd). */
  publish(table: number, ref: MapRef): void {
    try {
      this.outer.set(encodeU32(table), encodeU32(ref.fd));
    } catch (err) {
      throw mapError(`publish the flat array of table ${table} in fo_flat4`, err);
    }
  }

  /** Withdraw fo_flat4[table]: the program goes back to the LPM trie for it. */
  unpublish(table: number): void {
    try {
      this.outer.delete(encodeU32(table));
    } catch (err) {
      throw mapError(`withdraw table ${table} from fo_flat4`, err);
    }
  }

  unpin(table: number): void {
    rmSync(this.pinPath(table), { force: true });
  }
}
