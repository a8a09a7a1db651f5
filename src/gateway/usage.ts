// What an answer used and how it ended, read from the bytes the gateway already forwards: tokens,
// tool calls, finish reason, model and, for streams, the time to the first output. The reader only
// looks at chunks after they were written to the client, so the answer is never held back; a JSON
// answer is kept (by reference, up to MAX_JSON_BYTES) and parsed once it has ended. A stream's
// chunk is looked at as one one-byte string (latin1: offsets are byte offsets), searched once for
// the markers (usage, finish reason, tool call; usage-scan.ts); an event is decoded as UTF-8 only to
// be parsed. Until the first output every event is read; after it, only the events around a marker
// are even split into lines. OpenAI chat chunks, the common case, are read as text without
// JSON.parse (a stream of them parses only its usage object), and Anthropic's typed events that
// only tell whether they are output, by their type.
//
// Shapes read: OpenAI chat completions (`choices`, `usage.prompt_tokens`; streams with
// `stream_options.include_usage`), the OpenAI Responses API (`object: "response"`; streams end with
// `response.completed` / `response.incomplete`), Anthropic messages (`type: "message"`; streams with
// `message_start` / `message_delta` usage), and any JSON answer with a `usage` object of either
// shape. Anything else, a compressed stream, an error status or a body too large, is "no usage":
// never zero tokens.
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import {
  chatModelIn,
  hasOutput,
  chatChunkAt,
  K_FINISH,
  K_USAGE,
  MarkerScan,
  markersIn,
  objectAt,
  stringValueAt,
} from './usage-scan';

/** How an answer ended: `length` ran out of tokens, `filtered` was cut by a content filter or refused. */
export type FinishKind = 'stop' | 'length' | 'filtered' | 'tool_calls' | 'other';

export interface Usage {
  /** Tokens read, cached ones included. Both token counts are set, or neither. */
  inputTokens?: number;
  /** Of inputTokens, read from the provider's prompt cache. */
  cachedInputTokens?: number;
  outputTokens?: number;
  /** Tool calls the answer asks the client to make. */
  toolCalls: number;
  /** Of toolCalls, those whose arguments are not a JSON object: the client cannot run them. */
  toolErrors: number;
  finish?: FinishKind;
  model?: string;
  provider?: 'openai' | 'anthropic';
  /** Streams only: ms from the request to the first event that carries output. */
  firstTokenMs?: number;
  streamed: boolean;
}

/** A JSON answer larger than this is not parsed (its usage is unknown, the answer still passes). */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;
/** Longest SSE line, and most tool-call argument text kept per stream. */
const MAX_LINE = 1024 * 1024;
const MAX_TOKENS = 1e9;
/** Distinct tool calls counted per answer (a hostile stream cannot grow the map without bound). */
const MAX_TOOL_CALLS = 1000;

/**
 * The markers of the chunk being read. One for all readers: a chunk is read from start to end in one
 * call, so no two readers ever use it at the same time (and no reader allocates its own).
 */
const chunkScan = new MarkerScan();

/** Ends the last event of a stream that stopped without a blank line. */
const END_OF_STREAM = Buffer.from('\n\n');

/** The line at `at` starts with `data:`. */
const isData = (buf: Buffer, at: number) =>
  buf[at] === 100 && buf[at + 1] === 97 && buf[at + 2] === 116 && buf[at + 3] === 97 && buf[at + 4] === 58;

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_TOKENS ? v : undefined;
const MODEL = /^[\x21-\x7e]{1,128}$/;
const modelOf = (v: unknown): string | undefined => (typeof v === 'string' && MODEL.test(v) ? v : undefined);

