/**
 * JSON as ThingsBoard reads it: Gson's `JsonParser.parseString`, which is *lenient*. The ThingsBoard MQTT document's
 * own commands depend on it: `mosquitto_pub … -m "{"temperature":42}"` reaches the server as `{temperature:42}` (the
 * shell eats the inner quotes), and ThingsBoard stores `temperature = 42`. Accepted beyond strict JSON, as Gson's
 * lenient `JsonReader`: unquoted names and string values, single-quoted strings, `=` or `=>` between name and value,
 * `;` between members and elements, `//`, `#` and `/* … *\/` comments, and TRUE/False in any case. Strict JSON is
 * tried first (JSON.parse): this runs only for payloads that are not strict JSON.
 */
import type { JsonValue } from '../../platform/model.js';

/** Parses Gson-lenient JSON; throws SyntaxError. */
export function parseLenientJson(text: string): JsonValue {
  const parser = new LenientParser(text);
  const value = parser.value();
  parser.end();
  return value;
}

/** Gson's `isLiteral`: characters that end an unquoted literal. */
const DELIMITERS = new Set(['/', '\\', ';', '#', '=', '{', '}', '[', ']', ':', ',', ' ', '\t', '\f', '\r', '\n']);
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?$/;
const ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

class LenientParser {
  readonly #text: string;
  #pos = 0;

  constructor(text: string) {
    this.#text = text;
  }

  value(): JsonValue {
    this.#skip();
    const c = this.#text[this.#pos];
    if (c === undefined) throw this.#error('a value');
    if (c === '{') return this.#object();
    if (c === '[') return this.#array();
    if (c === '"' || c === "'") return this.#quoted(c);
    return this.#literalValue(this.#literal());
  }

  end(): void {
    this.#skip();
    if (this.#pos < this.#text.length) throw this.#error('the end of the document');
  }

  #object(): { [key: string]: JsonValue } {
    this.#pos++; // {
    const out: { [key: string]: JsonValue } = {};
    for (;;) {
      this.#skip();
      const c = this.#text[this.#pos];
      if (c === '}') {
        this.#pos++;
        return out;
      }
      const name = c === '"' || c === "'" ? this.#quoted(c) : this.#literal();
      this.#skip();
      const separator = this.#text[this.#pos];
      if (separator === ':') this.#pos++;
      else if (separator === '=') this.#pos += this.#text[this.#pos + 1] === '>' ? 2 : 1;
      else throw this.#error("':'");
      out[name] = this.value();
      this.#skip();
      const next = this.#text[this.#pos];
      if (next === ',' || next === ';') this.#pos++;
      else if (next !== '}') throw this.#error("',' or '}'");
    }
  }

  #array(): JsonValue[] {
    this.#pos++; // [
    const out: JsonValue[] = [];
    for (;;) {
      this.#skip();
      if (this.#text[this.#pos] === ']') {
        this.#pos++;
        return out;
      }
      out.push(this.value());
      this.#skip();
      const next = this.#text[this.#pos];
      if (next === ',' || next === ';') this.#pos++;
      else if (next !== ']') throw this.#error("',' or ']'");
    }
  }

  #quoted(quote: string): string {
    let out = '';
    let i = this.#pos + 1;
    const text = this.#text;
    for (;;) {
      const c = text[i];
      if (c === undefined) throw this.#error('a closing quote');
      if (c === quote) break;
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.#error('a \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
          continue;
        }
        if (e === undefined) throw this.#error('an escape');
        out += ESCAPES[e] ?? e;
        i += 2;
        continue;
      }
      out += c;
      i++;
    }
    this.#pos = i + 1;
    return out;
  }

  #literal(): string {
    const start = this.#pos;
    const text = this.#text;
    while (this.#pos < text.length && !DELIMITERS.has(text[this.#pos]!)) this.#pos++;
    if (this.#pos === start) throw this.#error('a value');
    return text.slice(start, this.#pos);
  }

  #literalValue(literal: string): JsonValue {
    const lower = literal.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    if (lower === 'null') return null;
    return NUMBER.test(literal) ? Number(literal) : literal;
  }

  /** Whitespace and comments. */
  #skip(): void {
    const text = this.#text;
    for (;;) {
      const c = text[this.#pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
        this.#pos++;
      } else if (c === '#' || (c === '/' && text[this.#pos + 1] === '/')) {
        const eol = text.indexOf('\n', this.#pos);
        this.#pos = eol < 0 ? text.length : eol + 1;
      } else if (c === '/' && text[this.#pos + 1] === '*') {
        const close = text.indexOf('*/', this.#pos + 2);
        if (close < 0) throw this.#error("'*/'");
        this.#pos = close + 2;
      } else {
        return;
      }
    }
  }

  #error(expected: string): SyntaxError {
    return new SyntaxError(`expected ${expected} at position ${String(this.#pos)}`);
  }
}
