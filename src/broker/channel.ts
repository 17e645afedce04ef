/**
 * The MQTT protocol for one connection: CONNECT and its checks, inbound PUBLISH with its acknowledgements and flow
 * control, SUBSCRIBE / UNSUBSCRIBE, keepalive and DISCONNECT. Routing, sessions and retained messages belong to the
 * broker; bytes belong to the connection. Reason codes are MQTT 5 throughout and mapped for 3.1.1 by the encoder.
 */
import { isUtf8 } from 'node:buffer';
import { encodePacket, encodePublishHead, PacketType, ProtocolError, ReasonCode } from '../mqtt/codec/index.js';
import type {
  AckPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubscribePacket,
  UnsubscribePacket,
} from '../mqtt/codec/index.js';
import type { Broker } from './broker.js';
import type { Connection, ConnectionOwner } from './connection.js';
import type { DeferredAck } from './deferred-ack.js';
import type { CommitWaiter } from './persistence.js';
import { remainingExpirySeconds } from './message.js';
import type { Message } from './message.js';
import type { AuthenticateResult, ClientInfo, ConnectionInfo, InboundMessage } from './options.js';
import type { Session } from './session.js';
import type { SessionSink } from './session-host.js';
import type { WillState } from './will.js';

const PINGRESP = Buffer.from([0xd0, 0x00]);
const CONNACK_V3_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const CONNACK_V3_SESSION_PRESENT = Buffer.from([0x20, 0x02, 0x01, 0x00]);
/** Broker-assigned client ids ([MQTT-3.1.3-6]). */
let assignedIdCounter = 0;

type ChannelState = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed';

/**
 * An acknowledgement held back until what it promises is true: the broker store committed the message, or the
 * platform settled a consumed message (`DeferredAck`). Held acks leave in arrival order ([MQTT-4.6.0-2]): one that is
 * ready waits for those before it.
 */
class HeldAck implements CommitWaiter {
  readonly channel: Channel;
  readonly type:
    | typeof PacketType.Puback
    | typeof PacketType.Pubrec
    | typeof PacketType.Pubcomp
    | typeof PacketType.Suback
    | typeof PacketType.Unsuback;
  readonly packetId: number;
  reasonCodes: number[] | number;
  readonly afterSend: (() => void) | undefined;
  isReady = false;
  error: Error | undefined = undefined;
  /** A refused PUBLISH's v5 reason string (a dialect's `drop` verdict), sent with the PUBACK/PUBREC. */
  reasonString: string | undefined = undefined;
  /** Set when the platform asked to close the connection instead of acknowledging. */
  disconnectReason: { reasonCode: number; reasonString: string | undefined } | undefined = undefined;
  constructor(
    channel: Channel,
    type: HeldAck['type'],
    packetId: number,
    reasonCodes: number[] | number,
    afterSend: (() => void) | undefined,
  ) {
    this.channel = channel;
    this.type = type;
    this.packetId = packetId;
    this.reasonCodes = reasonCodes;
    this.afterSend = afterSend;
  }
  onCommitted(error: Error | undefined): void {
    this.isReady = true;
    this.error = error;
    this.channel.releaseHeldAcks();
  }
}

export class Channel implements ConnectionOwner, SessionSink, ClientInfo {
  readonly #broker: Broker;
  readonly #connection: Connection;
  readonly connection: ConnectionInfo;
  #state: ChannelState = 'awaiting-connect';
  /** Packets that arrived while `authenticate` or the CONNACK's commit was pending. */
  #heldPackets: Packet[] | undefined;
  /** CONNACK waits for the session record's commit; nothing may be sent before it ([MQTT-3.2.0-1]). */
  #isConnackPending = false;
  clientId = '';
  username: string | undefined;
  protocolVersion: ProtocolVersion = 4;
  identity: unknown;
  session: Session | undefined;
  will: WillState | undefined;
  /** Set by a DISCONNECT, a takeover or a refusal: no will on close ([MQTT-3.1.2-10]). */
  #isWillDiscarded = false;
  /** Whether the broker has been told this connection ended (once only). */
  #isCloseReported = false;
  /** Set by the broker once CONNACK went out: the client counts as connected until it closes. */
  isCountedAsConnected = false;
  #disconnectReason: number = ReasonCode.Success;
  /** Client's limits (v5 CONNECT properties). */
  sendQuota = 0;
  #clientMaxPacketSize = 268_435_455;
  #clientTopicAliasMaximum = 0;
  #outboundAliases: Map<string, number> | undefined;
  /** The topic the last encoded head registered a new alias for (undone if that PUBLISH is dropped). */
  #newAliasTopic: string | undefined;
  #inboundAliases: Map<number, string> | undefined;
  #isProblemInformationRequested = true;
  #sessionExpiryAtConnect = 0;
  /** Inbound QoS 1 whose PUBACK waits for a commit; with incoming QoS 2 ids, counts against our Receive Maximum. */
  #heldQos1 = 0;
  /** Held acknowledgements not yet released; while any is held, later acks queue behind it to keep order. */
  #heldAcks = 0;
  /** The held acks themselves, oldest first (created on first use: most connections never hold one). */
  #heldAckQueue: HeldAck[] | undefined;

