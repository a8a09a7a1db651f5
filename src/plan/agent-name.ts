import { z } from 'zod';

/** Workflow ids are canary-<agent>, so the name must be safe in ids, URLs and search attributes. */
export const AgentName = z
  .string()
  .min(1, 'must not be empty')
  .max(100)
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, 'use lowercase letters, digits, and . _ - inside');
