// Text that came from outside (a plan, a signal's reason, an HTTP answer) made safe to print on a
// terminal or store in status: one line, control characters (ANSI escapes, CR, BEL, bidi overrides,
// line separators) replaced by spaces, bounded length.

/** C0 and C1 controls, DEL, U+2028/2029, bidi embeddings/overrides/isolates. */
function isControl(code: number): boolean {
  return (
    code <= 0x1f ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x2028 ||
    code === 0x2029 ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/** One line, control characters replaced, at most `max` characters (then "…"). */
export function printable(text: string, max = 200): string {
  const s = String(text);
  let out = '';
  const end = Math.min(s.length, max);
  for (let i = 0; i < end; i++) {
    const code = s.charCodeAt(i);
    out += isControl(code) ? ' ' : s[i];
  }
  return s.length > max ? `${out}…` : out;
}
