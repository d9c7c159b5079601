import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AuditRepository } from './audit.repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditRepository;
  }
}

export const auditPlugin = fp(
  async (app: FastifyInstance) => {
    app.decorate('audit', new AuditRepository());
  },
  { name: 'audit', dependencies: ['db'] },
);
