package main

import (
	"os"

	"github.com/vpc-cni/vpc-cni/app/ipamd"
)

func main() {
	os.Exit(ipamd.Main(os.Args))
}
