// Package netns runs code inside Linux network namespaces, and creates and
// deletes named ones.
//
// A network namespace belongs to an OS thread, not to a goroutine, so
// entering one from Go is easy to get wrong: a goroutine that is not locked
// to its thread can be moved off it half way, and a thread that is handed
// back to the scheduler while still in a foreign namespace silently moves
// unrelated goroutines there. Everything in vpc-cni that must act inside
// another namespace goes through Do, which runs the function on a fresh
// goroutine locked to its thread, switches back before unlocking, and lets
// the thread die (by exiting the goroutine while still locked) if it cannot
// switch back.
//
// Netlink sockets and open files keep the namespace they were created in, so
// the usual pattern is to create a netlink handle inside Do and use it
// afterwards from any goroutine.
package netns
