/**
 * The type-tag encoding of telemetry and attribute values, shared by both platform stores. A value is stored as a
 * tag plus one typed column (ThingsBoard's ts_kv layout), so a JSON boolean, number, string, object or array comes
 * back as the same JS value and numbers can be aggregated in SQL without parsing text.
 */
import type { DataValue, JsonValue } from '../../platform/model.js';

/** The tag in the `type` column. Numbers, not text: the tag is in every telemetry row. */
export const ValueType = { Boolean: 0, Long: 1, Double: 2, String: 3, Json: 4 } as const;
export type ValueType = (typeof ValueType)[keyof typeof ValueType];

/** The largest tag, for CHECK constraints. */
export const maxValueType: ValueType = ValueType.Json;

/**
 * The typed columns of one value, in schema order: type, bool_v (0/1), long_v, dbl_v, str_v, json_v. Exactly one
 * of the value columns is non-null.
 */
export type ValueColumns = [
  type: ValueType,
  boolV: 0 | 1 | null,
  longV: number | null,
  dblV: number | null,
  strV: string | null,
  jsonV: string | null,
];

/**
 * Encodes one value. Safe integers go to the 64-bit column and other numbers to the double column; JS cannot tell
 * 1 from 1.0, so either way the same number comes back. -0 is stored as 0, as JSON.stringify writes it (SQLite keeps
 * no sign on a zero REAL). Throws a RangeError
 * for NaN and ±Infinity: JSON cannot carry them and a database would store them inconsistently (SQLite turns NaN
 * into NULL).
 */
export function encodeValue(value: DataValue): ValueColumns {
  switch (typeof value) {
    case 'boolean':
      return [ValueType.Boolean, value ? 1 : 0, null, null, null, null];
    case 'number':
      if (Number.isSafeInteger(value)) return [ValueType.Long, null, value === 0 ? 0 : value, null, null, null];
      if (!Number.isFinite(value)) throw new RangeError(`cannot store the number ${String(value)}`);
      return [ValueType.Double, null, null, value, null, null];
    case 'string':
      return [ValueType.String, null, null, null, value, null];
    default:
      return [ValueType.Json, null, null, null, null, JSON.stringify(value)];
  }
}

/**
 * Decodes the typed columns of one row. `boolV` is 0/1 from SQLite and a boolean from PostgreSQL. Throws on an
 * unknown tag: a row this code did not write.
 */
export function decodeValue(
  type: number,
  boolV: number | boolean | null,
  longV: number | null,
  dblV: number | null,
  strV: string | null,
  jsonV: string | null,
): DataValue {
  switch (type) {
    case ValueType.Boolean:
      return boolV === true || boolV === 1;
    case ValueType.Long:
      return longV!;
    case ValueType.Double:
      return dblV!;
    case ValueType.String:
      return strV!;
    case ValueType.Json:
      return JSON.parse(jsonV!) as JsonValue[] | { [key: string]: JsonValue };
    default:
      throw new Error(`unknown value type ${String(type)}`);
  }
}
