/**
 * An incremental JSON parser: text arrives in pieces (any split, even inside a token or an
 * escape), the value is built as it goes, and only the token in progress is held besides it.
 * It accepts exactly what `JSON.parse` accepts (RFC 8259; any top-level value; duplicate keys,
 * the last one wins, at the first one's place; `__proto__` an own property) and builds the
 * same value, with two differences on purpose, both DECODE_ERROR: a number that is not finite
 * (as `parseJson` in event-codec.ts), and a number written in more than MAX_NUMBER_CHARS
 * characters (no encoder writes one; it would otherwise be held whole while it arrives).
 *
 * Used by the snapshot decoder (snapshot-decoder.ts) so that a snapshot streaming in is never
 * held as a whole encoded text. Every failure is SmacError DECODE_ERROR; after one, the parser
 * stays failed.
 */
import { ErrorCode, fail } from '../errors.js';
import type { Json } from '../json.js';

/** Longest number text accepted: canonical numbers (JSON.stringify) take at most 24. */
export const MAX_NUMBER_CHARS = 1024;

/** Strings up to this long are shared (`shared`); at most SHARED_STRINGS of them at a time. */
const SHARED_MAX_CHARS = 32;
const SHARED_STRINGS = 4096;

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

const enum S {
  Value, // a value must start here
  ValueOrClose, // after '[': a value or ']'
  KeyOrClose, // after '{': a key or '}'
  Key, // after ',' in an object: a key
  Colon, // after a key
  After, // after a value: ',' or the container's close, or the end of the text
  Str, // inside a string
  Esc, // after a backslash
  Unicode, // inside \uXXXX
  Num, // inside a number
  Lit, // inside true / false / null
  Done, // the top-level value is complete: only whitespace may follow
}

interface Frame {
  readonly arr: Json[] | undefined;
  readonly obj: Record<string, Json> | undefined;
  key: string | undefined;
}

const ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};
const LITERALS = new Map<string, Json>([
  ['true', true],
  ['false', false],
  ['null', null],
]);
const LITERAL_NAMES = [...LITERALS.keys()];

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

export class JsonStreamParser {
  private state = S.Value;
  private readonly stack: Frame[] = [];
  private root: Json | undefined;
  private hasRoot = false;
  /** The token in progress: string parts, number or literal text, escape digits. */
  private parts: string[] = [];
  private token = '';
  private strIsKey = false;
  private failed: Error | undefined;
  private readonly strings = new Map<string, string>();

  /**
   * `elements`: the text must be an array, and each of its elements is handed to `elements` as
   * soon as it is complete, then dropped (the value `end` returns is then the empty array): a
   * caller that builds something from each element never holds the whole value.
   */
  constructor(
    private readonly what = 'JSON text',
    private readonly elements?: (element: Json) => void,
  ) {}

  /** Characters of the number or literal in progress (a string's are part of the value). */
  get pendingChars(): number {
    return this.state === S.Num || this.state === S.Lit || this.state === S.Unicode ? this.token.length : 0;
  }

  /** Parses the next piece of the text. Throws DECODE_ERROR at the first character in error. */
  write(text: string): void {
    if (this.failed) throw this.failed;
    try {
      this.run(text);
    } catch (e) {
      this.failed = e as Error;
      throw e;
    }
  }

  /** The text is complete: returns its value, or throws DECODE_ERROR if it is not one whole value. */
  end(): Json {
    if (this.failed) throw this.failed;
    try {
      if (this.state === S.Num) this.endNumber();
      else if (this.state === S.Lit) this.endLiteral();
      if (this.state !== S.Done || !this.hasRoot) this.error('it ends before its value is complete');
      return this.root as Json;
    } catch (e) {
      this.failed = e as Error;
      throw e;
    }
  }

