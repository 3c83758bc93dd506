// NEARDUP_POPCNT_CLONES: compile a function twice, for the CPU's POPCNT instruction and for baseline x86-64,
// the loader picking one at start (GCC target_clones). Debian's libraries are built for the baseline, where
// every popcount is a library call.
//
// Off under TSan: the loader runs the clones' resolver before TSan's runtime is set up, and the instrumented
// resolver crashes every program at start (a test binary then lists no tests at all).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define NEARDUP_POPCNT_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define NEARDUP_POPCNT_CLONES
#endif
