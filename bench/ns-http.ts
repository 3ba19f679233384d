// Moved to src/netns/http.ts (the lab uses it too); kept so bench imports stay short.
export * from '../src/netns/http.js';
