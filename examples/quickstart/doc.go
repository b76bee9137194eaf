// Package quickstart holds the example manifests that `make run` serves in
// folder mode: three demo backends on 127.0.0.1:9101-9103 and the Ingresses
// that route to them. TOUR.md lists curl commands to try against them. The
// package has no code; its test checks that the manifests decode and build.
package quickstart
