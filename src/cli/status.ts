// `fib-offload status`: ask a running daemon for /status and print it readably.
import { get } from 'node:http';
import { loadConfig } from '../config.js';
import { statusText, type StatusJson } from '../daemon/status.js';
import type { StatusOptions } from './args.js';

export async function runStatus(opts: StatusOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const listen = opts.metrics ?? (await loadConfig(opts.config)).metrics;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const url = `http://${host}:${listen.port}/status`;
  const body = await new Promise<string>((resolve, reject) => {
    const req = get(url, { timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in 5 s`)));
    req.on('error', (err) => reject(new Error(`cannot reach the daemon at ${url}: ${err.message} (is \`fib-offload run\` running there?)`)));
  });
  out.write(statusText(JSON.parse(body) as StatusJson));
  return 0;
}
