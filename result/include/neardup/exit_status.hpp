// The exit statuses of both programs (`neardup` and `neardup-server`), one table for scripts and operators.
#pragma once

namespace neardup {

inline constexpr int kExitOk = 0;           // done as asked
inline constexpr int kExitFailure = 1;      // could not do it: the index directory (missing, locked, damaged,
                                            // disk full, read-only), the network, or `check` found problems
inline constexpr int kExitUsage = 2;        // the command line is wrong (unknown option, missing argument)
inline constexpr int kExitSomeFailed = 3;   // ran to the end, but some inputs failed (bad images, missing
                                            // files, unknown keys); each is reported

}  // namespace neardup
