//go:build race

package main

// raceEnabled: this test binary (and so every process the tests start from
// it) runs under the race detector, which takes several times the memory.
const raceEnabled = true
