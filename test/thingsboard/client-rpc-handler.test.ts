/**
 * Client-side RPC answered by a configured HTTP handler (`platform.clientRpcHandlers`): a ThingsBoard device asks
 * over MQTT, Switchboard POSTs the request to the endpoint, and the endpoint's JSON answer is what the device gets.
 * Failures of the endpoint become `{"error": …}` replies; the device always hears back.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectClient, Resources, startTestServer, type TestServer } from '../helpers/index.js';

describe('client-side RPC routed to a configured HTTP handler', () => {
  let endpoint: Server;
  let server: TestServer;
  let token: string;
  const requests: unknown[] = [];
  const resources = new Resources();

  before(async () => {
    endpoint = createServer((request, response) => {
      void readJson(request).then((body) => {
        requests.push(body);
        if (request.url === '/weather') {
          const { params } = body as { params: { city: string } };
          response.setHeader('content-type', 'application/json');
          response.end(JSON.stringify({ city: params.city, temperature: 7.5 }));
        } else {
          response.statusCode = 500;
          response.end('broken');
        }
      });
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${String((endpoint.address() as AddressInfo).port)}`;
    server = await startTestServer({
      platform: { clientRpcHandlers: { getWeather: `${base}/weather`, getBroken: `${base}/broken` } },
    });
    const orgId = (await server.server.platform.store.listOrganizations())[0]!.id;
    const { credentials } = await server.server.platform.entities.createDevice(orgId, { name: 'station' });
    assert.equal(credentials.type, 'ACCESS_TOKEN');
    token = credentials.type === 'ACCESS_TOKEN' ? credentials.accessToken : '';
  });
  after(async () => {
    await resources.closeAll();
    await server.close();
    endpoint.close();
  });

  const ask = async (requestId: number, method: string, params: unknown): Promise<unknown> => {
    const device = resources.add(await connectClient(server.mqttUrl, { username: token }));
    await device.client.subscribeAsync('v1/devices/me/rpc/response/+', { qos: 1 });
    await device.client.publishAsync(
      `v1/devices/me/rpc/request/${String(requestId)}`,
      JSON.stringify({ method, params }),
      {
        qos: 1,
      },
    );
    const [reply] = await device.waitForMessages(1);
    assert.equal(reply?.topic, `v1/devices/me/rpc/response/${String(requestId)}`);
    return JSON.parse(reply.payload) as unknown;
  };

  it("the endpoint's JSON answer is the device's reply, and it was told the method, params and device", async () => {
    assert.deepEqual(await ask(1, 'getWeather', { city: 'Oslo' }), { city: 'Oslo', temperature: 7.5 });
    const last = requests.at(-1) as { method: string; params: unknown; device: { name: string } };
    assert.equal(last.method, 'getWeather');
    assert.deepEqual(last.params, { city: 'Oslo' });
    assert.equal(last.device.name, 'station');
  });

  it('an endpoint answering HTTP 500 gives the device an {"error"} reply', async () => {
    assert.deepEqual(await ask(2, 'getBroken', {}), { error: 'the handler for getBroken answered HTTP 500' });
  });

  it('a method no handler knows still answers the built-in unsupported-method error', async () => {
    assert.deepEqual(await ask(3, 'getNothing', {}), { error: 'Unsupported method: getNothing' });
  });
});

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}