  constructor(broker: Broker, connection: Connection, info: ConnectionInfo) {
    this.#broker = broker;
    this.#connection = connection;
    this.connection = info;
  }

  get isConnected(): boolean {
    return this.#state === 'connected';
  }

  // ---- SessionSink -------------------------------------------------------------------------------------------

  get isWritable(): boolean {
    return this.#state === 'connected' && !this.#isConnackPending && this.#connection.isWritable;
  }

  sendPublish(
    message: Message,
    qos: QoS,
    isRetained: boolean,
    subscriptionIds: number[] | undefined,
    packetId: number,
    isDuplicate: boolean,
  ): void {
    const version = this.protocolVersion;
    let head: Buffer;
    if (qos === 0 && !isRetained && (version !== 5 || this.#needsNoOwnProperties(message, subscriptionIds))) {
      // Fan-out: one encoded head per message and version, shared by every such subscriber.
      const heads = (message.qos0Heads ??= [undefined, undefined]);
      const index = version === 5 ? 1 : 0;
      head = heads[index] ??= encodePublishHead(
        message.topicName,
        message.payload.length,
        0,
        false,
        false,
        0,
        message.properties,
        version,
      );
      if (version === 5 && head.length + message.payload.length > this.#clientMaxPacketSize) {
        this.#broker.countDropped(1); // [MQTT-3.1.2-25]
        return;
      }
    } else if (version !== 5) {
      head = encodePublishHead(
        message.topicName,
        message.payload.length,
        qos,
        isRetained,
        isDuplicate,
        packetId,
        undefined,
        version,
      );
    } else {
      head = this.#encodeV5PublishHead(message, qos, isRetained, subscriptionIds, packetId, isDuplicate);
      if (head.length + message.payload.length > this.#clientMaxPacketSize) {
        if (this.#newAliasTopic !== undefined) this.#outboundAliases!.delete(this.#newAliasTopic);
        // [MQTT-3.1.2-25] too big for this client: dropped for it alone, as if acknowledged.
        this.#broker.countDropped(1);
        if (qos > 0 && this.session !== undefined) {
          if (!this.session.complete(packetId, 'sent')) this.session.received(packetId, 0x80);
        }
        return;
      }
    }
    this.#connection.send(head);
    if (message.payload.length > 0) this.#connection.send(message.payload);
    this.#broker.countSent();
  }

  sendPubrel(packetId: number): void {
    this.#sendPacket({ type: PacketType.Pubrel, packetId, reasonCode: 0, properties: undefined });
  }

  // ---- ConnectionOwner ---------------------------------------------------------------------------------------

  handlePacket(packet: Packet): void {
    switch (this.#state) {
      case 'closed':
        return;
      case 'awaiting-connect':
        if (packet.type !== PacketType.Connect) {
          // [MQTT-3.1.0-1] the first packet must be CONNECT.
          this.#close(ReasonCode.ProtocolError, 'the first packet must be CONNECT');
          return;
        }
        this.#handleConnect(packet);
        return;
      case 'authenticating':
        (this.#heldPackets ??= []).push(packet);
        return;
      case 'connected':
        if (this.#isConnackPending) {
          (this.#heldPackets ??= []).push(packet);
          return;
        }
        break;
    }
    switch (packet.type) {
      case PacketType.Publish:
        this.#handlePublish(packet);
        return;
      case PacketType.Puback:
        if (this.session!.complete(packet.packetId, 'sent')) this.session!.pump();
        return;
      case PacketType.Pubrec:
        this.#handlePubrec(packet);
        return;
      case PacketType.Pubrel:
        this.#handlePubrel(packet);
        return;
      case PacketType.Pubcomp:
        if (this.session!.complete(packet.packetId, 'released')) this.session!.pump();
        return;
      case PacketType.Subscribe:
        this.#handleSubscribe(packet);
        return;
      case PacketType.Unsubscribe:
        this.#handleUnsubscribe(packet);
        return;
      case PacketType.Pingreq:
        this.#connection.send(PINGRESP);
        return;
      case PacketType.Disconnect:
        this.#handleDisconnect(packet);
        return;
      case PacketType.Auth:
        // Enhanced authentication is not offered: CONNECT carried no method, so AUTH is refused ([MQTT-4.12.0-1]).
        this.#close(ReasonCode.BadAuthenticationMethod, 'enhanced authentication is not supported');
        return;
      case PacketType.Connect:
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
        this.#close(ReasonCode.ProtocolError, 'second CONNECT');
        return;
      default:
        this.#close(ReasonCode.ProtocolError, `packet type ${String(packet.type)} is not sent by clients`);
    }
  }

  handleProtocolError(error: ProtocolError): void {
    if (this.#state === 'awaiting-connect') {
      if (error.reason === ReasonCode.UnsupportedProtocolVersion) {
        // [MQTT-3.1.2-2] answer 0x01 (3.1.1 layout, understood by every version) and close.
        this.#connection.send(Buffer.from([0x20, 0x02, 0x00, 0x01]));
      } else if (this.#connection.decoder.protocolVersion === 5 && error.reason === ReasonCode.PacketTooLarge) {
        this.#sendConnack(false, error.reason, undefined);
      }
      this.#state = 'closed';
      this.#connection.end();
      return;
    }
    this.#broker.logger.debug({ clientId: this.clientId, reason: error.reason, err: error.message }, 'protocol error');
    this.#close(error.reason, error.message);
  }

  handleDrain(): void {
    this.session?.pump();
  }

  handleKeepAliveTimeout(): void {
    this.#close(ReasonCode.KeepAliveTimeout, 'keep alive timeout');
  }

  handleClose(): void {
    // DISCONNECT and #close report the end at once; the socket's own 'close' comes later and must not report it again.
    if (this.#isCloseReported) return;
    this.#isCloseReported = true;
    const wasConnected = this.#state === 'connected';
    this.#state = 'closed';
    if (!wasConnected && this.session === undefined) return;
    this.#broker.channelClosed(this, this.#isWillDiscarded, this.#disconnectReason);
  }

  // ---- used by the broker ------------------------------------------------------------------------------------

  /** Another connection took this client id over ([MQTT-3.1.4-3]). */
  takeOver(): void {
    this.#close(ReasonCode.SessionTakenOver, 'another connection used this client id');
  }

  /** Server shutdown or an administrative action. */
  disconnect(reasonCode: number, reasonString: string): void {
    this.#close(reasonCode, reasonString);
  }

  /** Flushes pending writes now (shutdown). */
  flush(): void {
    this.#connection.flush();
  }

  /** Sends the held acks that are ready, oldest first, stopping at the first that is not. */
  releaseHeldAcks(): void {
    const queue = this.#heldAckQueue;
    if (queue === undefined) return;
    while (queue.length > 0 && queue[0]!.isReady) {
      const ack = queue.shift()!;
      this.#heldAcks--;
      if (ack.type === PacketType.Puback) this.#heldQos1--;
      if (this.#state !== 'connected') continue;
      if (ack.error !== undefined) {
        // The store refused the write: the client must not believe it durable.
        this.#close(ReasonCode.UnspecifiedError, 'storage failure');
        return;
      }
      if (ack.disconnectReason !== undefined) {
        this.#close(ack.disconnectReason.reasonCode, ack.disconnectReason.reasonString ?? 'message refused');
        return;
      }
      this.#sendAck(ack.type, ack.packetId, ack.reasonCodes, ack.reasonString);
      ack.afterSend?.();
    }
  }

  // ---- CONNECT -----------------------------------------------------------------------------------------------

  #handleConnect(connect: ConnectPacket): void {
    this.protocolVersion = connect.protocolVersion;
    const isV5 = connect.protocolVersion === 5;
    const properties = connect.properties;
    if (properties?.authenticationMethod !== undefined) {
      // Enhanced authentication is not offered ([MQTT-4.12.0-1]).
      this.#refuse(ReasonCode.BadAuthenticationMethod, 'enhanced authentication is not supported');
      return;
    }
    let clientId = connect.clientId;
    let assignedClientId: string | undefined;
    if (clientId.length === 0) {
      if (!isV5 && !connect.cleanStart) {
        // [MQTT-3.1.3-8] 3.1.1: an empty client id requires clean session 1.
        this.#refuse(ReasonCode.ClientIdentifierNotValid, 'empty client id needs clean session');
        return;
      }
      clientId = `auto-${process.pid.toString(36)}-${Date.now().toString(36)}-${(assignedIdCounter++).toString(36)}`;
      if (isV5) assignedClientId = clientId;
    }
    this.clientId = clientId;
    this.username = connect.username;
    if (connect.will !== undefined) {
      const reason = this.#broker.checkWill(this, connect.will);
      if (reason !== ReasonCode.Success) {
        this.#refuse(reason, 'will message refused');
        return;
      }
    }
    if (isV5 && properties !== undefined) {
      if (properties.receiveMaximum !== undefined) this.sendQuota = properties.receiveMaximum;
      if (properties.maximumPacketSize !== undefined) this.#clientMaxPacketSize = properties.maximumPacketSize;
      if (properties.topicAliasMaximum !== undefined) this.#clientTopicAliasMaximum = properties.topicAliasMaximum;
      if (properties.requestProblemInformation === 0) this.#isProblemInformationRequested = false;
    }
    const limits = this.#broker.limits;
    this.sendQuota = this.sendQuota === 0 ? limits.maxInflight : Math.min(this.sendQuota, limits.maxInflight);
    const keepAlive = connect.keepAliveSeconds;
    if (!isV5 && keepAlive > limits.maxKeepAliveSeconds) {
      // 3.1.1 cannot be told a lower keepalive (v5 gets Server Keep Alive); a client pinging at its own interval
      // would be cut off later, so it is refused now, as Mosquitto does (CONNACK 0x02). A keepalive of 0 turns the
      // mechanism off ([MQTT-3.1.2-24] 3.1.1 §3.1.2.10): accepted, with no inactivity deadline.
      this.#refuse(ReasonCode.ClientIdentifierNotValid, 'keep alive above the server maximum');
      return;
    }

    this.#state = 'authenticating';
    let result: AuthenticateResult | Promise<AuthenticateResult>;
    try {
      result = this.#broker.authenticate(this, connect);
    } catch (error) {
      this.#broker.logger.error({ err: error, clientId }, 'authenticate hook failed');
      result = { ok: false, reasonCode: ReasonCode.UnspecifiedError };
    }
    if (result instanceof Promise) {
      result.then(
        (value) => {
          this.#afterAuthenticate(connect, value, assignedClientId);
        },
        (error: unknown) => {
          this.#broker.logger.error({ err: error, clientId }, 'authenticate hook failed');
          this.#afterAuthenticate(connect, { ok: false, reasonCode: ReasonCode.UnspecifiedError }, assignedClientId);
        },
      );
    } else {
      this.#afterAuthenticate(connect, result, assignedClientId);
    }
  }

  #afterAuthenticate(connect: ConnectPacket, result: AuthenticateResult, assignedClientId: string | undefined): void {
    if (this.#state !== 'authenticating') return; // closed while authenticating
    if (!result.ok) {
      this.#refuse(result.reasonCode, 'not authorized');
      return;
    }
    this.identity = result.identity;
    const isV5 = connect.protocolVersion === 5;
    const limits = this.#broker.limits;
    let sessionExpiry: number;
    let responseExpiry: number | undefined;
    if (isV5) {
      sessionExpiry = connect.properties?.sessionExpiryInterval ?? 0;
      if (sessionExpiry > limits.maxSessionExpirySeconds) {
        sessionExpiry = limits.maxSessionExpirySeconds;
        responseExpiry = sessionExpiry; // MQTT 5 §3.2.2.3.2: tell the client the interval we use
      }
    } else {
      sessionExpiry = connect.cleanStart ? 0 : limits.sessionExpirySeconds;
    }
    this.#sessionExpiryAtConnect = sessionExpiry;
    this.will = connect.will === undefined ? undefined : this.#broker.makeWill(this, connect.will, sessionExpiry);

    // Keepalive: our maximum applies when the client asks for more, or for none ([MQTT-3.2.2-21]).
    let keepAlive = connect.keepAliveSeconds;
    let serverKeepAlive: number | undefined;
    if (isV5 && limits.maxKeepAliveSeconds < 65_535 && (keepAlive === 0 || keepAlive > limits.maxKeepAliveSeconds)) {
      keepAlive = limits.maxKeepAliveSeconds;
      serverKeepAlive = keepAlive;
    }

    const { session, isSessionPresent } = this.#broker.openSession(this, connect.cleanStart, sessionExpiry);
    this.session = session;
    this.#state = 'connected';
    this.#connection.setKeepAlive(keepAlive);

    let properties: Properties | undefined;
    if (isV5) {
      properties = {
        receiveMaximum: limits.receiveMaximum,
        maximumPacketSize: limits.maxPacketSizeBytes,
        topicAliasMaximum: limits.topicAliasMaximum,
      };
      if (assignedClientId !== undefined) properties.assignedClientIdentifier = assignedClientId;
      if (serverKeepAlive !== undefined) properties.serverKeepAlive = serverKeepAlive;
      if (responseExpiry !== undefined) properties.sessionExpiryInterval = responseExpiry;
      if (connect.properties?.requestResponseInformation === 1) {
        properties.responseInformation = `$response/${this.clientId}`;
      }
    }
    const sendConnack = (): void => {
      if (this.#state !== 'connected') return;
      this.#sendConnack(isSessionPresent, ReasonCode.Success, properties);
      // [MQTT-4.4.0-1] resend in-flight messages first, then whatever queued while away.
      session.resendInflight();
      session.pump();
      this.#broker.clientConnected(this);
      const held = this.#heldPackets;
      this.#heldPackets = undefined;
      if (held !== undefined) for (const packet of held) this.handlePacket(packet);
    };
    if (session.isPersistent && !this.#broker.persistence.isIdle) {
      // The session record must be durable before the client is told it exists.
      this.#heldAcks++;
      this.#isConnackPending = true;
      this.#broker.persistence.afterCommit({
        onCommitted: (error) => {
          this.#heldAcks--;
          this.#isConnackPending = false;
          if (error !== undefined) this.#close(ReasonCode.UnspecifiedError, 'storage failure');
          else sendConnack();
        },
      });
    } else {
      sendConnack();
    }
  }

  #refuse(reasonCode: number, reasonString: string): void {
    this.#isWillDiscarded = true;
    this.#sendConnack(false, reasonCode, this.protocolVersion === 5 ? { reasonString } : undefined);
    this.#state = 'closed';
    this.#connection.end();
    this.#broker.countRefusedConnect();
  }

  #sendConnack(sessionPresent: boolean, reasonCode: number, properties: Properties | undefined): void {
    if (this.protocolVersion !== 5 && reasonCode === ReasonCode.Success) {
      // The two accepting 3.1.1 CONNACKs never change: no encoding per connection.
      this.#connection.send(sessionPresent ? CONNACK_V3_SESSION_PRESENT : CONNACK_V3_ACCEPTED);
      return;
    }
    this.#sendPacket({ type: PacketType.Connack, sessionPresent, reasonCode, properties });
  }

  // ---- PUBLISH in --------------------------------------------------------------------------------------------

  #handlePublish(publish: PublishPacket): void {
    const broker = this.#broker;
    broker.countReceived();
    let topicName = publish.topicName;
    const properties = publish.properties;
    if (properties !== undefined) {
      if (properties.subscriptionIdentifiers !== undefined) {
        // [MQTT-3.3.4-6] a client must not send subscription identifiers.
        this.#close(ReasonCode.ProtocolError, 'subscription identifier in PUBLISH');
        return;
      }
      const alias = properties.topicAlias;
      if (alias !== undefined) {
        // [MQTT-3.3.2-9] [MQTT-3.3.2-10] alias within our Topic Alias Maximum.
        if (alias > broker.limits.topicAliasMaximum) {
          this.#close(ReasonCode.TopicAliasInvalid, 'topic alias out of range');
          return;
        }
        if (topicName.length > 0) {
          (this.#inboundAliases ??= new Map<number, string>()).set(alias, topicName);
        } else {
          const known = this.#inboundAliases?.get(alias);
          if (known === undefined) {
            this.#close(ReasonCode.ProtocolError, 'unknown topic alias');
            return;
          }
          topicName = known;
        }
      }
    }
    const topicReason = broker.checkTopicName(topicName);
    if (topicReason !== ReasonCode.Success) {
      this.#close(topicReason, 'invalid topic name');
      return;
    }
    const qos = publish.qos;
    const packetId = publish.packetId;
    if (qos === 2 && this.session!.incomingQos2Count > 0 && this.session!.incomingQos2.has(packetId)) {
      // [MQTT-4.3.3-10] a resent QoS 2 PUBLISH is acknowledged again, not routed again.
      this.#ackOrHold(PacketType.Pubrec, packetId, ReasonCode.Success, false);
      return;
    }
    if (
      qos > 0 &&
      this.protocolVersion === 5 &&
      this.#heldQos1 + this.session!.incomingQos2Count >= broker.limits.receiveMaximum
    ) {
      // [MQTT-3.3.4-9] the client exceeded our Receive Maximum. 3.1.1 has no such limit (a client may pipeline any
      // number of QoS 1/2 PUBLISH packets): held PUBACKs last one commit and QoS 2 ids are bounded by the id space.
      this.#close(ReasonCode.ReceiveMaximumExceeded, 'receive maximum exceeded');
      return;
    }
    if (properties?.payloadFormatIndicator === 1 && publish.payload.length > 0 && !isUtf8(publish.payload)) {
      // [MQTT-3.3.2-4] the payload does not match its format indicator.
      if (qos === 0) this.#close(ReasonCode.PayloadFormatInvalid, 'payload is not valid UTF-8');
      else this.#refusePublish(qos, packetId, ReasonCode.PayloadFormatInvalid);
      return;
    }
    const authorization = broker.authorizePublish(this, topicName, qos, publish.isRetained);
    if (authorization !== true) {
      broker.countDropped(1);
      if (qos > 0) this.#refusePublish(qos, packetId, this.protocolVersion === 5 ? authorization : ReasonCode.Success);
      return;
    }
    let inbound: InboundMessage = {
      topicName,
      payload: publish.payload,
      qos,
      isRetained: publish.isRetained,
      properties,
    };
    const verdict = broker.inspectMessage(this, inbound);
    if (verdict !== undefined) {
      switch (verdict.action) {
        case 'drop':
          broker.countDropped(1);
          if (qos > 0) {
            this.#refusePublish(qos, packetId, verdict.reasonCode ?? ReasonCode.Success, verdict.reasonString);
          }
          return;
        case 'disconnect':
          this.#close(verdict.reasonCode, verdict.reasonString ?? 'message refused');
          return;
        case 'consume':
          if (qos === 2) {
            // Exactly once: a resent PUBLISH with this id is not consumed again ([MQTT-4.3.3-9]).
            this.session!.incomingQos2.add(packetId);
            if (this.session!.isPersistent) {
              broker.persistence.push({ op: 'putIncomingQos2', clientId: this.clientId, packetId });
            }
          }
          this.#deferAck(qos, packetId, verdict.ack);
          return;
        case 'route':
          if (verdict.message !== undefined) inbound = verdict.message;
      }
    }
    const needsCommit = broker.publishFromClient(this, inbound);
    if (qos === 0) return;
    if (qos === 2) {
      this.session!.incomingQos2.add(packetId);
      if (this.session!.isPersistent) {
        broker.persistence.push({ op: 'putIncomingQos2', clientId: this.clientId, packetId });
      }
    }
    this.#ackOrHold(
      qos === 1 ? PacketType.Puback : PacketType.Pubrec,
      packetId,
      ReasonCode.Success,
      needsCommit || (qos === 2 && this.session!.isPersistent),
    );
  }

  #refusePublish(qos: QoS, packetId: number, reasonCode: number, reasonString?: string): void {
    // A refused QoS 2 message is finished with PUBREC >= 0x80: no PUBREL follows (MQTT 5 §4.3.3).
    const type = qos === 1 ? PacketType.Puback : PacketType.Pubrec;
    if (this.#heldAcks === 0) {
      this.#sendAck(type, packetId, reasonCode, reasonString);
      return;
    }
    // Behind held acks: it leaves in arrival order ([MQTT-4.6.0-2]).
    const ack = this.#holdAck(type, packetId, reasonCode, undefined);
    ack.reasonString = reasonString;
    ack.isReady = true;
  }

