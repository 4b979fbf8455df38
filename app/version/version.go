package version

// Version is the release of this build. The build overrides it with -ldflags
// "-X github.com/vpc-cni/vpc-cni/app/version.Version=<release>"; it must stay
// a plain string variable (not a constant, not computed) for that to work.
var Version = "v0.1.0-dev"

// Get returns the release of this build.
func Get() string { return Version }

// BuildTags are the build tags release binaries are built with (the Makefile
// sets the same list). grpcnotrace keeps golang.org/x/net/trace, and with it
// html/template, out of the binaries: that import alone stops the linker from
// dropping unused methods and more than doubles the agent's size and
// resident memory. Tests that build binaries themselves pass these tags.
const BuildTags = "grpcnotrace"
