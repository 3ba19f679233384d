// The forwarding plan compiler: mirror view + options → plan, its diff and
// its renderings. Pure functions; the CLI and the reconciler call these.
export { buildPlan } from './build.js';
export { diffPlans, entryKey, sameGroup, type PlanOp } from './diff.js';
export { planJson, type PlanJson } from './json.js';
export { tcBatch, blockOf, prefixPrio } from './tc-batch.js';
export { selectPorts, portSelected, portCapable, tcBlockMember, type BackendFor } from './ports.js';
export {
  assignBuckets, bucketBitsFor, bucketMatches, bucketOf, bucketSplit, largestRemainder,
  DEFAULT_BUCKET_BITS, MAX_BUCKET_BITS, type BucketMatch, type SlotState,
} from './buckets.js';
export { GROUP_ID_MAX, GROUP_ID_MIN } from './groups.js';
export { entryRowsOf, planCounts, skippedRowsOf, type PlanCounts, type RowView } from './plan-rows.js';
export * from './types.js';
