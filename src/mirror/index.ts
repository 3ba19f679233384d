// The mirror's public surface.
export { Mirror } from './mirror.js';
export { DeltaBuilder, emptyDelta, isEmptyDelta, mergeDeltas, type MirrorDelta } from './delta.js';
export { canonicalState, canonicalNud, type CanonicalState } from './canonical.js';
export { showJson, showText, tableLabel, sortedEffectiveRoutes, type ShowJson, type OffloadPredicate } from './show.js';
export { resolveRoute, resolveObject, type ResolveLookup } from './resolve.js';
export { tableOfLink } from './vrf.js';
