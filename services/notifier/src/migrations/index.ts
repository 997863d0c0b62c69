import { CreateOutbox1732240000000, OutboxMessage } from '@phonegate/messaging';
import { ContactAccountRecord } from '../contacts/contact-account.entity';
import { ContactPhoneRecord } from '../contacts/contact-phone.entity';
import { MessageEventRecord } from '../messages/message-event.entity';
import { MessageRecord } from '../messages/message.entity';
import { CreateNotifier1763900000000 } from './1763900000000-create-notifier';
import { MessageClaimedAt1765100000000 } from './1765100000000-message-claimed-at';
import { MessageEventProviderId1765200000000 } from './1765200000000-message-event-provider-id';
import { MessageEventProviderIndex1765200000001 } from './1765200000001-message-event-provider-index';
import { ContactPhonePrimarySince1765300000000 } from './1765300000000-contact-phone-primary-since';

export const NOTIFIER_ENTITIES = [
  MessageRecord,
  MessageEventRecord,
  ContactAccountRecord,
  ContactPhoneRecord,
  OutboxMessage,
];
export const NOTIFIER_MIGRATIONS = [
  CreateOutbox1732240000000,
  CreateNotifier1763900000000,
  MessageClaimedAt1765100000000,
  MessageEventProviderId1765200000000,
  MessageEventProviderIndex1765200000001,
  ContactPhonePrimarySince1765300000000,
];
