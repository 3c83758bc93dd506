// Typed errors and a small result type for the failures that input can cause at run time.
#pragma once

#include <string>
#include <string_view>

#include "neardup/result.hpp"

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
    invalid_key,         // a reference key outside the key rule (store/key.hpp)
    bad_model,           // an embedding model that cannot be read or run, or gives no single vector
};

// Stable snake_case name of a code, used in logs, JSON and HTTP error bodies.
std::string_view to_string(ErrorCode code) noexcept;

struct Error {
    ErrorCode code;
    std::string message;  // says what was wrong and with which input
};

// Thrown by Result::value() when the result holds an error.
using ResultError = ResultErrorOf<Error>;
// Either a value or an Error.
template <class T>
using Result = BasicResult<T, Error>;

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace neardup
