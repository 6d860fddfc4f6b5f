#!/usr/bin/env bash
# What `npm test` needs from the system, checked before every run (`npm test` runs this first,
# and `.ci/run` relies on it through `npm test`).
#
# As root with apt-get: installs the missing Debian packages, quietly (apt-get update runs only
# when something is missing, so with everything present this is a few `command -v` checks).
# Otherwise: names each missing package, what needs it and the `sudo apt-get install …` to run,
# and carries on (the tests that need it then fail with their own message).
#
# CRUCIBLE_NO_APT=1 never runs apt-get, even as root: it only reports (also how to try the
# non-root path on a root machine).
set -uo pipefail

# package | what needs it | present?  (Debian package names; paths are Debian's)
checks=(
  "universal-ctags|npm run bench:index compares against it (the tests don't need it)|command -v ctags"
  "chromium|the end-to-end tests: Chromium drives code-server (test/e2e)|test -x /usr/bin/chromium"
  "libkrb5-dev|the end-to-end tests: code-server's install builds a Kerberos module (test/e2e)|test -e /usr/include/krb5.h"
  "ripgrep|the end-to-end tests: Debian's rg is packed into code-server in place of a GitHub download (test/e2e)|command -v rg"
  "neovim|the second, independent LSP client (test/nvim)|command -v nvim"
  "python3-pytest|the pytest adapter's tests, run with Debian's python3 (test/unit: runners, record, bench)|/usr/bin/python3 -c 'import pytest'"
)

missing=()
needs=()
for check in "${checks[@]}"; do
  IFS='|' read -r pkg why test <<<"$check"
  if ! eval "$test" >/dev/null 2>&1; then
    missing+=("$pkg")
    needs+=("  $pkg: $why")
  fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get install -y ${missing[*]}"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null && [ -z "${CRUCIBLE_NO_APT:-}" ]; then
  echo "test prerequisites: installing ${missing[*]} (apt-get, once)"
  log="$(mktemp -t crucible-apt-XXXXXX.log)"
  if apt-get update -qq >"$log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$log" 2>&1; then
    rm -f "$log"
    exit 0
  fi
  echo "test prerequisites: \`$command\` failed (log: $log); the tests that need these packages will fail:" >&2
  printf '%s\n' "${needs[@]}" >&2
  exit 0
fi

{
  echo "test prerequisites: missing Debian packages (the tests that need them will fail):"
  printf '%s\n' "${needs[@]}"
  if command -v apt-get >/dev/null; then
    echo "Install them with: sudo $command"
  else
    echo "Install them with (Debian/Ubuntu): sudo $command, or your system's equivalents."
  fi
} >&2
exit 0