function finishOf(reason: unknown): FinishKind | undefined {
  switch (reason) {
    case 'stop':
    case 'end_turn':
    case 'stop_sequence':
    case 'completed':
      return 'stop';
    case 'length':
    case 'max_tokens':
    case 'max_output_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'content_filter':
    case 'refusal':
      return 'filtered';
    case 'tool_calls':
    case 'function_call':
    case 'tool_use':
      return 'tool_calls';
    case undefined:
    case null:
      return undefined;
    default:
      return typeof reason === 'string' ? 'other' : undefined;
  }
}

/** A tool call's arguments as the client gets them: runnable only when they are a JSON object. */
function runnable(args: unknown): boolean {
  if (isObj(args)) return true;
  if (typeof args !== 'string') return false;
  try {
    return isObj(JSON.parse(args));
  } catch {
    return false;
  }
}

/**
 * Tokens from a `usage` object of either shape. Anthropic counts cache reads and writes beside
 * input_tokens; OpenAI's prompt_tokens / input_tokens include the cached ones.
 */
function readTokens(u: unknown, into: Usage): void {
  if (!isObj(u)) return;
  let input: number | undefined;
  let output: number | undefined;
  let cached: number | undefined;
  if (u.prompt_tokens !== undefined || u.completion_tokens !== undefined) {
    input = count(u.prompt_tokens);
    output = count(u.completion_tokens);
    cached = isObj(u.prompt_tokens_details) ? count(u.prompt_tokens_details.cached_tokens) : undefined;
  } else {
    const base = count(u.input_tokens);
    output = count(u.output_tokens);
    const read = count(u.cache_read_input_tokens);
    const written = count(u.cache_creation_input_tokens);
    if (read !== undefined || written !== undefined) {
      input = base === undefined ? undefined : base + (read ?? 0) + (written ?? 0);
      cached = read;
    } else {
      input = base;
      cached = isObj(u.input_tokens_details) ? count(u.input_tokens_details.cached_tokens) : undefined;
    }
  }
  if (input !== undefined) into.inputTokens = input;
  if (output !== undefined) into.outputTokens = output;
  if (cached !== undefined && input !== undefined) into.cachedInputTokens = Math.min(cached, input);
}

function addToolCall(into: Usage, args: unknown): void {
  if (into.toolCalls >= MAX_TOOL_CALLS) return;
  into.toolCalls++;
  if (!runnable(args)) into.toolErrors++;
}

/** A Responses API `response` object (a JSON answer, or the last event of its stream). */
function readResponse(o: Json, into: Usage): void {
  into.provider = 'openai';
  into.model = modelOf(o.model) ?? into.model;
  readTokens(o.usage, into);
  if (Array.isArray(o.output)) {
    for (const item of o.output) {
      if (isObj(item) && item.type === 'function_call') addToolCall(into, item.arguments);
    }
  }
  if (o.status === 'incomplete') {
    const why = isObj(o.incomplete_details) ? o.incomplete_details.reason : undefined;
    into.finish = finishOf(why) ?? 'other';
  } else if (o.status === 'completed') {
    into.finish = into.toolCalls > 0 ? 'tool_calls' : 'stop';
  } else if (typeof o.status === 'string') {
    into.finish = 'other';
  }
}

/** A whole JSON answer; false when its shape is none of those we know. */
export function readAnswer(o: unknown, into: Usage): boolean {
  if (!isObj(o)) return false;
  if (o.object === 'response' && Array.isArray(o.output)) {
    readResponse(o, into);
    return true;
  }
  if (o.type === 'message' && Array.isArray(o.content)) {
    into.provider = 'anthropic';
    into.model = modelOf(o.model);
    readTokens(o.usage, into);
    for (const block of o.content) {
      if (isObj(block) && block.type === 'tool_use') addToolCall(into, block.input);
    }
    into.finish = finishOf(o.stop_reason);
    return true;
  }
  if (Array.isArray(o.choices)) {
    into.provider = 'openai';
    into.model = modelOf(o.model);
    readTokens(o.usage, into);
    for (const choice of o.choices) {
      if (!isObj(choice)) continue;
      const message = choice.message;
      if (isObj(message) && Array.isArray(message.tool_calls)) {
        for (const call of message.tool_calls) {
          if (isObj(call)) addToolCall(into, isObj(call.function) ? call.function.arguments : undefined);
        }
      }
      // The first choice's end is the answer's (n > 1 is rare for agents).
      into.finish ??= finishOf(choice.finish_reason);
    }
    return true;
  }
  if (isObj(o.usage)) {
    into.model = modelOf(o.model);
    readTokens(o.usage, into);
    return true;
  }
  return false;
}

