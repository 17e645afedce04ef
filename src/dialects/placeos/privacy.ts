/**
 * Privacy filters (issue 5, device-apis.md §1.4): an ordered list of rules per target, each a regular expression and
 * what to do with a match: `hash` (HMAC-SHA256 of the match with the target's secret, hex), `mask` (a fixed string, or
 * `*` for all but the last N characters) or `drop` (the change is not published at all).
 *
 * PlaceOS runs its regexes over the serialized value text and splices the hash in without quotes, so a pattern that
 * spans a quote yields invalid JSON (§1.4). Here the rules see the value's contents instead: every JSON string (object
 * keys included) and the text of every number, one at a time, and the value is serialized again afterwards; a number
 * a rule changed becomes a JSON string. Whatever the rules do, the output is valid JSON.
 */
import { createHmac } from 'node:crypto';
import type { PrivacyAction, PrivacyFilter, PrivacyRule } from './feed-types.js';

/** A rule that cannot be compiled; `ruleIndex` is its position in the list (the API answers 400 naming it). */
export class PrivacyRuleError extends Error {
  override readonly name = 'PrivacyRuleError';
  readonly code = 'INVALID_PRIVACY_RULE';
  readonly ruleIndex: number;
  constructor(ruleIndex: number, message: string, options?: ErrorOptions) {
    super(`filters[${String(ruleIndex)}]: ${message}`, options);
    this.ruleIndex = ruleIndex;
  }
}

/** Patterns naming a built-in rule start with this; the rest is the rule's name (`builtin:email`). */
export const BUILTIN_PREFIX = 'builtin:';

/**
 * The built-in patterns, selected in a rule by `"pattern": "builtin:<name>"` with the action of that rule.
 * - `email`: an e-mail address anywhere in a string (RFC 5322's dot-atom local part, a dotted domain). A match may
 *   only start where a run of address characters starts (the look-behind), so a long string costs one scan, never a
 *   backtracking search from every position.
 * - `user-id`: a user id as PlaceOS writes them (`user-` then at least 6 id characters) or as Switchboard's are (a
 *   UUID; other UUIDs in a value, a device id, match too: the cautious side), anywhere in a string.
 */
export const BUILTIN_PRIVACY_PATTERNS: Readonly<Record<string, string>> = {
  email:
    "(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*" +
    '@(?:[A-Za-z0-9-]+\\.)+[A-Za-z]{2,}(?![A-Za-z0-9-])',
  'user-id':
    '\\buser-[A-Za-z0-9_~-]{6,}(?![A-Za-z0-9_~-])|\\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\\b',
};

/** Bounds of one target's rule list, checked by compilePrivacyRules (the API schema says the same). */
export const PRIVACY_LIMITS = {
  maxRules: 64,
  maxPatternLength: 1024,
  maxReplacementLength: 256,
  maxKeepLast: 1024,
} as const;

interface CompiledRule {
  regex: RegExp;
  action: PrivacyAction;
  keepLast: number;
  replacement: string | undefined;
}

/** Why a pattern cannot be used, or undefined when it can. */
function patternProblem(regex: RegExp): string | undefined {
  regex.lastIndex = 0;
  // A pattern that matches nothing at all would hash or mask between every character.
  if (regex.test('')) return 'the pattern matches the empty string';
  return undefined;
}

function compileRule(rule: PrivacyRule, index: number): CompiledRule {
  const { action } = rule;
  if (action !== 'hash' && action !== 'mask' && action !== 'drop') {
    throw new PrivacyRuleError(index, `unknown action ${JSON.stringify(action)}: use hash, mask or drop`);
  }
  if (typeof rule.pattern !== 'string' || rule.pattern.length === 0) {
    throw new PrivacyRuleError(index, 'the pattern is empty');
  }
  if (rule.pattern.length > PRIVACY_LIMITS.maxPatternLength) {
    throw new PrivacyRuleError(
      index,
      `the pattern is longer than ${String(PRIVACY_LIMITS.maxPatternLength)} characters`,
    );
  }
  let source = rule.pattern;
  if (source.startsWith(BUILTIN_PREFIX)) {
    const name = source.slice(BUILTIN_PREFIX.length);
    const builtin = BUILTIN_PRIVACY_PATTERNS[name];
    if (builtin === undefined) {
      const known = Object.keys(BUILTIN_PRIVACY_PATTERNS).map((n) => BUILTIN_PREFIX + n);
      throw new PrivacyRuleError(index, `no built-in rule ${JSON.stringify(name)}: use one of ${known.join(', ')}`);
    }
    source = builtin;
  }
  let regex: RegExp;
  try {
    regex = new RegExp(source, 'g');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new PrivacyRuleError(index, `invalid regular expression: ${reason}`, { cause: error });
  }
  const problem = patternProblem(regex);
  if (problem !== undefined) throw new PrivacyRuleError(index, problem);
  const keepLast = rule.keepLast ?? 0;
  if (!Number.isInteger(keepLast) || keepLast < 0 || keepLast > PRIVACY_LIMITS.maxKeepLast) {
    throw new PrivacyRuleError(index, `keepLast must be an integer from 0 to ${String(PRIVACY_LIMITS.maxKeepLast)}`);
  }
  const { replacement } = rule;
  if (replacement !== undefined && replacement.length > PRIVACY_LIMITS.maxReplacementLength) {
    throw new PrivacyRuleError(
      index,
      `the replacement is longer than ${String(PRIVACY_LIMITS.maxReplacementLength)} characters`,
    );
  }
  if (action !== 'mask' && (rule.keepLast !== undefined || replacement !== undefined)) {
    throw new PrivacyRuleError(index, 'keepLast and replacement apply to the mask action only');
  }
  return { regex, action, keepLast, replacement };
}

