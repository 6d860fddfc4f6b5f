#!/usr/bin/env bash
# Crucible on a real-world mocha + Babel project, fetched from the npm registry (not run by CI:
# it downloads ~600 packages). react-moment-proptypes@1.8.1 publishes its src/, its mocha 6
# test suite (`mocha --recursive --require @babel/register …`) and test/.babelrc.
#   bash scripts/realworld-check.sh [workdir]     (default: $TMPDIR/crucible-realworld)
# Prints the project's own test summary, then `crucible evidence` on it, then a JSON summary.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-${TMPDIR:-/tmp}/crucible-realworld}"  # outside this repo: mocha would find its .mocharc
pkg=react-moment-proptypes
version=1.8.1
[ -f "$repo/dist/cli.js" ] || (cd "$repo" && npm run build:fast >/dev/null)
rm -rf "$work/$pkg" && mkdir -p "$work/$pkg"
cd "$work"
npm pack "$pkg@$version" --silent >/dev/null
tar xzf "$pkg-$version.tgz" -C "$pkg" --strip-components=1
cd "$pkg"
npm install --no-audit --no-fund --silent
# enzyme 3 pulls cheerio 1.2, whose package "exports" hide 'cheerio/lib/utils' that enzyme needs.
npm install --no-save --no-audit --no-fund --silent cheerio@1.0.0-rc.3
echo "== the project's own tests (mocha $(node -p "require('mocha/package.json').version"))"
start=$(date +%s%N); npm test 2>&1 | grep -E "passing|failing|pending" || true
echo "   $(( ($(date +%s%N) - start) / 1000000 )) ms"
echo "== crucible evidence"
start=$(date +%s%N)
node "$repo/dist/cli.js" evidence . --trust --bench-seconds 1 --json > crucible.json
echo "   $(( ($(date +%s%N) - start) / 1000000 )) ms"
node -e '
const rows = require("./crucible.json").artifacts;
const by = (s) => rows.filter((r) => r.status === s).length;
const src = rows.filter((r) => r.id.startsWith("src/"));
console.log(JSON.stringify({
  artifacts: rows.length, verified: by("verified"), failing: by("failing"), untested: by("untested"),
  srcMappedToTests: src.filter((r) => r.tests.length > 0).length + "/" + src.length,
  withSamples: rows.filter((r) => r.samples > 0).length, benchmarked: rows.filter((r) => r.medianNs !== null).length,
  isValidMoment: (rows.find((r) => r.id.endsWith("#isValidMoment")) || {}).tests?.length,
}, null, 1));'
