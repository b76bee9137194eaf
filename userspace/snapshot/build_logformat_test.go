package snapshot_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestBuildLogFormatUnknownVariable: a log-format-upstream with an unknown
// variable is applied, with one InvalidConfigMapValue warning naming it.
func TestBuildLogFormatUnknownVariable(t *testing.T) {
	t.Parallel()
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "weir/ctl"
	const format = `$remote_addr $nope $nope "$http_x_a"`
	got := snapshot.Build(snapshot.Objects{ConfigMaps: []*corev1.ConfigMap{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "ctl"},
		Data:       map[string]string{"log-format-upstream": format, "log-format-escape-json": "true"},
	}}}, opts)
	if got.Global.LogFormat.Upstream != format || got.Global.LogFormat.Escape != "json" {
		t.Errorf("Global.LogFormat = %+v, want the format applied, escape json", got.Global.LogFormat)
	}
	if len(got.Warnings) != 1 || got.Warnings[0].Reason != snapshot.ReasonInvalidConfigMapValue ||
		!strings.HasSuffix(got.Warnings[0].Message, `: unknown variables $nope: logged as "-"`) {
		t.Errorf("warnings %+v, want one InvalidConfigMapValue naming $nope", got.Warnings)
	}
}
