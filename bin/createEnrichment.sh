#!/usr/bin/env bash
# Posts three sample contacts to POST $API_URL/enrichment and prints the response.
# Usage: ./bin/createEnrichment.sh            (API_URL defaults to the local stack, http://localhost:3000)
set -euo pipefail

API_URL="${API_URL:-http://localhost:3000}"
API_URL="${API_URL%/}"

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  echo "usage: [API_URL=...] $0    posts a 3-contact sample to \$API_URL/enrichment (default http://localhost:3000)"
  exit 0
fi

# Pretty-prints JSON with jq or python3 when available; anything else is printed as it is.
pretty() {
  local body="$1"
  if command -v jq >/dev/null 2>&1 && printf '%s' "$body" | jq . 2>/dev/null; then return; fi
  if command -v python3 >/dev/null 2>&1 && printf '%s' "$body" | python3 -m json.tool 2>/dev/null; then return; fi
  printf '%s\n' "$body"
}

payload='{
  "contacts": [
    {"first_name": "Ada", "last_name": "Lovelace", "company_domain": "analytical-engines.com"},
    {"first_name": "Grace", "last_name": "Hopper", "company_domain": "cobol.org"},
    {"first_name": "Alan", "last_name": "Turing", "company_domain": "bletchley.co.uk"}
  ],
  "fields_to_enrich": ["professional_email", "personal_phone"]
}'

body_file="$(mktemp)"
trap 'rm -f "$body_file"' EXIT
if ! code="$(curl -sS -o "$body_file" -w '%{http_code}' -X POST "$API_URL/enrichment" \
  -H 'content-type: application/json' --data-binary "$payload")"; then
  echo "error: cannot reach $API_URL (is the stack running? npm start, or set API_URL)" >&2
  exit 1
fi

pretty "$(cat "$body_file")"
if [[ "$code" -lt 200 || "$code" -ge 300 ]]; then
  echo "error: HTTP $code" >&2
  exit 1
fi
