#!/usr/bin/env node
// Entry point: parse the command line, run one command, map failures to exit
// codes (0 ok, 1 runtime failure, 2 bad usage or configuration).
import { readFileSync } from 'node:fs';
import { BpfError, ConfigError, LabError, NetlinkError, ToolError } from '../errors.js';
import { parseCommandLine, USAGE, type ParsedCommand } from './args.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// Each command's module is loaded when it runs: `apply` and `plan` don't pay
// for the daemon's metrics and logging libraries (a visible share of a
// one-shot command's start, more so on a slow CPU).
async function dispatch(cmd: ParsedCommand): Promise<number> {
  switch (cmd.command) {
    case 'help': process.stdout.write(cmd.text); return 0;
    case 'version': process.stdout.write(`fib-offload ${version()}\n`); return 0;
    case 'show': return (await import('./show.js')).runShow(cmd.options);
    case 'plan': return (await import('./plan.js')).runPlan(cmd.options);
    case 'apply': return (await import('./apply.js')).runApply(cmd.options);
    case 'flush': return (await import('./apply.js')).runFlush(cmd.options);
    case 'run': return (await import('./run.js')).runDaemon(cmd.options);
    case 'status': return (await import('./status.js')).runStatus(cmd.options);
    case 'lab': return (await import('./lab.js')).runLab(cmd.options);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    return await dispatch(parseCommandLine(argv));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`fib-offload: ${err.message}\n`);
      if (err.path === 'command') process.stderr.write(`\n${USAGE.main}`);
      return 2;
    }
    if (err instanceof NetlinkError) {
      process.stderr.write(`fib-offload: ${err.message}${err.code === 'EPERM' ? ' (needs CAP_NET_ADMIN)' : ''}\n`);
      return 1;
    }
    if (err instanceof BpfError) {
      process.stderr.write(`fib-offload: ${err.message}${err.code === 'EPERM' ? ' (needs CAP_BPF and CAP_NET_ADMIN)' : ''}\n`);
      return 1;
    }
    if (err instanceof ToolError || err instanceof LabError) {
      process.stderr.write(`fib-offload: ${err.message}\n`);
      return 1;
    }
    // Anything else: one line; the stack only when asked for (--log-level debug or trace).
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`fib-offload: ${msg}\n`);
    if (err instanceof Error && err.stack && wantsStack(argv)) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

function wantsStack(argv: readonly string[]): boolean {
  const i = argv.indexOf('--log-level');
  const level = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--log-level='))?.slice('--log-level='.length);
  return level === 'debug' || level === 'trace';
}

process.exitCode = await main(process.argv.slice(2));
