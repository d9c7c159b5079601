export * from './config.loader.js';
export * from './config.schema.js';
export * from './premises.store.js';
export * from './premises.validate.js';
