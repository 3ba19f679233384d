// Capture zebra's FPM frames: each as hex with a short description; with "reply", answer every RTM_NEWROUTE with RTM_F_OFFLOAD.
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
const out = process.argv[2]; const reply = process.argv[3] === 'reply';
const frames = [];
const NAMES = { 24: 'RTM_NEWROUTE', 25: 'RTM_DELROUTE', 104: 'RTM_NEWNEXTHOP', 105: 'RTM_DELNEXTHOP' };
function ip(b) { return b.length === 4 ? [...b].join('.') : [...Array(8)].map((_, i) => b.readUInt16BE(i * 2).toString(16)).join(':').replace(/(^|:)0(:0)+(:|$)/, '::'); }
function what(f) {
  const type = f.readUInt16LE(8); const p = 20;
  let s = NAMES[type] ?? `type ${type}`;
  if (type === 24 || type === 25) {
    const fam = f[p], len = f[p + 1]; let table = f[p + 4], dst = null; const proto = f[p + 5];
    for (let q = p + 12; q + 4 <= f.length;) { const l = f.readUInt16LE(q), t = f.readUInt16LE(q + 2) & 0x3fff; if (l < 4) break;
      if (t === 1) dst = ip(f.subarray(q + 4, q + l)); if (t === 15) table = f.readUInt32LE(q + 4); q += (l + 3) & ~3; }
    s += ` ${dst ?? (fam === 2 ? '0.0.0.0' : '::')}/${len} table ${table} proto ${proto}`;
  } else if (type === 104 || type === 105) {
    for (let q = p + 8; q + 4 <= f.length;) { const l = f.readUInt16LE(q), t = f.readUInt16LE(q + 2) & 0x3fff; if (l < 4) break;
      if (t === 1) s += ` id ${f.readUInt32LE(q + 4)}`; q += (l + 3) & ~3; }
  }
  return s;
}
createServer((s) => {
  let buf = Buffer.alloc(0);
  console.log('connected');
  s.on('data', (c) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 4) {
      const len = buf.readUInt16BE(2); if (buf.length < len) break;
      const f = Buffer.from(buf.subarray(0, len)); buf = buf.subarray(len);
      frames.push({ what: what(f), hex: f.toString('hex') });
      console.log(frames.at(-1).what);
      writeFileSync(out, JSON.stringify(frames, null, 1));
      if (reply && f.readUInt16LE(8) === 24) { const r = Buffer.from(f); r.writeUInt16LE(1, 10); r.writeUInt32LE((r.readUInt32LE(28) | 0x4000) >>> 0, 28); s.write(r); }
    }
  });
}).listen(2620, '127.0.0.1', () => console.log('listening'));
