/**
 * Storing one accepted Medium One event, for MQTT and REST alike: the event (stream, `at`, `atText`, `event_data` with
 * `device_id` added) through `platform.postEvents`, and each leaf of `event_data` as a telemetry point at the event's
 * time through `platform.postTelemetry`. Both go through the group commit, so they are in the store, and on the state
 * change bus, when the returned promise resolves.
 */
import type { Device, JsonValue } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { UnknownDeviceError } from '../../storage/platform-store.js';
import type { MediumOneIdentity } from './auth.js';
import type { MediumOneDevices } from './devices.js';
import { eventTelemetry, type ParsedEvent } from './event.js';

export class EventIngest {
  readonly #platform: Platform;
  readonly #devices: MediumOneDevices;

  constructor(platform: Platform, devices: MediumOneDevices) {
    this.#platform = platform;
    this.#devices = devices;
  }

  /**
   * Stores the event of `deviceId` ('' = the user's own device). Rejects with the writer's error (OverloadedError when
   * the store is behind); a device deleted while the event was on its way is created again, once.
   */
  async ingest(identity: MediumOneIdentity, deviceId: string, event: ParsedEvent): Promise<Device> {
    const device = await this.#devices.resolve(identity, deviceId);
    try {
      await this.#post(device, deviceId, event);
      return device;
    } catch (error) {
      // The whole batch failed because some device of it was gone; nothing of ours was stored.
      if (!(error instanceof UnknownDeviceError)) throw error;
      for (const id of error.deviceIds) this.#devices.forget(id);
      const again = await this.#devices.resolve(identity, deviceId);
      await this.#post(again, deviceId, event);
      return again;
    }
  }

  #post(device: Device, deviceId: string, event: ParsedEvent): Promise<unknown> {
    // [M1-TOPICS] newer revision: the topic's device id is added to event_data as "device_id" (when not empty).
    const data: { [key: string]: JsonValue } =
      deviceId.length === 0 ? event.eventData : { ...event.eventData, device_id: deviceId };
    const points = eventTelemetry(event.eventData, event.at);
    return Promise.all([
      this.#platform.committed((done) => {
        this.#platform.postEvents(
          device,
          [{ stream: event.stream, at: event.at, atText: event.atText, data, expiresAt: null }],
          done,
        );
      }),
      this.#platform.committed((done) => {
        this.#platform.postTelemetry(device, points, done);
      }),
    ]);
  }
}
