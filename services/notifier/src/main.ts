import { runService } from '@phonegate/platform';
import { startNotifierService } from './service';

runService('notifier', () => startNotifierService(process.env));
