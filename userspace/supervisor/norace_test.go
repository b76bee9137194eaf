//go:build !race

package supervisor_test

// restartLimit is how soon a killed worker must serve again: 500ms.
const restartLimit = 500_000_000
