/** The messaging concern's public surface. */
export type {
  Broker,
  BrokerCapabilities,
  OutgoingMessage,
  PullOptions,
  ReceivedMessage,
  SubscriptionOptions,
} from './broker.ts';
export { createBroker, supportedMessagingUrls, type BrokerFactory } from './backends.ts';
export { consume, type ConsumeOptions, type MessageHandler } from './consume.ts';
export { parseFilter, evaluateFilter, type FilterNode, type MessageFilter } from './filter.ts';
export {
  buildPushEnvelope,
  parsePushEnvelope,
  type ParsedPushEnvelope,
  type PushEnvelope,
  type PushEnvelopeInput,
} from './push-envelope.ts';
export { DEFAULT_PROJECT, checkResourceId, resourcePath } from './names.ts';
export { ACK_STATUSES } from './embedded/embedded-push.ts';
export { createEmbeddedBroker, type EmbeddedBrokerClientOptions } from './embedded/embedded-broker.ts';
export {
  startEmbeddedBroker,
  type BrokerLogger,
  type EmbeddedBrokerOptions,
  type EmbeddedBrokerServer,
  type LogLevel,
} from './embedded/embedded-server.ts';
export { createRedisBroker, redisBrokerFromUrl, parseRedisUrl } from './redis/redis-broker.ts';
export { createNatsBroker, natsBrokerFromUrl } from './nats/nats-broker.ts';
