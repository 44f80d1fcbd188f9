#!/usr/bin/env bash
# Opens a Repscope report in headless Chromium and fails if the page is empty or an image is broken.
#
#   tests/browser/check_report.sh REPORT.html [SCREENSHOT.png] [--min-images N]
#
# How: a copy of the report gets a small script that, once the page has loaded, counts images whose
# naturalWidth is 0 (not decoded) and the visible text; Chromium's --dump-dom prints the page after
# it ran and we read the counts back. The original report (unchanged, scriptless) is then rendered
# to SCREENSHOT.png (default: REPORT.png beside the report). Exit 0: fine; 1: check failed;
# 2: usage or Chromium missing. Chromium: $CHROMIUM, else chromium / chromium-browser / google-chrome.
set -euo pipefail

usage() { echo "usage: $0 REPORT.html [SCREENSHOT.png] [--min-images N]" >&2; exit 2; }
report="" shot="" min_images=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --min-images) [[ $# -ge 2 ]] || usage; min_images="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) if [[ -z "$report" ]]; then report="$1"; elif [[ -z "$shot" ]]; then shot="$1"; else usage; fi; shift ;;
  esac
done
[[ -n "$report" ]] || usage
[[ -f "$report" ]] || { echo "check_report: $report: no such file" >&2; exit 2; }
report="$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
[[ -n "$shot" ]] || shot="${report%.html}.png"

browser="${CHROMIUM:-}"
if [[ -z "$browser" ]]; then
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser="$(command -v "$b")"; break; fi
  done
fi
[[ -n "$browser" ]] || { echo "check_report: Chromium not found (apt-get install chromium, or set CHROMIUM)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --disable-extensions --hide-scrollbars)

cat > "$work/probe.js" <<'EOF'
<script>
window.addEventListener('load', function () {
  var broken = [], n = 0;
  for (var i = 0; i < document.images.length; i++) {
    var img = document.images[i]; n++;
    if (!img.complete || img.naturalWidth === 0) { broken.push(img.alt || ('image ' + (i + 1))); }
  }
  var root = document.documentElement;
  root.setAttribute('data-check-images', String(n));
  root.setAttribute('data-check-broken', String(broken.length));
  root.setAttribute('data-check-broken-names', broken.join(' | '));
  root.setAttribute('data-check-text', String((document.body ? document.body.innerText : '').trim().length));
});
</script>
EOF
# Insert the probe just before </body> (or at the end when there is none).
awk -v probe="$work/probe.js" '
  !done && /<\/body>/ { while ((getline line < probe) > 0) print line; done = 1 }
  { print }
  END { if (!done) while ((getline line < probe) > 0) print line }' "$report" > "$work/page.html"

timeout 120 "$browser" "${flags[@]}" --user-data-dir="$work/profile1" --virtual-time-budget=10000 \
  --dump-dom "file://$work/page.html" > "$work/dom.html" 2> "$work/chromium1.log" || {
  echo "check_report: Chromium failed to load the page:" >&2; tail -5 "$work/chromium1.log" >&2; exit 1; }

attr() { grep -o "data-check-$1=\"[^\"]*\"" "$work/dom.html" | head -1 | sed -e 's/^[^"]*"//' -e 's/"$//'; }
images="$(attr images)"; broken="$(attr broken)"; names="$(attr broken-names)"; text="$(attr text)"
if [[ -z "$images" ]]; then
  echo "check_report: $report: the page never finished loading (no probe result)" >&2; exit 1
fi

fail=0
if [[ "$broken" != "0" ]]; then echo "check_report: $report: $broken of $images images are broken: $names" >&2; fail=1; fi
if (( images < min_images )); then echo "check_report: $report: $images images, expected at least $min_images" >&2; fail=1; fi
if (( text < 100 )); then echo "check_report: $report: the page is (nearly) empty: $text characters of text" >&2; fail=1; fi

timeout 120 "$browser" "${flags[@]}" --user-data-dir="$work/profile2" --window-size=1280,2400 \
  --screenshot="$shot" "file://$report" > "$work/chromium2.log" 2>&1 || {
  echo "check_report: Chromium failed to take the screenshot:" >&2; tail -5 "$work/chromium2.log" >&2; exit 1; }
if [[ ! -s "$shot" ]]; then echo "check_report: no screenshot was written to $shot" >&2; fail=1; fi

(( fail == 0 )) || exit 1
echo "check_report: ok: $images images, none broken, $text characters of text; screenshot $shot"