/**
 * The usage object whose `{` is at ev[at] (ev = buf[a, ...) as a one-byte string), parsed; undefined
 * when it is no JSON. Tried first as the event's last member, where OpenAI puts it (a slice that
 * parses as one value starting at that `{` is that object), so the braces are counted only for
 * other orders.
 */
function usageObject(buf: Buffer, ev: string, a: number, at: number): unknown {
  if (ev.charCodeAt(ev.length - 1) === 125) {
    try {
      return JSON.parse(buf.toString('utf8', a + at, a + ev.length - 1));
    } catch {
      // Not the last member: counted below.
    }
  }
  const range = objectAt(ev, at);
  if (range === undefined) return undefined;
  try {
    return JSON.parse(buf.toString('utf8', a + range[0], a + range[1]));
  } catch {
    return undefined;
  }
}

/** The value of `"type"` when it is the event's first key (`{"type":"ping",...`), as a plain string. */
function typeFirst(ev: string): string | undefined {
  if (!ev.startsWith('{"type":')) return undefined;
  const v = ev.charCodeAt(8) === 32 ? 9 : 8;
  if (ev.charCodeAt(v) !== 34) return undefined;
  const end = ev.indexOf('"', v + 1);
  if (end < 0 || end - v > 64) return undefined;
  const type = ev.slice(v + 1, end);
  return type.includes('\\') ? undefined : type;
}

/** The first LF of a blank-line pair (`\n\n`) at or after `from`, or -1. */
function blankAfter(s: string, from: number): number {
  for (let i = s.indexOf('\n', from); i >= 0; i = s.indexOf('\n', i + 1))
    if (s.charCodeAt(i + 1) === 10) return i;
  return -1;
}

/** The first LF of the last blank-line pair (`\n\n`) starting at or before `at`, or -1. */
function blankBefore(s: string, at: number): number {
  for (let i = s.lastIndexOf('\n', at + 1); i > 0; i = s.lastIndexOf('\n', i - 1)) {
    if (s.charCodeAt(i - 1) === 10) return i - 1;
  }
  return -1;
}

/** The answer, read as it passes: push() each chunk after it was written, finish() at its end. */
export class UsageReader {
  private readonly u: Usage;
  private parts: Buffer[] | null = null;
  private bytes = 0;
  private dead = false;
  private known = false;
  // Streams only. Lines are found in the bytes; only the events that are parsed are decoded.
  /** Bytes of a line not yet ended, from earlier chunks. */
  private rest: Buffer[] | null = null;
  private restBytes = 0;
  /** The stream's events are chat-completions chunks: read as text where they allow it. */
  private chat = false;
  /** Where the last chat chunk's `object` value was, from the event's start (-1: not yet). */
  private chatAt = -1;
  /** Set once a chunk holds a CR: from then on the answer is decoded and split as text. */
  private decoder: StringDecoder | null = null;
  private partial = '';
  /** The current event's data, when it spans lines or chunks (decoded). */
  private data: string | null = null;
  private sawCr = false;
  /** OpenAI chat streams: a tool call's arguments arrive in pieces, keyed by the call's index. */
  private args: Map<number, string> | null = null;
  private argBytes = 0;

  private constructor(
    private readonly stream: boolean,
    private readonly started: number,
    private readonly encoding: string | undefined,
  ) {
    this.u = { toolCalls: 0, toolErrors: 0, streamed: stream };
    if (!stream) this.parts = [];
  }

