import { CreateOutbox1732240000000, OutboxMessage } from '@phonegate/messaging';
import { BackupCode } from '../factors/backup-code.entity';
import { TotpAuthenticator } from '../factors/totp-authenticator.entity';
import { CreateOtpTables1763900000000 } from './1763900000000-create-otp-tables';

export const OTP_ENTITIES = [TotpAuthenticator, BackupCode, OutboxMessage];
export const OTP_MIGRATIONS = [CreateOutbox1732240000000, CreateOtpTables1763900000000];
