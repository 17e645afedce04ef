/** fast-check generators of stored records (imported by the contract suite; registers no tests). */
import fc from 'fast-check';
import '../helpers/fast-check-seed.js';
import type { Properties } from '../../src/mqtt/codec/index.js';
import type { StoredMessage } from '../../src/storage/index.js';

// Any code point (no lone surrogates: MQTT UTF-8 strings cannot carry them, [MQTT-1.5.4-1]), including U+0000.
const text = fc.string({ unit: 'binary', maxLength: 24 });
const bytes = fc.uint8Array({ maxLength: 64 }).map((array) => Buffer.from(array));
const uint32 = fc.integer({ min: 0, max: 0xffffffff });

/** The forwardable PUBLISH properties, each present or absent. */
export function arbitraryProperties(): fc.Arbitrary<Properties> {
  return fc.record(
    {
      payloadFormatIndicator: fc.constantFrom(0, 1),
      messageExpiryInterval: uint32,
      contentType: text,
      responseTopic: text,
      correlationData: bytes,
      subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { maxLength: 4 }),
      userProperties: fc.array(fc.tuple(text, text), { maxLength: 6 }),
    },
    { requiredKeys: [], noNullPrototype: true },
  );
}

/** A stored message with arbitrary content. */
export function arbitraryMessage(): fc.Arbitrary<StoredMessage> {
  return fc.record(
    {
      id: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      topicName: text,
      payload: bytes,
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      isRetained: fc.boolean(),
      properties: fc.option(arbitraryProperties(), { nil: undefined }),
      expiresAtMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      publisherClientId: text,
    },
    { noNullPrototype: true },
  );
}
