// Typed errors for the benchmark's expected runtime failures: malformed input files, unwritable outputs.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "neardup/result.hpp"

namespace neardup::bench {

enum class BenchErrorCode {
    io_error,        // a file could not be read or written
    malformed_csv,   // a CSV file breaks its format (header, field count, values, duplicates)
    malformed_json,  // a JSON report is not valid JSON or lacks a required field
};

// Stable snake_case name of a code, for logs and JSON.
std::string_view to_string(BenchErrorCode code) noexcept;

struct BenchError {
    BenchErrorCode code;
    std::string source;  // file path or the name given to in-memory text
    std::size_t line;    // 1-based line of the fault; 0 when it concerns the whole input
    std::string message; // "source:line: what was wrong", ready to print
};

// Thrown by BenchResult::value() when the result holds an error.
using BenchResultError = ResultErrorOf<BenchError>;
// Either a value or a BenchError.
template <class T>
using BenchResult = BasicResult<T, BenchError>;

// Builds an error whose message is "source:line: what" (or "source: what" when line is 0).
BenchError make_bench_error(BenchErrorCode code, std::string_view source, std::size_t line, std::string_view what);

}  // namespace neardup::bench
