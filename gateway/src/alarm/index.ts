export * from './alarm.codes.js';
export * from './alarm.machine.js';
export * from './alarm.service.js';
export * from './alarm.types.js';
