import { runService } from '@phonegate/platform';
import { startOtpService } from './service';

runService('otp', () => startOtpService());
