/** Checking untrusted JSON against a zod schema, with errors that name the file, the field and the value. */
import type { z } from 'zod';

function fieldName(path: readonly PropertyKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
}

function shown(issue: z.core.$ZodIssue): string {
  let value: unknown = (issue as { input?: unknown }).input;
  // A union's issue carries the whole object; show the field it is about.
  const last = issue.path[issue.path.length - 1];
  if (issue.code === 'invalid_union' && typeof value === 'object' && value !== null && last !== undefined)
    value = (value as Record<PropertyKey, unknown>)[last];
  if (value === undefined) return '';
  const text = JSON.stringify(value) ?? String(value);
  return ` (got ${text.length > 60 ? `${text.slice(0, 57)}...` : text})`;
}

/**
 * `value` parsed by `schema`, or an Error: `<source>: <what>, field <path>: <problem> (got <value>)`,
 * for the first problem found.
 */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, source: string, what: string): T {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.length ? `, field ${fieldName(issue.path)}` : '';
  const message = issue.message.charAt(0).toLowerCase() + issue.message.slice(1);
  throw new Error(`${source}: ${what}${field}: ${message}${shown(issue)}`);
}
