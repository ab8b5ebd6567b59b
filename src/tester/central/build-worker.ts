import { Piscina, transferableSymbol, valueSymbol } from 'piscina';
import type { SkymapConfig } from '../../astro/skymap.ts';
import { buildCentralItem, type CentralBuildOptions, type CentralItem } from './build.ts';

export interface BuildTask {
  readonly item: CentralItem;
  readonly skymap: SkymapConfig;
  readonly options: CentralBuildOptions;
}

/** Builds one item of the central repository on a worker thread; the bytes are moved back. */
export default function buildTask(task: BuildTask): ReturnType<typeof Piscina.move> {
  const bytes = buildCentralItem(task.item, { skymap: task.skymap }, task.options);
  return Piscina.move({
    get [transferableSymbol]() {
      return [bytes.buffer];
    },
    get [valueSymbol]() {
      return bytes;
    },
  });
}
