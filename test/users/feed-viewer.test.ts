/**
 * The feed viewer page (issue 5: "a browser test … opens a page served by Switchboard that connects with MQTT.js over
 * `/api/mqtt/` with an API key and shows live state changes from the feed"). Debian's Chromium, driven headless by
 * playwright-core (no browser download), opens `/feed-viewer#key=<API key>`; the page connects over WebSocket at
 * `/api/mqtt/` and subscribes to `placeos/<org>/state/#`; a ThingsBoard device in a system then reports telemetry, the
 * PlaceOS feed publishes each change, and the test waits for the page to show it. Skipped, with the reason printed, when playwright-core or /usr/bin/chromium is missing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, afterEach, before, describe, it } from 'node:test';
import { connectClient, Resources } from '../helpers/index.js';
import { EXPIRED_REASON_STRING } from '../../src/dialects/users/index.js';
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
interface BrowserContext {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface Browser {
  newContext(options: { ignoreHTTPSErrors: boolean }): Promise<BrowserContext>;
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

/** One Chromium for the whole file (starting one is the slow part); each test gets its own context. */
let browser: Promise<Browser | string> | undefined;
after(async () => {
  const launched = await browser;
  if (typeof launched === 'object') await launched.close();
});

async function launchBrowser(): Promise<Browser | string> {
  const playwright = await loadPlaywright();
  if (typeof playwright === 'string') return playwright;
  return playwright.chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

/** A fresh browser context, or the reason there is no browser (the test then skips with it). */
async function openContext(ignoreHTTPSErrors = false): Promise<BrowserContext | string> {
  browser ??= launchBrowser();

  const launched = await browser;
  return typeof launched === 'string' ? launched : launched.newContext({ ignoreHTTPSErrors });
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

  it('in Chromium, the page connects over /api/mqtt/ with an API key and shows a device’s live state changes from the feed', async (t) => {
    const context = await openContext();
    if (typeof context === 'string') {
      t.skip(context);
      return;
    }
    resources.add(context);
    // An organization with the feed on, a building/level/area, a system, a Cisco VC driver and a device in it.
    const admin = users.adminToken;
    const ok = async (method: string, path: string, body: unknown): Promise<Record<string, unknown>> => {
      const answer = await users.request(method, path, admin, body);
      assert.ok(answer.status < 300, `${method} ${path}: ${String(answer.status)} ${JSON.stringify(answer.json)}`);
      return answer.json as Record<string, unknown>;
    };
    await ok('PUT', `/api/organizations/${users.orgId}/feed`, { enabled: true });
    const building = (await ok('POST', '/api/zones', { name: 'HQ', tier: 'building' }))['id'] as string;
    const level = (await ok('POST', '/api/zones', { name: 'Level 24', tier: 'level', parent: building }))[
      'id'
    ] as string;
    const area = (await ok('POST', '/api/zones', { name: 'North', tier: 'area', parent: level }))['id'] as string;
    const system = (await ok('POST', '/api/systems', { name: 'Room 24.1', zones: [area] }))['id'] as string;
    const profile = (await ok('POST', '/api/profiles', { name: 'Cisco VC', driverId: 'dep-123' }))['id'] as string;
    const device = await ok('POST', '/api/devices', { name: 'VC', system, profile });
    const accessToken = (device['credentials'] as { accessToken: string }).accessToken;
    const vc = resources.add(await connectClient(users.server.mqttUrl, { username: accessToken, protocolVersion: 5 }));
    // QoS 1 telemetry is acknowledged once stored, and the feed has published it by then.
    const report = (values: Record<string, unknown>): Promise<unknown> =>
      vc.client.publishAsync('v1/devices/me/telemetry', JSON.stringify(values), { qos: 1 });
    const prefix = `placeos/${users.orgId}/state/${building}/${level}/${area}/${system}/dep-123/`;
    const rowOf = (key: string, value: string): string =>
      `tr[data-topic^=${JSON.stringify(prefix)}][data-topic$=${JSON.stringify(`/${key}`)}]${attribute('data-value', value)}`;
    await report({ connected: true });

    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.toString()));
    await page.goto(`${users.server.httpUrl}/feed-viewer#key=${key.key}`);
    await page.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
    assert.match((await page.textContent('#status')) ?? '', new RegExp(`placeos/${users.orgId}/state/#`));
    assert.ok(!page.url().includes(key.key), 'the key is removed from the address bar');

    // The state retained before the page opened is shown at once, marked as retained.
    await page.waitForSelector(rowOf('connected', 'true'), { timeout: WAIT_MS });
    assert.equal(await page.textContent(`${rowOf('connected', 'true')} td.retained`), 'yes');

    // Live changes: shown as they happen (retained "no"), a later change replacing the value in the same row. The
    // value is the serialized JSON the feed carries by default (a JSON string keeps its quotes).
    await report({ call_status: 'ringing' });
    await page.waitForSelector(rowOf('call_status', '"ringing"'), { timeout: WAIT_MS });
    assert.equal(await page.textContent(`${rowOf('call_status', '"ringing"')} td.retained`), 'no');
    await report({ call_status: 'connected', connected: true });
    await page.waitForSelector(rowOf('call_status', '"connected"'), { timeout: WAIT_MS });
    // The feed's metadata names the levels: the page shows where the value comes from in words.
    const where = 'HQ \u203a Level 24 \u203a North \u203a Room 24.1 \u203a Cisco VC \u203a VC 1 \u203a call_status';
    await page.waitForSelector(`${rowOf('call_status', '"connected"')} td.where:text-is(${JSON.stringify(where)})`, {
      timeout: WAIT_MS,
    });

    if (process.env['SWITCHBOARD_TEST_SCREENSHOT'] !== undefined) {
      await page.screenshot({ path: process.env['SWITCHBOARD_TEST_SCREENSHOT'], fullPage: true });
    }
    assert.deepEqual(pageErrors, []);
  });

  it('in Chromium, a filter in the fragment shows what an operator publishes, retained, on a plain topic', async (t) => {
    const context = await openContext();
    if (typeof context === 'string') {
      t.skip(context);
      return;
    }
    resources.add(context);
    const operator = await users.createUser('operator');
    const sender = resources.add(await connectClient(users.server.mqttUrl, asUser(operator.token)));
    await sender.client.publishAsync('lobby/banner', JSON.stringify({ time: Date.now(), value: 'Welcome' }), {
      qos: 1,
      retain: true,
    });
    const page = await context.newPage();
    await page.goto(`${users.server.httpUrl}/feed-viewer#key=${key.key}&filter=${encodeURIComponent('lobby/#')}`);
    await page.waitForSelector(`tr${attribute('data-topic', 'lobby/banner')}${attribute('data-value', 'Welcome')}`, {
      timeout: WAIT_MS,
    });
  });

  it('in Chromium, the page says so when the server closes the session at the JWT’s expiry', async (t) => {
    const context = await openContext();
    if (typeof context === 'string') {
      t.skip(context);
      return;
    }
    resources.add(context);
    const viewer = await users.createUser('viewer');
    // Four seconds of life (whole seconds: expires 3-4 s from now), time for the page to connect first; elapsed time is
    // the behaviour here.
    const token = await users.signToken(viewer, 4);
    const page = await context.newPage();
    await page.goto(`${users.server.httpUrl}/feed-viewer#key=${token}`);
    await page.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
    await page.waitForSelector('#status[data-state="error"]', { timeout: WAIT_MS });
    assert.equal(await page.textContent('#status'), `Disconnected by the server: ${EXPIRED_REASON_STRING}.`);
  });

  it('in Chromium, a wrong key is reported on the page', async (t) => {
    const context = await openContext();
    if (typeof context === 'string') {
      t.skip(context);
      return;
    }
    resources.add(context);
    const page = await context.newPage();
    await page.goto(`${users.server.httpUrl}/feed-viewer#key=sbk_${'x'.repeat(32)}`);
    await page.waitForSelector('#status[data-state="error"]', { timeout: WAIT_MS });
    assert.match((await page.textContent('#status')) ?? '', /not valid/);
  });
});

