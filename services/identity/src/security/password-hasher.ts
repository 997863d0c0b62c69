import { argon2id, hash, needsRehash, verify } from 'argon2';

/** The password hashing port (so tests can count calls). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(digest: string, password: string): Promise<boolean>;
  needsRehash(digest: string): boolean;
}

export interface Argon2Params {
  memoryKib: number;
  timeCost: number;
  parallelism: number;
}

/** argon2id with parameters from config (IDENTITY_ARGON2_*). */
export class Argon2PasswordHasher implements PasswordHasher {
  constructor(private readonly params: Argon2Params) {}

  hash(password: string): Promise<string> {
    return hash(password, {
      type: argon2id,
      memoryCost: this.params.memoryKib,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
    });
  }

  async verify(digest: string, password: string): Promise<boolean> {
    try {
      return await verify(digest, password);
    } catch {
      return false;
    }
  }

  needsRehash(digest: string): boolean {
    try {
      return needsRehash(digest, { memoryCost: this.params.memoryKib, timeCost: this.params.timeCost, parallelism: this.params.parallelism });
    } catch {
      return true;
    }
  }
}
