export * from './uplink.client.js';
