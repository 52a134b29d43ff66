#!/usr/bin/env bash
# Refreshes the GraphiQL playground's assets from the pinned npm packages; the binary
# embeds them at build time (api/src/http/playground.rs), so the playground needs no
# network. Change a version here, run this, commit the files and SHA256SUMS.
set -euo pipefail
cd "$(dirname "$0")"
GRAPHIQL=3.9.0   # the last GraphiQL with a browser (UMD) build
REACT=18.3.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for t in "$work"/*.tgz; do mkdir -p "$work/x" && tar -xzf "$t" -C "$work/x" && mv "$work/x/package" "$work/$(basename "$t" .tgz)" && rm -rf "$work/x"; done
cp "$work/graphiql-$GRAPHIQL/graphiql.min.js" "$work/graphiql-$GRAPHIQL/graphiql.min.css" .
cp "$work/react-$REACT/umd/react.production.min.js" .
cp "$work/react-dom-$REACT/umd/react-dom.production.min.js" .
sha256sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js > SHA256SUMS
echo "graphiql@$GRAPHIQL react@$REACT react-dom@$REACT" > VERSIONS