  /**
   * A reader for an answer whose shape can carry usage (2xx, JSON or an uncompressed event stream),
   * or undefined: that answer's usage is unknown. `started` is the request's performance.now().
   */
  static forAnswer(status: number, headers: Record<string, string | string[]>, started: number) {
    if (status < 200 || status >= 300) return undefined;
    const type = headers['content-type'];
    if (typeof type !== 'string') return undefined;
    const enc = headers['content-encoding'];
    const encoding = typeof enc === 'string' && enc !== 'identity' ? enc.toLowerCase() : undefined;
    if (type.startsWith('text/event-stream')) {
      return encoding === undefined ? new UsageReader(true, started, undefined) : undefined;
    }
    if (/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
      const length = Number(headers['content-length']);
      if (length > MAX_JSON_BYTES) return undefined;
      return new UsageReader(false, started, encoding);
    }
    return undefined;
  }

  /** One chunk of the answer, already on its way to the client. */
  push(chunk: Buffer): void {
    if (this.dead) return;
    if (this.parts !== null) {
      this.bytes += chunk.length;
      if (this.bytes > MAX_JSON_BYTES) {
        this.dead = true;
        this.parts = null;
      } else {
        this.parts.push(chunk);
      }
      return;
    }
    if (this.decoder !== null) this.lines(this.decoder.write(chunk));
    else this.readBytes(chunk);
  }

