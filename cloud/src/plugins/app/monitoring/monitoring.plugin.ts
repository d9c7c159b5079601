import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AlarmBus } from './alarm-bus.js';
import { AlarmsService } from './alarms.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    alarms: AlarmsService;
  }
}

export const monitoringPlugin = fp(
  async (app: FastifyInstance) => {
    const log = app.log.child({ component: 'monitoring' });
    app.decorate('alarms', new AlarmsService(app.db, app.audit, new AlarmBus(log), log));
  },
  { name: 'monitoring', dependencies: ['db', 'audit'] },
);
