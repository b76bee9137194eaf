// Command image writes Weir's container image as an OCI image layout
// (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
// without a Docker engine: one layer holding the static weir binary at
// /weir and the quickstart manifests at /etc/weir/quickstart, a config
// whose entrypoint is /weir, run as root (Weir attaches XDP and binds 80 and
// 443; its workers drop to 65532 themselves). The layout is reproducible:
// every timestamp is SOURCE_DATE_EPOCH (default 0). `make image` runs it;
// push it with any OCI tool, e.g. `skopeo copy oci:bin/image/oci:v0.4.0
// docker://ghcr.io/weir-lb/weir:v0.4.0`.
//
//	go run ./deploy/image --binary bin/image/weir --tag v0.4.0 --out bin/image/oci
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// OCI media types.
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// Options say what goes into the image.
type Options struct {
	// Binary is the static weir binary, installed as /weir.
	Binary string
	// Quickstart is the folder of manifests installed as
	// /etc/weir/quickstart (its .yaml, .yml and .md files). Empty means
	// none.
	Quickstart string
	// Tag names the image in the layout's index
	// (org.opencontainers.image.ref.name), e.g. "v0.4.0".
	Tag string
	// Arch is the GOARCH the binary was built for. Default runtime.GOARCH.
	Arch string
	// Created stamps the config and every file. Default the Unix epoch.
	Created time.Time
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// Config is the part of the OCI image config Weir sets.
type Config struct {
	Created      time.Time `json:"created"`
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Config       struct {
		Entrypoint []string          `json:"Entrypoint"`
		User       string            `json:"User"`
		Env        []string          `json:"Env"`
		WorkingDir string            `json:"WorkingDir"`
		Labels     map[string]string `json:"Labels,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// Write writes the image described by o as an OCI layout in dir (created,
// or emptied of a previous layout's index), and returns the manifest's
// digest.
func Write(dir string, o Options) (string, error) {
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0).UTC()
	}
	tarball, err := layer(o)
	if err != nil {
		return "", fmt.Errorf("build the image layer: %w", err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.ModTime = o.Created
	if _, err := zw.Write(tarball); err != nil {
		return "", fmt.Errorf("compress the image layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("compress the image layer: %w", err)
	}
	var cfg Config
	cfg.Created, cfg.Architecture, cfg.OS = o.Created, o.Arch, "linux"
	cfg.Config.Entrypoint = []string{"/weir"}
	cfg.Config.User = "0:0"
	cfg.Config.Env = []string{"PATH=/"}
	cfg.Config.WorkingDir = "/"
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.source":  "https://github.com/weir-lb/weir",
		"org.opencontainers.image.version": o.Tag,
	}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{digest(tarball)}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encode the image config: %w", err)
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return "", fmt.Errorf("make the layout folder: %w", err)
	}
	put := func(media string, b []byte) (descriptor, error) {
		d := descriptor{MediaType: media, Digest: digest(b), Size: int64(len(b))}
		return d, os.WriteFile(filepath.Join(blobs, d.Digest[len("sha256:"):]), b, 0o644)
	}
	layerDesc, err := put(mediaLayer, gz.Bytes())
	if err != nil {
		return "", fmt.Errorf("write the layer blob: %w", err)
	}
	cfgDesc, err := put(mediaConfig, cfgJSON)
	if err != nil {
		return "", fmt.Errorf("write the config blob: %w", err)
	}
	m, _ := json.Marshal(manifest{SchemaVersion: 2, MediaType: mediaManifest, Config: cfgDesc, Layers: []descriptor{layerDesc}})
	mDesc, err := put(mediaManifest, m)
	if err != nil {
		return "", fmt.Errorf("write the manifest blob: %w", err)
	}
	mDesc.Platform = &platform{Architecture: o.Arch, OS: "linux"}
	if o.Tag != "" {
		mDesc.Annotations = map[string]string{"org.opencontainers.image.ref.name": o.Tag}
	}
	idx, _ := json.Marshal(index{SchemaVersion: 2, MediaType: mediaIndex, Manifests: []descriptor{mDesc}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
		return "", fmt.Errorf("write index.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return "", fmt.Errorf("write oci-layout: %w", err)
	}
	return mDesc.Digest, nil
}

func digest(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// layer returns the uncompressed tar of the image's one layer.
func layer(o Options) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: o.Created, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(b)), ModTime: o.Created, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("read the binary: %w", err)
	}
	for _, d := range []string{"etc/", "tmp/", "run/", "sys/", "sys/fs/", "sys/fs/bpf/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := dir(d, mode); err != nil {
			return nil, err
		}
	}
	// Names for the users Weir runs as: root, and 65532 for its workers.
	if err := file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")); err != nil {
		return nil, err
	}
	if err := file("weir", 0o755, bin); err != nil {
		return nil, err
	}
	if o.Quickstart != "" {
		if err := dir("etc/weir/", 0o755); err != nil {
			return nil, err
		}
		if err := dir("etc/weir/quickstart/", 0o755); err != nil {
			return nil, err
		}
		err := filepath.WalkDir(o.Quickstart, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" && ext != ".md" {
				return nil // the folder's Go test files
			}
			rel, err := filepath.Rel(o.Quickstart, path)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return file("etc/weir/quickstart/"+filepath.ToSlash(rel), 0o644, b)
		})
		if err != nil {
			return nil, fmt.Errorf("add the quickstart manifests: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func main() {
	var o Options
	out := flag.String("out", "bin/image/oci", "folder of the OCI image layout")
	flag.StringVar(&o.Binary, "binary", "bin/image/weir", "static weir binary (CGO_ENABLED=0)")
	flag.StringVar(&o.Quickstart, "quickstart", "examples/quickstart", "folder of manifests installed as /etc/weir/quickstart (empty: none)")
	flag.StringVar(&o.Tag, "tag", "", "image tag written in the layout's index, e.g. v0.4.0")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "GOARCH of the binary")
	flag.Parse()
	if o.Tag == "" {
		fmt.Fprintln(os.Stderr, "image: --tag is required")
		os.Exit(2)
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "image:", errors.New("SOURCE_DATE_EPOCH must be seconds since the epoch"))
			os.Exit(2)
		}
		o.Created = time.Unix(n, 0).UTC()
	}
	d, err := Write(*out, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %s (%s/%s, tag %s)\n", *out, d, "linux", o.Arch, o.Tag)
}
