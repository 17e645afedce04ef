import type { SerializedHistogram } from './protocol.js';

/** Values below this many microseconds get a bucket each (exact to 1 µs). */
const LINEAR_LIMIT_MICROS = 2048;
/** Above the linear range, each power of two is split into this many buckets (≤ 0.1 % error). */
const SUB_BUCKETS = 1024;
const SUB_BUCKET_BITS = 10;
/** Covers up to 2^41 µs (about 25 days); anything larger lands in the last bucket. */
const MAX_EXPONENT = 30;
const BUCKET_COUNT = LINEAR_LIMIT_MICROS + MAX_EXPONENT * SUB_BUCKETS;

/**
 * A log-linear latency histogram in microseconds (HdrHistogram's idea, a few lines of it): constant memory whatever
 * the sample count, mergeable across load processes, percentiles within 0.1 %.
 */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKET_COUNT);
  #count = 0;
  #maxMicros = 0;

  /** Records one latency; negative values (clock noise) count as 0. */
  record(micros: number): void {
    const value = micros > 0 ? Math.floor(micros) : 0;
    this.#counts[bucketOf(value)]!++;
    this.#count++;
    if (value > this.#maxMicros) this.#maxMicros = value;
  }

  get count(): number {
    return this.#count;
  }

  /** Adds the samples of a histogram received from another process. */
  merge(other: SerializedHistogram): void {
    for (const [bucket, count] of other.buckets) this.#counts[bucket] = this.#counts[bucket]! + count;
    this.#count += other.count;
    if (other.maxMicros > this.#maxMicros) this.#maxMicros = other.maxMicros;
  }

  /** The value at `percentile` (0–100) in microseconds (bucket lower bound), or NaN without samples. */
  percentileMicros(percentile: number): number {
    if (this.#count === 0) return Number.NaN;
    if (percentile >= 100) return this.#maxMicros;
    const rank = Math.max(1, Math.ceil((percentile / 100) * this.#count));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKET_COUNT; bucket++) {
      seen += this.#counts[bucket]!;
      if (seen >= rank) return Math.min(lowerBoundOf(bucket), this.#maxMicros);
    }
    return this.#maxMicros;
  }

  get maxMicros(): number {
    return this.#maxMicros;
  }

  serialize(): SerializedHistogram {
    const buckets: [number, number][] = [];
    for (let bucket = 0; bucket < BUCKET_COUNT; bucket++) {
      const count = this.#counts[bucket]!;
      if (count !== 0) buckets.push([bucket, count]);
    }
    return { buckets, count: this.#count, maxMicros: this.#maxMicros };
  }
}

function bucketOf(value: number): number {
  if (value < LINEAR_LIMIT_MICROS) return value;
  // value ≥ 2^11: keep its top 11 bits; exponent 1 covers [2^11, 2^12).
  const exponent = Math.min(Math.floor(Math.log2(value)) - SUB_BUCKET_BITS, MAX_EXPONENT);
  const mantissa = Math.max(0, Math.min(Math.floor(value / 2 ** exponent), 2 * SUB_BUCKETS - 1) - SUB_BUCKETS);
  return LINEAR_LIMIT_MICROS + (exponent - 1) * SUB_BUCKETS + mantissa;
}

function lowerBoundOf(bucket: number): number {
  if (bucket < LINEAR_LIMIT_MICROS) return bucket;
  const offset = bucket - LINEAR_LIMIT_MICROS;
  const exponent = Math.floor(offset / SUB_BUCKETS) + 1;
  return (SUB_BUCKETS + (offset % SUB_BUCKETS)) * 2 ** exponent;
}
