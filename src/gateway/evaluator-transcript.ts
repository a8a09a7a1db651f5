// What the evaluator reads of one exchange: the request's messages and the answer's text, with
// streamed answers (Server-Sent Events) put back together. Pure functions over captured bytes.

/** Longest request or answer text sent to the evaluator (characters); the rest is cut with "…". */
export const MAX_TEXT = 32_000;

function cut(text: string, max = MAX_TEXT): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => {
        const part = p as { text?: unknown; type?: unknown };
        return typeof part?.text === 'string' ? part.text : '';
      })
      .filter(Boolean)
      .join('\n');
  }
  return '';
}

/**
 * The request as the evaluator sees it: chat messages as "role: text" lines (OpenAI and Anthropic
 * shapes, with Anthropic's top-level system prompt), `input` of the Responses API, or the raw body.
 */
export function requestText(body: Buffer): string {
  const raw = body.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    return cut(raw);
  }
  const d = doc as { messages?: unknown; system?: unknown; input?: unknown; prompt?: unknown };
  const lines: string[] = [];
  const system = contentText(d.system);
  if (system) lines.push(`system: ${system}`);
  const messages = Array.isArray(d.messages) ? d.messages : Array.isArray(d.input) ? d.input : undefined;
  if (messages) {
    for (const m of messages) {
      const msg = m as { role?: unknown; content?: unknown };
      const text = contentText(msg?.content);
      if (text) lines.push(`${typeof msg.role === 'string' ? msg.role : 'user'}: ${text}`);
    }
  } else if (typeof d.input === 'string') {
    lines.push(`user: ${d.input}`);
  } else if (typeof d.prompt === 'string') {
    lines.push(`user: ${d.prompt}`);
  }
  return cut(lines.length > 0 ? lines.join('\n') : raw);
}

/** The text of one answer document: chat completion, Anthropic message, Responses API, or raw. */
function answerOf(doc: unknown): string | undefined {
  const d = doc as {
    choices?: { message?: { content?: unknown }; text?: unknown }[];
    content?: unknown;
    output_text?: unknown;
    output?: { content?: unknown }[] | string;
  };
  if (Array.isArray(d?.choices)) {
    return d.choices
      .map((c) => contentText(c?.message?.content) || (typeof c?.text === 'string' ? c.text : ''))
      .join('\n');
  }
  if (typeof d?.output_text === 'string') return d.output_text;
  if (typeof d?.output === 'string') return d.output;
  if (Array.isArray(d?.output)) return d.output.map((o) => contentText(o?.content)).join('\n');
  if (d?.content !== undefined) return contentText(d.content);
  return undefined;
}

/** The text a stream event adds: a chat-completion delta, an Anthropic text delta, a Responses delta. */
function deltaOf(doc: unknown): string | undefined {
  const d = doc as {
    choices?: { delta?: { content?: unknown }; text?: unknown }[];
    delta?: { text?: unknown } | string;
    token?: unknown;
  };
  if (Array.isArray(d?.choices)) {
    return d.choices
      .map((c) => contentText(c?.delta?.content) || (typeof c?.text === 'string' ? c.text : ''))
      .join('');
  }
  if (typeof d?.delta === 'string') return d.delta;
  if (d?.delta && typeof d.delta.text === 'string') return d.delta.text;
  if (typeof d?.token === 'string') return d.token;
  return undefined;
}

/**
 * The answer's text. A stream (`text/event-stream`) is reassembled from its `data:` lines: the
 * deltas of known shapes joined, other payloads kept as they are; `[DONE]` ends it.
 */
export function answerText(body: Buffer, contentType: string | undefined): string {
  const raw = body.toString('utf8');
  if (contentType?.startsWith('text/event-stream')) {
    const parts: string[] = [];
    for (const line of raw.split(/\r?\n/)) {
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '' || data === '[DONE]') continue;
      let doc: unknown;
      try {
        doc = JSON.parse(data);
      } catch {
        parts.push(data);
        continue;
      }
      const delta = deltaOf(doc);
      if (delta !== undefined) parts.push(delta);
    }
    return cut(parts.join(''));
  }
  try {
    return cut(answerOf(JSON.parse(raw)) ?? raw);
  } catch {
    return cut(raw);
  }
}

/** Bytes captured of one side of an exchange, bounded: past `max` the capture is marked cut. */
export class Capture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly max: number) {}

  add(chunk: Buffer): void {
    if (this.truncated) return;
    if (this.size + chunk.length > this.max) {
      this.chunks.push(chunk.subarray(0, this.max - this.size));
      this.size = this.max;
      this.truncated = true;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}
