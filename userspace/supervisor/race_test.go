//go:build race

package supervisor_test

// restartLimit is how soon a killed worker must serve again. The worker here
// is this race-instrumented test binary, which takes several times longer
// to start than weir itself, so the limit is 2s; without -race it is 500ms.
const restartLimit = 2000_000_000
