/**
 * The dashboard as an operator sees it: a short LSSTComCam night (detectors 3 and 4) with the
 * dashboard on, driven in headless Chromium. Detectors change colour as they finish, a click on
 * one lists its stage timings, the alerts' cutouts load as pictures, and a screenshot of the page
 * is saved to DASHBOARD_SCREENSHOT (default `.night/dashboard.png` under the repository root).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../messaging/testing.ts';
import { runNight } from '../night/night.ts';
import type { NightSummary } from '../night/summary.ts';

// What the functions run in the page see (this project compiles without the DOM library).
interface PageElement {
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
}
interface PageImage extends PageElement {
  readonly complete: boolean;
  readonly naturalWidth: number;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll<T extends PageElement = PageElement>(selector: string): Iterable<T>;
  getElementById(id: string): PageElement | null;
};
declare function getComputedStyle(el: unknown): { readonly fill: string };

const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCREENSHOT = path.resolve(process.env.DASHBOARD_SCREENSHOT ?? path.join(ROOT, '.night', 'dashboard.png'));
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const haveChromium = existsSync(CHROMIUM);
const required = process.env.CI === 'true';
if (!haveChromium && !required) {
  console.log(`skipping the dashboard's browser test: ${CHROMIUM} is absent (apt-get install chromium)`);
}

describe.skipIf(!haveChromium && !required)('the night dashboard in headless Chromium (needs /usr/bin/chromium)', () => {
  it('shows detectors finishing, their stage timings and the alerts with their cutouts during a short night', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is needed for this test (apt-get install chromium)`).toBe(true);
    const dir = await mkdtemp(path.join(tmpdir(), 'dashboard-night-'));
    const out = new PassThrough();
    let printed = '';
    out.on('data', (c: Buffer) => (printed += c.toString()));
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    let ctx: BrowserContext | null = null;
    const night: Promise<NightSummary> = runNight({
      instrument: 'LSSTComCam', groups: 1, seed: 1, detectors: [3, 4], exposureTimeS: 5, activators: 2, plain: true,
      workdir: path.join(dir, 'work'), centralRepo: path.join(dir, 'central'), out,
      // The page is looked at until the checks below are done.
      dashboard: { port: 0, keepOpen: () => released },
    });
    const failed = night.then(() => null, (e: unknown) => e);
    try {
      const url = await waitFor(async () => {
        const err = await Promise.race([failed, Promise.resolve(null)]);
        if (err) throw err;
        return /dashboard: (http:\/\/\S+)/.exec(printed)?.[1];
      }, { timeoutMs: 60_000, intervalMs: 50, what: "the dashboard's URL in the night's output" });
      console.log(`dashboard at ${url}`);

      ctx = await chromium.launchPersistentContext(await mkdtemp(path.join(dir, 'chromium-')), {
        executablePath: CHROMIUM, args: CHROMIUM_ARGS, viewport: { width: 1600, height: 1000 },
      });
      const page = await ctx.newPage();
      // Colours change at once (no transitions), so that each is read as it is.
      await page.emulateMedia({ reducedMotion: 'reduce' });
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(url);

      // LSSTComCam's nine detectors on the focal plane.
      await page.waitForSelector('#fp rect.det[data-detector="8"]');
      expect(await page.locator('#fp rect.det').count()).toBe(9);
      expect(await page.$$eval('#fp rect.det', (els) => els.map((e) => e.getAttribute('data-name')).sort())).toEqual(
        ['S00', 'S01', 'S02', 'S10', 'S11', 'S12', 'S20', 'S21', 'S22'].map((s) => `R22_${s}`),
      );

      // Announced, then at work: waiting, ingesting or processing, each in its own colour.
      const early = await page.waitForFunction(() => {
        const st = document.querySelector('#det-3')?.getAttribute('data-state');
        return st && ['waiting', 'ingesting', 'processing'].includes(st) ? st : null;
      }, null, { timeout: 240_000, polling: 100 });
      const earlyState = await early.jsonValue();
      const earlyFill = await page.$eval('#det-3', (el) => getComputedStyle(el).fill);
      await page.waitForFunction(() => document.querySelector('#det-4')?.getAttribute('data-state') === 'processing', null, { timeout: 240_000, polling: 100 });
      const processingFill = await page.$eval('#det-4', (el) => getComputedStyle(el).fill);

      // Finished: both turn 'done', in another colour.
      await page.waitForFunction(() => ['#det-3', '#det-4'].every((s) => document.querySelector(s)?.getAttribute('data-state') === 'done'), null, { timeout: 300_000, polling: 100 });
      const doneFill = await page.$eval('#det-3', (el) => getComputedStyle(el).fill);
      console.log(`detector 3: ${earlyState} (${earlyFill}) → done (${doneFill}); detector 4 processing (${processingFill})`);
      expect(doneFill).not.toBe(earlyFill);
      expect(doneFill).not.toBe(processingFill);
      expect(await page.getAttribute('#det-0', 'data-state')).toBe('idle');

      // A click on a detector: its stage timings, in seconds.
      await page.click('#det-4');
      await page.waitForSelector('#timings .timing-row[data-stage="templateWarp"]');
      const rows = await page.$$eval('#timings .timing-row', (els) => els.map((e) => ({ stage: e.getAttribute('data-stage'), seconds: e.querySelector('.sec')?.textContent ?? '' })));
      expect(rows.map((r) => r.stage)).toEqual(expect.arrayContaining(['preload', 'rawInput', 'templateWarp', 'subtraction', 'diaSources', 'total']));
      for (const r of rows) expect(r.seconds).toMatch(/^\d+\.\d+ s$/);
      expect(await page.textContent('#detail .title')).toContain('R22_S11');
      expect(await page.getAttribute('#detail-state', 'data-status')).toBe('done');
      expect(await page.locator('#detail .log div').count()).toBeGreaterThan(2);

      // The alerts, each with its science, template and difference cutouts loaded as pictures.
      await page.waitForFunction(() => {
        const imgs = [...document.querySelectorAll<PageImage>('#alerts .alert img')];
        return imgs.length >= 3 && imgs.every((i) => i.complete && i.naturalWidth > 0);
      }, null, { timeout: 60_000, polling: 200 });
      const first = await page.$$eval('#alerts .alert:first-child img', (els) => els.map((e) => [e.getAttribute('data-kind'), (e as unknown as PageImage).naturalWidth]));
      expect(first.map(([k]) => k)).toEqual(['science', 'template', 'difference']);
      for (const [, w] of first) expect(w).toBeGreaterThan(0);
      const kpi = await page.textContent('#kpis');
      expect(kpi).toMatch(/Processed\s*2/);

      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`dashboard screenshot: ${SCREENSHOT}`);
      expect(pageErrors).toEqual([]);

      // The night ends; the page says so.
      release();
      const summary = await night;
      expect(summary.detectorVisits).toMatchObject({ expected: 2, processed: 2 });
      await page.waitForFunction(() => document.getElementById('conn')?.textContent?.startsWith('night ended'), null, { timeout: 30_000 });
    } finally {
      release();
      await ctx?.close();
      await failed;
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
