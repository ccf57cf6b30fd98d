import ipaddr from 'ipaddr.js';

/**
 * Where a callbackUrl may point (SSRF rules, docs/api.md: Webhooks). Deployed: https only, to a public address, on
 * one of `allowedPorts` (443 unless the stage allows more), with no user-info. `allowPrivate` (offline, by default)
 * lifts every rule but the scheme and the user-info, so that `http://127.0.0.1:<port>` receivers work.
 */
export interface CallbackRules {
  allowPrivate: boolean;
  allowedPorts: readonly number[];
}

/** The longest callbackUrl accepted. */
export const MAX_CALLBACK_URL_LENGTH = 2048;

/**
 * Why an IP address may not be called: anything ipaddr.js does not classify as public `unicast` (loopback, private,
 * link-local with 169.254.169.254, carrier-grade NAT, unique-local, IPv4-mapped and the other IPv6 forms that embed an
 * IPv4 address, multicast, reserved…). undefined for a public address.
 */
export function addressProblem(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const range = ipaddr.parse(address).range();
  return range === 'unicast' ? undefined : `${address} is not a public address (${range})`;
}

/** Names that always mean this machine: refused at once, before any DNS. */
const LOCAL_NAMES = /(^|\.)localhost\.?$/i;

/**
 * Why a callbackUrl is refused (undefined: accepted). Checks what the URL itself says: scheme, user-info, port, and
 * an IP literal's range. A name's addresses are checked when it is resolved, at each delivery (src/adapters/webhookHttp.ts).
 */
export function callbackUrlProblem(raw: string, rules: CallbackRules): string | undefined {
  if (raw.length > MAX_CALLBACK_URL_LENGTH) return `callbackUrl must be at most ${MAX_CALLBACK_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'callbackUrl must be an absolute URL';
  }
  if (url.username || url.password) return 'callbackUrl must not carry a user name or password';
  if (url.protocol !== 'https:' && !(rules.allowPrivate && url.protocol === 'http:'))
    return rules.allowPrivate
      ? 'callbackUrl must be an http:// or https:// URL'
      : 'callbackUrl must be an https:// URL';
  if (rules.allowPrivate) return undefined;
  const port = url.port === '' ? 443 : Number(url.port);
  if (!rules.allowedPorts.includes(port))
    return `callbackUrl must use port ${rules.allowedPorts.join(' or ')} (it names port ${port})`;
  // URL has already normalized IPv4 forms (decimal, octal, hex) to dotted quads; IPv6 literals come in brackets.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (ipaddr.isValid(host)) {
    const problem = addressProblem(host);
    return problem ? `callbackUrl must point to a public address: ${problem}` : undefined;
  }
  if (LOCAL_NAMES.test(host) || !host.includes('.')) return `callbackUrl must name a public host (not ${host})`;
  return undefined;
}
