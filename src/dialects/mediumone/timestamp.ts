/**
 * Medium One timestamps (`observed_at`, the query's `since`/`until`): ISO-8601 date and time **with a zone**
 * (device-apis.md §4.3), e.g. `2014-06-11T02:11:25.076001Z` or `2016-02-16T15:14:08-08:00`. The platform stores epoch
 * milliseconds; the caller keeps the string as sent, so microseconds (and more) are not lost.
 */

// YYYY-MM-DD T HH:MM[:SS[.fraction]] (Z | ±HH[:]MM | ±HH). `t`/`z` and a space for `T` are accepted as RFC 3339 allows.
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** A parsed timestamp, or the reason it was refused. */
export type ParsedTimestamp = { ok: true; ms: number } | { ok: false; reason: string };

/** Parses an ISO-8601 timestamp with a zone to epoch ms (fractions below a millisecond are truncated). */
export function parseIsoTimestamp(text: string): ParsedTimestamp {
  const match = ISO_8601.exec(text);
  if (match === null) {
    const reason = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?$/.test(text)
      ? 'has no time zone (add Z or an offset such as +01:00)'
      : 'is not an ISO-8601 date and time with a time zone';
    return { ok: false, reason };
  }
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const hour = Number(match[4]);
  const minute = Number(match[5]);
  const second = match[6] === undefined ? 0 : Number(match[6]);
  const fraction = match[7] ?? '';
  const ms = fraction.length === 0 ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  if (month < 1 || month > 12) return { ok: false, reason: 'has a month outside 01..12' };
  const monthDays = month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
  if (day < 1 || day > monthDays) return { ok: false, reason: `has no day ${match[3]!} in that month` };
  if (hour > 23 || minute > 59 || second > 59) return { ok: false, reason: 'has a time of day out of range' };
  let offsetMinutes = 0;
  if (match[8] === undefined) {
    const offsetHours = Number(match[10]);
    const offsetMins = match[11] === undefined ? 0 : Number(match[11]);
    if (offsetHours > 23 || offsetMins > 59) return { ok: false, reason: 'has a time zone offset out of range' };
    offsetMinutes = (match[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  // Date.UTC maps years 0..99 to 1900..1999; setUTCFullYear does not.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, ms));
  date.setUTCFullYear(year);
  return { ok: true, ms: date.getTime() - offsetMinutes * 60_000 };
}

/** Epoch ms as `YYYY-MM-DDTHH:MM:SS.ffffffZ`: the six fraction digits Medium One's documents use. */
export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
