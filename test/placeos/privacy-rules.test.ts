/**
 * Privacy filters (issue 5 "Privacy filters", device-apis.md §1.4): each action on real e-mail-like values, the
 * built-in rules, rule order, clear errors for bad rules, and that no filter ever produces invalid JSON.
 */
import '../helpers/fast-check-seed.js';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { PrivacyRule } from '../../src/dialects/placeos/feed-types.js';
import { BUILTIN_PRIVACY_PATTERNS, compilePrivacyRules, PrivacyRuleError } from '../../src/dialects/placeos/privacy.js';

const SECRET = 'b2f1c0ffee';
const hmac = (text: string): string => createHmac('sha256', SECRET).update(text).digest('hex');
const EMAIL = 'builtin:email';

function filtered(rules: PrivacyRule[], value: unknown): unknown {
  const out = compilePrivacyRules(rules, SECRET).apply(JSON.stringify(value));
  return out === undefined ? undefined : JSON.parse(out);
}

describe('privacy filter actions', () => {
  it('hash replaces each e-mail address with its HMAC-SHA256 under the target secret, in hex', () => {
    const value = 'Meeting booked by jane.doe@example.com for j.smith+vc@corp.example.co.uk';
    assert.equal(
      filtered([{ pattern: EMAIL, action: 'hash' }], value),
      `Meeting booked by ${hmac('jane.doe@example.com')} for ${hmac('j.smith+vc@corp.example.co.uk')}`,
    );
  });

  it('the same address hashes the same everywhere, so analytics can still count distinct people', () => {
    const out = filtered([{ pattern: EMAIL, action: 'hash' }], {
      organizer: 'a@b.io',
      attendees: ['a@b.io', 'c@d.io'],
    });
    assert.deepEqual(out, { organizer: hmac('a@b.io'), attendees: [hmac('a@b.io'), hmac('c@d.io')] });
  });

  it('mask with a fixed string replaces the whole match', () => {
    assert.equal(
      filtered([{ pattern: EMAIL, action: 'mask', replacement: '[redacted]' }], 'host: ops@switchboard.example'),
      'host: [redacted]',
    );
  });

  it('mask keeping the last N characters stars the rest, character by character', () => {
    assert.equal(filtered([{ pattern: EMAIL, action: 'mask', keepLast: 4 }], 'bob@mail.io'), '*******l.io');
    // Code points, not UTF-16 units: an astral character is one star and never split.
    assert.equal(filtered([{ pattern: 'x😀y', action: 'mask', keepLast: 1 }], 'ax😀yb'), 'a**yb');
  });

  it('mask with a replacement and keepLast keeps the tail after the replacement', () => {
    assert.equal(
      filtered([{ pattern: '\\d{12,19}', action: 'mask', replacement: 'XXXX-', keepLast: 4 }], 'card 4111111111111111'),
      'card XXXX-1111',
    );
  });

  it('drop suppresses the whole change when any string in it matches', () => {
    const rules: PrivacyRule[] = [{ pattern: EMAIL, action: 'drop' }];
    assert.equal(filtered(rules, { room: 'L24', booking: { owner: 'x@y.example' } }), undefined);
    assert.deepEqual(filtered(rules, { room: 'L24', booking: { owner: 'unknown' } }), {
      room: 'L24',
      booking: { owner: 'unknown' },
    });
  });

  it('object keys are filtered too', () => {
    assert.deepEqual(filtered([{ pattern: EMAIL, action: 'mask', replacement: '?' }], { 'al@ex.com': 3 }), { '?': 3 });
  });

  it('a key named __proto__ stays a key', () => {
    const json = '{"__proto__":"a@b.io","x":1}';
    const out = compilePrivacyRules([{ pattern: EMAIL, action: 'mask', replacement: 'e' }], SECRET).apply(json);
    assert.equal(out, '{"__proto__":"e","x":1}');
  });

  it('a number a rule changes becomes a string; numbers no rule touches keep their type', () => {
    const rules: PrivacyRule[] = [{ pattern: '^\\d{6}$', action: 'mask', keepLast: 2 }];
    assert.deepEqual(filtered(rules, { staff: 123456, floor: 24, ok: true, none: null }), {
      staff: '****56',
      floor: 24,
      ok: true,
      none: null,
    });
  });

  it('rules apply in order, each to what the previous left', () => {
    const rules: PrivacyRule[] = [
      { pattern: EMAIL, action: 'mask', replacement: 'someone@hidden.invalid' },
      { pattern: 'hidden', action: 'mask', replacement: 'masked' },
    ];
    assert.equal(filtered(rules, 'me@x.org'), 'someone@masked.invalid');
  });

  it('anchors apply to each string, not to the serialized value', () => {
    assert.deepEqual(filtered([{ pattern: '^secret$', action: 'drop' }], ['public', 'not a secret']), [
      'public',
      'not a secret',
    ]);
    assert.equal(filtered([{ pattern: '^secret$', action: 'drop' }], ['public', 'secret']), undefined);
  });

  it('no rules leaves the serialized value exactly as it was', () => {
    const json = '{"a":[1,2.5,"x"],"b":null}';
    assert.equal(compilePrivacyRules([], SECRET).apply(json), json);
  });
});