/** Returned by the walk when a drop rule matched. */
const DROPPED: unique symbol = Symbol('dropped');

class CompiledFilter implements PrivacyFilter {
  readonly #rules: readonly CompiledRule[];
  readonly #secret: string;

  constructor(rules: readonly CompiledRule[], secret: string) {
    this.#rules = rules;
    this.#secret = secret;
  }

  apply(valueJson: string): string | undefined {
    let value: unknown;
    try {
      value = JSON.parse(valueJson);
    } catch {
      // The feed only hands over what JSON.stringify produced; anything else is treated as one string.
      const text = this.#text(valueJson);
      return text === DROPPED ? undefined : JSON.stringify(text);
    }
    const filtered = this.#walk(value);
    return filtered === DROPPED ? undefined : JSON.stringify(filtered);
  }

  #walk(value: unknown): unknown {
    if (typeof value === 'string') return this.#text(value);
    if (typeof value === 'number') {
      const text = JSON.stringify(value);
      const filtered = this.#text(text);
      return filtered === DROPPED ? DROPPED : filtered === text ? value : filtered;
    }
    if (Array.isArray(value)) {
      const out: unknown[] = new Array<unknown>(value.length);
      for (let i = 0; i < value.length; i++) {
        const item = this.#walk(value[i]);
        if (item === DROPPED) return DROPPED;
        out[i] = item;
      }
      return out;
    }
    if (value !== null && typeof value === 'object') {
      // No prototype: a key named `__proto__` stays a key instead of replacing the prototype.
      const out = Object.create(null) as Record<string, unknown>;
      for (const [key, item] of Object.entries(value)) {
        const filteredKey = this.#text(key);
        if (filteredKey === DROPPED) return DROPPED;
        const filteredItem = this.#walk(item);
        if (filteredItem === DROPPED) return DROPPED;
        out[filteredKey] = filteredItem;
      }
      return out;
    }
    return value; // booleans and null carry nothing to filter
  }

  /** One string through every rule in order; each rule sees what the previous ones left. */
  #text(input: string): string | typeof DROPPED {
    let text = input;
    for (const rule of this.#rules) {
      rule.regex.lastIndex = 0;
      if (rule.action === 'drop') {
        if (rule.regex.test(text)) return DROPPED;
        continue;
      }
      text = text.replace(rule.regex, (match) => this.#replace(rule, match));
    }
    return text;
  }

  #replace(rule: CompiledRule, match: string): string {
    if (rule.action === 'hash') return createHmac('sha256', this.#secret).update(match).digest('hex');
    // Code points, not UTF-16 units, so masking never splits a character.
    const chars = Array.from(match);
    const kept = Math.min(rule.keepLast, chars.length);
    const tail = chars.slice(chars.length - kept).join('');
    return (rule.replacement ?? '*'.repeat(chars.length - kept)) + tail;
  }
}

/** Passes values through untouched: a target without rules. */
const PASS_THROUGH: PrivacyFilter = { apply: (valueJson) => valueJson };

/**
 * Compiles a target's ordered rules; throws PrivacyRuleError naming the first bad rule. `secret` keys the hash action
 * (its UTF-8 bytes, so `printf %s <match> | openssl dgst -sha256 -hmac <secret>` gives the same hex).
 */
export function compilePrivacyRules(rules: readonly PrivacyRule[], secret: string): PrivacyFilter {
  if (rules.length > PRIVACY_LIMITS.maxRules) {
    throw new PrivacyRuleError(PRIVACY_LIMITS.maxRules, `at most ${String(PRIVACY_LIMITS.maxRules)} rules`);
  }
  const compiled = rules.map((rule, index) => compileRule(rule, index));
  return compiled.length === 0 ? PASS_THROUGH : new CompiledFilter(compiled, secret);
}
