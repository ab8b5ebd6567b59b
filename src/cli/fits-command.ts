import { readFile } from 'node:fs/promises';
import { fitsInfo, formatFitsInfo, readFits } from '../fits/index.ts';

export async function runFitsInfo(file: string, json: boolean): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    process.stderr.write(`prompt fits info: cannot read ${file}: ${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  try {
    const info = fitsInfo(readFits(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { name: file }));
    process.stdout.write(json ? JSON.stringify({ file, hdus: info }, null, 2) + '\n' : `${file}\n${formatFitsInfo(info)}\n`);
  } catch (e) {
    process.stderr.write(`prompt fits info: ${file}: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
