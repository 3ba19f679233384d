// Config parsing and validation: defaults, each key's good and bad values, error paths and positions.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  defaultConfig,
  loadConfig,
  parseConfig,
  parseDuration,
  parseListenAddress,
  portBackendFor,
  portPatternMatches,
  type Config,
} from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const DEFAULTS: Config = {
  ports: [],
  tables: 'auto',
  backend: 'auto',
  portBackends: [],
  tc: { policy: 'hw-preferred', fallback: 'xdp', compress: true },
  xdp: { mode: 'native', bpffs: '/sys/fs/bpf', flatThreshold: 10_000, auditRate: 1024 },
  ecmp: { hash: 'kernel' },
  metrics: { listen: '127.0.0.1:9469', host: '127.0.0.1', port: 9469 },
  resync: { intervalMs: 300_000 },
  keepalive: { intervalMs: 2_000 },
  fpm: null,
  firewall: 'respect',
  log: { level: 'info' },
};

/** The ConfigError thrown by `fn`, as a plain record. */
function errorOf(fn: () => unknown): { path: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    return { path: e.path, message: e.message };
  }
  throw new Error('expected a ConfigError');
}

describe('defaults', () => {
  it.each([
    ['empty file', ''],
    ['comments only', '# nothing here\n'],
    ['explicit empty mapping', '{}'],
    ['sections with everything commented out', 'tc:\nxdp:\necmp:\nmetrics:\nresync:\nlog:\nport_backends:\n'],
  ])('%s → defaults', (_name, text) => {
    expect(parseConfig(text, 'c.yaml')).toEqual(DEFAULTS);
  });

  it('defaultConfig() and loadConfig() without a path give the defaults', async () => {
    expect(defaultConfig()).toEqual(DEFAULTS);
    expect(await loadConfig()).toEqual(DEFAULTS);
  });

  it('the result is frozen', () => {
    const c = parseConfig('ports: [eth0]', 'c.yaml');
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.ports)).toBe(true);
    expect(Object.isFrozen(c.tc)).toBe(true);
  });
});

