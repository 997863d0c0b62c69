export * from './backoff';
export * from './bus';
export * from './bus-context';
export * from './bus-exception.filter';
export * from './bus.module';
export * from './bus.decorators';
export * from './confirm-publisher';
export * from './connection';
export {
  CONTENT_TYPE,
  decodeEnvelope,
  encodeEnvelope,
  EnvelopeCodec,
  type PublishOptions,
  responseScope,
} from './envelope';
export * from './errors';
export * from './event-bus';
export { type EventDispatcher, EventQueueConsumer, FAILURE_HEADERS } from './event-consumer';
export * from './idempotency.guard';
export * from './metrics';
export * from './outbox/create-outbox.migration';
export * from './outbox/outbox';
export * from './outbox/outbox-message.entity';
export * from './outbox/outbox.relay';
export * from './rabbitmq.server';
export {
  DEADLINE_HEADER,
  DIRECT_REPLY_TO,
  type ReplyBody,
  type RequestOptions,
  RpcClient,
  toDomainError,
} from './rpc-client';
export { toRemoteError } from './rpc-consumer';
export * from './sensitive-cipher';
export * from './topic-match';
export * from './topology';
export * from './in-memory-broker';
