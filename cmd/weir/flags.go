package main

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// byteSize is a flag of a size in bytes, written as a Kubernetes quantity:
// 4Mi, 512Ki, 1M or a plain number of bytes.
type byteSize int64

func (b *byteSize) String() string {
	return resource.NewQuantity(int64(*b), resource.BinarySI).String()
}

func (b *byteSize) Set(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("parse size %q: %w", v, err)
	}
	n, ok := q.AsInt64()
	if !ok || n <= 0 {
		return fmt.Errorf("parse size %q: want a positive whole number of bytes, such as 4Mi", v)
	}
	*b = byteSize(n)
	return nil
}
