import { describe, expect, it } from 'vitest';
import { CodeVerifier, hashCode, verifyCode } from '../../src/index.js';

const FAST = { N: 1024 }; // the default N (16384) is for real configs; tests stay fast

describe('keypad code hashes', () => {
  it('hashCode salts: the same code hashes differently and both verify', async () => {
    const a = await hashCode('1234', FAST);
    const b = await hashCode('1234', FAST);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(await verifyCode('1234', a)).toBe(true);
    expect(await verifyCode('1234', b)).toBe(true);
    expect(await verifyCode('1235', a)).toBe(false);
  });

  it('the default cost is N=16384', async () => {
    expect(await hashCode('0000')).toMatch(/^scrypt\$16384\$8\$1\$/);
  });

  it('malformed hashes never match and never throw', async () => {
    for (const bad of [
      '',
      'scrypt$x',
      'bcrypt$1$2$3$4$5',
      'scrypt$0$8$1$AA==$AA==',
      'scrypt$1024$8$1$AA==$AA==',
    ]) {
      expect(await verifyCode('1234', bad)).toBe(false);
    }
  });

  it('CodeVerifier tells users, duress codes, the installer and wrong codes apart', async () => {
    const v = new CodeVerifier({
      users: [
        { user: 'alice', name: 'A', code_hash: await hashCode('1111', FAST), permissions: ['arm'] },
        {
          user: 'alice_d',
          name: 'A duress',
          code_hash: await hashCode('1112', FAST),
          permissions: [],
          duress: true,
        },
      ],
      installer_code_hash: await hashCode('9999', FAST),
    });
    expect(await v.verify('1111')).toEqual({ kind: 'user', user: 'alice' });
    expect(await v.verify('1112')).toEqual({ kind: 'duress', user: 'alice_d' });
    expect(await v.verify('9999')).toEqual({ kind: 'installer' });
    expect(await v.verify('1234')).toEqual({ kind: 'invalid' });
    expect(await v.verify('12')).toEqual({ kind: 'invalid' });
    expect(await new CodeVerifier({}).verify('1111')).toEqual({ kind: 'invalid' });
  });
});
