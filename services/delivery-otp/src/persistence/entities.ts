import { CreateDeliveryTables1763800000000 } from '../migrations/1763800000000-create-delivery-tables';
import { CarryHandoffState1765100000000 } from '../migrations/1765100000000-carry-handoff-state';
import { CourierDeviceEntity } from './courier-device.entity';
import { HandoffAttemptEntity } from './handoff-attempt.entity';
import { ShipmentEntity } from './shipment.entity';

export const DELIVERY_ENTITIES = [ShipmentEntity, CourierDeviceEntity, HandoffAttemptEntity];
export const DELIVERY_MIGRATIONS = [CreateDeliveryTables1763800000000, CarryHandoffState1765100000000];
