export * from './config.loader.js';
export * from './config.schema.js';