describe('good values', () => {
  it.each<[string, string, Partial<Config>]>([
    ['ports: names, globs, switchdev', 'ports: [switchdev, "eth*", "enp[0-9]s?", "p[!x]0", veth0]',
      { ports: ['switchdev', 'eth*', 'enp[0-9]s?', 'p[!x]0', 'veth0'] }],
    ['ports: 15-character name', 'ports: [abcdefghijklmno]', { ports: ['abcdefghijklmno'] }],
    ['ports: long glob is fine', 'ports: ["averyveryverylongglob*"]', { ports: ['averyveryverylongglob*'] }],
    ['ports: empty list', 'ports: []', { ports: [] }],
    ['tables: names, numbers, numeric strings', 'tables: [main, 100, "254", red, 4294967295]',
      { tables: ['main', 100, 254, 'red', 4294967295] }],
    ['backend: tc', 'backend: tc', { backend: 'tc' }],
    ['backend: xdp', 'backend: xdp', { backend: 'xdp' }],
    ['backend: dry-run', 'backend: dry-run', { backend: 'dry-run' }],
    ['port_backends in file order', 'port_backends: { "eth*": tc, eth9: none, switchdev: xdp, "v?": auto }',
      { portBackends: [
        { pattern: 'eth*', backend: 'tc' },
        { pattern: 'eth9', backend: 'none' },
        { pattern: 'switchdev', backend: 'xdp' },
        { pattern: 'v?', backend: 'auto' },
      ] }],
    ['tc: hw-only, sw', 'tc: { policy: hw-only, fallback: sw }', { tc: { policy: 'hw-only', fallback: 'sw', compress: true } }],
    ['tc: sw, none', 'tc: { policy: sw, fallback: none }', { tc: { policy: 'sw', fallback: 'none', compress: true } }],
    ['tc: one key keeps the other default', 'tc: { fallback: none }', { tc: { policy: 'hw-preferred', fallback: 'none', compress: true } }],
    ['tc: compress off (one rule per route)', 'tc: { compress: false }', { tc: { policy: 'hw-preferred', fallback: 'xdp', compress: false } }],
    ['xdp: generic', 'xdp: { mode: generic }', { xdp: { mode: 'generic', bpffs: '/sys/fs/bpf', flatThreshold: 10_000, auditRate: 1024 } }],
    ['xdp: bpffs, trailing slash dropped', 'xdp: { bpffs: /run/bpf/ }', { xdp: { mode: 'native', bpffs: '/run/bpf', flatThreshold: 10_000, auditRate: 1024 } }],
    ['xdp: flat_threshold', 'xdp: { flat_threshold: 0 }', { xdp: { mode: 'native', bpffs: '/sys/fs/bpf', flatThreshold: 0, auditRate: 1024 } }],
    ['xdp: audit_rate 1', 'xdp: { audit_rate: 1 }', { xdp: { mode: 'native', bpffs: '/sys/fs/bpf', flatThreshold: 10_000, auditRate: 1 } }],
    ['xdp: audit_rate 0 (off)', 'xdp: { audit_rate: 0 }', { xdp: { mode: 'native', bpffs: '/sys/fs/bpf', flatThreshold: 10_000, auditRate: 0 } }],
    ['ecmp: l3', 'ecmp: { hash: l3 }', { ecmp: { hash: 'l3' } }],
    ['ecmp: l4', 'ecmp: { hash: l4 }', { ecmp: { hash: 'l4' } }],
    ['metrics: IPv4', 'metrics: { listen: "0.0.0.0:9100" }', { metrics: { listen: '0.0.0.0:9100', host: '0.0.0.0', port: 9100 } }],
    ['metrics: IPv6', 'metrics: { listen: "[::1]:65535" }', { metrics: { listen: '[::1]:65535', host: '::1', port: 65535 } }],
    ['metrics: host name', 'metrics: { listen: "localhost:1" }', { metrics: { listen: 'localhost:1', host: 'localhost', port: 1 } }],
    ['resync: 5m', 'resync: { interval: 5m }', { resync: { intervalMs: 300_000 } }],
    ['resync: 500ms', 'resync: { interval: 500ms }', { resync: { intervalMs: 500 } }],
    ['keepalive: 1s', 'keepalive: { interval: 1s }', { keepalive: { intervalMs: 1000 } }],
    ['keepalive: off', 'keepalive: { interval: off }', { keepalive: { intervalMs: 0 } }],
    ['fpm: on at the default address', 'fpm: {}', { fpm: { listen: '127.0.0.1:2620', host: '127.0.0.1', port: 2620 } }],
    ['fpm: alone, children commented out, is on', 'fpm:\n#  listen: "127.0.0.1:2620"\n', { fpm: { listen: '127.0.0.1:2620', host: '127.0.0.1', port: 2620 } }],
    ['fpm: another address', 'fpm: { listen: "[::1]:2621" }', { fpm: { listen: '[::1]:2621', host: '::1', port: 2621 } }],
    ['log: every level', 'log: { level: trace }', { log: { level: 'trace' } }],
    ['log: silent', 'log: { level: silent }', { log: { level: 'silent' } }],
    ['firewall: bypass', 'firewall: bypass', { firewall: 'bypass' }],
    ['firewall: respect', 'firewall: respect', { firewall: 'respect' }],
  ])('%s', (_name, text, expected) => {
    expect(parseConfig(text, 'c.yaml')).toEqual({ ...DEFAULTS, ...expected });
  });
});

