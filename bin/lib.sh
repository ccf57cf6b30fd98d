# Shared by the bin/ scripts: the API base URL and one JSON request with a readable answer.
API_URL="${API_URL:-http://localhost:3000}"
API_URL="${API_URL%/}"

# Pretty-prints JSON with jq or python3 when available; anything else is printed as it is.
pretty() {
  local body="$1"
  if command -v jq >/dev/null 2>&1 && printf '%s' "$body" | jq . 2>/dev/null; then return; fi
  if command -v python3 >/dev/null 2>&1 && printf '%s' "$body" | python3 -m json.tool 2>/dev/null; then return; fi
  printf '%s\n' "$body"
}

# The API key (docs/api.md: Authentication): API_KEY; unset, and only against the local stack (localhost,
# 127.0.0.1, [::1]), the key npm start keeps in .local/api-key (LOCAL_API_KEY_FILE). Never sent to a deployed stage.
API_KEY="${API_KEY:-}"
key_from_file=""
if [[ -z "$API_KEY" && "$API_URL" =~ ^https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?(/|$) ]]; then
  key_file="${LOCAL_API_KEY_FILE:-$(cd "$(dirname "$0")/.." && pwd)/.local/api-key}"
  # The same rule as src/local/apiKeyFile.ts: one non-blank line of 8 to 256 of A-Z a-z 0-9 - . _ ~ + / =.
  kept="$(sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$key_file" 2>/dev/null || true)"
  if [[ "$kept" =~ ^[A-Za-z0-9._~+/=-]{8,256}$ ]]; then
    API_KEY="$kept"
    key_from_file="$key_file"
  fi
fi

# request <curl args...>: prints the answer; exits 1 when the API is unreachable or answers non-2xx.
request() {
  local body_file code
  local key_header=()
  [[ -n "$API_KEY" ]] && key_header=(-H "x-api-key: $API_KEY")
  body_file="$(mktemp)"
  if ! code="$(curl -sS -o "$body_file" -w '%{http_code}' "${key_header[@]}" "$@")"; then
    rm -f "$body_file"
    echo "error: cannot reach $API_URL (is the stack running? npm start, or set API_URL)" >&2
    exit 1
  fi
  pretty "$(cat "$body_file")"
  rm -f "$body_file"
  if [[ "$code" == 403 && -z "$API_KEY" ]]; then
    echo "error: HTTP 403: set API_KEY (npm start prints one on its ready line and keeps it in .local/api-key)" >&2
    exit 1
  fi
  if [[ "$code" == 403 && -n "$key_from_file" ]]; then
    echo "error: HTTP 403: the key in $key_from_file is not this stack's (started with its own API_KEY?): set API_KEY" >&2
    exit 1
  fi
  if [[ "$code" -lt 200 || "$code" -ge 300 ]]; then
    echo "error: HTTP $code" >&2
    exit 1
  fi
}
