/**
 * docs/playbook.md: every `prompt …` command in it exists with every option it uses, every file
 * of deploy/ it names exists, and every variable of its table is one the activator reads.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ACTIVATOR_ENV_VARS } from '../activator/config.ts';
import { PROMPT_BIN } from '../night/child-service.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const text = readFileSync(`${root}docs/playbook.md`, 'utf8');
const shellLines = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n').map((l) => l.trim()).filter(Boolean));

/** The subcommands that take a further subcommand. */
const GROUPS = new Set(['butler', 'alerts', 'fits', 'bucket']);

describe('docs/playbook.md', () => {
  it('has commands to check', () => {
    expect(shellLines.filter((l) => l.startsWith('prompt ')).length).toBeGreaterThan(8);
  });

  for (const line of shellLines.filter((l) => l.startsWith('prompt '))) {
    it(`exists with its options: ${line.slice(0, 90)}`, async () => {
      const words = line.split(/\s+/).slice(1);
      const sub = GROUPS.has(words[0]) ? words.slice(0, 2) : words.slice(0, 1);
      const { stdout } = await run(process.execPath, [PROMPT_BIN, ...sub, '--help']);
      for (const opt of words.filter((w) => /^--?[a-z]/.test(w)).map((w) => w.split('=')[0])) {
        expect(stdout, `${sub.join(' ')} has no option ${opt}`).toMatch(new RegExp(`(^|[\\s,])${opt}[\\s,<]`, 'm'));
      }
    });
  }

  it('names files that exist, and only variables the activator reads', () => {
    for (const m of text.matchAll(/`(deploy\/[^`\s]+)`/g)) expect(existsSync(`${root}${m[1]}`), m[1]).toBe(true);
    for (const l of shellLines.filter((x) => x.startsWith('docker build'))) {
      const file = /-f (\S+)/.exec(l)?.[1] as string;
      expect(existsSync(`${root}${file}`), file).toBe(true);
      for (const arg of l.matchAll(/--build-arg (\w+)=/g)) expect(readFileSync(`${root}${file}`, 'utf8')).toContain(`ARG ${arg[1]}`);
    }
    const table = text.slice(text.indexOf('| variable | meaning |'));
    const vars = [...table.slice(0, table.indexOf('\n\n')).matchAll(/^\| `([A-Z_]+)`(?:, `([A-Z_]+)`)?/gm)].flatMap((m) => [m[1], m[2]]).filter(Boolean);
    expect(vars.length).toBeGreaterThan(10);
    expect(vars.filter((v) => !ACTIVATOR_ENV_VARS.includes(v))).toEqual([]);
  });
});
