import { createHash } from 'node:crypto';

/**
 * The owner of requests and uploads: an id derived from the caller's API key (never the key itself).
 * API Gateway (and the offline edge) validate the key before a function runs, so the key a function
 * sees is one of the stage's. Uploads of an owner live under `uploads/<owner>/`.
 */
export function ownerIdOf(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex').slice(0, 32);
}

export const uploadPrefixOf = (owner: string) => `uploads/${owner}/`;

/** A request is visible to its owner only; requests made without a key (a stage without keys) to anyone. */
export const visibleTo = (record: { owner?: string }, owner: string | undefined) =>
  record.owner === undefined || record.owner === owner;
