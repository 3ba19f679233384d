// Command-line parsing (DESIGN.md "Command line"): argv → a typed command, or a
// ConfigError naming the offending flag; pure, so main only wires and runs.
import { parseArgs } from 'node:util';
import {
  BACKENDS,
  LOG_LEVELS,
  describeValue,
  parseListenAddress,
  portSpecProblem,
  type Backend,
  type Config,
  type ListenAddress,
  type LogLevel,
} from '../config.js';
import { ConfigError } from '../errors.js';
import { labNameProblem } from '../lab/topology.js';

export const COMMANDS = ['run', 'show', 'plan', 'apply', 'flush', 'status', 'lab'] as const;
export type CommandName = (typeof COMMANDS)[number];
export const LAB_ACTIONS = ['up', 'down', 'traffic', 'status'] as const;
export type LabAction = (typeof LAB_ACTIONS)[number];
export const APPLY_BACKENDS = ['tc', 'xdp'] as const;
export type ApplyBackend = (typeof APPLY_BACKENDS)[number];

export interface CommonOptions {
  /** --config FILE */
  readonly config?: string;
  /** --log-level L */
  readonly logLevel?: LogLevel;
}
/** Options of the commands that build a plan. */
export interface PlanInputOptions extends CommonOptions {
  /** --ports LIST, split on commas; replaces the config's `ports`. */
  readonly ports?: readonly string[];
}
export interface RunOptions extends PlanInputOptions {
  readonly backend?: Backend;
  readonly metrics?: ListenAddress;
  /** --flush-on-exit: remove the offload on SIGTERM/SIGINT instead of leaving it installed. */
  readonly flushOnExit: boolean;
}
export interface ShowOptions extends PlanInputOptions {
  readonly json: boolean;
}
export interface PlanOptions extends PlanInputOptions {
  /** --json → 'json', --tc-batch → 'tc-batch', neither → 'text'. */
  readonly output: 'text' | 'json' | 'tc-batch';
  /** --backend: plan as `run --backend B` would (e.g. tc rules for ports that are not representors). */
  readonly backend?: Backend;
}
export interface ApplyOptions extends PlanInputOptions {
  readonly backend?: ApplyBackend;
}
export type FlushOptions = CommonOptions;
export interface StatusOptions extends CommonOptions {
  /** Where the daemon serves /status; else the config's metrics.listen. */
  readonly metrics?: ListenAddress;
}
export interface LabOptions {
  readonly action: LabAction;
  /** --name NAME: namespaces are NAME-dut, NAME-r1, ...; default "fol". */
  readonly name: string;
  readonly json: boolean;
  readonly logLevel?: LogLevel;
  /** --frr-nexthop-objects=on|off; undefined = FRR's default (on). */
  readonly frrNexthopObjects?: boolean;
  readonly kernelForwarding: boolean;
  /** --frr 8|10: Debian 12's FRR 8.4 (default), or FRR 10 from Debian forky in a cached root, with the agent's FPM server. */
  readonly frr: 8 | 10;
}

export type ParsedCommand =
  | { readonly command: 'help'; readonly text: string }
  | { readonly command: 'version' }
  | { readonly command: 'run'; readonly options: RunOptions }
  | { readonly command: 'show'; readonly options: ShowOptions }
  | { readonly command: 'plan'; readonly options: PlanOptions }
  | { readonly command: 'apply'; readonly options: ApplyOptions }
  | { readonly command: 'flush'; readonly options: FlushOptions }
  | { readonly command: 'status'; readonly options: StatusOptions }
  | { readonly command: 'lab'; readonly options: LabOptions };

/** The flags that override config file values (any command's options fit). */
export interface Overrides {
  readonly ports?: readonly string[];
  readonly logLevel?: LogLevel;
  readonly backend?: Backend;
  readonly metrics?: ListenAddress;
}

// ---------------------------------------------------------------------------
// One table of flags; each command lists the ones it accepts.

interface FlagSpec {
  readonly type: 'string' | 'boolean';
  /** Shown in usage and "expected a value" messages. */
  readonly metavar?: string;
  readonly values?: readonly string[];
  readonly help: string;
}

