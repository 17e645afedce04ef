/** Listeners that accept connections and hand them to the broker: TCP, TLS, and WebSocket on the HTTP port. */
export { ListenError, ListenErrorCode } from './connection.js';
export type {
  BoundAddress,
  ConnectionHandler,
  ConnectionInfo,
  Listener,
  ListenerKind,
  ListenerStats,
} from './connection.js';
export type { ListenerOptions } from './server-socket.js';
export { TcpListener } from './tcp.js';
export { TlsListener } from './tls.js';
export type { TlsListenerOptions } from './tls.js';
export { DEFAULT_MQTT_PATHS, WebSocketListener } from './ws.js';
export type { WebSocketListenerOptions } from './ws.js';
export { basicRequestListener } from './http-basic.js';
