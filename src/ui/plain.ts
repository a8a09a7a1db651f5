// The judges' reasons carry statistics for experts (likelihood ratio, p-value). Lines for people
// keep the words and the counts; the figures stay in `status --json` and in the page's tooltips.
// (src/ui/static/chart.js has the same rule for the browser, which cannot import TypeScript.)
export function plainReason(reason: string): string {
  return reason
    .replace(/\bLR [-+.\deE]+(,\s*|;\s*)?/g, '')
    .replace(/\bp=[-+.\deE]+(;\s*|,\s*)?/g, '')
    .replace(/\(\s*\)/g, '')
    .replace(/\(\s+/g, '(')
    .trim();
}
