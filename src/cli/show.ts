// `fib-offload show [--json]`: dump, build the mirror, print routes with resolved nexthops.
import { showJson, showText } from '../mirror/show.js';
import type { ShowOptions } from './args.js';
import { configFor, mirrorFromKernel, offloadPredicate } from './inputs.js';

export async function runShow(opts: ShowOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const config = await configFor(opts);
  const mirror = await mirrorFromKernel();
  out.write(opts.json ? JSON.stringify(showJson(mirror, offloadPredicate(config, (i) => mirror.link(i))), null, 2) + '\n' : showText(mirror));
  return 0;
}
