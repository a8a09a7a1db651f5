// A "host:port" as flags and TEMPORAL_ADDRESS give it, checked before anything connects, so a typo
// is a usage error naming the value instead of an "unexpected error" from the network stack.

/** Why `value` is not a usable host:port, or undefined when it is. Pure. */
export function hostPortProblem(value: string): string | undefined {
  const shown = JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/.exec(value);
  if (!m) return `${shown} is not host:port (e.g. localhost:7233, [::1]:7233)`;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `${shown}: port must be 1-65535`;
  if (m[1].length > 253) return `${shown}: host name too long`;
  return undefined;
}
