// HTTP from inside a network namespace (the daemon listens on that
// namespace's loopback): a small node client started there with nsenter, one
// GET per stdin line ({"id","url"}), one JSON answer per stdout line. No
// keep-alive, so a daemon that stops is not held up by an idle connection.
// Shared by the lab, the convergence bench and the daemon tests.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

const HTTP_CLIENT = `
const http = require('node:http');
const timeout = Number(process.argv[1]);
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const { id, url } = JSON.parse(line);
  const reply = (o) => process.stdout.write(JSON.stringify({ id, ...o }) + '\\n');
  const req = http.get(url, { agent: false, timeout }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { body += d; });
    res.on('end', () => reply({ status: res.statusCode, body }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => reply({ error: String(e.message || e) }));
});
`;

export interface HttpReply {
  readonly status: number;
  readonly body: string;
}

export class NsHttp {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (r: { status?: number; body?: string; error?: string }) => void>();
  private nextId = 1;

  /** `ns.name`: a namespace under /run/netns; `timeoutMs` per request. */
  constructor(ns: { readonly name: string }, timeoutMs = 5000) {
    this.child = spawn('nsenter', [`--net=/run/netns/${ns.name}`, process.execPath, '-e', HTTP_CLIENT, String(timeoutMs)]);
    createInterface({ input: this.child.stdout }).on('line', (l) => {
      const r = JSON.parse(l) as { id: number; status?: number; body?: string; error?: string };
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.values()) w({ error: `http client exited ${code}` });
      this.waiting.clear();
    });
  }

  async get(url: string): Promise<HttpReply> {
    const id = this.nextId++;
    const r = await new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin.write(JSON.stringify({ id, url }) + '\n');
    });
    if (r.error !== undefined) throw new Error(`GET ${url}: ${r.error}`);
    return { status: r.status!, body: r.body! };
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}
