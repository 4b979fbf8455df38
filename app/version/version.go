package version

// Version is the release of this build. The build overrides it with -ldflags
// "-X github.com/vpc-cni/vpc-cni/app/version.Version=<release>"; it must stay
// a plain string variable (not a constant, not computed) for that to work.
var Version = "v0.1.0-dev"

// Get returns the release of this build.
func Get() string { return Version }
