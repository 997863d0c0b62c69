import {
  BACKUP_CODE_COUNT,
  generateBackupCodes,
  looksLikeBackupCode,
  normalizeBackupCode,
} from './backup-codes';

describe('backup codes', () => {
  it('makes 10 distinct codes of at least 10 characters from an unambiguous alphabet', () => {
    const codes = generateBackupCodes();
    expect(codes).toHaveLength(BACKUP_CODE_COUNT);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) {
      expect(code).toMatch(/^[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}$/);
      expect(normalizeBackupCode(code)).toHaveLength(10);
      expect(looksLikeBackupCode(normalizeBackupCode(code))).toBe(true);
    }
  });

  it('normalizes what people type', () => {
    expect(normalizeBackupCode(' AB2CD-EF3GH ')).toBe('ab2cdef3gh');
    expect(looksLikeBackupCode('ab2cdef3g')).toBe(false);
    expect(looksLikeBackupCode('ab2cdef3g0')).toBe(false);
  });
});
