//go:build race

package main

// raceEnabled builds the binary under test with -race too, so the
// end-to-end runs check the supervisor for data races.
const raceEnabled = true
