import { runService } from '@phonegate/platform';
import { startIdentityService } from './service';

runService('identity', () => startIdentityService());