  /**
   * LF-only streams, on the bytes. The chunk is looked at as a one-byte string (latin1: offsets
   * are byte offsets; UTF-8 sequences never hold an LF or an ASCII marker), and an event is decoded
   * as UTF-8 only when it is parsed.
   */
  private readBytes(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== null) {
      this.rest.push(chunk);
      this.restBytes += chunk.length;
      // Still inside one line (a long event in small chunks): nothing to look at yet.
      if (chunk.indexOf(10) < 0 && chunk.indexOf(13) < 0) {
        if (this.restBytes > MAX_LINE) this.dead = true;
        return;
      }
      buf = Buffer.concat(this.rest, this.restBytes);
      this.rest = null;
      this.restBytes = 0;
    }
    // Searched as a string: String#indexOf is a builtin, Buffer#indexOf a call into C++ each time.
    const s = buf.toString('latin1');
    if (s.indexOf('\r') >= 0) {
      // CR line ends (rare): the text path from here on, starting with the line not yet ended.
      this.decoder = new StringDecoder('utf8');
      this.lines(this.decoder.write(buf));
      return;
    }
    chunkScan.reset(s);
    let start = 0;
    if (this.u.firstTokenMs !== undefined && this.data === null) {
      // After the first output, only events holding a marker are looked at, so only they are split
      // into lines: each is found around the marker's hit. The chunk starts at a line start (rest
      // was prepended) with no event data pending, so the events up to its last blank line are
      // whole; the rest of it is read line by line below.
      const lastBlank = blankBefore(s, s.length);
      const whole = lastBlank < 0 ? 0 : lastBlank + 2;
      for (let h = chunkScan.next(); h >= 0 && h < whole; h = chunkScan.next()) {
        const before = blankBefore(s, h);
        const from = before < start ? start : before + 2;
        const to = blankAfter(s, h) + 2;
        this.readLines(buf, s, from, to);
        if (this.dead) return;
        chunkScan.skip(to);
        start = to;
      }
      if (whole > start) start = whole;
    }
    this.readLines(buf, s, start, buf.length);
  }

  /**
   * The lines of buf[from, to) (`from` at a line start), events dispatched at their blank line; a
   * line not ended by `to` is kept for the next chunk.
   */
  private readLines(buf: Buffer, s: string, from: number, to: number): void {
    let start = from;
    // The current event's one data line, buf[a, b), while it has only one.
    let a = -1;
    let b = -1;
    for (let nl = s.indexOf('\n', start); nl >= 0 && nl < to; nl = s.indexOf('\n', start)) {
      if (nl === start) {
        if (a >= 0) this.eventAt(buf, s, a, b);
        else if (this.data !== null) this.event(this.data);
        this.data = null;
        a = -1;
      } else if (isData(buf, start)) {
        const v = buf[start + 5] === 32 ? start + 6 : start + 5;
        if (nl - v > MAX_LINE) {
          this.dead = true;
        } else if (a < 0 && this.data === null) {
          a = v;
          b = nl;
        } else {
          if (a >= 0) this.data = buf.toString('utf8', a, b);
          a = -1;
          this.data += '\n' + buf.toString('utf8', v, nl);
          if (this.data!.length > MAX_LINE) this.dead = true;
        }
      }
      start = nl + 1;
      if (this.dead) return;
    }
    if (a >= 0) this.data = buf.toString('utf8', a, b);
    if (start < to) {
      this.rest = [buf.subarray(start, to)];
      this.restBytes = to - start;
      if (this.restBytes > MAX_LINE) this.dead = true;
    }
  }

  /**
   * One event whose data is buf[a, b), looked at in `s`, the chunk as a one-byte string (latin1:
   * offsets are byte offsets; UTF-8 sequences never hold an ASCII marker), and decoded as UTF-8
   * only to be parsed.
   */
  private eventAt(buf: Buffer, s: string, a: number, b: number): void {
    const first = this.u.firstTokenMs === undefined;
    const kinds = chunkScan.kinds(a, b);
    // After the first output, an event without a marker is not even sliced out of the chunk.
    if (!first && kinds === 0) return;
    const ev = s.slice(a, b);
    if ((this.chat || !this.known) && (kinds & ~(K_USAGE | K_FINISH)) === 0) {
      const at = (i: number) => (i < 0 ? 0 : i - a);
      if (this.chatChunk(buf, ev, a, kinds, at(chunkScan.finishAt), at(chunkScan.usageAt), first)) return;
    }
    if (ev === '[DONE]') return;
    if (kinds === 0 && this.typedEvent(ev)) return;
    this.parse(buf.toString('utf8', a, b), first);
  }

  /**
   * Before the first output, an event without a marker that names its type first (Anthropic's and
   * the Responses API's do) and is one of those whose parse would only tell whether it is output:
   * read from its type alone. False for any other event: the caller parses it.
   */
  private typedEvent(ev: string): boolean {
    const type = typeFirst(ev);
    if (type === undefined) return false;
    if (type === 'content_block_delta' || (type.startsWith('response.') && type.endsWith('.delta'))) {
      this.u.firstTokenMs ??= performance.now() - this.started;
      return true;
    }
    return (
      type === 'ping' ||
      type === 'content_block_start' ||
      type === 'content_block_stop' ||
      type === 'message_stop'
    );
  }

  /**
   * A chat chunk without tool calls, read without parsing it: whether it is the first output, its
   * finish reason and its usage object, where the marker search found them. False (nothing
   * recorded) when the text does not allow it: the caller parses the event.
   */
  private chatChunk(
    buf: Buffer,
    ev: string,
    a: number,
    kinds: number,
    finishAt: number,
    usageAt: number,
    first: boolean,
  ): boolean {
    const u = this.u;
    const at = chatChunkAt(ev, this.chatAt);
    if (at < 0) return false;
    this.chatAt = at;
    let model: string | undefined;
    if (!this.chat) {
      // The stream's first event: a chat chunk by its `object`, with `choices` and a model.
      model = modelOf(chatModelIn(ev));
      if (model === undefined) return false;
    } else if (u.model === undefined) {
      return false;
    }
    let finish: FinishKind | undefined;
    if ((kinds & K_FINISH) !== 0 && u.finish === undefined) {
      const reason = stringValueAt(ev, finishAt);
      if (reason === undefined) return false;
      finish = finishOf(reason);
    }
    let usage: unknown;
    if ((kinds & K_USAGE) !== 0) {
      usage = usageObject(buf, ev, a, usageAt);
      if (usage === undefined) return false;
    }
    if (model !== undefined) {
      this.known = true;
      this.chat = true;
      u.provider = 'openai';
      u.model = model;
    }
    if (first && hasOutput(ev)) u.firstTokenMs = performance.now() - this.started;
    if (finish !== undefined) u.finish = finish;
    if (usage !== undefined) readTokens(usage, u);
    return true;
  }

  /** The answer ended: what it used, or undefined when its shape was unknown. */
  finish(): Usage | undefined {
    if (this.dead) return undefined;
    if (this.parts !== null) return this.finishJson();
    if (this.decoder !== null) this.lines(this.decoder.end() + '\n\n');
    else if (this.rest !== null || this.data !== null) this.readBytes(END_OF_STREAM);
    if (this.args !== null) {
      for (const a of this.args.values()) if (!runnable(a)) this.u.toolErrors++;
    }
    return this.known ? this.result() : undefined;
  }

  private result(): Usage {
    const u = this.u;
    // Half a count is no count: cost and tokens need both sides.
    if (u.inputTokens === undefined || u.outputTokens === undefined) {
      delete u.inputTokens;
      delete u.outputTokens;
      delete u.cachedInputTokens;
    }
    return u;
  }

  private finishJson(): Usage | undefined {
    let body = this.parts!.length === 1 ? this.parts![0] : Buffer.concat(this.parts!, this.bytes);
    this.parts = null;
    try {
      if (this.encoding !== undefined) {
        const opts = { maxOutputLength: MAX_JSON_BYTES };
        if (this.encoding === 'gzip' || this.encoding === 'x-gzip') body = gunzipSync(body, opts);
        else if (this.encoding === 'br') body = brotliDecompressSync(body, opts);
        else if (this.encoding === 'deflate') body = inflateSync(body, opts);
        else return undefined;
      }
      return readAnswer(JSON.parse(body.toString('utf8')), this.u) ? this.result() : undefined;
    } catch {
      return undefined;
    }
  }

  /** Splits decoded text into SSE lines (LF, CRLF or CR) and dispatches an event at each blank line. */
  private lines(text: string): void {
    let start = 0;
    if (this.sawCr && text.charCodeAt(0) === 10) start = 1;
    this.sawCr = false;
    // Most streams end lines with LF only: find them natively instead of looking at every character.
    if (text.indexOf('\r', start) < 0) {
      for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
        const line = this.partial === '' ? text.slice(start, nl) : this.partial + text.slice(start, nl);
        this.partial = '';
        start = nl + 1;
        this.line(line);
        if (this.dead) return;
      }
      this.keep(text, start);
      return;
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.partial === '' ? text.slice(start, i) : this.partial + text.slice(start, i);
      this.partial = '';
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.sawCr = true;
        }
      }
      start = i + 1;
      this.line(line);
      if (this.dead) return;
    }
    this.keep(text, start);
  }

  /** The unfinished line at the end of a chunk, for the next one. */
  private keep(text: string, start: number): void {
    if (start < text.length) {
      this.partial += text.slice(start);
      if (this.partial.length > MAX_LINE) this.dead = true;
    }
  }

  private line(line: string): void {
    if (line === '') {
      const data = this.data;
      this.data = null;
      if (data !== null) this.event(data);
      return;
    }
    if (!line.startsWith('data:')) return; // event:, id:, retry:, comments
    const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    this.data = this.data === null ? value : this.data + '\n' + value;
    if (this.data.length > MAX_LINE) this.dead = true;
  }

  private event(data: string): void {
    const first = this.u.firstTokenMs === undefined;
    if (!first && markersIn(data) === 0) return;
    if (data === '[DONE]') return;
    this.parse(data, first);
  }

  private parse(data: string, first: boolean): void {
    let o: unknown;
    try {
      o = JSON.parse(data);
    } catch {
      return;
    }
    if (!isObj(o)) return;
    const output = this.streamEvent(o);
    if (output && first) this.u.firstTokenMs = performance.now() - this.started;
  }

  /** One parsed stream event; true when it carries output (text, a refusal or a tool call). */
  private streamEvent(o: Json): boolean {
    const u = this.u;
    if (Array.isArray(o.choices)) {
      this.known = true;
      if (o.object === 'chat.completion.chunk') this.chat = true;
      u.provider = 'openai';
      u.model ??= modelOf(o.model);
      if (o.usage !== undefined && o.usage !== null) readTokens(o.usage, u);
      let output = false;
      for (const choice of o.choices) {
        if (!isObj(choice)) continue;
        const delta = choice.delta;
        if (isObj(delta)) {
          if (typeof delta.content === 'string' && delta.content !== '') output = true;
          if (typeof delta.refusal === 'string' && delta.refusal !== '') output = true;
          if (Array.isArray(delta.tool_calls)) {
            output = true;
            for (const call of delta.tool_calls) if (isObj(call)) this.toolDelta(call);
          }
        }
        const f = finishOf(choice.finish_reason);
        if (f !== undefined) u.finish ??= f;
      }
      return output;
    }
    if (isObj(o.usage) && o.type === undefined) {
      this.known = true;
      u.model ??= modelOf(o.model);
      readTokens(o.usage, u);
      return false;
    }
    const type = o.type;
    if (typeof type !== 'string') return false;
    switch (type) {
      // Anthropic messages
      case 'message_start':
        if (isObj(o.message)) {
          this.known = true;
          u.provider = 'anthropic';
          u.model = modelOf(o.message.model);
          readTokens(o.message.usage, u);
        }
        return false;
      case 'content_block_start':
        if (isObj(o.content_block) && o.content_block.type === 'tool_use') {
          if (u.toolCalls < MAX_TOOL_CALLS) u.toolCalls++;
          return true;
        }
        return false;
      case 'content_block_delta':
        return true;
      case 'message_delta': {
        // Output tokens here are the running total; input tokens repeat message_start's (when sent).
        const before = u.inputTokens;
        readTokens(o.usage, u);
        if (before !== undefined && isObj(o.usage) && count(o.usage.input_tokens) === undefined) {
          u.inputTokens = before;
        }
        if (isObj(o.delta)) u.finish = finishOf(o.delta.stop_reason) ?? u.finish;
        return false;
      }
      // OpenAI Responses
      case 'response.created':
      case 'response.in_progress':
        this.known = true;
        u.provider = 'openai';
        if (isObj(o.response)) u.model = modelOf(o.response.model);
        return false;
      case 'response.completed':
      case 'response.incomplete':
      case 'response.failed':
        if (isObj(o.response)) {
          this.known = true;
          u.toolCalls = 0;
          u.toolErrors = 0;
          readResponse(o.response, u);
        }
        return false;
      default:
        return type.startsWith('response.') && type.endsWith('.delta');
    }
  }

  private toolDelta(call: Json): void {
    const index = typeof call.index === 'number' && Number.isInteger(call.index) ? call.index : 0;
    const args = (this.args ??= new Map());
    if (!args.has(index)) {
      if (args.size >= MAX_TOOL_CALLS) return;
      args.set(index, this.argBytes > MAX_LINE ? '{}' : '');
      this.u.toolCalls++;
    }
    const piece = isObj(call.function) ? call.function.arguments : undefined;
    if (typeof piece !== 'string' || piece === '' || this.argBytes > MAX_LINE) return;
    this.argBytes += piece.length;
    if (this.argBytes > MAX_LINE) {
      // Too much to check: the calls are counted, their arguments are not judged.
      for (const k of args.keys()) args.set(k, '{}');
      return;
    }
    args.set(index, args.get(index)! + piece);
  }
}
