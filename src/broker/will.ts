/** A connection's will, as kept between CONNECT and the moment it is published or discarded. */
import type { Message } from './message.js';
import type { ClientInfo } from './options.js';

export interface WillState {
  /** Ready to route; its payload is owned. */
  message: Message;
  /** [MQTT-3.1.3-9] seconds to wait before publishing (v5 Will Delay Interval); 0 = at once. */
  delaySeconds: number;
  /** MQTT 5 §3.1.3.2.4: the will's Message Expiry Interval counts from when it is published, not from CONNECT. */
  messageExpirySeconds: number | undefined;
  /** The connection that left the will: ACL rules and hooks judge the will as that client's publication. */
  client: ClientInfo;
}

/** A will waiting out its delay; a reconnect of the same session within the delay cancels it. */
export interface PendingWill {
  will: WillState;
  timer: NodeJS.Timeout;
}
