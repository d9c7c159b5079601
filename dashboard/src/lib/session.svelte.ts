// Who is logged in. The CSRF token itself stays inside api.ts (memory only).
import { type Session, setCsrfToken, type User } from './api';

export const session = $state<{ user: User | null }>({ user: null });

export function setSession(s: Session | null): void {
  session.user = s?.user ?? null;
  setCsrfToken(s?.csrf_token ?? null);
}

export function userLabel(u: User | null): string {
  if (!u) return '';
  return u.display_name?.trim() || u.username;
}
