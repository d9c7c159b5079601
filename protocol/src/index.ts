export * from './contact-id.js';
export * from './schemas.js';
export * from './stable-json.js';
export * from './topics.js';
export * from './validate.js';

/** Largest MQTT payload either side accepts, in bytes. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
export * from './api.js';
