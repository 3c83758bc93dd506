// Typed errors and a small result type for the failures that input can cause at run time.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace neardup {

// Expected runtime failures. Programming errors throw std::logic_error instead.
enum class ErrorCode {
    empty_input,         // zero bytes
    unsupported_format,  // bytes are not an image format we decode
    truncated,           // the image stream ends before its end marker
    decode_failed,       // the decoder rejected the data
    too_large,           // header dimensions over the pixel limit (decompression bomb guard)
    too_small,           // image below the minimum side
    corrupt_signature,   // serialized signature is malformed
    unsupported_version, // serialized signature from an unknown format version
    io_error,            // input could not be read (missing file, permission, short read)
    conflict,            // a key already names a different image
};

// Stable snake_case name of a code, used in logs, JSON and HTTP error bodies.
std::string_view to_string(ErrorCode code) noexcept;

struct Error {
    ErrorCode code;
    std::string message;  // says what was wrong and with which input
};

// Thrown by Result::value() when the result holds an error.
class ResultError : public std::runtime_error {
public:
    explicit ResultError(Error e) : std::runtime_error(e.message), error_(std::move(e)) {}
    const Error& error() const noexcept { return error_; }

private:
    Error error_;
};

// Either a value or an Error; a stand-in for C++23 std::expected.
template <class T>
class Result {
public:
    Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
    Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

    bool ok() const noexcept { return std::holds_alternative<T>(state_); }
    explicit operator bool() const noexcept { return ok(); }

    const T& value() const& {
        if (!ok()) throw ResultError(std::get<Error>(state_));
        return std::get<T>(state_);
    }
    // By value, not T&&: `for (auto& x : f().value())` must not iterate a destroyed temporary.
    T value() && {
        if (!ok()) throw ResultError(std::get<Error>(state_));
        return std::get<T>(std::move(state_));
    }
    const Error& error() const& {
        if (ok()) throw std::logic_error("Result::error() called on a value");
        return std::get<Error>(state_);
    }

private:
    std::variant<T, Error> state_;
};

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace neardup
