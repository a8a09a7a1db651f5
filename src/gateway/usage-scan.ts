// Reading a few fields of an OpenAI chat-completions chunk without JSON.parse: the stream's first
// chunk tells the shape (`object`, `choices`, `model`), and the later ones, which differ only in
// their delta, are read as text at the places the marker search already found. Offsets are into a one-byte (latin1)
// string of the chunk's UTF-8 bytes, so string offsets are byte offsets; multi-byte characters are
// bytes >= 0x80 there and never match the ASCII patterns below.
//
// Why a pattern is enough: in JSON every `"` inside a string is escaped, so `"finish_reason":"`
// with raw quotes is always that key followed by a string value, never text inside a string. When
// the text is not as expected (an escaped character in a finish reason, an object that does not
// close) the event goes to JSON.parse: the text path gives up, it never guesses.

const MAX_REASON = 64;
const MAX_MODEL = 128;

// The keys are found with String#indexOf from their first letter (a pattern starting at `"` runs
// over JSON, which is full of quotes, several times slower), then checked around each hit.

/**
 * Calls `fits` with the value position of each `"key":` in s (after an optional space), `keyColon`
 * being `key":`, until it says true.
 */
function someValue(s: string, keyColon: string, fits: (s: string, v: number) => boolean): boolean {
  for (let i = s.indexOf(keyColon); i >= 0; i = s.indexOf(keyColon, i + 1)) {
    if (i === 0 || s.charCodeAt(i - 1) !== 34) continue;
    let v = i + keyColon.length;
    if (s.charCodeAt(v) === 32) v++;
    if (fits(s, v)) return true;
  }
  return false;
}

const isChatObject = (s: string, v: number) => s.startsWith('"chat.completion.chunk"', v);
const isArray = (s: string, v: number) => s.charCodeAt(v) === 91;
const isNonEmptyString = (s: string, v: number) => s.charCodeAt(v) === 34 && s.charCodeAt(v + 1) !== 34;

/**
 * Where the value `"chat.completion.chunk"` of the event's `"object"` key starts, trying `hint` (its
 * place in the stream's last chat chunk: OpenAI repeats the same id, so the same place) before
 * searching; -1 when the event says no such thing.
 */
export function chatChunkAt(ev: string, hint: number): number {
  if (hint > 0 && isChatObject(ev, hint)) {
    const k = ev.charCodeAt(hint - 1) === 32 ? hint - 1 : hint;
    if (k >= 9 && ev.startsWith('"object":', k - 9)) return hint;
  }
  let at = -1;
  someValue(ev, 'object":', (s, v) => {
    if (!isChatObject(s, v)) return false;
    at = v;
    return true;
  });
  return at;
}

/** The model of a chat chunk that has `choices`, as a plain string; undefined otherwise. */
export function chatModelIn(ev: string): string | undefined {
  if (!someValue(ev, 'choices":', isArray)) return undefined;
  let model: string | undefined;
  someValue(ev, 'model":', (s, v) => {
    model = plainString(s, v, MAX_MODEL);
    return model !== undefined;
  });
  return model;
}

/** True when a delta in the event carries text or a refusal. */
export function hasOutput(ev: string): boolean {
  return someValue(ev, 'content":', isNonEmptyString) || someValue(ev, 'refusal":', isNonEmptyString);
}

/** The string at `v` when it has 1 to `max` characters and no escapes; undefined otherwise. */
function plainString(s: string, v: number, max: number): string | undefined {
  if (s.charCodeAt(v) !== 34) return undefined;
  const last = Math.min(s.length, v + 2 + max);
  for (let i = v + 1; i < last; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) return i > v + 1 ? s.slice(v + 1, i) : undefined;
    if (c === 92) return undefined;
  }
  return undefined;
}

/** The position after `"key":` and an optional space, `at` inside the key. */
function valueStart(s: string, at: number): number {
  const colon = s.indexOf(':', at + 1);
  return s.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
}

/**
 * The plain string value (no escapes, at most 64 characters) of the key `at` is inside of, or
 * undefined.
 */
export function stringValueAt(s: string, at: number): string | undefined {
  return plainString(s, valueStart(s, at), MAX_REASON);
}

/** [start, end) of the object whose `{` is at `at`, or undefined when it does not close. */
export function objectAt(s: string, at: number): [number, number] | undefined {
  const close = valueEnd(s, at);
  return close < 0 ? undefined : [at, close];
}