describe('built-in privacy rules', () => {
  it('builtin:email finds addresses inside text and leaves look-alikes alone', () => {
    const rules: PrivacyRule[] = [{ pattern: EMAIL, action: 'mask', replacement: '<e>' }];
    assert.equal(
      filtered(
        rules,
        'To: "Ann" <ann_o-neil@sub.example.org>, cc: first.last@example.museum; not: user@localhost, @handle, a@b',
      ),
      'To: "Ann" <<e>>, cc: <e>; not: user@localhost, @handle, a@b',
    );
  });

  it('builtin:user-id finds PlaceOS user ids and Switchboard’s (UUIDs)', () => {
    const rules: PrivacyRule[] = [{ pattern: 'builtin:user-id', action: 'hash' }];
    const uuid = '3f2b8c1e-9d4a-4e6b-8f0a-1c2d3e4f5a6b';
    assert.equal(
      filtered(rules, `checked in: user-FkDtfbTl9D, by ${uuid}`),
      `checked in: ${hmac('user-FkDtfbTl9D')}, by ${hmac(uuid)}`,
    );
    assert.equal(filtered(rules, 'superuser-x, user-abc, 3f2b8c1e-9d4a'), 'superuser-x, user-abc, 3f2b8c1e-9d4a');
  });

  it('the built-in patterns are exported by name', () => {
    assert.deepEqual(Object.keys(BUILTIN_PRIVACY_PATTERNS).sort(), ['email', 'user-id']);
  });

  it('builtin:email stays fast on long strings that almost match', () => {
    // A backtracking-prone pattern would take minutes here; this one scans each run of characters once.
    const long = 'a'.repeat(200_000) + '@' + 'b'.repeat(200_000);
    assert.equal(filtered([{ pattern: EMAIL, action: 'drop' }], long), long);
  });
});

describe('bad privacy rules', () => {
  const reject = (rules: PrivacyRule[], index: number, detail: RegExp): void => {
    assert.throws(
      () => compilePrivacyRules(rules, SECRET),
      (error: unknown) =>
        error instanceof PrivacyRuleError &&
        error.code === 'INVALID_PRIVACY_RULE' &&
        error.ruleIndex === index &&
        error.message.startsWith(`filters[${String(index)}]: `) &&
        detail.test(error.message),
    );
  };

  it('an invalid regular expression is refused, naming the rule and the problem', () => {
    reject(
      [
        { pattern: 'ok', action: 'hash' },
        { pattern: '([a-z]+', action: 'hash' },
      ],
      1,
      /invalid regular expression: .*Unterminated group/,
    );
  });

  it('a pattern that matches the empty string is refused', () => {
    reject([{ pattern: 'a*', action: 'mask' }], 0, /matches the empty string/);
  });

  it('an unknown built-in and an unknown action are refused', () => {
    reject([{ pattern: 'builtin:phone', action: 'hash' }], 0, /no built-in rule "phone": use one of builtin:email/);
    reject([{ pattern: 'x', action: 'encrypt' as 'hash' }], 0, /unknown action "encrypt"/);
  });

  it('mask options on another action, and a negative keepLast, are refused', () => {
    reject([{ pattern: 'x', action: 'hash', keepLast: 2 }], 0, /apply to the mask action only/);
    reject([{ pattern: 'x', action: 'mask', keepLast: -1 }], 0, /keepLast must be an integer/);
  });
});

describe('privacy filters and JSON', () => {
  const anyRule = fc.oneof(
    fc.constant<PrivacyRule>({ pattern: EMAIL, action: 'hash' }),
    fc.constant<PrivacyRule>({ pattern: EMAIL, action: 'mask', keepLast: 3 }),
    // Patterns that span what would be JSON syntax in the serialized text: quotes, backslashes, braces, commas.
    fc.constant<PrivacyRule>({ pattern: '["\\\\{},:\\[\\]]+', action: 'mask', replacement: '"}\\' }),
    fc.constant<PrivacyRule>({ pattern: '.', action: 'mask', keepLast: 1 }),
    fc.constant<PrivacyRule>({ pattern: '\\d+', action: 'hash' }),
    fc.constant<PrivacyRule>({ pattern: 'e-?\\d', action: 'mask', replacement: '' }),
    fc.constant<PrivacyRule>({ pattern: '[\\uD800-\\uDFFF]', action: 'mask', replacement: '\\u' }),
  );
  const emailLike = fc.emailAddress();
  const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), emailLike, fc.constantFrom('"', '\\', '\u2028'));
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      text,
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('node')),
      fc.dictionary(text, tie('node')),
    ),
  })).node;

  it('whatever the rules and the value, the output is valid JSON (or the change is dropped)', () => {
    fc.assert(
      fc.property(fc.array(anyRule, { maxLength: 4 }), value, (rules, input) => {
        const out = compilePrivacyRules(rules, SECRET).apply(JSON.stringify(input));
        if (out !== undefined) JSON.parse(out);
      }),
      { numRuns: 500 },
    );
  });

  it('values without a match come out equal to what went in', () => {
    fc.assert(
      fc.property(value, (input) => {
        const json = JSON.stringify(input);
        const out = compilePrivacyRules([{ pattern: 'NEVER-PRESENT-\\u0000', action: 'hash' }], SECRET).apply(json);
        assert.deepEqual(JSON.parse(out!), JSON.parse(json));
      }),
      { numRuns: 300 },
    );
  });
});
