// Package manifest is the folder source of Weir: it reads Ingress,
// IngressClass, Service, EndpointSlice, Secret and ConfigMap objects from
// multi-document YAML files, decoded with client-go's scheme into the real
// k8s.io/api types, and watches the folder for changes.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// Document is one YAML document of a file, decoded or not.
type Document struct {
	// Index is the position of the document in its file, from 0.
	Index int
	// Key is "Kind namespace/name" when the document's kind and metadata
	// could be read, even if the full decode failed; "" otherwise.
	Key string
	// Object is the decoded object; nil when Err is set or the document is
	// empty.
	Object runtime.Object
	// Err says why the document could not be used.
	Err error
}

// strictDecoder rejects unknown and duplicate fields, so a typo in a
// manifest is reported instead of silently ignored.
var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// supported lists the kinds Weir reads; any other kind is reported.
var supported = map[string]bool{
	"Ingress": true, "IngressClass": true, "Service": true,
	"EndpointSlice": true, "Secret": true, "ConfigMap": true,
}

// DecodeDocuments splits data into YAML documents and decodes each with
// client-go's scheme, strictly. Empty documents are skipped. A document that
// fails is returned with its Err set; the others are unaffected.
func DecodeDocuments(data []byte) []Document {
	var docs []Document
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			docs = append(docs, Document{Index: i, Err: fmt.Errorf("split yaml document %d: %w", i, err)})
			return docs
		}
		if len(bytes.TrimSpace(raw)) == 0 || isOnlyComments(raw) {
			continue
		}
		docs = append(docs, decodeOne(i, raw))
	}
}

func decodeOne(i int, raw []byte) Document {
	d := Document{Index: i}
	var meta struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		d.Err = fmt.Errorf("parse yaml document %d: %w", i, err)
		return d
	}
	// Namespaced objects without a namespace go to "default", as kubectl
	// would do; the Key says so even when the decode below fails, so a
	// broken document matches the last good version of its object.
	namespaced := meta.Kind != "IngressClass"
	if namespaced && meta.Metadata.Namespace == "" {
		meta.Metadata.Namespace = "default"
	}
	if meta.Kind != "" && meta.Metadata.Name != "" {
		d.Key = meta.Kind + " " + meta.Metadata.Namespace + "/" + meta.Metadata.Name
	}
	if !supported[meta.Kind] {
		d.Err = fmt.Errorf("decode document %d: kind %q is not one Weir reads", i, meta.Kind)
		return d
	}
	obj, _, err := strictDecoder.Decode(raw, nil, nil)
	if err != nil {
		d.Err = fmt.Errorf("decode %s: %w", meta.Kind, err)
		return d
	}
	if meta.Metadata.Name == "" {
		d.Err = fmt.Errorf("decode %s document %d: metadata.name is empty", meta.Kind, i)
		return d
	}
	if u, ok := obj.(interface {
		GetNamespace() string
		SetNamespace(string)
	}); ok && namespaced && u.GetNamespace() == "" {
		u.SetNamespace("default")
	}
	if sec, ok := obj.(*corev1.Secret); ok {
		mergeStringData(sec)
	}
	d.Object = obj
	return d
}

// mergeStringData writes a Secret's stringData into its data, as the API
// server does when the Secret is applied (a key in both takes stringData's
// value): a folder of manifests is never applied by one, and every reader
// of a Secret (TLS, auth, proxy-ssl) reads data.
func mergeStringData(sec *corev1.Secret) {
	if len(sec.StringData) == 0 {
		return
	}
	if sec.Data == nil {
		sec.Data = make(map[string][]byte, len(sec.StringData))
	}
	for k, v := range sec.StringData {
		sec.Data[k] = []byte(v)
	}
	sec.StringData = nil
}

func isOnlyComments(raw []byte) bool {
	for _, line := range bytes.Split(raw, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

// Add appends obj to the slice of its kind in objs. Objects of kinds Weir
// does not read are ignored.
func Add(objs *snapshot.Objects, obj runtime.Object) {
	switch o := obj.(type) {
	case *networkingv1.Ingress:
		objs.Ingresses = append(objs.Ingresses, o)
	case *networkingv1.IngressClass:
		objs.IngressClasses = append(objs.IngressClasses, o)
	case *corev1.Service:
		objs.Services = append(objs.Services, o)
	case *discoveryv1.EndpointSlice:
		objs.EndpointSlices = append(objs.EndpointSlices, o)
	case *corev1.Secret:
		objs.Secrets = append(objs.Secrets, o)
	case *corev1.ConfigMap:
		objs.ConfigMaps = append(objs.ConfigMaps, o)
	}
}

// DecodeObjects decodes every document of data into objs and returns the
// errors of the documents that failed. It is the simple form used by tests
// and tools; the folder source uses DecodeDocuments to keep last good
// versions.
func DecodeObjects(data []byte) (snapshot.Objects, []error) {
	var objs snapshot.Objects
	var errs []error
	for _, d := range DecodeDocuments(data) {
		if d.Err != nil {
			errs = append(errs, d.Err)
			continue
		}
		Add(&objs, d.Object)
	}
	return objs, errs
}
