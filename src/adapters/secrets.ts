import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * A secret's value, read once per cold start (the promise is kept; a failed read is dropped so the next call tries
 * again). Only the worker reads one, and only with the People Data Labs provider (its role may read that ARN alone).
 */
const cache = new Map<string, Promise<string>>();

export function secretValue(arn: string, region: string, client?: SecretsManagerClient): Promise<string> {
  let value = cache.get(arn);
  if (!value) {
    const sm = client ?? new SecretsManagerClient({ region, maxAttempts: 5 });
    value = sm.send(new GetSecretValueCommand({ SecretId: arn })).then((out) => {
      if (!out.SecretString) throw new Error(`secret ${arn} has no SecretString`);
      return out.SecretString.trim();
    });
    value.catch(() => cache.delete(arn));
    cache.set(arn, value);
  }
  return value;
}

/** For tests. */
export function resetSecrets(): void {
  cache.clear();
}
