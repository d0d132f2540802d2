'use strict';
/**
 * Values on the wire: JSON payloads (`motet.v1.Payload{encoding: "json", data}`), written byte
 * for byte as the Python SDK writes them (`json.dumps(v, separators=(",", ":"),
 * ensure_ascii=False, allow_nan=False)`), so a canvas built here and the same canvas built in
 * Python are the same bytes.
 *
 * Numbers: a JavaScript number that is a safe integer is a JSON integer (a Python int); any other
 * finite number is written as Python writes a float (`1e+16`, `0.1`, `1.5e-07`,
 * `9007199254740992.0`); a BigInt is an integer of any size. NaN and Infinity are refused.
 *
 * Besides plain JSON (null, booleans, numbers, strings, arrays, plain objects), the values
 * kombu's JSON carries are written as `{"__type__": T, "__value__": V}` objects: a `Date` is a
 * `datetime` (UTC, Python's isoformat), a `Buffer` / `Uint8Array` is `bytes` (UTF-8) or
 * `base64`. An object with a `toJSON()` method is encoded as what it returns. Anything else
 * (Map, Set, class instances, functions, symbols) is refused with an EncodeError naming what was
 * being encoded. `undefined` follows JSON.stringify: dropped from objects, null in arrays.
 *
 * Decoding reads JSON back: integers beyond Number.MAX_SAFE_INTEGER become BigInts (so a Python
 * big int survives), tagged objects become a Date (`datetime`), a Buffer (`bytes`, `base64`) or
 * their text (`date`, `time`, `decimal`, `uuid` as its dashed hex); an unknown `__type__` is
 * refused, as the protocol asks.
 */

const { EncodeError } = require('./errors');

/** The default (and only) encoding. */
const JSON_ENCODING = 'json';

/** The largest encoded value accepted (1 MiB), as `motet.settings.MAX_PAYLOAD_BYTES`. */
const MAX_PAYLOAD_BYTES = 1 << 20;

const TYPE = '__type__';
const VALUE = '__value__';

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * A finite non-integer (or unsafe integer) number as Python's `repr(float)` writes it.
 * @param {number} x
 * @returns {string}
 */
function pythonFloat(x) {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument gives the shortest digits that read back as x, as
  // Python's repr does; only the layout differs.
  const [mantissa, exp] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exponent = Number(exp);
  const decpt = exponent + 1; // where the decimal point goes, counted from the first digit
  if (decpt > 16 || decpt < -3) {
    const frac = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exponent).toString().padStart(2, '0');
    return `${sign}${frac}e${exponent < 0 ? '-' : '+'}${e}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt < digits.length) return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
}

function pad(n, width) {
  return String(n).padStart(width, '0');
}

/**
 * A Date as Python's `datetime.isoformat()` of the same UTC time ("2026-12-01T21:17:20.500000+00:00").
 * @param {Date} d
 * @returns {string}
 */
function pythonIsoformat(d) {
  const base =
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  const ms = d.getUTCMilliseconds();
  return `${base}${ms ? `.${pad(ms * 1000, 6)}` : ''}+00:00`;
}

function tagged(kind, value) {
  return `{"${TYPE}":${JSON.stringify(kind)},"${VALUE}":${value}}`;
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Encodes one value as Python's compact JSON.
 * @param {*} value
 * @param {string} what - What the value is, for the error message ("task proj.add argument 1").
 * @param {Set<object>} seen - Containers on the current path (a cycle is refused).
 * @returns {string|undefined} undefined for a value JSON drops (undefined, in an object).
 */
function dump(value, what, seen) {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'number':
      if (!Number.isFinite(value)) {
        throw new EncodeError(`${what}: ${value} cannot be encoded as JSON (only finite numbers)`);
      }
      return Number.isSafeInteger(value) ? String(value) : pythonFloat(value);
    case 'object':
      break;
    default:
      throw new EncodeError(`${what}: a ${typeof value} cannot be encoded as JSON`);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new EncodeError(`${what}: an invalid Date cannot be encoded`);
    return tagged('datetime', JSON.stringify(pythonIsoformat(value)));
  }
  if (value instanceof Uint8Array) {
    try {
      return tagged('bytes', JSON.stringify(utf8Strict.decode(value)));
    } catch {
      return tagged('base64', JSON.stringify(Buffer.from(value).toString('base64')));
    }
  }
  if (seen.has(value)) throw new EncodeError(`${what}: the value contains itself (a cycle)`);
  if (Array.isArray(value)) {
    seen.add(value);
    const parts = value.map((item, i) => dump(item, `${what}[${i}]`, seen) ?? 'null');
    seen.delete(value);
    return `[${parts.join(',')}]`;
  }
  if (typeof value.toJSON === 'function') {
    return dump(value.toJSON(), what, seen);
  }
  if (!isPlainObject(value)) {
    const name = value.constructor && value.constructor.name ? value.constructor.name : 'object';
    throw new EncodeError(
      `${what}: a ${name} cannot be encoded as JSON; pass arrays, plain objects, strings, numbers, ` +
        'BigInts, booleans, null, Dates or Buffers',
    );
  }
  seen.add(value);
  const parts = [];
  for (const key of Object.keys(value)) {
    const item = dump(value[key], `${what}[${JSON.stringify(key)}]`, seen);
    if (item !== undefined) parts.push(`${JSON.stringify(key)}:${item}`);
  }
  seen.delete(value);
  return `{${parts.join(',')}}`;
}

/**
 * The JSON text of a value, as the Python SDK writes it.
 * @param {*} value
 * @param {string} [what]
 * @returns {string}
 */
function toJson(value, what = 'value') {
  const text = dump(value, what, new Set());
  return text === undefined ? 'null' : text;
}

/**
 * Encodes a value as a JSON payload.
 * @param {*} value - JSON data (see the module comment).
 * @param {string} [what] - What the value is, named in any error.
 * @returns {{encoding: string, data: Buffer}} a `motet.v1.Payload` object.
 * @throws {EncodeError} if the value is not JSON data or is larger than MAX_PAYLOAD_BYTES.
 */
function encode(value, what = 'value') {
  const data = Buffer.from(toJson(value, what), 'utf8');
  if (data.length > MAX_PAYLOAD_BYTES) {
    throw new EncodeError(
      `${what}: ${data.length} bytes encoded exceeds the ${MAX_PAYLOAD_BYTES}-byte payload limit ` +
        '(resource exhausted); store large data elsewhere and pass a reference',
    );
  }
  return { encoding: JSON_ENCODING, data };
}

/**
 * Encodes a task's positional arguments (an array).
 * @param {Array} args
 * @param {string} task - The task name, for error messages.
 */
function encodeArgs(args, task) {
  if (!Array.isArray(args)) throw new EncodeError(`task ${task}: args must be an array`);
  return encode(args, `task ${task} arguments`);
}

/**
 * Encodes a task's keyword arguments (a plain object).
 * @param {object} kwargs
 * @param {string} task - The task name, for error messages.
 */
function encodeKwargs(kwargs, task) {
  if (kwargs === null || typeof kwargs !== 'object' || Array.isArray(kwargs) || !isPlainObject(kwargs)) {
    throw new EncodeError(`task ${task}: kwargs must be a plain object`);
  }
  return encode(kwargs, `task ${task} keyword arguments`);
}

// -- decoding ------------------------------------------------------------------------------

const DECODERS = {
  datetime: (v) => {
    const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`); // naive: UTC, as in Celery
    if (Number.isNaN(d.getTime())) throw new Error('not an ISO 8601 date and time');
    return d;
  },
  date: (v) => String(v),
  time: (v) => String(v),
  decimal: (v) => String(v),
  uuid: (v) => {
    const h = String(v.hex);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  },
  bytes: (v) => Buffer.from(String(v), 'utf8'),
  base64: (v) => Buffer.from(String(v), 'base64'),
};

