// Captures the netlink requests iproute2's `tc` sends for each rule shape the
// tc backend programs, for the encoder's golden tests. Runs inside the test
// VM (Debian 6.1 kernel with flower; the host kernel has none), as root:
//   npm run build && scripts/vm/run.sh --out /tmp/cap -- node dist/scripts/vm/capture-tc.js /vmout
//   cp /tmp/cap/tc-*.json test/fixtures/tc/
// A `nlmon` device sees every netlink message of the namespace; tcpdump
// writes them to a pcap, and each tc command's RTM_*TFILTER / RTM_NEWQDISC
// request (NLM_F_REQUEST set) is kept with its sequence number zeroed.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TC_CAPTURE_SHAPES } from '../../test/fixtures/tc/shapes.js';

const outDir = process.argv[2] ?? '/vmout';

function sh(argv: readonly string[], check = true): { status: number | null; stderr: string } {
  const p = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (check && p.status !== 0) throw new Error(`${argv.join(' ')}: exit ${p.status}: ${p.stderr}`);
  return { status: p.status, stderr: p.stderr };
}

/** Netlink messages in a pcap of an nlmon device (LINKTYPE_NETLINK: a 16-byte cooked header, then the datagram). */
function pcapMessages(file: string): Buffer[] {
  const b = readFileSync(file);
  if (b.readUInt32LE(20) !== 253) throw new Error(`${file}: not LINKTYPE_NETLINK`);
  const out: Buffer[] = [];
  for (let pos = 24; pos + 16 <= b.length;) {
    const incl = b.readUInt32LE(pos + 8);
    const pkt = b.subarray(pos + 16 + 16, pos + 16 + incl);
    for (let off = 0; off + 16 <= pkt.length;) {
      const len = pkt.readUInt32LE(off);
      if (len < 16 || off + len > pkt.length) break;
      out.push(Buffer.from(pkt.subarray(off, off + len)));
      off += (len + 3) & ~3;
    }
    pos += 16 + incl;
  }
  return out;
}

sh(['ip', 'link', 'add', 'name', 'd1', 'type', 'veth', 'peer', 'name', 'p1']);
sh(['ip', 'link', 'add', 'name', 'd2', 'type', 'veth', 'peer', 'name', 'p2']);
for (const d of ['d1', 'd2', 'p1', 'p2']) sh(['ip', 'link', 'set', 'dev', d, 'up']);
sh(['ip', 'link', 'add', 'name', 'nlmon0', 'type', 'nlmon']);
sh(['ip', 'link', 'set', 'dev', 'nlmon0', 'up']);
const ifindex = (dev: string): number => (JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' })) as Array<{ ifindex: number }>)[0]!.ifindex;
const tcVersion = execFileSync('tc', ['-V'], { encoding: 'utf8' }).trim();

const pcap = '/tmp/tc-capture.pcap';
const dump = spawn('tcpdump', ['-i', 'nlmon0', '-U', '-B', '65536', '-s', '0', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
await new Promise<void>((resolve) => dump.stderr.on('data', (d: Buffer) => { if (d.toString().includes('listening')) resolve(); }));
await new Promise((res) => setTimeout(res, 500));
for (const shape of TC_CAPTURE_SHAPES) {
  const r = sh(['tc', ...shape.argv], false);
  if ((r.status === 0) !== (shape.fails !== true)) throw new Error(`tc ${shape.argv.join(' ')}: exit ${r.status}: ${r.stderr}`);
  await new Promise((res) => setTimeout(res, 100));
}
await new Promise((res) => setTimeout(res, 2000));
dump.kill('SIGINT');
await new Promise((res) => dump.on('close', res));
// One request per tc run, in order: RTM_NEWQDISC (36), RTM_NEWTFILTER (44), RTM_DELTFILTER (45).
const requests = pcapMessages(pcap).filter((m) => (m.readUInt16LE(6) & 1) !== 0 && [36, 44, 45].includes(m.readUInt16LE(4)));
console.log(requests.map((m) => `${m.readUInt16LE(4)}:${m.length}`).join(" "));
if (requests.length !== TC_CAPTURE_SHAPES.length) throw new Error(`captured ${requests.length} requests for ${TC_CAPTURE_SHAPES.length} commands`);
TC_CAPTURE_SHAPES.forEach((shape, i) => {
  const m = requests[i]!;
  m.writeUInt32LE(0, 8); // seq
  m.writeUInt32LE(0, 12); // pid
  const fixture = {
    name: shape.name,
    tc: tcVersion,
    argv: ['tc', ...shape.argv],
    ifindexes: { d1: ifindex('d1'), d2: ifindex('d2') },
    request: m.toString('hex'),
  };
  writeFileSync(join(outDir, `tc-${shape.name}.json`), JSON.stringify(fixture, null, 2) + '\n');
  console.log(`captured ${shape.name}: ${m.length} bytes`);
});
