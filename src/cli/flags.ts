// Flag values that several commands share, parsed one way with one message.
import { UsageError } from './errors';

/**
 * A TCP port: digits only, 0-65535 (0 picks a free one, said in the help). Number("") is 0, so an
 * empty value (`--port ""`, an unset variable in a script) would otherwise listen on a random port.
 */
export function portFlag(name: string, value: string): number {
  const n = /^\d{1,5}$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`${name} must be a port number 0-65535, got "${value.slice(0, 40)}"`);
  return n;
}
