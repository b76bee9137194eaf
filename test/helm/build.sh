#!/usr/bin/env bash
# Builds helm from the Go module proxy into a versioned cache folder outside
# the repository, once, for the chart tests (deploy/chart). Prints the path
# of the binary.
#
#   WEIR_KUBEAPI_CACHE  cache root, shared with test/kubeapi (default /var/cache/weir-test)
set -euo pipefail

HELM_VERSION=v4.3.2

root="${WEIR_KUBEAPI_CACHE:-/var/cache/weir-test}"
dir="$root/helm-$HELM_VERSION"
mkdir -p "$dir"
if [ ! -x "$dir/helm" ]; then
	GOBIN="$dir" GOFLAGS=-mod=mod go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
fi
echo "$dir/helm"
