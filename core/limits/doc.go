// Package limits knows how many network interfaces and addresses each EC2
// instance type can hold, and turns those limits into the number of pods a
// node can run.
//
// The pool manager needs the ENI and per-ENI address limits before it can
// decide whether to attach another interface, and the node needs a max-pods
// value that matches what the pool can really hand out. Both come from one
// read-only table generated from the instance-type data set
// (hack/genlimits, run with go generate), so the daemon does not have to
// call EC2 for the common case. Types that are newer than the table can be
// learned at run time and layered over it with a Table.
//
// Everything here is pure: the built-in table is never modified, lookups
// return copies, and MaxPods is a function of its arguments only.
package limits

//go:generate go run ../../hack/genlimits -in ../../../shared/data/instance-types.json -out table_gen.go