const FLAGS = {
  config: { type: 'string', metavar: 'FILE', help: 'YAML configuration (default: built-in defaults)' },
  ports: {
    type: 'string',
    metavar: 'LIST',
    help: 'interface names, globs or "switchdev", comma-separated; replaces config ports (quote globs)',
  },
  'log-level': { type: 'string', metavar: 'L', values: LOG_LEVELS, help: `log level: ${LOG_LEVELS.join('|')}` },
  backend: { type: 'string', metavar: 'B', values: BACKENDS, help: `offload backend: ${BACKENDS.join('|')}` },
  'apply-backend': { type: 'string', metavar: 'B', values: APPLY_BACKENDS, help: 'program only this backend: tc|xdp' },
  metrics: { type: 'string', metavar: 'HOST:PORT', help: 'metrics and /status address (IPv6 in brackets)' },
  'flush-on-exit': { type: 'boolean', help: 'remove the offload when the daemon exits (default: leave it installed)' },
  json: { type: 'boolean', help: 'print JSON' },
  'tc-batch': { type: 'boolean', help: 'print equivalent `tc -batch` lines for review' },
  'frr-nexthop-objects': {
    type: 'string',
    metavar: 'on|off',
    values: ['on', 'off'],
    help: 'whether FRR installs kernel nexthop objects (off = "no zebra nexthop kernel enable")',
  },
  frr: {
    type: 'string',
    metavar: '8|10',
    values: ['8', '10'],
    help: "8: Debian 12's FRR 8.4 (default); 10: FRR 10 from Debian forky (a debootstrap root, cached) reporting offload over FPM",
  },
  'kernel-forwarding': { type: 'boolean', help: "turn dut's kernel forwarding on (ip_forward=1): it forwards what the offload hands it" },
  name: { type: 'string', metavar: 'NAME', help: 'lab name: namespaces NAME-dut, NAME-r1, NAME-r2, NAME-h1 (default fol)' },
  help: { type: 'boolean', help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;
type FlagKey = keyof typeof FLAGS;

/** Per command: accepted flags (by FLAGS key; 'apply-backend' is spelled --backend). */
const COMMAND_FLAGS: Readonly<Record<CommandName, readonly FlagKey[]>> = {
  run: ['config', 'ports', 'backend', 'metrics', 'log-level', 'flush-on-exit', 'help'],
  show: ['config', 'ports', 'json', 'log-level', 'help'],
  plan: ['config', 'ports', 'backend', 'json', 'tc-batch', 'log-level', 'help'],
  apply: ['config', 'ports', 'apply-backend', 'log-level', 'help'],
  flush: ['config', 'log-level', 'help'],
  status: ['config', 'metrics', 'log-level', 'help'],
  lab: ['name', 'frr-nexthop-objects', 'frr', 'kernel-forwarding', 'json', 'log-level', 'help'],
};

const flagName = (key: FlagKey): string => (key === 'apply-backend' ? 'backend' : key);

function flagUsage(key: FlagKey): string {
  const spec: FlagSpec = FLAGS[key];
  const name = key === 'help' ? '-h, --help' : `--${flagName(key)}`;
  return spec.metavar ? `${name} ${spec.metavar}` : name;
}

function commandUsage(command: CommandName, synopsis: string, about: string): string {
  const keys = COMMAND_FLAGS[command];
  const width = Math.max(...keys.map((k) => flagUsage(k).length));
  const lines = keys.map((k) => `  ${flagUsage(k).padEnd(width)}  ${FLAGS[k].help}`);
  return `Usage: fib-offload ${synopsis}\n\n${about}\n\nOptions:\n${lines.join('\n')}\n`;
}

export const USAGE: Readonly<Record<CommandName | 'main', string>> = {
  main: [
    'Usage: fib-offload COMMAND [options]',
    '',
    'Mirror the kernel FIB and offload forwarding into tc flower or XDP.',
    '',
    'Commands:',
    '  run     the daemon: mirror, plan, program, serve metrics',
    '  show    dump the kernel and print routes with resolved nexthops',
    '  plan    print the forwarding plan (--json, --tc-batch)',
    '  apply   reconcile the installed offload (tc flower, XDP) to the plan once',
    '  flush   remove everything the agent installed (XDP program, maps, pins)',
    '  status  ask a running daemon for its /status',
    '  lab     the namespace lab: FRR peers over BGP unnumbered, the agent offloading: up|down|traffic|status',
    '',
    'Options:',
    '  -h, --help  show help (also: fib-offload COMMAND --help, fib-offload help COMMAND)',
    '  --version   print the version',
    '',
    'Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration.',
    '',
  ].join('\n'),
  run: commandUsage(
    'run',
    'run [options]',
    'Run the daemon: mirror the kernel tables, keep the offload in sync with the plan, serve\n' +
      '/metrics, /status and /healthz. Flags override the config file. SIGTERM leaves the offload\n' +
      'installed (the next start reconciles by diff); SIGHUP reloads the config file. tc ports get\n' +
      "their table's shared flower block (tc.policy); a block the NIC refuses follows tc.fallback.\n" +
      'What fails to install is retried with backoff; meanwhile /status says "degraded" and lists it.\n' +
      'Traffic a netfilter chain could act on (forward, pre/postrouting, ingress) stays with the kernel\n' +
      'unless the config says firewall: bypass; nf_tables changes are followed as they happen.\n' +
      'In a namespace, run it with `ip netns exec NAME` (the host bpffs is found through /proc).',
  ),
  show: commandUsage(
    'show',
    'show [options]',
    'Dump the kernel once, build the mirror, and print routes with their resolved nexthops.',
  ),
  plan: commandUsage(
    'plan',
    'plan [--json | --tc-batch] [options]',
    'Print the forwarding plan (entries, adjacency groups, punts, skipped routes with reasons, and\nports handed to the kernel by policy rules or netfilter).\n--json and --tc-batch are mutually exclusive. --backend plans as `run --backend` would:\n`plan --tc-batch --backend tc` prints the tc rules for ports that are not switchdev representors\n(compressed as the tc backend installs them unless the config says tc.compress: false).',
  ),
  apply: commandUsage(
    'apply',
    'apply [options]',
    'Reconcile the installed offload to the current plan, print what changed, and exit;\n' +
      'the offload stays installed, and a second apply changes nothing. tc ports get their\n' +
      "table's shared flower block (tc.policy; a block hardware refuses follows tc.fallback).\n" +
      'XDP objects are pinned under <xdp.bpffs>/fib-offload/ns<netns inode>, on the host bpffs\n' +
      'also under `ip netns exec NAME` (found through /proc). Exits 1 if anything is not installed.',
  ),
  flush: commandUsage(
    'flush',
    'flush [options]',
    "Remove everything the agent installed in this namespace: detach its XDP program\nwherever it is attached and remove its pinned program and maps. Others' programs\nare never touched.",
  ),
  status: commandUsage(
    'status',
    'status [options]',
    "Ask a running daemon for its /status (at --metrics, else the config's metrics.listen).",
  ),
  lab: commandUsage(
    'lab',
    'lab up|down|traffic|status [options]',
    [
      'The network-namespace lab: dut runs FRR (zebra + bgpd) and this agent (XDP on',
      'eth0-eth2); r1 and r2 run FRR and peer with dut over BGP unnumbered (IPv6',
      'link-local, RFC 5549), both originating 198.51.100.0/24 and 2001:db8:100::/64',
      '(ECMP) and one prefix each; h1 sits behind dut. Needs root.',
      '',
      '  up       install what is missing (apt-get: frr, iproute2, bpftool, ...), build',
      '           the namespaces, start FRR and the agent, wait until BGP is up and',
      '           the agent offloads the routes. dut forwarding is off: only the',
      '           offload forwards. Files (configs, sockets, logs, pid files) go to',
      '           $TMPDIR/fib-offload-lab-NAME; the system\'s FRR is never touched.',
      '           --frr 10: FRR 10 from Debian forky, chrooted (root built once into',
      '           .cache/frr, about a minute); dut\'s zebra reports routes to the',
      '           agent over FPM, bgpd advertises only what zebra marks installed',
      '           (bgp suppress-fib-pending); status shows zebra\'s offload flags.',
      '  traffic  UDP flows and pings from h1 to every upstream prefix; per path,',
      '           packets the offload forwarded (its counters) vs the kernel',
      '  status   BGP sessions, dut\'s routes and their MACs, the plan, the agent',
      '  down     stop the agent (flushing its offload), FRR and anything else in the',
      '           lab\'s namespaces; delete the namespaces, pins and files; works',
      '           after a crash too',
    ].join('\n'),
  ),
};

// ---------------------------------------------------------------------------

/** Parse `argv` without the node and script paths (process.argv.slice(2)). */
export function parseCommandLine(argv: readonly string[]): ParsedCommand {
  const [first, ...rest] = argv;
  if (first === undefined) {
    throw new ConfigError('command', `missing command (expected one of ${COMMANDS.join(', ')})`);
  }
  if (first === '-h' || first === '--help') return { command: 'help', text: USAGE.main };
  if (first === '--version') {
    if (rest.length > 0) throw new ConfigError('--version', 'takes no other arguments');
    return { command: 'version' };
  }
  if (first === 'help') return helpFor(rest);
  if (first.startsWith('-')) {
    throw new ConfigError(first, 'unknown option here; options go after the command (fib-offload COMMAND [options])');
  }
  if (!isCommand(first)) {
    throw new ConfigError('command', `unknown command ${describeValue(first)} (expected one of ${COMMANDS.join(', ')})`);
  }
  const parsed = scan(first, rest);
  if (parsed === 'help') return { command: 'help', text: USAGE[first] };
  return build(first, parsed);
}

/** Merge command-line flags over the config file: flags win. */
export function applyOverrides(config: Config, flags: Overrides): Config {
  return Object.freeze({
    ...config,
    ports: flags.ports !== undefined ? Object.freeze([...flags.ports]) : config.ports,
    backend: flags.backend ?? config.backend,
    metrics: flags.metrics !== undefined ? Object.freeze({ ...flags.metrics }) : config.metrics,
    log: flags.logLevel !== undefined ? Object.freeze({ level: flags.logLevel }) : config.log,
  });
}

function helpFor(rest: readonly string[]): ParsedCommand {
  const [topic, ...extra] = rest;
  if (topic === undefined) return { command: 'help', text: USAGE.main };
  if (!isCommand(topic)) {
    throw new ConfigError('command', `unknown command ${describeValue(topic)} (expected one of ${COMMANDS.join(', ')})`);
  }
  if (extra.length > 0) throw new ConfigError('help', `unexpected argument ${describeValue(extra[0])}`);
  return { command: 'help', text: USAGE[topic] };
}

function isCommand(s: string): s is CommandName {
  return (COMMANDS as readonly string[]).includes(s);
}

interface Scanned {
  readonly values: ReadonlyMap<FlagKey, string | true>;
  readonly positionals: readonly string[];
}

/**
 * Tokenize with parseArgs and enforce strictness here rather than with
 * `strict: true`, so that every error carries the offending flag as its path
 * (parseArgs' own errors only put it inside prose) and `--help` wins over any
 * other mistake on the line.
 */
function scan(command: CommandName, args: readonly string[]): Scanned | 'help' {
  const accepted = COMMAND_FLAGS[command];
  const byName = new Map<string, FlagKey>(accepted.map((k) => [flagName(k), k]));
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, key] of byName) {
    options[name] = key === 'help' ? { type: 'boolean', short: 'h' } : { type: FLAGS[key].type };
  }

  const { tokens } = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return 'help';

  const values = new Map<FlagKey, string | true>();
  const positionals: string[] = [];
  const expectedFlags = accepted.map((k) => (k === 'help' ? '--help' : `--${flagName(k)}`)).join(', ');
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    if (t.kind !== 'option') continue; // the `--` terminator
    const key = byName.get(t.name);
    if (key === undefined) {
      throw new ConfigError(t.rawName, `unknown option for "${command}" (expected one of ${expectedFlags})`);
    }
    const spec: FlagSpec = FLAGS[key];
    if (spec.type === 'boolean') {
      if (t.value !== undefined) throw new ConfigError(t.rawName, `takes no value; got ${describeValue(t.value)}`);
      values.set(key, true);
      continue;
    }
    // Like strict mode: `--config --json` is a missing value, not a file named "--json".
    if (t.value === undefined || (!t.inlineValue && t.value.startsWith('-'))) {
      throw new ConfigError(t.rawName, `expected a value: ${t.rawName} ${spec.metavar ?? 'VALUE'}`);
    }
    if (spec.values && !spec.values.includes(t.value)) {
      throw new ConfigError(t.rawName, `expected one of ${spec.values.join(', ')}; got ${describeValue(t.value)}`);
    }
    values.set(key, t.value);
  }
  return { values, positionals };
}

