// HTTP: /metrics (Prometheus), /status (JSON), /healthz (200 once the first full sync is installed).
import { createServer, type Server } from 'node:http';
import type { ListenAddress } from '../config.js';
import type { Daemon } from './daemon.js';
import type { Metrics } from './metrics.js';
import { statusOf } from './status.js';

export function startServer(listen: ListenAddress, daemon: Daemon, metrics: Metrics): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'text/plain', 'only GET\n');
    if (path === '/healthz') return daemon.ready ? send(200, 'text/plain', 'ok\n') : send(503, 'text/plain', 'starting\n');
    if (path === '/status') return send(200, 'application/json', JSON.stringify(statusOf(daemon), null, 2) + '\n');
    if (path === '/metrics') {
      daemon.refreshGauges();
      metrics.registry.metrics().then(
        (text) => send(200, metrics.registry.contentType, text),
        (err: unknown) => send(500, 'text/plain', `${String(err)}\n`),
      );
      return;
    }
    send(404, 'text/plain', 'try /metrics, /status or /healthz\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
