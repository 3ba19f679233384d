// The YAML configuration (DESIGN.md "Configuration"): parsed and validated once,
// so every later layer gets a complete, typed Config and every mistake names its key path.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { FIREWALL_MODES, type FirewallMode } from './model/firewall.js';

export const BACKENDS = ['auto', 'tc', 'xdp', 'dry-run'] as const;
export const PORT_BACKENDS = ['auto', 'tc', 'xdp', 'none'] as const;
export const TC_POLICIES = ['hw-only', 'hw-preferred', 'sw'] as const;
export const TC_FALLBACKS = ['sw', 'xdp', 'none'] as const;
export const XDP_MODES = ['native', 'generic'] as const;
export const ECMP_HASHES = ['kernel', 'l3', 'l4'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export type Backend = (typeof BACKENDS)[number];
export type PortBackend = (typeof PORT_BACKENDS)[number];
export type TcPolicy = (typeof TC_POLICIES)[number];
export type TcFallback = (typeof TC_FALLBACKS)[number];
export type XdpMode = (typeof XDP_MODES)[number];
export type EcmpHash = (typeof ECMP_HASHES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A routing table by number (1..2^32-1) or by name: rt_tables name or VRF device name. */
export type TableSpec = number | string;

export interface ListenAddress {
  /** As written, e.g. "127.0.0.1:9469" or "[::1]:9469". */
  readonly listen: string;
  /** Without brackets, ready for `server.listen(port, host)`. */
  readonly host: string;
  readonly port: number;
}

/** `port_backends` entry; see `portBackendFor` for precedence. */
export interface PortBackendRule {
  readonly pattern: string;
  readonly backend: PortBackend;
}

export interface Config {
  /** Interface names, globs, or `switchdev`; empty means nothing is offloaded. */
  readonly ports: readonly string[];
  /** 'auto' = main and every VRF (the `tables` key was omitted). */
  readonly tables: readonly TableSpec[] | 'auto';
  readonly backend: Backend;
  /** From `port_backends`, in file order. */
  readonly portBackends: readonly PortBackendRule[];
  /** compress: install the plan's entries ORTC-compressed (src/plan/compress.ts); false = one rule per route. */
  readonly tc: { readonly policy: TcPolicy; readonly fallback: TcFallback; readonly compress: boolean };
  /** bpffs: mount point of the BPF file system the program and maps are pinned under. */
  /** flatThreshold: IPv4 tables with at least this many entries get a flat DIR-24-8 array (0 = every table). */
  /** auditRate: 1 in this many forwarded packets per CPU is checked against the kernel's own lookup (0 = off). */
  readonly xdp: { readonly mode: XdpMode; readonly bpffs: string; readonly flatThreshold: number; readonly auditRate: number };
  readonly ecmp: { readonly hash: EcmpHash };
  readonly metrics: ListenAddress;
  readonly resync: { readonly intervalMs: number };
  /** Neighbour keepalive: how often neighbours behind offloaded traffic are refreshed (0 = off). */
  readonly keepalive: { readonly intervalMs: number };
  /** FPM server for zebra's dplane_fpm_nl (src/fpm/); null = off (the default). */
  readonly fpm: ListenAddress | null;
  /**
   * Netfilter on the forwarding path (src/plan/firewall.ts): 'respect' leaves
   * the traffic a chain could act on to the kernel; 'bypass' offloads it anyway.
   */
  readonly firewall: FirewallMode;
  readonly log: { readonly level: LogLevel };
}

const DEFAULT_LISTEN = '127.0.0.1:9469';
/** FRR's default FPM port (`fpm address A port 2620`). */
const DEFAULT_FPM_LISTEN = '127.0.0.1:2620';
const DEFAULT_RESYNC_MS = 300_000;

export function defaultConfig(): Config {
  return deepFreeze({
    ports: [],
    tables: 'auto',
    backend: 'auto',
    portBackends: [],
    tc: { policy: 'hw-preferred', fallback: 'xdp', compress: true },
    xdp: { mode: 'native', bpffs: '/sys/fs/bpf', flatThreshold: 10_000, auditRate: 1024 },
    ecmp: { hash: 'kernel' },
    metrics: { listen: DEFAULT_LISTEN, host: '127.0.0.1', port: 9469 },
    resync: { intervalMs: DEFAULT_RESYNC_MS },
    keepalive: { intervalMs: 2_000 },
    fpm: null,
    firewall: 'respect',
    log: { level: 'info' },
  });
}

// ---------------------------------------------------------------------------
// Value grammars shared with the command line (args.ts).

const IFNAMSIZ_MAX = 15; // kernel IFNAMSIZ (16) minus the NUL
const GLOB_CHARS = /[*?[\]]/;

/** Why `spec` is not a valid `ports` entry, or undefined if it is. */
export function portSpecProblem(spec: string): string | undefined {
  const expected = 'expected an interface name, a glob like "eth*", or "switchdev"';
  if (spec === '') return expected;
  if (/\s/.test(spec)) return `${expected} without whitespace`;
  // The kernel's dev_valid_name() refuses these, so no glob could ever match them.
  if (spec.includes('/') || spec.includes(':')) return `${expected} without "/" or ":"`;
  if (!GLOB_CHARS.test(spec)) {
    if (spec === '.' || spec === '..') return expected;
    if (spec.length > IFNAMSIZ_MAX) return `${expected} of at most ${IFNAMSIZ_MAX} characters`;
    return undefined;
  }
  if (globToRegExp(spec) === undefined) return `${expected}; unbalanced "[" or "]" in glob`;
  return undefined;
}

/** fnmatch-style glob (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`) to an anchored RegExp. */
function globToRegExp(glob: string): RegExp | undefined {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', glob[i + 1] === '!' ? i + 3 : i + 2); // a ']' right after '[' or '[!' is literal
      if (close < 0) return undefined;
      let body = glob.slice(i + 1, close);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      // JS reads a leading ']' as closing an empty class; escape it (and backslashes).
      re += '[' + body.replace(/[\\\]]/g, '\\$&') + ']';
      i = close;
    } else if (c === ']') return undefined;
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  try {
    return new RegExp(re + '$');
  } catch {
    // A range such as [z-a] is not a usable class; report it as a bad glob.
    return undefined;
  }
}

/**
 * Whether interface `ifname` matches a `ports` / `port_backends` pattern.
 * The `switchdev` keyword is not a name pattern: callers resolve it against
 * the links' switchdev representor flag themselves.
 */
export function portPatternMatches(pattern: string, ifname: string): boolean {
  if (!GLOB_CHARS.test(pattern)) return pattern === ifname;
  return globToRegExp(pattern)?.test(ifname) ?? false;
}

/**
 * The `port_backends` override for a port: an exact name wins over globs;
 * among globs, the first in file order. `switchdev` applies when `isSwitchdev`.
 * undefined = no override (use `backend`).
 */
export function portBackendFor(
  rules: readonly PortBackendRule[],
  ifname: string,
  isSwitchdev = false,
): PortBackend | undefined {
  const exact = rules.find((r) => r.pattern === ifname && r.pattern !== 'switchdev');
  if (exact) return exact.backend;
  return rules.find((r) =>
    r.pattern === 'switchdev' ? isSwitchdev : portPatternMatches(r.pattern, ifname),
  )?.backend;
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
// setTimeout() fires immediately (with a warning) for delays above 2^31-1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** "300s", "5m", "1h", "500ms", "1h30m", "1.5s" → milliseconds; undefined if not a positive duration. */
export function parseDuration(text: string): number | undefined {
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    ms += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] ?? NaN);
  }
  ms = Math.round(ms);
  return ms >= 1 && ms <= MAX_TIMER_MS ? ms : undefined;
}