describe('bad values name the key path, the expected form and the value', () => {
  it.each<[string, string, string, string]>([
    // [name, yaml, path, message fragment]
    ['ports not a list', 'ports: eth0', 'ports', 'expected a list of interface names, globs, or "switchdev"; got "eth0"'],
    ['ports entry not a string', 'ports: [eth0, 7]', 'ports[1]', 'expected an interface name, a glob like "eth*", or "switchdev"; got 7'],
    ['ports entry empty', 'ports: [""]', 'ports[0]', 'expected an interface name, a glob like "eth*", or "switchdev"; got ""'],
    ['ports entry with whitespace', 'ports: [eth0, eth1, "eth 2"]', 'ports[2]', 'without whitespace; got "eth 2"'],
    ['ports entry with slash', 'ports: ["a/b"]', 'ports[0]', 'without "/" or ":"; got "a/b"'],
    ['ports entry too long', 'ports: [abcdefghijklmnop]', 'ports[0]', 'of at most 15 characters; got "abcdefghijklmnop"'],
    ['ports glob unbalanced', 'ports: ["eth[0"]', 'ports[0]', 'unbalanced "[" or "]" in glob; got "eth[0"'],
    ['tables empty', 'tables: []', 'tables', 'expected at least one table (omit "tables" for main and every VRF); got an empty list'],
    ['tables not a list', 'tables: main', 'tables', 'expected a list of table numbers, table names, or VRF names; got "main"'],
    ['tables zero', 'tables: [main, 0]', 'tables[1]', 'expected a table number (1-4294967295), a table name, or a VRF name; got 0'],
    ['tables too big', 'tables: [4294967296]', 'tables[0]', 'got 4294967296'],
    ['tables fraction', 'tables: [1.5]', 'tables[0]', 'got 1.5'],
    ['tables boolean', 'tables: [true]', 'tables[0]', 'got true'],
    ['tables whitespace', 'tables: ["my table"]', 'tables[0]', 'got "my table"'],
    ['backend', 'backend: fast', 'backend', 'expected one of auto, tc, xdp, dry-run; got "fast"'],
    ['backend empty', 'backend:', 'backend', 'expected one of auto, tc, xdp, dry-run; got null'],
    ['port_backends not a mapping', 'port_backends: [eth0]', 'port_backends', 'expected a mapping of interface name or glob to backend; got a list'],
    ['port_backends value', 'port_backends: { eth0: dry-run }', 'port_backends.eth0', 'expected one of auto, tc, xdp, none; got "dry-run"'],
    ['port_backends glob key value', 'port_backends: { "eth*": fast }', 'port_backends["eth*"]', 'expected one of auto, tc, xdp, none; got "fast"'],
    ['port_backends key', 'port_backends: { "a b": tc }', 'port_backends["a b"]', 'without whitespace; got "a b"'],
    ['tc not a mapping', 'tc: hw-only', 'tc', 'expected a mapping; got "hw-only"'],
    ['tc.policy', 'tc: { policy: fast }', 'tc.policy', 'expected one of hw-only, hw-preferred, sw; got "fast"'],
    ['tc.fallback', 'tc: { fallback: tc }', 'tc.fallback', 'expected one of sw, xdp, none; got "tc"'],
    ['tc.compress', 'tc: { compress: yes please }', 'tc.compress', 'expected true or false; got "yes please"'],
    ['xdp.mode', 'xdp: { mode: offload }', 'xdp.mode', 'expected one of native, generic; got "offload"'],
    ['xdp.bpffs', 'xdp: { bpffs: sys/fs/bpf }', 'xdp.bpffs', 'expected an absolute path without ".."'],
    ['xdp.flat_threshold', 'xdp: { flat_threshold: -1 }', 'xdp.flat_threshold', 'expected a whole number of routes, 0 or more'],
    ['xdp.flat_threshold text', 'xdp: { flat_threshold: lots }', 'xdp.flat_threshold', 'expected a whole number of routes, 0 or more'],
    ['xdp.audit_rate negative', 'xdp: { audit_rate: -1 }', 'xdp.audit_rate',
      'expected a whole number N (check 1 in N forwarded packets), 0 = off, at most 4294967295; got -1'],
    ['xdp.audit_rate fraction', 'xdp: { audit_rate: 0.5 }', 'xdp.audit_rate',
      'expected a whole number N (check 1 in N forwarded packets), 0 = off, at most 4294967295; got 0.5'],
    ['xdp.audit_rate too large', 'xdp: { audit_rate: 4294967296 }', 'xdp.audit_rate',
      'expected a whole number N (check 1 in N forwarded packets), 0 = off, at most 4294967295; got 4294967296'],
    ['xdp.audit_rate text', 'xdp: { audit_rate: often }', 'xdp.audit_rate',
      'expected a whole number N (check 1 in N forwarded packets), 0 = off, at most 4294967295; got "often"'],
    ['ecmp.hash', 'ecmp: { hash: 5 }', 'ecmp.hash', 'expected one of kernel, l3, l4; got 5'],
    ['metrics.listen not a string', 'metrics: { listen: 9469 }', 'metrics.listen', 'expected HOST:PORT (IPv6 in brackets, port 1-65535); got 9469'],
    ['resync.interval bare number', 'resync: { interval: 300 }', 'resync.interval', 'expected a duration like 300s, 5m, 1h or 500ms; got 300'],
    ['resync.interval unit', 'resync: { interval: 5d }', 'resync.interval', 'expected a duration like 300s, 5m, 1h or 500ms (units ms, s, m, h; above 0, at most 2147483647ms); got "5d"'],
    ['resync.interval zero', 'resync: { interval: 0s }', 'resync.interval', 'got "0s"'],
    ['keepalive.interval', 'keepalive: { interval: never }', 'keepalive.interval', 'never'],
    ['fpm.listen', 'fpm: { listen: "2620" }', 'fpm.listen', '2620'],
    ['resync.interval over the timer limit', 'resync: { interval: 600h }', 'resync.interval', 'got "600h"'],
    ['log.level', 'log: { level: verbose }', 'log.level', 'expected one of trace, debug, info, warn, error, fatal, silent; got "verbose"'],
  ])('%s', (_name, text, path, fragment) => {
    const e = errorOf(() => parseConfig(text, 'c.yaml'));
    expect(e.path).toBe(path);
    expect(e.message.startsWith(`${path}: `)).toBe(true);
    expect(e.message).toContain(fragment);
  });

  it('the message carries the source and position of the bad value', () => {
    expect(errorOf(() => parseConfig('backend: auto\ntc:\n  policy: fast\n', '/etc/f.yaml'))).toEqual({
      path: 'tc.policy',
      message: 'tc.policy: expected one of hw-only, hw-preferred, sw; got "fast" (in /etc/f.yaml at line 3, column 11)',
    });
  });

  it('several problems: the first in file order carries the path, the rest follow', () => {
    const text = 'log: { level: loud }\ntc: { policy: fast }\n';
    expect(errorOf(() => parseConfig(text, 'c.yaml'))).toEqual({
      path: 'log.level',
      message:
        'log.level: expected one of trace, debug, info, warn, error, fatal, silent; got "loud" (in c.yaml at line 1, column 15)' +
        '\n  tc.policy: expected one of hw-only, hw-preferred, sw; got "fast" (in c.yaml at line 2, column 15)',
    });
  });
});

