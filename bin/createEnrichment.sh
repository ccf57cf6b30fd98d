#!/usr/bin/env bash
# Posts three sample contacts to POST $API_URL/enrichment and prints the response.
# Usage: ./bin/createEnrichment.sh            (API_URL defaults to the local stack, http://localhost:3000)
set -euo pipefail

source "$(dirname "$0")/lib.sh"

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  echo "usage: [API_URL=...] [API_KEY=...] $0    posts a 3-contact sample to \$API_URL/enrichment (default http://localhost:3000)"
  exit 0
fi

payload='{
  "contacts": [
    {"first_name": "Ada", "last_name": "Lovelace", "company_domain": "analytical-engines.com"},
    {"first_name": "Grace", "last_name": "Hopper", "company_domain": "cobol.org"},
    {"first_name": "Alan", "last_name": "Turing", "company_domain": "bletchley.co.uk"}
  ],
  "fields_to_enrich": ["professional_email", "personal_phone"]
}'

request -X POST "$API_URL/enrichment" -H 'content-type: application/json' --data-binary "$payload"
