package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// readBlob reads a blob of the layout in dir and checks its digest and size.
func readBlob(t *testing.T, dir string, d descriptor) []byte {
	t.Helper()
	hex, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok {
		t.Fatalf("digest %q is not sha256", d.Digest)
	}
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", hex))
	if err != nil {
		t.Fatalf("read blob: %v", err)
	}
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256(b)); got != d.Digest || int64(len(b)) != d.Size {
		t.Fatalf("blob %s: digest %s, size %d; want size %d", d.Digest, got, len(b), d.Size)
	}
	return b
}

// TestImage builds a static weir stamped with the VERSION file's version,
// writes the image layout as `make image` does, and reads it back as a
// runtime would: index, manifest, config (entrypoint /weir, user root,
// linux on this architecture) and the layer, whose /weir is a static
// executable that prints the version.
func TestImage(t *testing.T) {
	t.Parallel()
	v, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	tag := "v" + strings.TrimSpace(string(v))
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "weir")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+tag, "-o", bin, "github.com/weir-lb/weir/cmd/weir")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build weir: %v\n%s", err, out)
	}
	layout := filepath.Join(tmp, "oci")
	digest, err := Write(layout, Options{Binary: bin, Quickstart: "../../examples/quickstart", Tag: tag})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(layout, "oci-layout")); err != nil || !strings.Contains(string(b), `"imageLayoutVersion":"1.0.0"`) {
		t.Fatalf("oci-layout: %q, %v", b, err)
	}
	var idx index
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil || json.Unmarshal(b, &idx) != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index.json: %s, %v", b, err)
	}
	md := idx.Manifests[0]
	if md.Digest != digest || md.MediaType != mediaManifest || md.Annotations["org.opencontainers.image.ref.name"] != tag {
		t.Errorf("index entry %+v: want the manifest %s tagged %s", md, digest, tag)
	}
	var m manifest
	if err := json.Unmarshal(readBlob(t, layout, md), &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest: %+v, %v", m, err)
	}
	var cfg Config
	if err := json.Unmarshal(readBlob(t, layout, m.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH || strings.Join(cfg.Config.Entrypoint, " ") != "/weir" || cfg.Config.User != "0:0" {
		t.Errorf("config: os %s arch %s entrypoint %q user %q; want linux, %s, /weir, 0:0", cfg.OS, cfg.Architecture, cfg.Config.Entrypoint, cfg.Config.User, runtime.GOARCH)
	}
	zr, err := gzip.NewReader(bytes.NewReader(readBlob(t, layout, m.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256(raw)); len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != got {
		t.Errorf("diff_ids %v, want [%s]", cfg.RootFS.DiffIDs, got)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files[h.Name], _ = io.ReadAll(tr)
			if h.Name == "weir" && h.Mode&0o111 == 0 {
				t.Errorf("/weir mode %o: not executable", h.Mode)
			}
		}
	}
	if _, ok := files["etc/weir/quickstart/00-ingressclass.yaml"]; !ok {
		t.Error("no /etc/weir/quickstart/00-ingressclass.yaml in the layer")
	}
	if _, ok := files["etc/weir/quickstart/doc.go"]; ok {
		t.Error("the layer carries the quickstart's Go files")
	}
	extracted := filepath.Join(tmp, "extracted-weir")
	if err := os.WriteFile(extracted, files["weir"], 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(extracted)
	if err != nil {
		t.Fatalf("/weir is not an ELF executable: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("/weir has an ELF interpreter: not static, it would not start on a scratch image")
		}
	}
	f.Close()
	out, err := exec.Command(extracted, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), tag) {
		t.Errorf("/weir version: %q, %v; want %s", out, err, tag)
	}
}