describe('unknown keys', () => {
  it.each<[string, string, string, string]>([
    ['top level', 'backend: tc\nbackends: tc', 'backends',
      'unknown key "backends" (allowed: ports, tables, backend, port_backends, tc, xdp, ecmp, metrics, resync, keepalive, fpm, firewall, log)'],
    ['tc', 'tc: { polcy: sw }', 'tc.polcy', 'unknown key "polcy" (allowed: policy, fallback, compress)'],
    ['xdp', 'xdp: { mode: native, attach: drv }', 'xdp.attach', 'unknown key "attach" (allowed: mode, bpffs, flat_threshold, audit_rate)'],
    ['ecmp', 'ecmp: { policy: l3 }', 'ecmp.policy', 'unknown key "policy" (allowed: hash)'],
    ['metrics', 'metrics: { port: 9469 }', 'metrics.port', 'unknown key "port" (allowed: listen)'],
    ['resync', 'resync: { every: 5m }', 'resync.every', 'unknown key "every" (allowed: interval)'],
    ['keepalive', 'keepalive: { every: 5m }', 'keepalive.every', 'unknown key "every" (allowed: interval)'],
    ['log', 'log: { format: json }', 'log.format', 'unknown key "format" (allowed: level)'],
    ['prototype-looking key', '__proto__: { polluted: true }', '__proto__', 'unknown key "__proto__"'],
  ])('%s', (_name, text, path, fragment) => {
    const e = errorOf(() => parseConfig(text, 'c.yaml'));
    expect(e.path).toBe(path);
    expect(e.message.startsWith(`${path}: `)).toBe(true);
    expect(e.message).toContain(fragment);
  });

  it('points at the key', () => {
    expect(errorOf(() => parseConfig('ports: []\nlog:\n  level: info\n  fmt: json\n', 'c.yaml'))).toEqual({
      path: 'log.fmt',
      message: 'log.fmt: unknown key "fmt" (allowed: level) (in c.yaml at line 4, column 3)',
    });
  });
});

