package manifest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// Debounce timings of Run: an Update is emitted once the folder has been
// quiet for debounceQuiet, or at the latest debounceMax after the first
// change of a burst.
const (
	debounceQuiet = 50 * time.Millisecond
	debounceMax   = 500 * time.Millisecond
)

// Problem is a file, or an object in a file, that the folder source could not
// use. The rest of the folder is loaded regardless.
type Problem struct {
	// File is the name of the file inside the folder ("ingress.yaml"), or
	// the folder itself when the folder could not be read.
	File string
	// Object is the "Kind namespace/name" of the object, or "document N"
	// (N from 0, as in Document.Index) when the document could not be read
	// far enough to know its object, or "" when the whole file is at fault.
	Object string
	// Err is the reason.
	Err error
}

// Error returns "<file>: <object>: <reason>", without the object part when
// Object is "".
func (p Problem) Error() string {
	if p.Object == "" {
		return fmt.Sprintf("%s: %v", p.File, p.Err)
	}
	return fmt.Sprintf("%s: %s: %v", p.File, p.Object, p.Err)
}

// Unwrap returns the reason, for errors.Is and errors.As.
func (p Problem) Unwrap() error { return p.Err }

// Update is what the folder source knows after one read of the folder.
type Update struct {
	// Objects holds every usable object: the current version of each good
	// document and the last good version of each failing one. Files are in
	// lexical order, documents in file order. The objects are shared with
	// later Updates: treat them as read-only.
	Objects snapshot.Objects
	// Problems lists what could not be used, sorted by file then object.
	// Nil means everything was read.
	Problems []Problem
}

// Source is the folder source: it reads every manifest file of one folder
// and remembers, per file, the last good version of each object so that a
// broken edit does not take a route down. Its methods are safe for
// concurrent use, but Load and Run share that memory: use one or the other.
type Source struct {
	dir    string
	logger *slog.Logger

	mu    sync.Mutex
	files map[string]*fileState // by file name; only files that were read
}

// fileState is what one file contributed the last time it was read: its
// usable objects in document order. A failing document contributes the last
// good object of its Key, or of its document index when the Key is unknown.
type fileState struct {
	entries []entry
}

// entry is one usable object of a file.
type entry struct {
	index int // document index in the file
	key   string
	obj   runtime.Object
}

func (f *fileState) byKey(key string) (entry, bool) {
	if f == nil {
		return entry{}, false
	}
	for _, e := range f.entries {
		if e.key == key {
			return e, true
		}
	}
	return entry{}, false
}

func (f *fileState) byIndex(i int) (entry, bool) {
	if f == nil {
		return entry{}, false
	}
	for _, e := range f.entries {
		if e.index == i {
			return e, true
		}
	}
	return entry{}, false
}

// NewSource returns a Source reading the manifest files of dir (not its
// subfolders). A nil logger means slog.Default().
func NewSource(dir string, logger *slog.Logger) *Source {
	if logger == nil {
		logger = slog.Default()
	}
	return &Source{dir: dir, logger: logger, files: map[string]*fileState{}}
}

// IsManifestFile reports whether the folder source reads a file of this
// name: *.yaml, *.yml or *.json, not hidden (which also leaves out the
// "..data" entries of a ConfigMap mount and editor files like ".foo.swp" or
// ".#foo.yaml") and not an editor backup ("foo.yaml~", "#foo.yaml#").
func IsManifestFile(name string) bool {
	if name == "" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Load reads the folder once and returns every usable object and every
// problem. A malformed document keeps the last good version of its object
// (matched by "Kind namespace/name", or by document index when the document
// cannot be read that far); a deleted file drops its objects; when two files
// define the same object the lexically first file wins and the other is
// reported. When the folder cannot be listed, the last good objects of every
// file are kept and the problem is reported.
func (s *Source) Load() Update {
	s.mu.Lock()
	defer s.mu.Unlock()

	var problems []Problem
	if names, err := s.list(); err != nil {
		problems = append(problems, Problem{File: s.dir, Err: err})
	} else {
		next := make(map[string]*fileState, len(names))
		for _, name := range names {
			st, ps, ok := s.loadFile(name)
			problems = append(problems, ps...)
			if ok {
				next[name] = st
			}
		}
		s.files = next
	}
	names := slices.Sorted(maps.Keys(s.files))

	var u Update
	owner := map[string]string{} // key -> file that defines it
	for _, name := range names {
		for _, e := range s.files[name].entries {
			if first, ok := owner[e.key]; ok {
				problems = append(problems, Problem{File: name, Object: e.key,
					Err: fmt.Errorf("ignored: %s is already defined in %s", e.key, first)})
				continue
			}
			owner[e.key] = name
			Add(&u.Objects, e.obj)
		}
	}
	slices.SortStableFunc(problems, func(a, b Problem) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return strings.Compare(a.Object, b.Object)
	})
	u.Problems = problems
	return u
}