  private run(t: string): void {
    const n = t.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case S.Str: {
          let j = i;
          for (; j < n; j++) {
            const c = t.charCodeAt(j);
            if (c === 0x22 || c === 0x5c) break;
            if (c < 0x20) this.error('a string holds a raw control character');
          }
          if (j > i) this.parts.push(t.slice(i, j));
          if (j === n) return;
          i = j + 1;
          if (t.charCodeAt(j) === 0x5c) this.state = S.Esc;
          else this.endString();
          continue;
        }
        case S.Esc: {
          const ch = t.charAt(i++);
          if (ch === 'u') {
            this.state = S.Unicode;
            this.token = '';
          } else {
            const esc = ESCAPES[ch];
            if (esc === undefined) this.error(`a string holds the invalid escape \\${ch}`);
            this.parts.push(esc);
            this.state = S.Str;
          }
          continue;
        }
        case S.Unicode: {
          while (i < n && this.token.length < 4) {
            const ch = t.charAt(i++);
            if (!/[0-9a-fA-F]/.test(ch)) this.error('a string holds a bad \\u escape');
            this.token += ch;
          }
          if (this.token.length === 4) {
            this.parts.push(String.fromCharCode(parseInt(this.token, 16)));
            this.token = '';
            this.state = S.Str;
          }
          continue;
        }
        case S.Num: {
          let j = i;
          while (j < n && isNumberChar(t.charCodeAt(j))) j++;
          this.token += t.slice(i, j);
          if (this.token.length > MAX_NUMBER_CHARS)
            this.error(`a number is written in more than ${MAX_NUMBER_CHARS} characters`);
          if (j === n) return;
          i = j;
          this.endNumber();
          continue;
        }
        case S.Lit: {
          let j = i;
          for (; j < n; j++) {
            const c = t.charCodeAt(j);
            if (c < 0x61 || c > 0x7a) break;
          }
          this.token += t.slice(i, j);
          if (!LITERAL_NAMES.some((l) => l.startsWith(this.token))) this.error('a bad literal');
          if (j === n) return;
          i = j;
          this.endLiteral();
          continue;
        }
        default:
          break;
      }
      const c = t.charCodeAt(i);
      if (isSpace(c)) {
        i++;
        continue;
      }
      i++;
      this.structural(c, t.charAt(i - 1));
    }
  }

  /** A character outside any token, in a state that is not inside one. */
  private structural(c: number, ch: string): void {
    switch (this.state) {
      case S.Value:
      case S.ValueOrClose:
        if (c === 0x5d && this.state === S.ValueOrClose) {
          this.close();
          return;
        }
        {
          this.startValue(c, ch);
          return;
        }
      case S.KeyOrClose:
      case S.Key:
        if (c === 0x7d && this.state === S.KeyOrClose) {
          this.close();
          return;
        }
        if (c !== 0x22) this.error('an object key is not a string');
        this.state = S.Str;
        this.strIsKey = true;
        this.parts = [];
        return;
      case S.Colon:
        if (c !== 0x3a) this.error("an object key is not followed by ':'");
        this.state = S.Value;
        return;
      case S.After: {
        const top = this.stack[this.stack.length - 1];
        if (c === 0x2c) this.state = top?.arr ? S.Value : S.Key;
        else if ((c === 0x5d && top?.arr) || (c === 0x7d && top?.obj)) this.close();
        else this.error(`'${ch}' where ',' or the end of the container belongs`);
        return;
      }
      case S.Done:
        return this.error('text follows the value');
      default:
        return this.error('an internal state error'); // unreachable: tokens are handled in run()
    }
  }

  private startValue(c: number, ch: string): void {
    if (this.elements !== undefined && !this.hasRoot && this.stack.length === 0 && c !== 0x5b)
      this.error('it is not an array');
    if (c === 0x22) {
      this.state = S.Str;
      this.strIsKey = false;
      this.parts = [];
    } else if (c === 0x7b) {
      this.stack.push({ arr: undefined, obj: {}, key: undefined });
      this.state = S.KeyOrClose;
    } else if (c === 0x5b) {
      this.stack.push({ arr: [], obj: undefined, key: undefined });
      this.state = S.ValueOrClose;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      this.state = S.Num;
      this.token = ch;
    } else if (c >= 0x61 && c <= 0x7a) {
      this.state = S.Lit;
      this.token = ch;
    } else this.error(`'${ch}' where a value belongs`);
  }

  private endString(): void {
    const one = this.parts.length === 1;
    let s = this.parts.join('');
    this.parts = [];
    if (!this.strIsKey) {
      // A string sliced from the piece of text it came in keeps that whole piece alive (V8
      // makes a slice of 13 characters or more a view of its parent): a kept value is copied
      // out, so a built state does not pin every piece received. Keys are copied as keys.
      if (one && s.length >= 13) s = JSON.parse(JSON.stringify(s)) as string;
      if (s.length <= SHARED_MAX_CHARS) s = this.shared(s);
      this.value(s);
      return;
    }
    const top = this.stack[this.stack.length - 1];
    if (top?.obj) top.key = s;
    this.state = S.Colon;
  }

  private endNumber(): void {
    const text = this.token;
    this.token = '';
    if (!NUMBER.test(text)) this.error(`'${text.slice(0, 32)}' is not a number`);
    const v = Number(text);
    if (!Number.isFinite(v)) this.error('a number is not finite');
    this.value(v);
  }

  /**
   * One copy of each short string (ids, type names repeat across a keyspace), as JSON.parse
   * shares them by internalizing: a bounded cache, emptied when full.
   */
  private shared(s: string): string {
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    if (this.strings.size >= SHARED_STRINGS) this.strings.clear();
    this.strings.set(s, s);
    return s;
  }

  private endLiteral(): void {
    const v = LITERALS.get(this.token);
    if (v === undefined) this.error('a bad literal');
    this.token = '';
    this.value(v);
  }

  private close(): void {
    const top = this.stack.pop();
    // slice(): an array grown by push keeps spare capacity (17 slots for one element); a kept
    // copy of its exact size is what JSON.parse would have made.
    this.value(top?.arr?.slice() ?? top?.obj ?? null);
  }

  private value(v: Json): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) {
      this.root = v;
      this.hasRoot = true;
      this.state = S.Done;
      return;
    }
    if (top.arr) {
      if (this.elements !== undefined && this.stack.length === 1) this.elements(v);
      else top.arr.push(v);
    } else if (top.obj) {
      const key = top.key ?? '';
      // JSON.parse defines `__proto__` as an own property; assigning would set the prototype.
      if (key === '__proto__')
        Object.defineProperty(top.obj, key, {
          value: v,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      else top.obj[key] = v;
      top.key = undefined;
    }
    this.state = S.After;
  }

  private error(why: string): never {
    return fail(ErrorCode.DecodeError, `Could not parse the ${this.what} as JSON: ${why}.`);
  }
}
