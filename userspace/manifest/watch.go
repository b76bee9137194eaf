package manifest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
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
	// later Updates: treat them as read-only. In the Updates of Run after
	// the first, Objects.Changed names every object added, removed or read
	// again since the previous Update (so the build is scoped to them); it is
	// nil in the first and in those of Load.
	Objects snapshot.Objects
	// Problems lists what could not be used, sorted by file then object.
	// Nil means everything was read.
	Problems []Problem
}

// DefaultMaxFileSize is the largest manifest file the folder source reads
// when Options.MaxFileSize is zero: 4 MiB, four times the 1 MiB a Kubernetes
// ConfigMap or Secret can hold.
const DefaultMaxFileSize = 4 << 20

// ErrFileTooLarge is the reason of a Problem for a file over the size limit.
var ErrFileTooLarge = errors.New("file too large")

// Options configures a Source.
type Options struct {
	// Logger receives the warnings of Run. Nil means slog.Default().
	Logger *slog.Logger
	// MaxFileSize is the largest file read, in bytes. A larger file is not
	// read: it is reported as a Problem (ErrFileTooLarge) and keeps the last
	// good objects it had. Zero means DefaultMaxFileSize.
	MaxFileSize int64
}

// Source is the folder source: it reads every manifest file of one folder
// and remembers, per file, the last good version of each object so that a
// broken edit does not take a route down. Run reads and decodes a file again
// only when it changed (a watch event named it, or its size, times or inode
// differ), so an edit costs what the edited file costs. Its methods are safe
// for concurrent use, but Load and Run share that memory: use one or the
// other.
type Source struct {
	dir     string
	logger  *slog.Logger
	maxSize int64

	mu    sync.Mutex
	files map[string]*fileState // by file name; only files that were read
	// dirty names the files a watch event named since the last Load;
	// allDirty says to read every file again (events were lost).
	dirty    map[string]bool
	allDirty bool
	// served is each object of the last Update by key, for the next one's
	// Objects.Changed; nil before the first.
	served map[string]runtime.Object
	// readHook, when set (tests), is called with the name of each file
	// read from disk.
	readHook func(name string)
}

// fileState is what one file contributed the last time it was read: its
// usable objects in document order. A failing document contributes the last
// good object of its Key, or of its document index when the Key is unknown.
type fileState struct {
	entries []entry
	// problems are the file's problems at that read, reported again while
	// the file does not change.
	problems []Problem
	// stamp identifies the content read; the zero stamp (read failed)
	// matches no file, so the file is read again at the next Load.
	stamp fileStamp
}

// fileStamp is what stat says of a file's content: when its size, change
// times, inode and device are the same, so is the content.
type fileStamp struct {
	size, mtime, ctime int64
	ino, dev           uint64
}

func stampOf(fi fs.FileInfo) fileStamp {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{}
	}
	return fileStamp{size: fi.Size(), mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), ino: st.Ino, dev: st.Dev}
}

// entry is one usable object of a file.
type entry struct {
	index int // document index in the file
	key   string
	obj   runtime.Object
}

func (f *fileState) byKey(key string) (entry, bool) {
	for _, e := range f.entries {
		if e.key == key {
			return e, true
		}
	}
	return entry{}, false
}

func (f *fileState) byIndex(i int) (entry, bool) {
	for _, e := range f.entries {
		if e.index == i {
			return e, true
		}
	}
	return entry{}, false
}

// NewSource returns a Source reading the manifest files of dir (not its
// subfolders).
func NewSource(dir string, opts Options) *Source {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	return &Source{dir: dir, logger: opts.Logger, maxSize: opts.MaxFileSize,
		files: map[string]*fileState{}, dirty: map[string]bool{}}
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
// file are kept and the problem is reported. Load reads every file; Run
// reads again only the files that changed.
func (s *Source) Load() Update { return s.load(true) }

// load is Load; when all is false, it reads again only the files a watch
// event named and those whose stat changed, and keeps the state of the
// others.
func (s *Source) load(all bool) Update {
	s.mu.Lock()
	defer s.mu.Unlock()

	var problems []Problem
	if names, err := s.list(); err != nil {
		problems = append(problems, Problem{File: s.dir, Err: err})
	} else {
		next := make(map[string]*fileState, len(names))
		for _, name := range names {
			if st, ok := s.loadFile(name, all || s.allDirty || s.dirty[name]); ok {
				next[name] = st
			}
		}
		s.files = next
		clear(s.dirty)
		s.allDirty = false
	}
	names := slices.Sorted(maps.Keys(s.files))
	for _, name := range names {
		problems = append(problems, s.files[name].problems...)
	}

	var u Update
	owner := map[string]string{} // key -> file that defines it
	served := make(map[string]runtime.Object, len(s.served))
	for _, name := range names {
		for _, e := range s.files[name].entries {
			if first, ok := owner[e.key]; ok {
				problems = append(problems, Problem{File: name, Object: e.key,
					Err: fmt.Errorf("ignored: %s is already defined in %s", e.key, first)})
				continue
			}
			owner[e.key] = name
			served[e.key] = e.obj
			Add(&u.Objects, e.obj)
		}
	}
	if !all && s.served != nil {
		u.Objects.Changed = changes(s.served, served)
	}
	s.served = served
	slices.SortStableFunc(problems, func(a, b Problem) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return strings.Compare(a.Object, b.Object)
	})
	u.Problems = problems
	return u
}