// list returns the sorted names of the manifest files of the folder,
// following symlinks (a ConfigMap mount links each file into "..data/").
func (s *Source) list() ([]string, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read folder: %w", err)
	}
	var names []string
	for _, de := range des {
		if !IsManifestFile(de.Name()) {
			continue
		}
		if de.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(filepath.Join(s.dir, de.Name()))
			if err != nil || !fi.Mode().IsRegular() {
				continue // dangling link or a folder: nothing to read
			}
		} else if !de.Type().IsRegular() {
			continue
		}
		names = append(names, de.Name())
	}
	return names, nil // os.ReadDir sorts by name
}

// loadFile reads and decodes one file against its previous state. ok is
// false when the file is gone (its objects are dropped).
func (s *Source) loadFile(name string) (st *fileState, problems []Problem, ok bool) {
	prev := s.files[name]
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false // removed since the listing
	}
	if err != nil {
		// Unreadable for now (permissions, I/O): keep what it had.
		if prev == nil {
			prev = &fileState{}
		}
		return prev, []Problem{{File: name, Err: fmt.Errorf("read file: %w", err)}}, true
	}

	// Good documents first, so that a failing document never shadows the
	// current version of an object defined by another document.
	docs := DecodeDocuments(data)
	st = &fileState{}
	have := map[string]bool{}
	for _, d := range docs {
		if d.Err != nil || d.Object == nil {
			continue
		}
		if have[d.Key] {
			problems = append(problems, Problem{File: name, Object: d.Key,
				Err: fmt.Errorf("document %d: ignored: defined twice in this file", d.Index)})
			continue
		}
		have[d.Key] = true
		st.entries = append(st.entries, entry{index: d.Index, key: d.Key, obj: d.Object})
	}
	for _, d := range docs {
		if d.Err == nil {
			continue
		}
		var e entry
		var found bool
		object := d.Key
		if d.Key != "" {
			e, found = prev.byKey(d.Key)
		} else {
			object = fmt.Sprintf("document %d", d.Index)
			e, found = prev.byIndex(d.Index)
		}
		kept := found && !have[e.key]
		if kept {
			have[e.key] = true
			st.entries = append(st.entries, entry{index: d.Index, key: e.key, obj: e.obj})
		}
		problems = append(problems, Problem{File: name, Object: object, Err: withKept(d.Err, kept)})
	}
	slices.SortStableFunc(st.entries, func(a, b entry) int { return a.index - b.index })
	return st, problems, true
}

// keptError is a document's error when the last good version of its object
// is served instead.
type keptError struct{ err error }

func (e keptError) Error() string { return e.err.Error() + " (keeping the last good version)" }
func (e keptError) Unwrap() error { return e.err }

func withKept(err error, kept bool) error {
	if kept {
		return keptError{err}
	}
	return err
}

// Run emits Load() once, then watches the folder and emits a fresh Load()
// after each burst of changes (once the folder has been quiet for 50ms, at
// the latest 500ms after the first change). It watches the folder rather
// than the files, so editors that save by renaming a temporary file and
// ConfigMap mounts that swap their "..data" symlink are both seen. Each
// problem of an emitted Update is logged once, as a warning. emit is called
// from Run's goroutine, one Update at a time. Run returns nil when ctx is
// done, or an error when the folder cannot be watched.
func (s *Source) Run(ctx context.Context, emit func(Update)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", s.dir, err)
	}
	defer w.Close()
	// Watch before the first read, so a change made during it is not lost.
	if err := w.Add(s.dir); err != nil {
		return fmt.Errorf("watch %s: %w", s.dir, err)
	}

	s.emit(emit)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var first time.Time // first change of the pending burst; zero if none
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("watch %s: watcher closed", s.dir)
			}
			if !relevant(ev) {
				continue
			}
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			timer.Reset(min(debounceQuiet, debounceMax-now.Sub(first)))
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("watch %s: watcher closed", s.dir)
			}
			// Typically an inotify queue overflow: events were lost, so
			// read everything again.
			s.logger.Warn("watch manifests folder", "dir", s.dir, "err", err)
			if first.IsZero() {
				first = time.Now()
			}
			timer.Reset(debounceQuiet)
		case <-timer.C:
			first = time.Time{}
			s.emit(emit)
		}
	}
}

// emit loads the folder, logs its problems and hands the Update over.
func (s *Source) emit(emit func(Update)) {
	u := s.Load()
	for _, p := range u.Problems {
		s.logger.Warn("manifest problem", "dir", s.dir, "file", p.File, "object", p.Object, "reason", p.Err.Error())
	}
	emit(u)
}

// relevant reports whether an event may change what Load returns: a
// manifest file, or a ConfigMap mount's "..data" link swap. Chmod alone is
// ignored.
func relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := filepath.Base(ev.Name)
	return IsManifestFile(name) || strings.HasPrefix(name, "..data")
}
