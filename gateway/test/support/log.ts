import pino from 'pino';

/** A silent logger for tests; set LOG_LEVEL=debug to see the gateway's logs. */
export const testLogger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
