export * from './ip.js';
export * from './link.js';
export * from './address.js';
export * from './neighbor.js';
export * from './nexthop.js';
export * from './route.js';
export * from './events.js';
export * from './resolved.js';
