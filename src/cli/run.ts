// `fib-offload run`: the daemon. SIGTERM/SIGINT stop it leaving the offload
// installed (the next start reconciles by diff) unless --flush-on-exit;
// SIGHUP reloads the config file, keeping the old config if the new one is bad.
import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import { loadConfig, type Config } from '../config.js';
import { Daemon } from '../daemon/daemon.js';
import { Metrics } from '../daemon/metrics.js';
import { startServer } from '../daemon/server.js';
import { createLogger, errorFields } from '../log.js';
import { applyOverrides, type RunOptions } from './args.js';

/** Tell systemd (Type=notify) we're ready, when started by it. */
function notifySystemd(state: string): void {
  if (!process.env['NOTIFY_SOCKET']) return;
  execFile('systemd-notify', [state], () => undefined);
}

function sameListen(a: Config, b: Config): boolean {
  return a.metrics.host === b.metrics.host && a.metrics.port === b.metrics.port;
}

export async function runDaemon(opts: RunOptions): Promise<number> {
  let config = applyOverrides(await loadConfig(opts.config), opts);
  const log = createLogger(config.log.level);
  const metrics = new Metrics();
  const daemon = new Daemon({ config, log, metrics });
  let server: Server = await startServer(config.metrics, daemon, metrics);
  log.info({ listen: config.metrics.listen, backend: daemon.backendChoice, ports: config.ports }, 'fib-offload starting');

  let stopping: Promise<number> | null = null;
  const stop = (signal: string): Promise<number> => {
    stopping ??= (async () => {
      log.info({ signal, flush: opts.flushOnExit }, 'stopping');
      try {
        await daemon.stop(opts.flushOnExit);
        return 0;
      } catch (err) {
        log.error(errorFields(err), 'stop failed');
        return 1;
      } finally {
        server.close();
      }
    })();
    return stopping;
  };
  const done = new Promise<number>((resolve) => {
    process.once('SIGTERM', () => void stop('SIGTERM').then(resolve));
    process.once('SIGINT', () => void stop('SIGINT').then(resolve));
  });
  process.on('SIGHUP', () => {
    void (async () => {
      let next: Config;
      try {
        next = applyOverrides(await loadConfig(opts.config), opts);
      } catch (err) {
        log.error({ ...errorFields(err), config: opts.config }, 'SIGHUP: new config rejected, keeping the running one');
        daemon.lastError = { at: new Date().toISOString(), message: `reload rejected: ${err instanceof Error ? err.message : String(err)}` };
        return;
      }
      if (!sameListen(config, next)) {
        const old = server;
        try {
          server = await startServer(next.metrics, daemon, metrics);
          old.close();
        } catch (err) {
          log.error({ ...errorFields(err), listen: next.metrics.listen }, 'SIGHUP: cannot listen on the new metrics address, keeping the running config');
          return;
        }
      }
      config = next;
      log.info({ config: opts.config }, 'SIGHUP: config reloaded');
      await daemon.reload(next);
    })();
  });

  try {
    await daemon.start();
  } catch (err) {
    log.fatal(errorFields(err), 'first sync failed');
    await daemon.stop(false).catch(() => undefined);
    server.close();
    throw err;
  }
  notifySystemd('--ready');
  log.info({ status: `http://${config.metrics.listen}/status` }, 'ready');
  return done;
}
