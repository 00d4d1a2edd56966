#!/bin/bash
# The repository stands alone (issue 20): no tracked file reads a path outside the checkout.
# Fails, naming each file and line, when code, scripts, examples or tests name the folder
# beside the checkout (the seed material a clone does not have) or an absolute path of a
# build machine. Prose that explains the rule (*.md) may name that folder; nothing may name
# the rest.
set -u
cd "$(dirname "$0")/.."
beside='\.\./'"shared"                 # written in two parts so this file does not match itself
machine='(^|[^A-Za-z0-9_.])/(work|root|home)/'
status=0
if git grep -nE "$beside" -- ':!*.md'; then
  echo "check-self-contained: the lines above read the folder beside the checkout, which a clone does not have" >&2
  status=1
fi
if git grep -nE "$machine" -- ':!scripts/check-self-contained.sh'; then
  echo "check-self-contained: the lines above name an absolute path of a machine" >&2
  status=1
fi
[ $status -eq 0 ] && echo "check-self-contained: nothing reads outside the checkout"
exit $status
