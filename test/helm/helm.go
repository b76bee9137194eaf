// Package helm finds the helm binary that build.sh builds, for the tests of
// Weir's Helm chart (deploy/chart).
package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Version is the helm release build.sh builds.
const Version = "v4.3.2"

// Binary returns the path of helm: $WEIR_HELM if set, else build.sh's
// folder under $WEIR_KUBEAPI_CACHE (default /var/cache/weir-test). When it
// is missing it skips the test, or fails it when CI is set.
func Binary(t testing.TB) string {
	t.Helper()
	path := os.Getenv("WEIR_HELM")
	if path == "" {
		root := os.Getenv("WEIR_KUBEAPI_CACHE")
		if root == "" {
			root = "/var/cache/weir-test"
		}
		path = filepath.Join(root, "helm-"+Version, "helm")
	}
	if _, err := os.Stat(path); err != nil {
		msg := "helm not built at " + path + ": run test/helm/build.sh"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// Template runs `helm template` of the chart in dir as release name in
// namespace, with the values files given, and returns its output.
func Template(t testing.TB, dir, name, namespace string, valuesFiles ...string) []byte {
	t.Helper()
	args := []string{"template", name, dir, "--namespace", namespace}
	for _, f := range valuesFiles {
		args = append(args, "--values", f)
	}
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("helm %v: %v\n%s", args, err, stderr)
	}
	return out
}
