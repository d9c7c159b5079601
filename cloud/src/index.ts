export { type BuildAppOptions, boundPorts, buildApp, type CloudApp, createLogger } from './app.js';
export type { Principal, Role } from './plugins/app/auth/roles.js';
export { openDb } from './plugins/external/db/db.plugin.js';
export type { Db, Queryable } from './plugins/external/db/db.types.js';
export { migrate } from './plugins/external/db/migrate.js';
export { type CloudConfig, loadConfig, testConfig } from './plugins/external/env.plugin.js';