/** The end (exclusive) of the object or array opening at `start`, skipping strings; -1 if open. */
export function valueEnd(s: string, start: number): number {
  let depth = 0;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) {
      for (i++; i < s.length; i++) {
        const d = s.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 123 || c === 91) {
      depth++;
    } else if (c === 125 || c === 93) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

// The markers an event is looked at again for, after the stream's first output: a finish reason
// with a string value (`"finish_reason":"`), a tool call (`"tool_calls"`, `"tool_use"`), a usage
// object (`"usage":{`; not `"usage":null`, which OpenAI's include_usage streams send in every chunk
// but the last) and the end of a Responses stream (`"response.completed"` and its kin).
//
// One regular expression runs once over a whole chunk (not once per event), and each hit's context
// (the key's opening quote) is then checked in code. It has no lookbehind: the lookbehind pattern it
// replaced ran 25 to 40 times slower in Node 20 than in Node 24 (60-85 us against 1.5-2.3 us over
// the bench's 3.2 KB stream); this one runs in 1.2-1.8 us in Node 24, 2.7 us in Node 20. A search
// per key character with String#indexOf was slower for the number of calls it makes (three hits
// an event).
export const K_USAGE = 1;
export const K_FINISH = 2;
export const K_TOOL = 4;
export const K_RESPONSE = 8;

const MARKER = /_(?:reason": ?"|calls"|use")|usage": ?\{|\.(?:completed|incomplete|failed|created)"/g;

/**
 * The kind of the marker the pattern found at `j`, its key checked back to its
 * opening quote, no further back than `from`; 0 when the context does not fit.
 */
function kindAt(s: string, j: number, from: number): number {
  switch (s.charCodeAt(j)) {
    case 95: // _
      if (s.charCodeAt(j + 1) === 114) return j - 7 >= from && s.startsWith('"finish', j - 7) ? K_FINISH : 0;
      return j - 5 >= from && s.startsWith('"tool', j - 5) ? K_TOOL : 0;
    case 117: // u
      return j - 1 >= from && s.charCodeAt(j - 1) === 34 ? K_USAGE : 0;
    default: // .
      return j - 9 >= from && s.startsWith('"response', j - 9) ? K_RESPONSE : 0;
  }
}

/**
 * The markers of the events of one string, event by event in order: the pattern runs over the
 * string once, its next hit carried over from one event to the next.
 */
export class MarkerScan {
  private s = '';
  private readonly re = new RegExp(MARKER.source, 'g');
  /** The pattern's next hit (-1: none left) and its length. */
  private hit = -1;
  private hitLength = 0;
  /** Of the last kinds() range: its first finish-reason marker (at `_`) and usage object (at `{`), or -1. */
  finishAt = -1;
  usageAt = -1;

  /** Starts on a new string. */
  reset(s: string): void {
    this.s = s;
    this.re.lastIndex = 0;
    this.advance();
  }

  private advance(): void {
    const m = this.re.exec(this.s);
    if (m === null) {
      this.hit = -1;
    } else {
      this.hit = m.index;
      this.hitLength = m[0].length;
    }
  }

  /** Where the pattern's next hit is (not yet checked: it may turn out no marker), or -1. */
  next(): number {
    return this.hit;
  }

  /** Passes over the hits before `to`. */
  skip(to: number): void {
    while (this.hit >= 0 && this.hit < to) this.advance();
  }

  /** The kinds (bits) of the markers in s[from, to); ranges must come in order, not overlapping. */
  kinds(from: number, to: number): number {
    let kinds = 0;
    this.finishAt = -1;
    this.usageAt = -1;
    for (; this.hit >= 0 && this.hit < to; this.advance()) {
      if (this.hit < from || this.hit + this.hitLength > to) continue;
      const k = kindAt(this.s, this.hit, from);
      if (k === K_FINISH && this.finishAt < 0) this.finishAt = this.hit;
      else if (k === K_USAGE && this.usageAt < 0) this.usageAt = this.hit + this.hitLength - 1;
      kinds |= k;
    }
    return kinds;
  }
}

const oneScan = new MarkerScan();

/** The kinds of markers in a whole string (an event decoded on its own). */
export function markersIn(s: string): number {
  oneScan.reset(s);
  return oneScan.kinds(0, s.length);
}
