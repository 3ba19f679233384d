// Captures real nf_tables messages (the table, chain and rule dumps, and the
// NFNLGRP_NFTABLES notifications of `nft` and `iptables-nft` commands) from a
// throw-away network namespace into test/fixtures/netfilter/nftables.json for
// the firewall codec tests. Run as root:
//   npm run build && node dist/scripts/capture-nftables.js [--out FILE]
// It re-executes itself inside the namespace (`--inside`) to talk netlink there.
import { execFileSync } from 'node:child_process';
import { release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NLMSG_HDRLEN } from '../src/netlink/codec/constants.js';
import { forEachMessage } from '../src/netlink/codec/header.js';
import {
  encodeNftDump, NETLINK_NETFILTER, NFNLGRP_NFTABLES, NFT_MSG_GETCHAIN, NFT_MSG_GETRULE, NFT_MSG_GETTABLE, nftType,
} from '../src/netlink/codec/nftables.js';
import { RtnlChannel, RtnlSubscription } from '../src/netlink/socket.js';
import { captureInNamespace } from './capture-ns.js';

interface RawMessage { readonly type: number; readonly flags: number; readonly hex: string }

const SELF = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SELF), '..', '..');

const SETUP: string[][] = [
  ['link', 'set', 'dev', 'lo', 'up'],
  ['link', 'add', 'name', 'v0', 'type', 'veth', 'peer', 'name', 'p0'],
];

/** One command per segment (nft reads its script from stdin). */
const STEPS: { label: string; cmd: string[]; input?: string }[] = [
  { label: 'input-only', cmd: ['nft', '-f', '-'], input: 'add table inet filter\nadd chain inet filter input { type filter hook input priority 0; policy drop; }\n' },
  { label: 'forward-empty-accept', cmd: ['nft', '-f', '-'], input: 'add chain inet filter forward { type filter hook forward priority 0; policy accept; }\n' },
  { label: 'forward-rule', cmd: ['nft', '-f', '-'], input: 'add rule inet filter forward ip daddr 10.1.0.0/16 drop\n' },
  { label: 'forward-policy-drop', cmd: ['nft', '-f', '-'], input: 'chain inet filter forward { policy drop; }\n' },
  { label: 'regular-chain', cmd: ['nft', '-f', '-'], input: 'add chain inet filter blocked\nadd rule inet filter blocked counter drop\n' },
  { label: 'nat-postrouting', cmd: ['nft', '-f', '-'], input: 'add table ip nat\nadd chain ip nat postrouting { type nat hook postrouting priority 100; }\nadd rule ip nat postrouting oifname "v0" masquerade\n' },
  { label: 'netdev-ingress', cmd: ['nft', '-f', '-'], input: 'add table netdev nd\nadd chain netdev nd in { type filter hook ingress device "v0" priority 0; }\nadd rule netdev nd in counter\n' },
  { label: 'dormant', cmd: ['nft', '-f', '-'], input: 'add table ip dorm { flags dormant; }\nadd chain ip dorm fw { type filter hook forward priority 0; policy drop; }\n' },
  { label: 'ip6-prerouting', cmd: ['nft', '-f', '-'], input: 'add table ip6 raw6\nadd chain ip6 raw6 pre { type filter hook prerouting priority -300; }\nadd rule ip6 raw6 pre counter\n' },
  { label: 'iptables-nft', cmd: ['iptables-nft', '-A', 'FORWARD', '-s', '10.9.0.0/16', '-j', 'DROP'] },
  { label: 'delete-table', cmd: ['nft', 'delete', 'table', 'inet', 'filter'] },
];

const hexOf = (buf: Buffer, off: number, end: number): string => buf.toString('hex', off - NLMSG_HDRLEN, end);

async function inside(): Promise<void> {
  for (const a of SETUP) execFileSync('ip', a);
  const sub = new RtnlSubscription([NFNLGRP_NFTABLES], 1 << 20, NETLINK_NETFILTER);
  const ch = new RtnlChannel(NETLINK_NETFILTER);
  const segments: { label: string; command: string; messages: RawMessage[] }[] = [];
  let current: RawMessage[] = [];
  sub.on('datagram', (buf) => {
    forEachMessage(buf, (type, flags, _s, _p, b, off, end) => { current.push({ type, flags, hex: hexOf(b, off, end) }); });
  });
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 150));
  const dumpAll = async (): Promise<{ tables: RawMessage[]; chains: RawMessage[]; rules: RawMessage[] }> => {
    const one = async (msg: number, what: string): Promise<RawMessage[]> => {
      const out: RawMessage[] = [];
      await ch.dump(nftType(msg), encodeNftDump(), (type, flags, _s, _p, b, off, end) => { out.push({ type, flags, hex: hexOf(b, off, end) }); }, what);
      return out;
    };
    return { tables: await one(NFT_MSG_GETTABLE, 'tables'), chains: await one(NFT_MSG_GETCHAIN, 'chains'), rules: await one(NFT_MSG_GETRULE, 'rules') };
  };
  const initial = await dumpAll();
  let full: Awaited<ReturnType<typeof dumpAll>> | null = null;
  for (const step of STEPS) {
    current = [];
    if (step.label === 'delete-table') full = await dumpAll(); // everything added, before the delete
    execFileSync(step.cmd[0]!, step.cmd.slice(1), step.input !== undefined ? { input: step.input } : {});
    await settle();
    segments.push({ label: step.label, command: step.input !== undefined ? step.input.trim() : step.cmd.join(' '), messages: current });
  }
  const after = await dumpAll();
  sub.close();
  ch.close();
  process.stdout.write(JSON.stringify({ initial, full, after, segments }) + '\n');
}

function orchestrate(argv: string[]): void {
  const outIdx = argv.indexOf('--out');
  const out = outIdx >= 0 ? argv[outIdx + 1]! : join(REPO, 'test', 'fixtures', 'netfilter', 'nftables.json');
  captureInNamespace('fo-capture-nft', SELF, out, {
    scenario: 'nftables', kernel: release(), nft: execFileSync('nft', ['--version'], { encoding: 'utf8' }).trim(),
    setup: SETUP.map((a) => `ip ${a.join(' ')}`),
    note: 'initial: dumps of a fresh namespace; full: after every step but the last; after: after all; segments: one command each with its notifications',
  });
}

if (process.argv.includes('--inside')) await inside();
else orchestrate(process.argv.slice(2));
