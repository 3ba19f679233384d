// Runs in a child with --expose-gc: the plan bench's memory and step figures
// (benchPlanMemory), as one JSON line. A fresh process, so nothing the other
// benches left in the heap is counted.
import { benchPlanMemory } from './plan.js';

const n = Number(process.argv[2] ?? 1_000_000);
process.stdout.write(JSON.stringify(benchPlanMemory(n)) + '\n');
