// Command-line parsing: each command's flags, bad usage naming the flag, help, and config overrides.
import { describe, expect, it } from 'vitest';
import { applyOverrides, parseCommandLine, USAGE, type ParsedCommand } from '../../src/cli/args.js';
import { defaultConfig, parseConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

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

const split = (line: string): string[] => (line === '' ? [] : line.split(' '));

describe('commands and their flags', () => {
  it.each<[string, ParsedCommand]>([
    ['run', { command: 'run', options: { flushOnExit: false } }],
    [
      'run --config /etc/f.yaml --ports switchdev,eth* --backend xdp --metrics [::1]:9100 --log-level debug --flush-on-exit',
      {
        command: 'run',
        options: {
          config: '/etc/f.yaml',
          ports: ['switchdev', 'eth*'],
          backend: 'xdp',
          metrics: { listen: '[::1]:9100', host: '::1', port: 9100 },
          logLevel: 'debug',
          flushOnExit: true,
        },
      },
    ],
    ['run --backend=dry-run --config=c.yaml', { command: 'run', options: { backend: 'dry-run', config: 'c.yaml', flushOnExit: false } }],
    ['run --backend tc --backend auto', { command: 'run', options: { backend: 'auto', flushOnExit: false } }],
    ['show', { command: 'show', options: { json: false } }],
    ['show --json --ports eth0', { command: 'show', options: { json: true, ports: ['eth0'] } }],
    ['plan', { command: 'plan', options: { output: 'text' } }],
    ['plan --json --config c.yaml', { command: 'plan', options: { output: 'json', config: 'c.yaml' } }],
    ['plan --tc-batch', { command: 'plan', options: { output: 'tc-batch' } }],
    ['plan --tc-batch --backend tc', { command: 'plan', options: { output: 'tc-batch', backend: 'tc' } }],
    ['apply', { command: 'apply', options: {} }],
    ['apply --backend tc --ports eth1,eth2', { command: 'apply', options: { backend: 'tc', ports: ['eth1', 'eth2'] } }],
    ['flush', { command: 'flush', options: {} }],
    ['flush --config c.yaml --log-level warn', { command: 'flush', options: { config: 'c.yaml', logLevel: 'warn' } }],
    ['status', { command: 'status', options: {} }],
    ['status --metrics 127.0.0.1:9469', { command: 'status', options: { metrics: { listen: '127.0.0.1:9469', host: '127.0.0.1', port: 9469 } } }],
    ['lab up', { command: 'lab', options: { action: 'up', name: 'fol', json: false, kernelForwarding: false, frr: 8 } }],
    ['lab up --frr-nexthop-objects=off --kernel-forwarding', { command: 'lab', options: { action: 'up', name: 'fol', json: false, frrNexthopObjects: false, kernelForwarding: true, frr: 8 } }],
    ['lab up --frr-nexthop-objects on --name x2', { command: 'lab', options: { action: 'up', name: 'x2', json: false, frrNexthopObjects: true, kernelForwarding: false, frr: 8 } }],
    ['lab down', { command: 'lab', options: { action: 'down', name: 'fol', json: false, kernelForwarding: false, frr: 8 } }],
    ['lab --kernel-forwarding traffic --json', { command: 'lab', options: { action: 'traffic', name: 'fol', json: true, kernelForwarding: true, frr: 8 } }],
    ['lab status --log-level trace', { command: 'lab', options: { action: 'status', name: 'fol', json: false, logLevel: 'trace', kernelForwarding: false, frr: 8 } }],
    ['lab up --frr 10', { command: 'lab', options: { action: 'up', name: 'fol', json: false, kernelForwarding: false, frr: 10 } }],
    ['--version', { command: 'version' }],
  ])('%s', (line, expected) => {
    expect(parseCommandLine(split(line))).toEqual(expected);
  });

  it('--ports trims spaces around entries', () => {
    expect(parseCommandLine(['plan', '--ports', 'eth0, eth1 ,switchdev'])).toEqual({
      command: 'plan',
      options: { output: 'text', ports: ['eth0', 'eth1', 'switchdev'] },
    });
  });
});

describe('bad usage names the flag', () => {
  it.each<[string, string, string]>([
    ['', 'command', 'command: missing command (expected one of run, show, plan, apply, flush, status, lab)'],
    ['serve', 'command', 'command: unknown command "serve" (expected one of run, show, plan, apply, flush, status, lab)'],
    ['help serve', 'command', 'command: unknown command "serve" (expected one of run, show, plan, apply, flush, status, lab)'],
    ['help run plan', 'help', 'help: unexpected argument "plan"'],
    ['--config c.yaml run', '--config', '--config: unknown option here; options go after the command (fib-offload COMMAND [options])'],
    ['--version run', '--version', '--version: takes no other arguments'],
    ['run --bogus', '--bogus', '--bogus: unknown option for "run" (expected one of --config, --ports, --backend, --metrics, --log-level, --flush-on-exit, --help)'],
    ['run -x', '-x', '-x: unknown option for "run" (expected one of --config, --ports, --backend, --metrics, --log-level, --flush-on-exit, --help)'],
    ['show --backend tc', '--backend', '--backend: unknown option for "show" (expected one of --config, --ports, --json, --log-level, --help)'],
    ['flush --ports eth0', '--ports', '--ports: unknown option for "flush" (expected one of --config, --log-level, --help)'],
    ['run --backend fast', '--backend', '--backend: expected one of auto, tc, xdp, dry-run; got "fast"'],
    ['apply --backend auto', '--backend', '--backend: expected one of tc, xdp; got "auto"'],
    ['apply --backend dry-run', '--backend', '--backend: expected one of tc, xdp; got "dry-run"'],
    ['run --log-level loud', '--log-level', '--log-level: expected one of trace, debug, info, warn, error, fatal, silent; got "loud"'],
    ['run --config', '--config', '--config: expected a value: --config FILE'],
    ['run --config --flush-on-exit', '--config', '--config: expected a value: --config FILE'],
    ['run --config=', '--config', '--config: expected a file path; got ""'],
    ['run --metrics 9469', '--metrics', '--metrics: expected HOST:PORT (IPv6 in brackets, port 1-65535); got "9469"'],
    ['status --metrics ::1:9469', '--metrics', '--metrics: expected HOST:PORT (IPv6 in brackets, port 1-65535); write an IPv6 host in brackets, e.g. "[::1]:9469"; got "::1:9469"'],
    ['run --metrics', '--metrics', '--metrics: expected a value: --metrics HOST:PORT'],
    ['show --json=yes', '--json', '--json: takes no value; got "yes"'],
    ['run --flush-on-exit=false', '--flush-on-exit', '--flush-on-exit: takes no value; got "false"'],
    ['plan --json --tc-batch', '--tc-batch', '--tc-batch: cannot be combined with --json'],
    ['plan --ports eth0,,eth1', '--ports', '--ports: expected a comma-separated list of interface names, globs or "switchdev"; got an empty entry in "eth0,,eth1"'],
    ['plan --ports=', '--ports', '--ports: expected a comma-separated list of interface names, globs or "switchdev"; got ""'],
    ['plan --ports averyveryverylongname', '--ports', '--ports: expected an interface name, a glob like "eth*", or "switchdev" of at most 15 characters; got "averyveryverylongname"'],
    ['plan --ports eth0,a/b', '--ports', '--ports: expected an interface name, a glob like "eth*", or "switchdev" without "/" or ":"; got "a/b" in "eth0,a/b"'],
    ['show extra', 'show', 'show: unexpected argument "extra" (see fib-offload show --help)'],
    ['run -- --json', 'run', 'run: unexpected argument "--json" (see fib-offload run --help)'],
    ['lab', 'lab', 'lab: missing subcommand (expected one of up, down, traffic, status)'],
    ['lab sideways', 'lab', 'lab: unknown subcommand "sideways" (expected one of up, down, traffic, status)'],
    ['lab up down', 'lab', 'lab: unexpected argument "down"'],
    ['lab up --frr-nexthop-objects maybe', '--frr-nexthop-objects', '--frr-nexthop-objects: expected one of on, off; got "maybe"'],
    ['lab up --config c.yaml', '--config', '--config: unknown option for "lab" (expected one of --name, --frr-nexthop-objects, --frr, --kernel-forwarding, --json, --log-level, --help)'],
    ['lab up --name Lab_1', '--name', '--name: "Lab_1": expected 1-16 characters: a lower-case letter, then letters, digits or "-"'],
    ['lab traffic --frr-nexthop-objects off', '--frr-nexthop-objects', '--frr-nexthop-objects: only `lab up` takes it (the mode is fixed while the lab is up)'],
    ['lab down --json', '--json', '--json: only `lab status` and `lab traffic` print JSON'],
    ['lab status --frr 10', '--frr', '--frr: only `lab up` takes it (the FRR version is fixed while the lab is up)'],
    ['lab up --frr 9', '--frr', '--frr: expected one of 8, 10; got "9"'],
  ])('%j', (line, path, message) => {
    expect(errorOf(() => parseCommandLine(split(line)))).toEqual({ path, message });
  });
});

describe('help', () => {
  it.each<[string, string]>([
    ['--help', USAGE.main],
    ['-h', USAGE.main],
    ['help', USAGE.main],
    ['help plan', USAGE.plan],
    ['run --help', USAGE.run],
    ['run -h', USAGE.run],
    ['show --help', USAGE.show],
    ['plan --json --tc-batch --help', USAGE.plan],
    ['apply --bogus -h', USAGE.apply],
    ['flush --help', USAGE.flush],
    ['status -h', USAGE.status],
    ['lab --help', USAGE.lab],
    ['lab up --help', USAGE.lab],
  ])('%s', (line, text) => {
    expect(parseCommandLine(split(line))).toEqual({ command: 'help', text });
  });

  it('every command usage lists exactly the flags it accepts', () => {
    const flags = (text: string): string[] => [...text.matchAll(/^ {2}(?:-h, )?(--[a-z-]+)/gm)].map((m) => m[1] as string);
    expect({
      run: flags(USAGE.run),
      show: flags(USAGE.show),
      plan: flags(USAGE.plan),
      apply: flags(USAGE.apply),
      flush: flags(USAGE.flush),
      status: flags(USAGE.status),
      lab: flags(USAGE.lab),
    }).toEqual({
      run: ['--config', '--ports', '--backend', '--metrics', '--log-level', '--flush-on-exit', '--help'],
      show: ['--config', '--ports', '--json', '--log-level', '--help'],
      plan: ['--config', '--ports', '--backend', '--json', '--tc-batch', '--log-level', '--help'],
      apply: ['--config', '--ports', '--backend', '--log-level', '--help'],
      flush: ['--config', '--log-level', '--help'],
      status: ['--config', '--metrics', '--log-level', '--help'],
      lab: ['--name', '--frr-nexthop-objects', '--frr', '--kernel-forwarding', '--json', '--log-level', '--help'],
    });
  });

  it('usage shows value names and choices', () => {
    expect(USAGE.run).toContain('--backend B');
    expect(USAGE.run).toContain('offload backend: auto|tc|xdp|dry-run');
    expect(USAGE.apply).toContain('program only this backend: tc|xdp');
    expect(USAGE.plan.split('\n')[0]).toBe('Usage: fib-offload plan [--json | --tc-batch] [options]');
    expect(USAGE.lab.split('\n')[0]).toBe('Usage: fib-offload lab up|down|traffic|status [options]');
  });
});

describe('applyOverrides', () => {
  const file = parseConfig(
    'ports: [eth0]\nbackend: tc\nmetrics: { listen: "0.0.0.0:9100" }\nlog: { level: warn }\ntc: { policy: sw }\n',
    'c.yaml',
  );

  it('no flags → the file unchanged', () => {
    expect(applyOverrides(file, {})).toEqual(file);
  });

  it('flags win over the file; other keys stay', () => {
    const cmd = parseCommandLine(split('run --ports switchdev,eth* --backend xdp --metrics [::]:9469 --log-level debug'));
    if (cmd.command !== 'run') throw new Error('expected run');
    expect(applyOverrides(file, cmd.options)).toEqual({
      ...file,
      ports: ['switchdev', 'eth*'],
      backend: 'xdp',
      metrics: { listen: '[::]:9469', host: '::', port: 9469 },
      log: { level: 'debug' },
    });
  });

  it('apply --backend and status --metrics override too', () => {
    const apply = parseCommandLine(split('apply --backend tc'));
    const status = parseCommandLine(split('status --metrics 10.0.0.1:1234'));
    if (apply.command !== 'apply' || status.command !== 'status') throw new Error('unexpected command');
    expect([applyOverrides(defaultConfig(), apply.options), applyOverrides(defaultConfig(), status.options)]).toEqual([
      { ...defaultConfig(), backend: 'tc' },
      { ...defaultConfig(), metrics: { listen: '10.0.0.1:1234', host: '10.0.0.1', port: 1234 } },
    ]);
  });

  it('the result is frozen and the input untouched', () => {
    const out = applyOverrides(file, { ports: ['eth9'] });
    expect([Object.isFrozen(out), Object.isFrozen(out.ports), file.ports]).toEqual([true, true, ['eth0']]);
  });
});
