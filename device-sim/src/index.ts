export * from './cloud-client.js';
export * from './demo-scenario.js';
export * from './devices.js';
export * from './fleet.js';
export * from './paths.js';
export * from './service-process.js';
export * from './z2m-emulator.js';
