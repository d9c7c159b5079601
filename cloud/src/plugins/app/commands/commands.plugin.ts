import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { CommandsService } from './commands.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    commands: CommandsService;
  }
}

export const commandsPlugin = fp(
  async (app: FastifyInstance) => {
    const publish = (t: string, payload: string) => app.broker.publish(t, payload, { qos: 1 });
    app.decorate(
      'commands',
      new CommandsService(app.db, app.audit, publish, app.log.child({ component: 'commands' })),
    );
  },
  { name: 'commands', dependencies: ['db', 'audit', 'broker'] },
);
