// Package check tells an ingress-nginx user what changes when Weir serves
// their Ingresses: per Ingress, the annotations Weir honours, those it
// treats differently and those it refuses; the controller ConfigMap's keys
// likewise; and the build's warnings that the validating webhook would
// refuse an Ingress for. It is what `weir check` prints.
package check

import (
	"fmt"
	"io"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/admission"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// Item is one annotation, ConfigMap key or flag and what Weir does with it.
type Item struct {
	// Name is the annotation without its prefix, the ConfigMap key, or the
	// flag with its dashes.
	Name string
	// Note says how Weir differs or why it refuses; empty when honoured.
	Note string
}

// Section is what Weir does with the settings of one object.
type Section struct {
	// Title names the object: "Ingress app/web", "ConfigMap ns/name",
	// "Flags".
	Title string
	// Honoured are applied as ingress-nginx does.
	Honoured []Item
	// Differs are applied with a difference, or accepted without effect;
	// the Note says which.
	Differs []Item
	// Inert are ignored, but change nothing a client sees (nginx tuning).
	Inert []Item
	// Refused are not applied.
	Refused []Item
	// Warnings are the build's other warnings about the object that change
	// what it serves (an invalid path, a lost conflict, an invalid value).
	Warnings []string
}

// Changes counts what would behave differently: the Differs, Refused and
// Warnings.
func (s *Section) Changes() int { return len(s.Differs) + len(s.Refused) + len(s.Warnings) }

// Report is the outcome of Check.
type Report struct {
	Sections []Section
	// Ingresses counts the Ingresses checked (those of the class).
	Ingresses int
}

// Changes counts what would behave differently across every section.
func (r *Report) Changes() int {
	n := 0
	for i := range r.Sections {
		n += r.Sections[i].Changes()
	}
	return n
}

// Check builds objs with opts, as Weir would serve them, and reports every
// Ingress of the class and the ConfigMap opts.ConfigMap.
func Check(objs snapshot.Objects, opts snapshot.Options) Report {
	objs.Changed = nil
	s := snapshot.Build(objs, opts)
	warnings := map[snapshot.ObjectRef][]snapshot.Warning{}
	for _, w := range s.Warnings {
		warnings[w.Object] = append(warnings[w.Object], w)
	}
	var r Report
	// By class alone: an Ingress deep inspection or its annotations refuse
	// is reported with its UnsafeIngress or InvalidIngress warning.
	classes := snapshot.NewClassSelector(objs.IngressClasses, opts)
	ings := slices.Clone(objs.Ingresses)
	slices.SortFunc(ings, func(a, b *networkingv1.Ingress) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for _, ing := range ings {
		if !classes.ServesClass(ing) {
			continue
		}
		r.Ingresses++
		ref := snapshot.ObjectRef{Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name}
		r.Sections = append(r.Sections, ingressSection(ref, ing.Annotations, warnings[ref]))
	}
	if ns, name, ok := strings.Cut(opts.ConfigMap, "/"); ok {
		for _, cm := range objs.ConfigMaps {
			if cm.Namespace == ns && cm.Name == name {
				ref := snapshot.ObjectRef{Kind: "ConfigMap", Namespace: ns, Name: name}
				r.Sections = append(r.Sections, configMapSection(ref, cm.Data, warnings[ref]))
			}
		}
	}
	return r
}

// ingressSection sorts the annotations of one Ingress.
func ingressSection(ref snapshot.ObjectRef, ann map[string]string, ws []snapshot.Warning) Section {
	sec := Section{Title: "Ingress " + ref.Namespace + "/" + ref.Name}
	invalid := map[string]string{}
	for _, w := range ws {
		switch {
		case !admission.Refuses(w.Reason):
		case w.Reason == snapshot.ReasonUnsupportedAnnotation || w.Reason == snapshot.ReasonSnippetIgnored:
			// an item of Refused says it
		case w.Reason == snapshot.ReasonInvalidAnnotation && invalidKey(w.Message) != "" && invalid[invalidKey(w.Message)] == "":
			invalid[invalidKey(w.Message)] = w.Message
		default:
			sec.Warnings = append(sec.Warnings, w.Reason+": "+w.Message)
		}
	}
	for _, k := range sortedKeys(ann) {
		key, ok := strings.CutPrefix(k, annotations.Prefix)
		if !ok {
			continue
		}
		e := annotations.AnnotationEntry(key)
		switch {
		case invalid[key] != "":
			sec.Refused = append(sec.Refused, Item{key, invalid[key]})
		case e.Status == annotations.StatusSupported:
			sec.Honoured = append(sec.Honoured, Item{Name: key})
		case e.Status == annotations.StatusPartial:
			sec.Differs = append(sec.Differs, Item{key, e.Note})
		case e.Status == annotations.StatusPlanned:
			sec.Refused = append(sec.Refused, Item{key, "not implemented in Weir yet"})
		case e.Status == "":
			sec.Refused = append(sec.Refused, Item{key, "not an annotation ingress-nginx documents"})
		default:
			sec.Refused = append(sec.Refused, Item{key, e.Note})
		}
	}
	return sec
}

// invalidKey returns the annotation (without prefix) an InvalidAnnotation
// message names, or "".
func invalidKey(msg string) string {
	rest, ok := strings.CutPrefix(msg, "annotation "+annotations.Prefix)
	if !ok {
		return ""
	}
	key, _, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	return key
}

// configMapSection sorts the keys of the controller ConfigMap.
func configMapSection(ref snapshot.ObjectRef, data map[string]string, ws []snapshot.Warning) Section {
	sec := Section{Title: "ConfigMap " + ref.Namespace + "/" + ref.Name}
	for _, w := range ws {
		if w.Reason != snapshot.ReasonUnsupportedConfigMapKey {
			sec.Warnings = append(sec.Warnings, w.Reason+": "+w.Message)
		}
	}
	for _, k := range sortedKeys(data) {
		e := annotations.ConfigMapEntry(k)
		switch {
		case k == "allow-snippet-annotations":
			if v := strings.TrimSpace(strings.ToLower(data[k])); v == "true" || v == "1" || v == "t" {
				sec.Refused = append(sec.Refused, Item{k, e.Note})
			} else {
				sec.Honoured = append(sec.Honoured, Item{Name: k})
			}
		case e.Status == annotations.StatusApplied:
			sec.Honoured = append(sec.Honoured, Item{Name: k})
		case e.Status == annotations.StatusPartial:
			sec.Differs = append(sec.Differs, Item{k, e.Note})
		case e.Inert:
			sec.Inert = append(sec.Inert, Item{k, e.Note})
		default:
			sec.Refused = append(sec.Refused, Item{k, e.Note})
		}
	}
	return sec
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Write prints the report: one block per section, then a summary line.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	for i := range r.Sections {
		s := &r.Sections[i]
		fmt.Fprintf(&b, "%s\n", s.Title)
		list := func(label string, items []Item) {
			for _, it := range items {
				if it.Note == "" {
					fmt.Fprintf(&b, "  %-9s %s\n", label, it.Name)
				} else {
					fmt.Fprintf(&b, "  %-9s %s: %s\n", label, it.Name, it.Note)
				}
			}
		}
		list("honoured", s.Honoured)
		list("differs", s.Differs)
		list("inert", s.Inert)
		list("refused", s.Refused)
		for _, line := range s.Warnings {
			fmt.Fprintf(&b, "  %-9s %s\n", "warning", line)
		}
		if len(s.Honoured)+len(s.Differs)+len(s.Inert)+len(s.Refused)+len(s.Warnings) == 0 {
			b.WriteString("  nothing to report\n")
		}
		b.WriteString("\n")
	}
	changed := 0
	for i := range r.Sections {
		if r.Sections[i].Changes() > 0 {
			changed++
		}
	}
	fmt.Fprintf(&b, "Summary: %d Ingresses checked; %d of %d sections would behave differently (%d settings or warnings).\n",
		r.Ingresses, changed, len(r.Sections), r.Changes())
	_, err := io.WriteString(w, b.String())
	return err
}