// changes names the objects of cur that are not those of prev (new, or
// decoded again: a file read again gives new objects), and those of prev
// gone from cur, sorted. Both are keyed by "Kind namespace/name".
func changes(prev, cur map[string]runtime.Object) []snapshot.ObjectRef {
	out := []snapshot.ObjectRef{}
	add := func(key string) {
		kind, nsName, _ := strings.Cut(key, " ")
		ns, name, _ := strings.Cut(nsName, "/")
		out = append(out, snapshot.ObjectRef{Kind: kind, Namespace: ns, Name: name})
	}
	for key, obj := range cur {
		if prev[key] != obj {
			add(key)
		}
	}
	for key := range prev {
		if _, ok := cur[key]; !ok {
			add(key)
		}
	}
	slices.SortFunc(out, func(a, b snapshot.ObjectRef) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return out
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

// loadFile returns the state of one file: the previous one when the file
// did not change since (and dirty is false), else the file read and decoded
// against it. ok is false when the file is gone (its objects are dropped).
func (s *Source) loadFile(name string, dirty bool) (st *fileState, ok bool) {
	prev := s.files[name]
	if prev == nil {
		prev = &fileState{}
	}
	path := filepath.Join(s.dir, name)
	if fi, err := os.Stat(path); err == nil && !dirty && prev.stamp != (fileStamp{}) && stampOf(fi) == prev.stamp {
		return prev, true
	}
	data, stamp, err := s.readFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false // removed since the listing
	}
	if err != nil {
		// Unreadable for now (permissions, I/O) or too large: keep what
		// it had.
		return &fileState{entries: prev.entries, stamp: stamp, problems: []Problem{{File: name,
			Err: withKept(err, len(prev.entries) > 0)}}}, true
	}
	st = &fileState{stamp: stamp}
	st.entries, st.problems = decodeFile(name, data, prev)
	return st, true
}

// readFile reads one file of the folder, up to the size limit. Its stamp is
// taken before reading, so a change made during the read is seen at the next
// Load; on a read error the stamp is zero (read again next time) except
// for a file over the limit, which is not read again until it changes.
func (s *Source) readFile(name string) ([]byte, fileStamp, error) {
	if s.readHook != nil {
		s.readHook(name)
	}
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("read file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("read file: %w", err)
	}
	stamp := stampOf(fi)
	if fi.Size() > s.maxSize {
		return nil, stamp, fmt.Errorf("skipped: %w: %d bytes, over the limit of %d", ErrFileTooLarge, fi.Size(), s.maxSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, s.maxSize+1))
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("read file: %w", err)
	}
	if int64(len(data)) > s.maxSize { // it grew while being read
		return nil, fileStamp{}, fmt.Errorf("skipped: %w: over the limit of %d bytes", ErrFileTooLarge, s.maxSize)
	}
	return data, stamp, nil
}

// decodeFile decodes the documents of one file; a failing document keeps
// the last good version of its object from prev.
func decodeFile(name string, data []byte, prev *fileState) (entries []entry, problems []Problem) {
	// Good documents first, so that a failing document never shadows the
	// current version of an object defined by another document.
	docs := DecodeDocuments(data)
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
		entries = append(entries, entry{index: d.Index, key: d.Key, obj: d.Object})
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
			entries = append(entries, entry{index: d.Index, key: e.key, obj: e.obj})
		}
		problems = append(problems, Problem{File: name, Object: object, Err: withKept(d.Err, kept)})
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return a.index - b.index })
	return entries, problems
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

// Run emits Load() once, then watches the folder and emits a fresh Update
// after each burst of changes (once the folder has been quiet for 50ms, at
// the latest 500ms after the first change), for which it reads only the
// files that changed. It watches the folder rather than the files, so
// editors that save by renaming a temporary file and ConfigMap mounts that
// swap their "..data" symlink are both seen. Each
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
			s.markDirty(filepath.Base(ev.Name))
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
			s.markDirty("")
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

// markDirty makes the next Load read the file name again, or every file
// when name is "" or a ConfigMap mount's "..data" link (events were lost, or
// every file may have changed at once).
func (s *Source) markDirty(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" || strings.HasPrefix(name, "..data") {
		s.allDirty = true
		return
	}
	s.dirty[name] = true
}

// emit loads what changed in the folder, logs the problems and hands the
// Update over.
func (s *Source) emit(emit func(Update)) {
	u := s.load(false)
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
