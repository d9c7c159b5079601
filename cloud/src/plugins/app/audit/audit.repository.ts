import type { Queryable } from '../../external/db/db.types.js';
import { iso, num } from '../../external/db/db.types.js';
import { sha256 } from '../auth/passwords.js';

export interface AuditEntry {
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  details?: Record<string, unknown>;
}

export interface AuditRecord extends Required<AuditEntry> {
  id: number;
  at: string;
  prev_hash: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);

/** JSON with object keys sorted, so a jsonb round trip (which reorders keys) hashes the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function digest(prev: string, at: string, e: AuditEntry): string {
  return sha256(
    [prev, at, e.actor, e.action, e.target_type, e.target_id, canonical(e.details ?? {})].join('|'),
  );
}

/** The append-only audit log; each row is chained to the previous one by a SHA-256. */
export class AuditRepository {
  /** Call inside the transaction that makes the change being recorded. */
  async append(tx: Queryable, e: AuditEntry): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(7345002)');
    const last = await tx.query<{ hash: string }>('SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1');
    const prev = last.rows[0]?.hash ?? GENESIS;
    const at = new Date().toISOString();
    await tx.query(
      `INSERT INTO audit_log (at, actor, action, target_type, target_id, details, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
      [
        at,
        e.actor,
        e.action,
        e.target_type,
        e.target_id,
        JSON.stringify(e.details ?? {}),
        prev,
        digest(prev, at, e),
      ],
    );
  }

  async list(db: Queryable, targetType: string, targetId: string): Promise<AuditRecord[]> {
    const r = await db.query<Record<string, unknown>>(
      'SELECT * FROM audit_log WHERE target_type = $1 AND target_id = $2 ORDER BY id',
      [targetType, targetId],
    );
    return r.rows.map((x) => ({
      id: num(x.id),
      at: iso(x.at) ?? '',
      actor: String(x.actor),
      action: String(x.action),
      target_type: String(x.target_type),
      target_id: String(x.target_id),
      details: (x.details ?? {}) as Record<string, unknown>,
      prev_hash: String(x.prev_hash),
      hash: String(x.hash),
    }));
  }

  /** Recomputes the chain; returns the id of the first broken row, or null when intact. */
  async verify(db: Queryable): Promise<number | null> {
    const r = await db.query<Record<string, unknown>>('SELECT * FROM audit_log ORDER BY id');
    let prev = GENESIS;
    for (const x of r.rows) {
      const at = iso(x.at) ?? '';
      const e: AuditEntry = {
        actor: String(x.actor),
        action: String(x.action),
        target_type: String(x.target_type),
        target_id: String(x.target_id),
        details: (x.details ?? {}) as Record<string, unknown>,
      };
      if (x.prev_hash !== prev || x.hash !== digest(prev, at, e)) return num(x.id);
      prev = String(x.hash);
    }
    return null;
  }
}
