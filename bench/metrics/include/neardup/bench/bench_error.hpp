// Typed errors for the benchmark's expected runtime failures: malformed input files, unwritable outputs.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

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
class BenchResultError : public std::runtime_error {
public:
    explicit BenchResultError(BenchError e) : std::runtime_error(e.message), error_(std::move(e)) {}
    const BenchError& error() const noexcept { return error_; }

private:
    BenchError error_;
};

// Either a value or a BenchError; a stand-in for C++23 std::expected.
template <class T>
class BenchResult {
public:
    BenchResult(T value) : state_(std::move(value)) {}            // NOLINT: implicit by design
    BenchResult(BenchError error) : state_(std::move(error)) {}   // NOLINT: implicit by design

    bool ok() const noexcept { return std::holds_alternative<T>(state_); }
    explicit operator bool() const noexcept { return ok(); }

    const T& value() const& {
        if (!ok()) throw BenchResultError(std::get<BenchError>(state_));
        return std::get<T>(state_);
    }
    T value() && {  // by value: a range-for over f().value() must not dangle
        if (!ok()) throw BenchResultError(std::get<BenchError>(state_));
        return std::get<T>(std::move(state_));
    }
    const BenchError& error() const& {
        if (ok()) throw std::logic_error("BenchResult::error() called on a value");
        return std::get<BenchError>(state_);
    }

private:
    std::variant<T, BenchError> state_;
};

// Builds an error whose message is "source:line: what" (or "source: what" when line is 0).
BenchError make_bench_error(BenchErrorCode code, std::string_view source, std::size_t line, std::string_view what);

}  // namespace neardup::bench
