package main

import (
	"flag"
	"io"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/cmdline"
)

// runAnnotations is `weir annotations`: the README's table of every
// ingress-nginx annotation and its status in Weir, or with --configmap that
// of the controller ConfigMap's keys.
func runAnnotations(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("weir annotations", flag.ContinueOnError)
	configMap := fs.Bool("configmap", false, "print the controller ConfigMap's keys instead")
	if err := cmdline.Parse(fs, "Prints every annotation ingress-nginx documents, with its status in Weir (supported, partial, planned, refused) and its default, as a Markdown table.", args, stdout); err != nil {
		return err
	}
	table := annotations.Markdown()
	if *configMap {
		table = annotations.ConfigMapMarkdown()
	}
	_, err := io.WriteString(stdout, table)
	return err
}
