#!/bin/bash
# The repository stands alone (issue 20): no tracked file reads a path outside the checkout.
# Fails, naming each file and line, when code, scripts, examples or tests name the folder
# beside the checkout (../shared) or an absolute path of a build machine (/work, /root,
# /home). Prose that explains the rule (*.md) may name ../shared; nothing may name the rest.
set -u
cd "$(dirname "$0")/.."
status=0
if git grep -nE '\.\./shared' -- ':!*.md' ':!scripts/check-self-contained.sh'; then
  echo "check-self-contained: the lines above read ../shared, which a clone does not have" >&2
  status=1
fi
if git grep -nE '(^|[^A-Za-z0-9_.])/(work|root|home)/' -- ':!scripts/check-self-contained.sh'; then
  echo "check-self-contained: the lines above name an absolute path of a machine" >&2
  status=1
fi
[ $status -eq 0 ] && echo "check-self-contained: nothing reads outside the checkout"
exit $status
