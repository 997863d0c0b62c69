import { runService } from '@phonegate/platform';
import { startDeliveryOtpService } from './service';

runService('delivery-otp', () => startDeliveryOtpService());