const LISTEN_EXPECTED = 'expected HOST:PORT (IPv6 in brackets, port 1-65535)';
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);

function listenParse(text: string): ListenAddress | string {
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(text);
  if (bracketed) {
    host = bracketed[1] as string;
    portText = bracketed[2] as string;
    if (isIP(host) !== 6) return `${LISTEN_EXPECTED}; "[${host}]" is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return LISTEN_EXPECTED;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return `${LISTEN_EXPECTED}; write an IPv6 host in brackets, e.g. "[::1]:9469"`;
    if (host === '') return `${LISTEN_EXPECTED}; the host is missing (use 0.0.0.0 or [::] for all addresses)`;
    // Dotted numbers that are not an IPv4 address would otherwise pass as a hostname.
    const validHost = /^[\d.]+$/.test(host) ? isIP(host) === 4 : HOSTNAME.test(host);
    if (!validHost) return `${LISTEN_EXPECTED}; "${host}" is not an address or host name`;
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return `${LISTEN_EXPECTED}; "${portText}" is not a port`;
  return { listen: text, host, port };
}

/** Parse a HOST:PORT listen address; a bad one is a ConfigError at `path` (a key path or a flag). */
export function parseListenAddress(text: string, path: string): ListenAddress {
  const r = listenParse(text);
  if (typeof r === 'string') throw new ConfigError(path, `${r}; got ${describeValue(text)}`);
  return r;
}

// ---------------------------------------------------------------------------
// Schema. Every leaf carries its own "expected ..." message; toProblem() adds
// the offending value and the position in the file.

const expect = (what: string) => ({ error: () => what });
const oneOf = (values: readonly string[]) => `expected one of ${values.join(', ')}`;
const enumOf = <T extends readonly [string, ...string[]]>(values: T) => z.enum(values, expect(oneOf(values)));

const portSpec = z
  .string(expect('expected an interface name, a glob like "eth*", or "switchdev"'))
  .superRefine((spec, ctx) => {
    const problem = portSpecProblem(spec);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const TABLE_EXPECTED = 'expected a table number (1-4294967295), a table name, or a VRF name';
const tableSpec = z.union([z.number(), z.string()], expect(TABLE_EXPECTED)).superRefine((t, ctx) => {
  const ok =
    typeof t === 'number'
      ? Number.isInteger(t) && t >= 1 && t <= 0xffffffff
      : t !== '' && !/\s/.test(t) && (!/^\d+$/.test(t) || (Number(t) >= 1 && Number(t) <= 0xffffffff));
  if (!ok) ctx.addIssue({ code: 'custom', message: TABLE_EXPECTED });
});

const duration = z
  .string(expect('expected a duration like 300s, 5m, 1h or 500ms'))
  .superRefine((text, ctx) => {
    if (parseDuration(text) === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration like 300s, 5m, 1h or 500ms (units ms, s, m, h; above 0, at most ${MAX_TIMER_MS}ms)`,
      });
    }
  });

