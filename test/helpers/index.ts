/** Shared test helpers: servers (in-process and spawned), MQTT.js and raw-wire clients, Mosquitto clients, a test PKI. */
export { generateTestCertificate } from './certificates.js';
export type { TestCertificates } from './certificates.js';
export { CLI_JS, MAIN_JS, spawnSwitchboard } from './process.js';
export type { SwitchboardProcess } from './process.js';
export { startTestServer } from './in-process-server.js';
export type { DeepPartial, TestServer, TestServerOptions } from './in-process-server.js';
export { RAW_WAIT_MS, WireClient, withTimeout } from './raw-client.js';
export type { WireConnectOptions } from './raw-client.js';
export {
  clientClosed,
  connackCode,
  connectClient,
  PROTOCOL_VERSIONS,
  Resources,
  sleep,
  WAIT_MS,
  waitFor,
} from './mqtt-js.js';
export type { CollectedMessage, TestClient, TestProtocolVersion } from './mqtt-js.js';
export { runMosquitto } from './mosquitto.js';
export type { MosquittoProcess, MosquittoResult } from './mosquitto.js';
