#!/usr/bin/env bash
# Prints the status of an enrichment request: GET $API_URL/enrichment/<requestId>.
# Usage: ./bin/getEnrichment.sh <requestId>   (API_URL defaults to the local stack, http://localhost:3000)
set -euo pipefail

API_URL="${API_URL:-http://localhost:3000}"
API_URL="${API_URL%/}"

usage() {
  echo "usage: [API_URL=...] $0 <requestId>    prints the status JSON of an enrichment request" >&2
}

if [[ $# -ne 1 || -z "$1" ]]; then
  usage
  exit 2
fi
if [[ "$1" == "-h" || "$1" == "--help" ]]; then
  usage
  exit 0
fi
request_id="$1"
if [[ ! "$request_id" =~ ^[A-Za-z0-9-]+$ ]]; then
  echo "error: \"$request_id\" is not a request id (a UUID such as 4b92560e-5c60-4d90-9bdd-195f39f8a91d)" >&2
  exit 2
fi

# Pretty-prints JSON with jq or python3 when available; anything else is printed as it is.
pretty() {
  local body="$1"
  if command -v jq >/dev/null 2>&1 && printf '%s' "$body" | jq . 2>/dev/null; then return; fi
  if command -v python3 >/dev/null 2>&1 && printf '%s' "$body" | python3 -m json.tool 2>/dev/null; then return; fi
  printf '%s\n' "$body"
}

body_file="$(mktemp)"
trap 'rm -f "$body_file"' EXIT
if ! code="$(curl -sS -o "$body_file" -w '%{http_code}' "$API_URL/enrichment/$request_id")"; then
  echo "error: cannot reach $API_URL (is the stack running? npm start, or set API_URL)" >&2
  exit 1
fi

pretty "$(cat "$body_file")"
if [[ "$code" -lt 200 || "$code" -ge 300 ]]; then
  echo "error: HTTP $code" >&2
  exit 1
fi
