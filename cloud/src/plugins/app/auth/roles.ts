import { AppError } from '../../../lib/errors.js';

export const ROLES = ['operator', 'supervisor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A signed-in staff member (or the system itself, for the CLI and the demo seed). */
export interface Principal {
  id: number;
  username: string;
  display_name: string;
  role: Role;
}

/** The process itself: the CLI and start-up seeding act as this admin. */
export const SYSTEM: Principal = { id: 0, username: 'system', display_name: 'System', role: 'admin' };

const rank: Record<Role, number> = { operator: 1, supervisor: 2, admin: 3 };

export function hasRole(p: Principal | null, role: Role): boolean {
  return p !== null && rank[p.role] >= rank[role];
}

/** admin ⊇ supervisor ⊇ operator. Throws 401 without a principal and 403 below the role. */
export function requireRole(p: Principal | null, role: Role): Principal {
  if (!p) throw new AppError('E_UNAUTHENTICATED', 401, 'sign in first');
  if (!hasRole(p, role)) throw new AppError('E_FORBIDDEN', 403, `needs the ${role} role`);
  return p;
}
