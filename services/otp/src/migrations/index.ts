import { CreateOutbox1732240000000, OutboxMessage } from '@phonegate/messaging';
import { KnownAccount } from '../accounts/known-account.entity';
import { BackupCode } from '../factors/backup-code.entity';
import { TotpAuthenticator } from '../factors/totp-authenticator.entity';
import { CreateOtpTables1763900000000 } from './1763900000000-create-otp-tables';
import { CreateKnownAccounts1765200000000 } from './1765200000000-create-known-accounts';

export const OTP_ENTITIES = [TotpAuthenticator, BackupCode, KnownAccount, OutboxMessage];
export const OTP_MIGRATIONS = [
  CreateOutbox1732240000000,
  CreateOtpTables1763900000000,
  CreateKnownAccounts1765200000000,
];