const listen = z.string(expect(LISTEN_EXPECTED)).superRefine((text, ctx) => {
  const r = listenParse(text);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

const mapping = expect('expected a mapping');
const TcSchema = z.strictObject(
  {
    policy: enumOf(TC_POLICIES).optional(),
    fallback: enumOf(TC_FALLBACKS).optional(),
    compress: z.boolean(expect('expected true or false')).optional(),
  },
  mapping,
);
const absolutePath = z
  .string(expect('expected an absolute path'))
  .refine((t) => t.startsWith('/') && !t.split('/').includes('..'), { message: 'expected an absolute path without ".."' });
const AUDIT_RATE_EXPECTED = 'expected a whole number N (check 1 in N forwarded packets), 0 = off, at most 4294967295';
const XdpSchema = z.strictObject(
  {
    mode: enumOf(XDP_MODES).optional(),
    bpffs: absolutePath.optional(),
    flat_threshold: z.number(expect('expected a whole number of routes, 0 or more')).int(expect('expected a whole number of routes, 0 or more'))
      .min(0, expect('expected a whole number of routes, 0 or more')).optional(),
    audit_rate: z.number(expect(AUDIT_RATE_EXPECTED)).int(expect(AUDIT_RATE_EXPECTED))
      .min(0, expect(AUDIT_RATE_EXPECTED)).max(0xffffffff, expect(AUDIT_RATE_EXPECTED)).optional(),
  },
  mapping,
);
const EcmpSchema = z.strictObject({ hash: enumOf(ECMP_HASHES).optional() }, mapping);
const MetricsSchema = z.strictObject({ listen: listen.optional() }, mapping);
const ResyncSchema = z.strictObject({ interval: duration.optional() }, mapping);
const KeepaliveSchema = z.strictObject({ interval: z.union([z.literal('off'), duration]).optional() }, mapping);
const FpmSchema = z.strictObject({ listen: listen.optional() }, mapping);
const LogSchema = z.strictObject({ level: enumOf(LOG_LEVELS).optional() }, mapping);
const PortBackendsSchema = z.record(
  // A key problem surfaces as an invalid_key issue whose path ends in the key.
  z.string().superRefine((spec, ctx) => {
    const problem = portSpecProblem(spec);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  enumOf(PORT_BACKENDS),
  expect('expected a mapping of interface name or glob to backend'),
);

const ConfigSchema = z.strictObject(
  {
    ports: z.array(portSpec, expect('expected a list of interface names, globs, or "switchdev"')).optional(),
    tables: z
      .array(tableSpec, expect('expected a list of table numbers, table names, or VRF names'))
      .min(1, expect('expected at least one table (omit "tables" for main and every VRF)'))
      .optional(),
    backend: enumOf(BACKENDS).optional(),
    port_backends: PortBackendsSchema.optional(),
    tc: TcSchema.optional(),
    xdp: XdpSchema.optional(),
    ecmp: EcmpSchema.optional(),
    metrics: MetricsSchema.optional(),
    resync: ResyncSchema.optional(),
    keepalive: KeepaliveSchema.optional(),
    fpm: FpmSchema.optional(),
    firewall: enumOf(FIREWALL_MODES).optional(),
    log: LogSchema.optional(),
  },
  expect('expected a mapping of configuration keys'),
);

type RawConfig = z.infer<typeof ConfigSchema>;

const ALLOWED_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(ConfigSchema.shape),
  tc: Object.keys(TcSchema.shape),
  xdp: Object.keys(XdpSchema.shape),
  ecmp: Object.keys(EcmpSchema.shape),
  metrics: Object.keys(MetricsSchema.shape),
  resync: Object.keys(ResyncSchema.shape),
  keepalive: Object.keys(KeepaliveSchema.shape),
  fpm: Object.keys(FpmSchema.shape),
  log: Object.keys(LogSchema.shape),
};

// Sections whose children are all commented out read as `tc:` → null; treat as empty.
const SECTIONS = ['port_backends', 'tc', 'xdp', 'ecmp', 'metrics', 'resync', 'keepalive', 'log'] as const;

// ---------------------------------------------------------------------------

interface Problem {
  readonly path: string;
  readonly message: string;
  /** Offset in the source, for ordering and the line/column hint. */
  readonly offset: number | undefined;
}

/** Parse and validate YAML text; `source` names it in errors (a file path or '<string>'). */
export function parseConfig(text: string, source: string): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number | undefined): string => {
    if (offset === undefined) return `in ${source}`;
    const { line, col } = lineCounter.linePos(offset);
    return `in ${source} at line ${line}, column ${col}`;
  };

  const syntax = doc.errors[0];
  if (syntax) {
    const { line, col } = lineCounter.linePos(syntax.pos[0]);
    // The library's advice for this one (use parseAllDocuments) is not for operators.
    const what = syntax.code === 'MULTIPLE_DOCS' ? 'expected one YAML document, found several' : firstLine(syntax.message);
    throw new ConfigError(source, `YAML syntax error at line ${line}, column ${col}: ${what}`);
  }

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(source, `cannot read YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (raw === null || raw === undefined) raw = {}; // empty or all-comment file: all defaults
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, `expected a mapping of configuration keys; got ${describeValue(raw)}`);
  }
  const top = { ...(raw as Record<string, unknown>) };
  for (const key of SECTIONS) if (top[key] === null) delete top[key];
  // `fpm:` alone turns the FPM server on at its default address, like `fpm: {}`.
  if (top['fpm'] === null) top['fpm'] = {};

  const result = ConfigSchema.safeParse(top);
  if (!result.success) {
    const problems = result.error.issues.flatMap((issue) => toProblems(issue, top, doc));
    // Report in file order so "the first error" is the first one an operator reads.
    problems.sort((a, b) => (a.offset ?? -1) - (b.offset ?? -1));
    const [first, ...rest] = problems;
    if (!first) throw new ConfigError(source, result.error.message);
    const more = rest.map((p) => `\n  ${p.path}: ${p.message} (${where(p.offset)})`).join('');
    throw new ConfigError(first.path, `${first.message} (${where(first.offset)})${more}`);
  }
  return build(result.data);
}

/** Read and parse the config file; no path means the built-in defaults. */
export async function loadConfig(path?: string): Promise<Config> {
  if (path === undefined) return defaultConfig();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(path, 'config file not found');
    throw new ConfigError(path, `cannot read config file: ${code ?? String(err)}`);
  }
  return parseConfig(text, path);
}

function build(raw: RawConfig): Config {
  const d = defaultConfig();
  return deepFreeze({
    ports: raw.ports ?? d.ports,
    tables: raw.tables ? raw.tables.map((t) => (typeof t === 'string' && /^\d+$/.test(t) ? Number(t) : t)) : d.tables,
    backend: raw.backend ?? d.backend,
    portBackends: Object.entries(raw.port_backends ?? {}).map(([pattern, backend]) => ({ pattern, backend })),
    tc: { policy: raw.tc?.policy ?? d.tc.policy, fallback: raw.tc?.fallback ?? d.tc.fallback, compress: raw.tc?.compress ?? d.tc.compress },
    xdp: {
      mode: raw.xdp?.mode ?? d.xdp.mode,
      bpffs: (raw.xdp?.bpffs ?? d.xdp.bpffs).replace(/\/+$/, '') || '/',
      flatThreshold: raw.xdp?.flat_threshold ?? d.xdp.flatThreshold,
      auditRate: raw.xdp?.audit_rate ?? d.xdp.auditRate,
    },
    ecmp: { hash: raw.ecmp?.hash ?? d.ecmp.hash },
    metrics: raw.metrics?.listen !== undefined ? parseListenAddress(raw.metrics.listen, 'metrics.listen') : d.metrics,
    resync: {
      // Already validated; the fallback only satisfies the type.
      intervalMs: (raw.resync?.interval !== undefined ? parseDuration(raw.resync.interval) : undefined) ?? d.resync.intervalMs,
    },
    keepalive: {
      intervalMs: raw.keepalive?.interval === 'off' ? 0
        : (raw.keepalive?.interval !== undefined ? parseDuration(raw.keepalive.interval) : undefined) ?? d.keepalive.intervalMs,
    },
    // Present (even empty) turns it on; absent leaves it off.
    fpm: raw.fpm === undefined ? null : parseListenAddress(raw.fpm.listen ?? DEFAULT_FPM_LISTEN, 'fpm.listen'),
    firewall: raw.firewall ?? d.firewall,
    log: { level: raw.log?.level ?? d.log.level },
  });
}

function toProblems(issue: z.core.$ZodIssue, raw: unknown, doc: Document): Problem[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const allowed = ALLOWED_KEYS[path.join('.')] ?? [];
    return issue.keys.map((key) => ({
      path: formatPath([...path, key]),
      message: `unknown key "${key}" (allowed: ${allowed.join(', ')})`,
      offset: offsetOf(doc, [...path, key], true),
    }));
  }
  if (issue.code === 'invalid_key') {
    // port_backends key: the bad value is the key itself.
    const key = path[path.length - 1];
    const inner = issue.issues[0]?.message ?? 'invalid key';
    return [{ path: formatPath(path), message: `${inner}; got ${describeValue(key)}`, offset: offsetOf(doc, path, true) }];
  }
  return [
    {
      path: formatPath(path),
      message: `${issue.message}; got ${describeValue(valueAt(raw, path))}`,
      offset: offsetOf(doc, path, false),
    },
  ];
}

/** `tc.policy`, `ports[2]`, `port_backends["eth*"]`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function valueAt(raw: unknown, path: readonly (string | number)[]): unknown {
  let v = raw;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

/** Source offset of the node at `path` (or of its key), walking the YAML AST. */
function offsetOf(doc: Document, path: readonly (string | number)[], wantKey: boolean): number | undefined {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return rangeStart(node);
      keyNode = pair.key;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof seg === 'number') {
      keyNode = undefined;
      node = node.items[seg];
    } else {
      return rangeStart(node);
    }
  }
  return rangeStart(wantKey && keyNode ? keyNode : node);
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: unknown } | null | undefined)?.range;
  return Array.isArray(range) && typeof range[0] === 'number' ? range[0] : undefined;
}

/** How an offending value is shown in a message. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? s;
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
