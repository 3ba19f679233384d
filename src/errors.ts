// Errors that cross module boundaries: what the kernel said, what we were doing.
import { constants } from 'node:os';

const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(constants.errno).map(([name, num]) => [num, name]),
);

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

/** A netlink request the kernel refused (NLMSG_ERROR with a negative error). */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  /** Positive errno number. */
  readonly errno: number;
  /** 'ENOENT', 'EOPNOTSUPP', ... */
  readonly code: string;
  /** NLMSGERR_ATTR_MSG, when the kernel sent an extended ack. */
  readonly extack: string | null;
  /** What was being done, e.g. 'RTM_GETROUTE dump' or 'add filter chain 3 prio 10'. */
  readonly op: string;

  constructor(op: string, errno: number, extack: string | null = null) {
    const code = errnoName(errno);
    super(`${op}: ${code}${extack ? ` (${extack})` : ''}`);
    this.errno = Math.abs(errno);
    this.code = code;
    this.extack = extack;
    this.op = op;
  }
}

/** Bad configuration or bad usage; `path` names the key or flag (exit code 2). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/** A bpf(2) call the kernel refused (map update, lookup, pin...). */
export class BpfError extends Error {
  override readonly name = 'BpfError';
  readonly errno: number;
  readonly code: string;
  readonly op: string;
  constructor(op: string, errno: number) {
    const code = errnoName(errno);
    super(`${op}: ${code}`);
    this.errno = Math.abs(errno);
    this.code = code;
    this.op = op;
  }
}

/** An external tool (bpftool, ip) that failed: its argv and what it printed. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
  readonly argv: readonly string[];
  readonly stderr: string;
  readonly status: number | null;
  constructor(op: string, argv: readonly string[], status: number | null, stderr: string) {
    const said = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
    super(`${op}: \`${argv.join(' ')}\` exited ${status ?? 'on a signal'}${said ? `: ${said}` : ''}`);
    this.argv = argv;
    this.stderr = stderr;
    this.status = status;
  }
}

/** The lab could not do what was asked (already up, a daemon that would not start, a wait that timed out). */
export class LabError extends Error {
  override readonly name = 'LabError';
}
