package snapshot_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestBuilderStreams: a Builder told of a change to the EndpointSlice of a
// stream's Service, or to that Service, gives the Streams a full Build
// gives (the scoped build does not keep the old endpoints); a change to
// another Service keeps them. The Deltas carry the Streams.
func TestBuilderStreams(t *testing.T) {
	t.Parallel()
	objs, opts := readCase(t, "testdata/streams.yaml")
	bl := snapshot.NewBuilder(opts)
	prev := bl.Build(objs)
	prev.Version = 1
	step := func(name string, change func(*snapshot.Objects) snapshot.ObjectRef) *snapshot.Snapshot {
		t.Helper()
		next := objs
		next.EndpointSlices = append([]*discoveryv1.EndpointSlice(nil), objs.EndpointSlices...)
		next.Services = append([]*corev1.Service(nil), objs.Services...)
		ref := change(&next)
		next.Changed = []snapshot.ObjectRef{ref}
		got := bl.Build(next)
		want := snapshot.Build(next, opts)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s: Builder differs from Build (-want +got):\n%s", name, diff)
		}
		got.Version = prev.Version + 1
		if d := checkDelta(t, prev, got); d.StreamsChanged != !cmp.Equal(prev.Streams, got.Streams) {
			t.Errorf("%s: Delta StreamsChanged = %v with Streams changed %v", name, d.StreamsChanged, !cmp.Equal(prev.Streams, got.Streams))
		}
		objs, prev = next, got
		return got
	}

	s := step("endpoint added", func(o *snapshot.Objects) snapshot.ObjectRef {
		es := o.EndpointSlices[0].DeepCopy()
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.9"}})
		o.EndpointSlices[0] = es
		return snapshot.ObjectRef{Kind: "EndpointSlice", Namespace: es.Namespace, Name: es.Name}
	})
	if got := s.Streams[0].Endpoints; !cmp.Equal(got, []string{"10.0.0.1:19000", "10.0.0.2:19000", "10.0.0.9:19000"}) {
		t.Errorf("endpoints of TCP port %d after the slice changed: %v", s.Streams[0].Port, got)
	}
	step("service removed", func(o *snapshot.Objects) snapshot.ObjectRef {
		o.Services = nil
		return snapshot.ObjectRef{Kind: "Service", Namespace: "default", Name: "echo"}
	})
	if bl.Scoped() {
		t.Errorf("a change to a stream's Service was scoped: streams are rebuilt by full builds")
	}
	step("other service", func(o *snapshot.Objects) snapshot.ObjectRef {
		o.Services = append(o.Services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "other"}})
		return snapshot.ObjectRef{Kind: "Service", Namespace: "default", Name: "other"}
	})
	if !bl.Scoped() {
		t.Errorf("a Service no stream names made a full build")
	}
	step("tcp services edited", func(o *snapshot.Objects) snapshot.ObjectRef {
		o.ConfigMaps = append([]*corev1.ConfigMap(nil), o.ConfigMaps...)
		for i, cm := range o.ConfigMaps {
			if cm.Name == "tcp-services" {
				cm = cm.DeepCopy()
				cm.Data["9100"] = "default/other:80"
				o.ConfigMaps[i] = cm
			}
		}
		return snapshot.ObjectRef{Kind: "ConfigMap", Namespace: "ingress", Name: "tcp-services"}
	})
	if bl.Scoped() {
		t.Errorf("an edit of the TCP services ConfigMap was scoped: streams are rebuilt by full builds")
	}
	if last := prev.Streams[len(prev.Streams)-1]; last.Protocol != snapshot.ProtocolUDP {
		t.Fatalf("streams out of order: %+v", prev.Streams)
	}
	if prev.Streams[0].Unavailable != "service default/echo not found" {
		t.Errorf("TCP port %d: Unavailable %q after its Service went", prev.Streams[0].Port, prev.Streams[0].Unavailable)
	}
}
