/**
 * The feed viewer page (issue 5: "a browser test … opens a page served by Switchboard that connects with MQTT.js over
 * `/api/mqtt/` with an API key and shows live state changes from the feed"). Debian's Chromium, driven headless by
 * playwright-core (no browser download), opens `/feed-viewer#key=<API key>`; the page connects over WebSocket at
 * `/api/mqtt/` and subscribes to `placeos/<org>/state/#`; the test then changes state and waits for the page to show
 * it. Skipped, with the reason printed, when playwright-core or /usr/bin/chromium is missing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, afterEach, before, describe, it } from 'node:test';
import { connectClient, Resources } from '../helpers/index.js';
import { asUser, startUsersServer, type TestApiKey, type UsersServer } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const WAIT_MS = 10_000;

/** The part of playwright-core this test uses (typed here so the build does not need the package). */
interface Page {
  goto(url: string): Promise<unknown>;
  url(): string;
  waitForSelector(selector: string, options: { timeout: number }): Promise<unknown>;
  textContent(selector: string): Promise<string | null>;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  on(event: 'console' | 'pageerror', listener: (message: { toString(): string }) => void): void;
}
interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface PlaywrightCore {
  chromium: {
    launch(options: { executablePath: string; headless: boolean; args: string[] }): Promise<Browser>;
  };
}

async function loadPlaywright(): Promise<PlaywrightCore | string> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is not installed (apt-get install chromium)`;
  try {
    // A variable specifier: the package is optional for the build.
    const name = 'playwright-core';
    return (await import(name)) as PlaywrightCore;
  } catch {
    return 'playwright-core is not installed (npm install --save-dev playwright-core)';
  }
}

/** A CSS attribute selector for an exact value. */
const attribute = (name: string, value: string): string => `[${name}=${JSON.stringify(value)}]`;

describe('feed viewer page', () => {
  let users: UsersServer;
  let key: TestApiKey;
  const resources = new Resources();

  before(async () => {
    users = await startUsersServer();
    key = await users.createApiKey('viewer');
  });
  afterEach(() => resources.closeAll());
  after(() => users.close());

  it('GET /feed-viewer is an HTML page that loads only its own scripts; the MQTT.js bundle is served', async () => {
    const page = await fetch(`${users.server.httpUrl}/feed-viewer`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'.*script-src 'self'/);
    const html = await page.text();
    assert.match(html, /<script src="\/feed-viewer\/mqtt\.min\.js"><\/script>/);
    const bundle = await fetch(`${users.server.httpUrl}/feed-viewer/mqtt.min.js`);
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers.get('content-type') ?? '', /javascript/);
    assert.match(await bundle.text(), /var mqtt=/);
    const script = await fetch(`${users.server.httpUrl}/feed-viewer/viewer.js`);
    assert.equal(script.status, 200);
    assert.match(await script.text(), /\/api\/mqtt\//);
  });

  it('in Chromium, the page connects over /api/mqtt/ with an API key and shows live state changes', async (t) => {
    const playwright = await loadPlaywright();
    if (typeof playwright === 'string') {
      t.skip(playwright);
      return;
    }
    const browser = await playwright.chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox'],
    });
    resources.add(browser);
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.toString()));

    // A value retained before the page opens is shown at once, marked as retained.
    const topicOf = (key: string): string => `placeos/${users.orgId}/state/hq/1/lobby/sys-1/dep-123/Display/1/${key}`;
    const feed = (topic: string, value: unknown, isRetained: boolean): void => {
      users.server.broker.publish({
        topicName: topic,
        payload: Buffer.from(JSON.stringify({ time: Date.now(), value: JSON.stringify(value) })),
        qos: 1,
        isRetained,
        properties: undefined,
      });
    };
    feed(topicOf('connected'), true, true);

    await page.goto(`${users.server.httpUrl}/feed-viewer#key=${key.key}`);
    await page.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
    assert.match((await page.textContent('#status')) ?? '', new RegExp(`placeos/${users.orgId}/state/#`));
    assert.ok(!page.url().includes(key.key), 'the key is removed from the address bar');
    const retainedRow = `tr${attribute('data-topic', topicOf('connected'))}${attribute('data-value', 'true')}`;
    await page.waitForSelector(retainedRow, { timeout: WAIT_MS });
    assert.equal(await page.textContent(`${retainedRow} td:nth-child(4)`), 'yes');

    // A live change: shown with retained "no", and a later change replaces the value in the same row. The value is the
    // serialized JSON the feed carries (a JSON string keeps its quotes).
    feed(topicOf('power'), 'on', false);
    const liveRow = `tr${attribute('data-topic', topicOf('power'))}`;
    await page.waitForSelector(`${liveRow}${attribute('data-value', '"on"')}`, { timeout: WAIT_MS });
    assert.equal(await page.textContent(`${liveRow} td:nth-child(4)`), 'no');
    feed(topicOf('power'), 'off', false);
    await page.waitForSelector(`${liveRow}${attribute('data-value', '"off"')}`, { timeout: WAIT_MS });

    if (process.env['SWITCHBOARD_TEST_SCREENSHOT'] !== undefined) {
      await page.screenshot({ path: process.env['SWITCHBOARD_TEST_SCREENSHOT'], fullPage: true });
    }
    assert.deepEqual(pageErrors, []);
  });

  it('in Chromium, a filter in the fragment shows what an operator publishes, retained, on a plain topic', async (t) => {
    const playwright = await loadPlaywright();
    if (typeof playwright === 'string') {
      t.skip(playwright);
      return;
    }
    const operator = await users.createUser('operator');
    const sender = resources.add(await connectClient(users.server.mqttUrl, asUser(operator.token)));
    await sender.client.publishAsync('lobby/banner', JSON.stringify({ time: Date.now(), value: 'Welcome' }), {
      qos: 1,
      retain: true,
    });
    const browser = await playwright.chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox'],
    });
    resources.add(browser);
    const page = await browser.newPage();
    await page.goto(`${users.server.httpUrl}/feed-viewer#key=${key.key}&filter=${encodeURIComponent('lobby/#')}`);
    await page.waitForSelector(`tr${attribute('data-topic', 'lobby/banner')}${attribute('data-value', 'Welcome')}`, {
      timeout: WAIT_MS,
    });
  });

  it('in Chromium, a wrong key is reported on the page', async (t) => {
    const playwright = await loadPlaywright();
    if (typeof playwright === 'string') {
      t.skip(playwright);
      return;
    }
    const browser = await playwright.chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox'],
    });
    resources.add(browser);
    const page = await browser.newPage();
    await page.goto(`${users.server.httpUrl}/feed-viewer#key=sbk_${'x'.repeat(32)}`);
    await page.waitForSelector('#status[data-state="error"]', { timeout: WAIT_MS });
    assert.match((await page.textContent('#status')) ?? '', /not valid/);
  });
});
