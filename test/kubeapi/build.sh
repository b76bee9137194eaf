#!/usr/bin/env bash
# Builds etcd and kube-apiserver from the Go module proxy into a versioned
# cache folder outside the repository, once. Prints the folder.
#
#   WEIR_KUBEAPI_CACHE  cache root (default /var/cache/weir-test)
#
# Both modules carry replace directives, so `go install module@version` is
# refused: each is built in a scratch module instead.
set -euo pipefail

K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.6.16

root="${WEIR_KUBEAPI_CACHE:-/var/cache/weir-test}"
dir="$root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$dir"

export GOFLAGS=-mod=mod
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

if [ ! -x "$dir/etcd" ]; then
	scratch="$(mktemp -d)"
	trap 'rm -rf "$scratch"' EXIT
	(
		cd "$scratch"
		go mod init weir.test/etcd-build >/dev/null 2>&1
		go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
		CGO_ENABLED=0 go build -trimpath -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3
	)
	mv "$dir/etcd.tmp" "$dir/etcd"
	rm -rf "$scratch"
	trap - EXIT
fi

if [ ! -x "$dir/kube-apiserver" ]; then
	scratch="$(mktemp -d)"
	trap 'rm -rf "$scratch"' EXIT
	(
		cd "$scratch"
		gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
		{
			echo "module weir.test/kube-apiserver-build"
			echo
			echo "go $(go env GOVERSION | sed 's/^go//; s/\.[0-9]*$//').0"
			echo
			echo "require k8s.io/kubernetes $K8S_VERSION"
			echo
			grep -E '^[[:space:]]*k8s\.io/[^ ]+ => \./staging/' "$gomod" |
				awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
		} > go.mod
		go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION"
		CGO_ENABLED=0 go build -trimpath -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
	)
	mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
	rm -rf "$scratch"
	trap - EXIT
fi

echo "$dir"
