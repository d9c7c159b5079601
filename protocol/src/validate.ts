import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

export interface ValidationIssue {
  path: string;
  message: string;
}

export type ParseResult<T> =
  | { ok: true; value: T }
  | { ok: false; code: ParseErrorCode; issues: ValidationIssue[] };

export type ParseErrorCode = 'E_TOO_LARGE' | 'E_NOT_JSON' | 'E_SCHEMA';

/** A compiled validator for one wire schema, with JSON parsing and a size limit. */
export class WireParser<S extends TSchema> {
  private readonly check;
  constructor(
    readonly schema: S,
    readonly maxBytes = 256 * 1024,
  ) {
    this.check = TypeCompiler.Compile(schema);
  }

  validate(value: unknown): ParseResult<Static<S>> {
    if (this.check.Check(value)) return { ok: true, value: value as Static<S> };
    const issues: ValidationIssue[] = [];
    for (const e of this.check.Errors(value)) {
      issues.push({ path: e.path || '/', message: e.message });
      if (issues.length >= 20) break;
    }
    return { ok: false, code: 'E_SCHEMA', issues };
  }

  parse(payload: Uint8Array | string): ParseResult<Static<S>> {
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    if (size > this.maxBytes) {
      return {
        ok: false,
        code: 'E_TOO_LARGE',
        issues: [{ path: '/', message: `payload of ${size} bytes exceeds ${this.maxBytes}` }],
      };
    }
    let value: unknown;
    try {
      value = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
    } catch (err) {
      return { ok: false, code: 'E_NOT_JSON', issues: [{ path: '/', message: (err as Error).message }] };
    }
    return this.validate(value);
  }
}