describe('YAML problems', () => {
  it.each<[string, string, string]>([
    ['unclosed flow sequence', 'backend: tc\nports: [eth0\n',
      'c.yaml: YAML syntax error at line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['bad indentation', 'tc:\n  policy: sw\n fallback: xdp\n',
      'c.yaml: YAML syntax error at line 3, column 1: All mapping items must start at the same column'],
    ['duplicate key', 'backend: tc\nbackend: xdp\n', 'c.yaml: YAML syntax error at line 2, column 1: Map keys must be unique'],
    ['two documents', 'backend: tc\n---\nbackend: xdp\n',
      'c.yaml: YAML syntax error at line 2, column 1: expected one YAML document, found several'],
  ])('%s → ConfigError at the source with line and column', (_name, text, message) => {
    expect(errorOf(() => parseConfig(text, 'c.yaml'))).toEqual({ path: 'c.yaml', message });
  });

  it.each<[string, string, string]>([
    ['a list', '- eth0\n', 'c.yaml: expected a mapping of configuration keys; got a list'],
    ['a scalar', 'eth0\n', 'c.yaml: expected a mapping of configuration keys; got "eth0"'],
  ])('top level is %s', (_name, text, message) => {
    expect(errorOf(() => parseConfig(text, 'c.yaml'))).toEqual({ path: 'c.yaml', message });
  });
});

