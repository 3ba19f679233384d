// Captures real RTM_NEWRULE/RTM_DELRULE messages (the rule dump and the
// notifications of `ip rule` commands) from a throw-away network namespace
// into test/fixtures/netlink/rules.json for the rule codec tests. Run as root:
//   npm run build && node dist/scripts/capture-rules.js [--out FILE]
// It re-executes itself inside the namespace (`--inside`) to talk netlink there.
import { execFileSync } from 'node:child_process';
import { release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NLMSG_HDRLEN, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE, RTM_GETRULE, rtmName } from '../src/netlink/codec/constants.js';
import { forEachMessage } from '../src/netlink/codec/header.js';
import { DUMPS } from '../src/netlink/codec/requests.js';
import { RtnlChannel, RtnlSubscription } from '../src/netlink/socket.js';
import { captureInNamespace } from './capture-ns.js';

interface RawMessage { readonly type: number; readonly name: string; readonly flags: number; readonly hex: string }

const SELF = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SELF), '..', '..');

const SETUP: string[][] = [
  ['link', 'set', 'dev', 'lo', 'up'],
  ['link', 'add', 'name', 'v0', 'type', 'veth', 'peer', 'name', 'p0'],
];

/** One command per segment: what each rule's notification looks like. */
const STEPS: { label: string; args: string[] }[] = [
  { label: 'from-lookup', args: ['rule', 'add', 'from', '10.10.1.0/24', 'lookup', '100', 'pref', '100'] },
  { label: 'from-unmasked', args: ['rule', 'add', 'from', '10.10.9.7/16', 'lookup', '100', 'pref', '110'] },
  { label: 'iif-to-lookup', args: ['rule', 'add', 'iif', 'v0', 'to', '192.0.2.0/24', 'lookup', '200', 'pref', '200'] },
  { label: 'fwmark', args: ['rule', 'add', 'fwmark', '0x10/0xff', 'lookup', '300', 'pref', '300'] },
  { label: 'not-iif-unreachable', args: ['rule', 'add', 'not', 'iif', 'v0', 'unreachable', 'pref', '400'] },
  { label: 'ipproto-dport-prohibit', args: ['rule', 'add', 'ipproto', 'udp', 'dport', '53', 'prohibit', 'pref', '500'] },
  { label: 'uidrange-blackhole', args: ['rule', 'add', 'uidrange', '1000-2000', 'blackhole', 'pref', '600'] },
  { label: 'suppress', args: ['rule', 'add', 'lookup', 'main', 'suppress_prefixlength', '0', 'pref', '700'] },
  { label: 'goto', args: ['rule', 'add', 'goto', '32766', 'pref', '800'] },
  { label: 'tos', args: ['rule', 'add', 'tos', '0x10', 'lookup', '100', 'pref', '900'] },
  { label: 'oif', args: ['rule', 'add', 'oif', 'v0', 'lookup', '100', 'pref', '950'] },
  { label: 'l3mdev', args: ['rule', 'add', 'l3mdev', 'pref', '1000'] },
  { label: 'v6-from-lookup', args: ['-6', 'rule', 'add', 'from', '2001:db8:1::/48', 'lookup', '100', 'pref', '100'] },
  { label: 'v6-iif-lookup', args: ['-6', 'rule', 'add', 'iif', 'v0', 'lookup', '100', 'pref', '150'] },
  { label: 'del', args: ['rule', 'del', 'pref', '100'] },
  { label: 'v6-del', args: ['-6', 'rule', 'del', 'pref', '100'] },
];

const hexOf = (buf: Buffer, off: number, end: number): string => buf.toString('hex', off - NLMSG_HDRLEN, end);

async function inside(): Promise<void> {
  for (const a of SETUP) execFileSync('ip', a);
  const sub = new RtnlSubscription([RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE], 1 << 20);
  const ch = new RtnlChannel();
  const segments: { label: string; command: string; messages: RawMessage[] }[] = [];
  let current: RawMessage[] = [];
  sub.on('datagram', (buf) => {
    forEachMessage(buf, (type, flags, _s, _p, b, off, end) => { current.push({ type, name: rtmName(type), flags, hex: hexOf(b, off, end) }); });
  });
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 150));
  const dumpRules = async (): Promise<RawMessage[]> => {
    const d = DUMPS.find((x) => x.type === RTM_GETRULE)!;
    const out: RawMessage[] = [];
    await ch.dump(d.type, d.payload, (type, flags, _s, _p, b, off, end) => { out.push({ type, name: rtmName(type), flags, hex: hexOf(b, off, end) }); }, d.what);
    return out;
  };
  const initial = await dumpRules();
  let full: RawMessage[] = [];
  for (const step of STEPS) {
    current = [];
    if (step.label === 'del') full = await dumpRules(); // everything added, before the deletes
    execFileSync('ip', step.args);
    await settle();
    segments.push({ label: step.label, command: `ip ${step.args.join(' ')}`, messages: current });
  }
  sub.close();
  ch.close();
  process.stdout.write(JSON.stringify({ initial, full, segments }) + '\n');
}

function orchestrate(argv: string[]): void {
  const outIdx = argv.indexOf('--out');
  const out = outIdx >= 0 ? argv[outIdx + 1]! : join(REPO, 'test', 'fixtures', 'netlink', 'rules.json');
  captureInNamespace('fo-capture-rules', SELF, out, {
    scenario: 'rules', kernel: release(), iproute2: execFileSync('ip', ['-V'], { encoding: 'utf8' }).trim(),
    setup: SETUP.map((a) => `ip ${a.join(' ')}`),
    note: 'initial: the rule dump (AF_UNSPEC) of a fresh namespace; full: after every add; segments: one command each with its notifications',
  });
}

if (process.argv.includes('--inside')) await inside();
else orchestrate(process.argv.slice(2));
