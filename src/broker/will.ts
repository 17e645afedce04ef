/** A connection's will, as kept between CONNECT and the moment it is published or discarded. */
import type { Message } from './message.js';

export interface WillState {
  /** Ready to route; its payload is owned. */
  message: Message;
  /** [MQTT-3.1.3-9] seconds to wait before publishing (v5 Will Delay Interval); 0 = at once. */
  delaySeconds: number;
  /** [MQTT-3.1.3-?] the will's Message Expiry Interval counts from when it is published, not from CONNECT. */
  messageExpirySeconds: number | undefined;
  /** The user whose connection left the will, for the ACL check at publication. */
  username: string | undefined;
}

/** A will waiting out its delay; a reconnect of the same session within the delay cancels it. */
export interface PendingWill {
  will: WillState;
  timer: NodeJS.Timeout;
}
