import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { AlarmSettings, CodeCheck } from './alarm.types.js';

/**
 * Keypad codes are stored as `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>` (salted,
 * 32-byte key). Checking a code is slow on purpose, so it happens here, outside the pure
 * machine: the machine only receives the verdict (a CodeCheck) and stays cheap.
 */
const KEYLEN = 32;

function derive(code: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(code, salt, KEYLEN, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Hashes a code for the premises config (`users[].code_hash`, `installer_code_hash`). */
export async function hashCode(
  code: string,
  opts: { N?: number; r?: number; p?: number } = {},
): Promise<string> {
  const N = opts.N ?? 16_384;
  const r = opts.r ?? 8;
  const p = opts.p ?? 1;
  const salt = randomBytes(16);
  const key = await derive(code, salt, N, r, p);
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `code` matches a stored hash; a malformed hash never matches. */
export async function verifyCode(code: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20) return false;
  const salt = Buffer.from(parts[4]!, 'base64');
  const want = Buffer.from(parts[5]!, 'base64');
  if (want.length !== KEYLEN) return false;
  try {
    return timingSafeEqual(await derive(code, salt, N, r, p), want);
  } catch {
    return false;
  }
}

/** Turns an entered code into a CodeCheck against the configured users and installer code. */
export class CodeVerifier {
  constructor(private readonly settings: Pick<AlarmSettings, 'users' | 'installer_code_hash'>) {}

  async verify(code: string): Promise<CodeCheck> {
    if (!/^[0-9]{4,8}$/.test(code)) return { kind: 'invalid' };
    const checks = (this.settings.users ?? []).map((u) => verifyCode(code, u.code_hash));
    const installer = this.settings.installer_code_hash
      ? verifyCode(code, this.settings.installer_code_hash)
      : Promise.resolve(false);
    // Every hash is checked, so the time taken does not tell which entry matched.
    const [hits, inst] = await Promise.all([Promise.all(checks), installer]);
    const i = hits.indexOf(true);
    if (i >= 0) {
      const u = this.settings.users![i]!;
      return u.duress ? { kind: 'duress', user: u.user } : { kind: 'user', user: u.user };
    }
    return inst ? { kind: 'installer' } : { kind: 'invalid' };
  }
}
