#include "neardup/engine/error.hpp"

namespace neardup {

std::string_view to_string(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::empty_input: return "empty_input";
        case ErrorCode::unsupported_format: return "unsupported_format";
        case ErrorCode::truncated: return "truncated";
        case ErrorCode::decode_failed: return "decode_failed";
        case ErrorCode::too_large: return "too_large";
        case ErrorCode::too_small: return "too_small";
        case ErrorCode::corrupt_signature: return "corrupt_signature";
        case ErrorCode::unsupported_version: return "unsupported_version";
        case ErrorCode::io_error: return "io_error";
        case ErrorCode::conflict: return "conflict";
        case ErrorCode::invalid_key: return "invalid_key";
        case ErrorCode::bad_model: return "bad_model";
    }
    return "unknown";
}

}  // namespace neardup
