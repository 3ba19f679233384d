// Structured logs (pino, JSON lines on stderr so stdout stays for command output).
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

/** The fields every error log carries: what the kernel said, and what was being done. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err && typeof err === 'object') {
    const e = err as { message?: string; code?: string; errno?: number; extack?: string | null; op?: string };
    return { err: e.message, code: e.code, errno: e.errno, extack: e.extack ?? undefined, op: e.op };
  }
  return { err: String(err) };
}
