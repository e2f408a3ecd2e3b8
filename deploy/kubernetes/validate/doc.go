// Package validate checks luaproxy's Kubernetes manifests offline: its
// tests render every Kustomize overlay under deploy/kubernetes with the
// kustomize library (as `kubectl kustomize` does), decode every object
// strictly into the Kubernetes API types, and check the invariants an
// operator relies on (non-root, read-only root file system, probes on the
// admin port, resources, the sidecar on localhost, the shared service's
// lease), and that luaproxy itself accepts what each overlay asks of it
// (check-config with its arguments and environment, lint-functions on its
// ConfigMaps of function libraries).
//
// It is a module of its own so that luaproxy's go.mod does not pull in
// Kubernetes; CI runs it with `cd deploy/kubernetes/validate && go test ./...`.
package validate