  /** Sends the acknowledgement now, or after the pending commit when it must be durable or an earlier one is held. */
  #ackOrHold(
    type: HeldAck['type'],
    packetId: number,
    reasonCodes: number | number[],
    needsCommit: boolean,
    afterSend?: () => void,
  ): void {
    if (!needsCommit && this.#heldAcks === 0) {
      this.#sendAck(type, packetId, reasonCodes);
      afterSend?.();
      return;
    }
    const ack = this.#holdAck(type, packetId, reasonCodes, afterSend);
    // An ack needing no commit only waits for the ones before it.
    if (needsCommit) this.#broker.persistence.afterCommit(ack);
    else ack.isReady = true;
  }

  #holdAck(
    type: HeldAck['type'],
    packetId: number,
    reasonCodes: number | number[],
    afterSend: (() => void) | undefined,
  ): HeldAck {
    const ack = new HeldAck(this, type, packetId, reasonCodes, afterSend);
    this.#heldAcks++;
    if (type === PacketType.Puback) this.#heldQos1++;
    (this.#heldAckQueue ??= []).push(ack);
    return ack;
  }

  /** A message the platform consumed: its PUBACK/PUBREC waits until the platform settles `deferred`. */
  #deferAck(qos: QoS, packetId: number, deferred: DeferredAck): void {
    const ack =
      qos === 0 ? undefined : this.#holdAck(qos === 1 ? PacketType.Puback : PacketType.Pubrec, packetId, 0, undefined);
    deferred.onSettled((outcome) => {
      if (outcome.kind === 'disconnect') {
        if (ack === undefined) {
          if (this.#state === 'connected') this.#close(outcome.reasonCode, outcome.reasonString ?? 'message refused');
          return;
        }
        ack.disconnectReason = { reasonCode: outcome.reasonCode, reasonString: outcome.reasonString };
      } else {
        // A refusal after the fact (the store would not take it) is a dropped message like a 'drop' verdict.
        if (outcome.reasonCode >= 0x80) this.#broker.countDropped(1);
        if (ack !== undefined) {
          // 3.1.1 has no refusal: the message is acknowledged and dropped.
          ack.reasonCodes = this.protocolVersion === 5 ? outcome.reasonCode : ReasonCode.Success;
          ack.reasonString = outcome.reasonString;
        }
      }
      if (ack !== undefined) ack.onCommitted(undefined);
    });
  }

  #sendAck(type: HeldAck['type'], packetId: number, reasonCodes: number | number[], reasonString?: string): void {
    switch (type) {
      case PacketType.Puback:
      case PacketType.Pubrec:
      case PacketType.Pubcomp: {
        // Only a v5 refusal carries a reason string (MQTT 5 §3.4.2.2.2); #sendPacket drops it when the client asked
        // for no problem information.
        const properties = reasonString !== undefined && this.protocolVersion === 5 ? { reasonString } : undefined;
        this.#sendPacket({ type, packetId, reasonCode: reasonCodes as number, properties });
        return;
      }
      case PacketType.Suback:
        this.#sendPacket({ type, packetId, reasonCodes: reasonCodes as number[], properties: undefined });
        return;
      case PacketType.Unsuback:
        this.#sendPacket({ type, packetId, reasonCodes: reasonCodes as number[], properties: undefined });
        return;
    }
  }

  #handlePubrec(packet: AckPacket): void {
    const session = this.session!;
    if (!session.received(packet.packetId, packet.reasonCode)) {
      // MQTT 5 §3.6.2.1: unknown packet id: release it anyway so the client can free it; v5 says why.
      this.#sendPacket({
        type: PacketType.Pubrel,
        packetId: packet.packetId,
        reasonCode: ReasonCode.PacketIdentifierNotFound,
        properties: undefined,
      });
      return;
    }
    if (packet.reasonCode < 0x80) this.sendPubrel(packet.packetId);
    else session.pump();
  }

  #handlePubrel(packet: AckPacket): void {
    const session = this.session!;
    const isKnown = session.incomingQos2Count > 0 && session.incomingQos2.delete(packet.packetId);
    if (isKnown && session.isPersistent) {
      this.#broker.persistence.push({ op: 'deleteIncomingQos2', clientId: this.clientId, packetId: packet.packetId });
    }
    // [MQTT-4.3.3-11] PUBCOMP with the same packet id; v5 0x92 when we never saw it. For a persistent session it
    // waits for the id's removal to commit: otherwise a crash in between would leave the id marked as received, and
    // the client's next QoS 2 message reusing it would be taken for a duplicate and lost.
    const reasonCode = isKnown || this.protocolVersion !== 5 ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound;
    this.#ackOrHold(PacketType.Pubcomp, packet.packetId, reasonCode, isKnown && session.isPersistent);
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE -------------------------------------------------------------------------------

  #handleSubscribe(packet: SubscribePacket): void {
    const subscriptionId = packet.properties?.subscriptionIdentifiers?.[0] ?? 0;
    const result = this.#broker.subscribe(this, packet.subscriptions, subscriptionId);
    if (result === undefined) return; // the broker closed the connection (protocol error)
    this.#ackOrHold(PacketType.Suback, packet.packetId, result.reasonCodes, result.needsCommit, result.afterSuback);
  }

  #handleUnsubscribe(packet: UnsubscribePacket): void {
    const result = this.#broker.unsubscribe(this, packet.topicFilters);
    this.#ackOrHold(PacketType.Unsuback, packet.packetId, result.reasonCodes, result.needsCommit);
  }

  // ---- DISCONNECT and closing --------------------------------------------------------------------------------

  #handleDisconnect(packet: DisconnectPacket): void {
    const expiry = packet.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      if (this.#sessionExpiryAtConnect === 0 && expiry !== 0) {
        // [MQTT-3.14.2-2] a session that was to end with the connection cannot be extended at DISCONNECT.
        this.#close(ReasonCode.ProtocolError, 'session expiry interval was 0 at CONNECT');
        return;
      }
      this.#broker.setSessionExpiry(this.session!, Math.min(expiry, this.#broker.limits.maxSessionExpirySeconds));
    }
    // [MQTT-3.14.4-3] a normal DISCONNECT discards the will; v5 reason 0x04 asks for it to be sent.
    this.#isWillDiscarded = packet.reasonCode !== ReasonCode.DisconnectWithWillMessage;
    this.#disconnectReason = packet.reasonCode;
    this.#state = 'closed';
    this.#connection.end();
    this.handleClose();
  }

  /** Closes the connection, with a v5 DISCONNECT carrying the reason when the client speaks MQTT 5. */
  #close(reasonCode: number, reasonString: string): void {
    if (this.#state === 'closed') return;
    const wasConnected = this.#state === 'connected';
    this.#disconnectReason = reasonCode;
    if (reasonCode === ReasonCode.SessionTakenOver) this.#isWillDiscarded = false;
    if (this.protocolVersion === 5 && wasConnected && !this.#isConnackPending) {
      // [MQTT-4.13.1-1] a v5 server says why it closes.
      const properties: Properties | undefined = this.#isProblemInformationRequested ? { reasonString } : undefined;
      this.#sendPacket({ type: PacketType.Disconnect, reasonCode, properties });
    }
    this.#connection.end();
    if (!wasConnected) {
      this.#state = 'closed';
      return;
    }
    this.handleClose();
  }

  handleConnectTimeout(): void {
    if (this.#state === 'awaiting-connect') {
      this.#state = 'closed';
      this.#connection.destroy();
    }
  }

  // ---- encoding ----------------------------------------------------------------------------------------------

  #sendPacket(packet: Packet): void {
    if (this.protocolVersion === 5 && !this.#isProblemInformationRequested && 'properties' in packet) {
      // [MQTT-3.1.2-29] no reason string / user properties except on PUBLISH, CONNACK, DISCONNECT.
      const type = packet.type;
      if (
        type !== PacketType.Publish &&
        type !== PacketType.Connack &&
        type !== PacketType.Disconnect &&
        packet.properties !== undefined
      ) {
        packet = withoutProperties(packet);
      }
    }
    let bytes = encodePacket(packet, this.protocolVersion);
    if (bytes.length > this.#clientMaxPacketSize && 'properties' in packet && packet.properties !== undefined) {
      // [MQTT-3.1.2-25] drop the optional parts rather than exceed the client's maximum.
      bytes = encodePacket(withoutProperties(packet), this.protocolVersion);
    }
    this.#connection.send(bytes);
  }

  /** Whether a v5 PUBLISH to this client carries only the message's own properties (no alias, ids, expiry). */
  #needsNoOwnProperties(message: Message, subscriptionIds: number[] | undefined): boolean {
    return subscriptionIds === undefined && message.expiresAtMs === 0 && this.#clientTopicAliasMaximum === 0;
  }

  #encodeV5PublishHead(
    message: Message,
    qos: QoS,
    isRetained: boolean,
    subscriptionIds: number[] | undefined,
    packetId: number,
    isDuplicate: boolean,
  ): Buffer {
    let properties = message.properties;
    let topicName = message.topicName;
    this.#newAliasTopic = undefined;
    const needsOwnProperties =
      subscriptionIds !== undefined || message.expiresAtMs !== 0 || this.#clientTopicAliasMaximum > 0;
    if (needsOwnProperties) {
      properties = properties === undefined ? {} : { ...properties };
      if (subscriptionIds !== undefined) properties.subscriptionIdentifiers = subscriptionIds;
      if (message.expiresAtMs !== 0) properties.messageExpiryInterval = remainingExpirySeconds(message, Date.now());
      if (this.#clientTopicAliasMaximum > 0) {
        const aliases = (this.#outboundAliases ??= new Map<string, number>());
        const alias = aliases.get(topicName);
        if (alias !== undefined) {
          properties.topicAlias = alias;
          topicName = '';
        } else if (aliases.size < this.#clientTopicAliasMaximum) {
          const next = aliases.size + 1;
          aliases.set(topicName, next);
          properties.topicAlias = next;
          this.#newAliasTopic = topicName;
        }
      }
    }
    return encodePublishHead(topicName, message.payload.length, qos, isRetained, isDuplicate, packetId, properties, 5);
  }
}

/** The same packet without its optional properties (reason string, user properties). */
function withoutProperties(packet: Exclude<Packet, { type: 12 | 13 }>): Packet {
  const copy: Exclude<Packet, { type: 12 | 13 }> = { ...packet };
  copy.properties = undefined;
  return copy;
}
