/**
 * The night's view of what alert production left behind: the alert packets on the alerts topic
 * (each decoded, counted once per DiaSource, repeats reported) and the APDB's row counts.
 */
import { unframeAlert, decodeAlert, type AlertPacket } from '../alerts/index.ts';
import { openApdb, parseApdbConfig } from '../apdb/index.ts';
import { errorMessage } from '../core/errors.ts';
import type { Broker } from '../messaging/broker.ts';

export class AlertTally {
  private readonly seen = new Set<bigint>();
  private received = 0;
  private duplicates = 0;
  private undecodable = 0;
  private broker: Broker | null = null;
  private subscription = '';

  /** `onAlert` sees every packet decoded (the night's dashboard shows them). */
  constructor(private readonly onAlert?: (packet: AlertPacket) => void) {}

  /** Pulls and counts alerts until the signal aborts. */
  async listen(broker: Broker, subscription: string, signal: AbortSignal, note: (m: string) => void): Promise<void> {
    this.broker = broker;
    this.subscription = subscription;
    while (!signal.aborted) {
      try {
        if ((await this.pullOnce(1000, signal)) === 0) continue;
      } catch (e) {
        if (signal.aborted) return;
        note(`could not pull alerts: ${errorMessage(e)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Pulls until the subscription is empty. */
  async drain(): Promise<void> {
    if (!this.broker) return;
    while ((await this.pullOnce(300).catch(() => 0)) > 0) {
      /* keep pulling */
    }
  }

  private async pullOnce(waitMs: number, signal?: AbortSignal): Promise<number> {
    const broker = this.broker as Broker;
    const msgs = await broker.pull(this.subscription, { maxMessages: 256, waitMs, signal });
    for (const m of msgs) {
      this.received++;
      let packet: AlertPacket;
      try {
        packet = decodeAlert(unframeAlert(m.data));
      } catch {
        this.undecodable++;
        continue;
      }
      if (this.seen.has(packet.diaSourceId)) this.duplicates++;
      else this.seen.add(packet.diaSourceId);
      this.onAlert?.(packet);
    }
    if (msgs.length) await broker.ack(this.subscription, msgs.map((m) => m.ackId)).catch(() => undefined);
    return msgs.length;
  }

  counts(): { received: number; distinct: number; duplicates: number; undecodable: number } {
    return { received: this.received, distinct: this.seen.size, duplicates: this.duplicates, undecodable: this.undecodable };
  }
}

/** `prompt make-apdb` for the night: creates the APDB or finds it there. */
export async function makeApdb(pairs: string[]): Promise<{ url: string; message: string }> {
  const apdb = await openApdb(parseApdbConfig(pairs));
  try {
    const r = await apdb.create();
    return { url: apdb.describe(), message: r.message };
  } finally {
    await apdb.close();
  }
}

export async function apdbCounts(url: string, namespace?: string): Promise<{ diaObjects: number; diaSources: number; diaForcedSources: number; detectorVisits: number }> {
  const pairs = [`db_url=${url}`];
  if (namespace) pairs.push(`namespace=${namespace}`);
  const apdb = await openApdb(parseApdbConfig(pairs));
  try {
    return await apdb.counts();
  } finally {
    await apdb.close();
  }
}
