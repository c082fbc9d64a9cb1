#!/usr/bin/env bash
# report.html in a real browser: runs a short scenario, opens its report.html
# in headless Chromium and checks that the browser laid out every chart (the
# page writes the number of SVG charts it finds into its title), then takes a
# screenshot and checks it is not blank.
#
# Usage: tests/html/check.sh IAMSTORM_BINARY [SCREENSHOT.png]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${1:?usage: tests/html/check.sh IAMSTORM_BINARY [SCREENSHOT.png]}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
shot="${2:-$work/report.png}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
  echo "chromium is not installed (apt-get install chromium)" >&2
  exit 1
fi
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars)

"$bin" run tests/data/scenarios/revoke.toml --quiet --out "$work/run" >/dev/null
page="file://$work/run/report.html"
title="$("$browser" "${flags[@]}" --dump-dom "$page" 2>/dev/null | sed -n 's:.*<title>\(.*\)</title>.*:\1:p')"
expected="iamstorm: revoke [charts: 4]"
if [ "$title" != "$expected" ]; then
  echo "report.html: the browser saw title '$title', expected '$expected'" >&2
  exit 1
fi
"$browser" "${flags[@]}" --window-size=1100,2600 --screenshot="$shot" "$page" >/dev/null 2>&1
bytes="$(stat -c %s "$shot")"
# A blank 1100x2600 PNG compresses to a few KB; charts and text make it ~200 KB.
if [ "$bytes" -lt 50000 ]; then
  echo "report.html screenshot is only $bytes bytes: the page rendered blank" >&2
  exit 1
fi
echo "report.html: $title, screenshot $bytes bytes"