describe('feed viewer page over HTTPS', () => {
  let users: UsersServer;
  const resources = new Resources();

  before(async () => {
    users = await startUsersServer({ tls: true });
  });
  afterEach(() => resources.closeAll());
  after(() => users.close());

  it('in Chromium, the page served over HTTPS connects with WSS at /api/mqtt/', async (t) => {
    // The test PKI's CA is not in Chromium's store; the MQTT.js WSS test checks the certificate itself.
    const context = await openContext(true);
    if (typeof context === 'string') {
      t.skip(context);
      return;
    }
    resources.add(context);
    const key = await users.createApiKey('viewer');
    const topic = `placeos/${users.orgId}/state/hq/1/lobby/sys-1/dep-123/Display/1/power`;
    users.server.broker.publish({
      topicName: topic,
      payload: Buffer.from(JSON.stringify({ time: Date.now(), value: 'true' })),
      qos: 1,
      isRetained: true,
      properties: undefined,
    });
    const page = await context.newPage();
    await page.goto(`https://localhost:${String(users.server.httpsPort)}/feed-viewer#key=${key.key}`);
    await page.waitForSelector(`tr${attribute('data-topic', topic)}${attribute('data-value', 'true')}`, {
      timeout: WAIT_MS,
    });
    assert.ok(page.url().startsWith('https://'));
  });
});
