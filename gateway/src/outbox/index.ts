export * from './outbox.store.js';
