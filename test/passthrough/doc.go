// Package passthrough holds end-to-end tests that compare luaproxy with a
// direct Redis byte for byte, for everything that is not a script: every
// command must pass through unchanged.
package passthrough