function build(command: CommandName, { values, positionals }: Scanned): ParsedCommand {
  const str = (key: FlagKey): string | undefined => {
    const v = values.get(key);
    return typeof v === 'string' ? v : undefined;
  };
  const bool = (key: FlagKey): boolean => values.get(key) === true;

  if (command === 'lab') {
    const [action, ...extra] = positionals;
    if (action === undefined) throw new ConfigError('lab', `missing subcommand (expected one of ${LAB_ACTIONS.join(', ')})`);
    if (!(LAB_ACTIONS as readonly string[]).includes(action)) {
      throw new ConfigError('lab', `unknown subcommand ${describeValue(action)} (expected one of ${LAB_ACTIONS.join(', ')})`);
    }
    if (extra.length > 0) throw new ConfigError('lab', `unexpected argument ${describeValue(extra[0])}`);
    const frr = str('frr-nexthop-objects');
    const name = str('name') ?? 'fol';
    const bad = labNameProblem(name);
    if (bad !== null) throw new ConfigError('--name', `${describeValue(name)}: ${bad}`);
    if (frr !== undefined && action !== 'up') throw new ConfigError('--frr-nexthop-objects', 'only `lab up` takes it (the mode is fixed while the lab is up)');
    const frrMajor = str('frr');
    if (frrMajor !== undefined && action !== 'up') throw new ConfigError('--frr', 'only `lab up` takes it (the FRR version is fixed while the lab is up)');
    if (bool('json') && action !== 'status' && action !== 'traffic') throw new ConfigError('--json', 'only `lab status` and `lab traffic` print JSON');
    return {
      command,
      options: compact({
        action: action as LabAction,
        name,
        json: bool('json'),
        logLevel: str('log-level') as LogLevel | undefined,
        frrNexthopObjects: frr === undefined ? undefined : frr === 'on',
        kernelForwarding: bool('kernel-forwarding'),
        frr: frrMajor === '10' ? 10 : 8,
      }),
    };
  }
  if (positionals.length > 0) {
    const arg = describeValue(positionals[0]);
    throw new ConfigError(command, `unexpected argument ${arg} (see fib-offload ${command} --help)`);
  }

  const config = str('config');
  if (config === '') throw new ConfigError('--config', 'expected a file path; got ""');
  const common = { config, logLevel: str('log-level') as LogLevel | undefined };
  const portsText = str('ports');
  const planInput = { ...common, ports: portsText === undefined ? undefined : parsePortList(portsText) };
  const metricsText = str('metrics');
  const metrics = metricsText === undefined ? undefined : parseListenAddress(metricsText, '--metrics');

  switch (command) {
    case 'run':
      return {
        command,
        options: compact({
          ...planInput,
          backend: str('backend') as Backend | undefined,
          metrics,
          flushOnExit: bool('flush-on-exit'),
        }),
      };
    case 'show':
      return { command, options: compact({ ...planInput, json: bool('json') }) };
    case 'plan':
      if (bool('json') && bool('tc-batch')) throw new ConfigError('--tc-batch', 'cannot be combined with --json');
      return {
        command,
        options: compact({
          ...planInput, backend: str('backend') as Backend | undefined, output: bool('json') ? 'json' : bool('tc-batch') ? 'tc-batch' : 'text',
        }),
      };
    case 'apply':
      return { command, options: compact({ ...planInput, backend: str('apply-backend') as ApplyBackend | undefined }) };
    case 'flush':
      return { command, options: compact(common) };
    case 'status':
      return { command, options: compact({ ...common, metrics }) };
  }
}

/** `--ports eth0,eth1` / `--ports "switchdev, eth*"` → validated specs. */
export function parsePortList(text: string): string[] {
  const expected = 'expected a comma-separated list of interface names, globs or "switchdev"';
  const ports = text.split(',').map((p) => p.trim());
  if (ports.includes('')) {
    const got = text.trim() === '' ? '""' : `an empty entry in ${describeValue(text)}`;
    throw new ConfigError('--ports', `${expected}; got ${got}`);
  }
  for (const p of ports) {
    const problem = portSpecProblem(p);
    const where = ports.length > 1 ? ` in ${describeValue(text)}` : '';
    if (problem) throw new ConfigError('--ports', `${problem}; got ${describeValue(p)}${where}`);
  }
  return ports;
}

/** Drop undefined members so results compare as whole records and spread cleanly. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