function untag(obj) {
  const keys = Object.keys(obj);
  if (keys.length !== 2 || !(TYPE in obj) || !(VALUE in obj)) return obj;
  const decoder = DECODERS[obj[TYPE]];
  if (!decoder) throw new EncodeError(`payload holds a value of unknown type ${JSON.stringify(obj[TYPE])} (kombu JSON form)`);
  try {
    return decoder(obj[VALUE]);
  } catch (err) {
    throw new EncodeError(`payload holds a malformed ${obj[TYPE]} value: ${err.message}`);
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * Parses JSON text, integers beyond the safe range as BigInts and kombu's tagged objects as values.
 * @param {string} text
 */
function parseJson(text) {
  let i = 0;
  const fail = (msg) => {
    throw new EncodeError(`payload is not valid JSON: ${msg} at position ${i}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const key = string();
        ws();
        if (text[i++] !== ':') fail("expected ':'");
        obj[key] = value();
        ws();
        const next = text[i++];
        if (next === '}') return untag(obj);
        if (next !== ',') fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        const next = text[i++];
        if (next === ']') return arr;
        if (next !== ',') fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m) {
      i += m[0].length;
      if (!m[1] && !m[2]) {
        const n = Number(m[0]);
        return Number.isSafeInteger(n) ? n : BigInt(m[0]);
      }
      return Number(m[0]);
    }
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    // Python's json also reads NaN / Infinity, which a Python task may return.
    for (const [word, v] of [['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    return fail('unexpected character');
  };
  const string = () => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    try {
      return JSON.parse(text.slice(start, i));
    } catch (err) {
      return fail(err.message);
    }
  };
  const out = value();
  ws();
  if (i !== text.length) fail('extra data');
  return out;
}

/**
 * Decodes a payload.
 * @param {{encoding?: string, data?: Uint8Array}|null|undefined} payload - A `motet.v1.Payload`.
 * @param {*} [fallback] - What an empty payload decodes to.
 * @returns {*}
 * @throws {EncodeError} for another encoding, invalid JSON or an unknown tagged type.
 */
function decode(payload, fallback = null) {
  if (!payload || !payload.data || payload.data.length === 0) return fallback;
  if (payload.encoding && payload.encoding !== JSON_ENCODING) {
    throw new EncodeError(`payload encoding ${JSON.stringify(payload.encoding)} is not supported by this SDK (only 'json')`);
  }
  return parseJson(Buffer.from(payload.data).toString('utf8'));
}

module.exports = {
  JSON_ENCODING,
  MAX_PAYLOAD_BYTES,
  decode,
  encode,
  encodeArgs,
  encodeKwargs,
  parseJson,
  pythonFloat,
  pythonIsoformat,
  toJson,
};