describe('parseDuration', () => {
  it.each<[string, number | undefined]>([
    ['300s', 300_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['2147483647ms', 2147483647],
    ['2147483648ms', undefined],
    ['0s', undefined],
    ['0.0001s', undefined],
    ['300', undefined],
    ['', undefined],
    ['5 m', undefined],
    ['-5s', undefined],
    ['5d', undefined],
    ['s', undefined],
    ['1.s', undefined],
  ])('%j → %j', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
});

describe('parseListenAddress', () => {
  it.each<[string, string, number]>([
    ['127.0.0.1:9469', '127.0.0.1', 9469],
    ['0.0.0.0:1', '0.0.0.0', 1],
    ['[::]:9469', '::', 9469],
    ['[fe80::1%eth0]:80', 'fe80::1%eth0', 80],
    ['localhost:65535', 'localhost', 65535],
    ['metrics.example.net:9469', 'metrics.example.net', 9469],
  ])('%s', (listen, host, port) => {
    expect(parseListenAddress(listen, 'metrics.listen')).toEqual({ listen, host, port });
  });

  it.each<[string, string]>([
    ['127.0.0.1', 'expected HOST:PORT (IPv6 in brackets, port 1-65535); got "127.0.0.1"'],
    ['127.0.0.1:0', '"0" is not a port; got "127.0.0.1:0"'],
    ['127.0.0.1:65536', '"65536" is not a port'],
    ['127.0.0.1:', '"" is not a port'],
    ['127.0.0.1:http', '"http" is not a port'],
    ['127.0.0.1:+80', '"+80" is not a port'],
    [':9469', 'the host is missing (use 0.0.0.0 or [::] for all addresses)'],
    ['::1:9469', 'write an IPv6 host in brackets, e.g. "[::1]:9469"'],
    ['[127.0.0.1]:80', '"[127.0.0.1]" is not an IPv6 address'],
    ['[::1]', 'expected HOST:PORT'],
    ['1.2.3:80', '"1.2.3" is not an address or host name'],
    ['256.0.0.1:80', '"256.0.0.1" is not an address or host name'],
    ['bad_host:80', '"bad_host" is not an address or host name'],
  ])('%s is rejected', (listen, fragment) => {
    const e = errorOf(() => parseListenAddress(listen, 'metrics.listen'));
    expect(e.path).toBe('metrics.listen');
    expect(e.message).toContain(fragment);
  });

  it('in the config file, a bad listen address names metrics.listen', () => {
    expect(errorOf(() => parseConfig('metrics: { listen: "[::1]:0" }', 'c.yaml'))).toEqual({
      path: 'metrics.listen',
      message:
        'metrics.listen: expected HOST:PORT (IPv6 in brackets, port 1-65535); "0" is not a port; got "[::1]:0" (in c.yaml at line 1, column 20)',
    });
  });
});

describe('port patterns', () => {
  it.each<[string, string, boolean]>([
    ['eth0', 'eth0', true],
    ['eth0', 'eth01', false],
    ['eth*', 'eth', true],
    ['eth*', 'eth12', true],
    ['eth*', 'veth1', false],
    ['eth?', 'eth1', true],
    ['eth?', 'eth12', false],
    ['enp[0-9]s0', 'enp3s0', true],
    ['enp[0-9]s0', 'enpas0', false],
    ['p[!0]', 'p1', true],
    ['p[!0]', 'p0', false],
    ['a.b*', 'a.bc', true],
    ['p[]x]', 'p]', true],
    ['p[]x]', 'px', true],
    ['p[]x]', 'py', false],
    ['p[!]]', 'p]', false],
    ['p[!]]', 'pa', true],
    ['a.b*', 'axbc', false],
  ])('%s ~ %s → %s', (pattern, name, match) => {
    expect(portPatternMatches(pattern, name)).toBe(match);
  });

  it('portBackendFor: exact name beats globs, then first listed; switchdev by flag', () => {
    const rules = parseConfig('port_backends: { "eth*": tc, switchdev: xdp, eth9: none, "e*": auto }', 'c.yaml').portBackends;
    expect(
      [
        portBackendFor(rules, 'eth9'),
        portBackendFor(rules, 'eth1'),
        portBackendFor(rules, 'en1'),
        portBackendFor(rules, 'pf0vf0', true),
        portBackendFor(rules, 'pf0vf0'),
      ],
    ).toEqual(['none', 'tc', 'auto', 'xdp', undefined]);
  });
});

describe('files', () => {
  it('the example file parses to the documented values', async () => {
    const path = fileURLToPath(new URL('../../deploy/fib-offload.example.yaml', import.meta.url));
    expect(await loadConfig(path)).toEqual({
      ...DEFAULTS,
      ports: ['switchdev', 'eth*'],
      portBackends: [{ pattern: 'eth9', backend: 'none' }],
    });
  });

  it('a missing file is a ConfigError naming it', async () => {
    await expect(loadConfig('/nonexistent/fib-offload.yaml')).rejects.toMatchObject({
      name: 'ConfigError',
      path: '/nonexistent/fib-offload.yaml',
      message: '/nonexistent/fib-offload.yaml: config file not found',
    });
  });

  it('a directory is a ConfigError naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fib-offload-config-'));
    try {
      await expect(loadConfig(dir)).rejects.toMatchObject({ path: dir, message: `${dir}: cannot read config file: EISDIR` });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('errors in a loaded file name the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fib-offload-config-'));
    const file = join(dir, 'c.yaml');
    try {
      await writeFile(file, 'xdp:\n  mode: turbo\n');
      await expect(loadConfig(file)).rejects.toMatchObject({
        path: 'xdp.mode',
        message: `xdp.mode: expected one of native, generic; got "turbo" (in ${file} at line 2, column 9)`,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
