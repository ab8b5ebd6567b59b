import type { Broker } from '../messaging/broker.ts';
import { createBroker } from '../messaging/backends.ts';
import { openObjectStore } from '../storage/backends.ts';
import type { ObjectStore } from '../storage/object-store.ts';

/**
 * The composition root: turns service URLs into backends. Storage stays independent of
 * messaging; a bucket that announces its objects gets a notifier built here.
 */
export class Services {
  private readonly brokers = new Map<string, Broker>();

  broker(url: string): Broker {
    let b = this.brokers.get(url);
    if (!b) {
      b = createBroker(url);
      this.brokers.set(url, b);
    }
    return b;
  }

  bucket(url: string): ObjectStore {
    return openObjectStore(url, {
      notify: async (brokerUrl, topic, message) => {
        await this.broker(brokerUrl).publish(topic, [message]);
      },
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.brokers.values()].map((b) => b.close()));
    this.brokers.clear();
  }
}
