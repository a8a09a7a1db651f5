// Reading a few fields of an OpenAI chat-completions chunk without JSON.parse: the stream's first
// event is parsed (it tells the shape), and the later ones, which differ only in their delta, are
// read as text at the places the marker search already found. Offsets are into a one-byte (latin1)
// string of the chunk's UTF-8 bytes, so string offsets are byte offsets; multi-byte characters are
// bytes >= 0x80 there and never match the ASCII patterns below.
//
// Why a pattern is enough: in JSON every `"` inside a string is escaped, so `"finish_reason":"`
// with raw quotes is always that key followed by a string value, never text inside a string. When
// the text is not as expected (an escaped character in a finish reason, an object that does not
// close) the event goes to JSON.parse: the text path gives up, it never guesses.

/** The event is a chat-completions chunk (OpenAI writes `object` in each one). */
const CHAT_CHUNK = /"object": ?"chat\.completion\.chunk"/;
/** A delta with output: non-empty text or refusal. */
const OUTPUT = /"(?:content|refusal)": ?"(?!")/;
const MAX_REASON = 64;

/** True when the event says `"object":"chat.completion.chunk"`. */
export function isChatChunk(ev: string): boolean {
  return CHAT_CHUNK.test(ev);
}

const CHOICES = /"choices": ?\[/;
const MODEL = /"model": ?"([^"\\]{1,128})"/;

/** The model of a chat chunk that has `choices`, as a plain string; undefined otherwise. */
export function chatModelIn(ev: string): string | undefined {
  if (!CHOICES.test(ev)) return undefined;
  const m = MODEL.exec(ev);
  return m === null ? undefined : m[1];
}

/** True when a delta in the event carries text or a refusal. */
export function hasOutput(ev: string): boolean {
  return OUTPUT.test(ev);
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
  const v = valueStart(s, at);
  if (s.charCodeAt(v) !== 34) return undefined;
  const last = Math.min(s.length, v + 1 + MAX_REASON);
  for (let i = v + 1; i < last; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) return i > v + 1 ? s.slice(v + 1, i) : undefined;
    if (c === 92) return undefined;
  }
  return undefined;
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
