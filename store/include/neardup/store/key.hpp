// What a reference key may be: the one rule the CLI, the HTTP API and the store enforce alike.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace neardup::store {

// Longest key, in bytes (UTF-8). Keys are file names without their extension or API path segments; 512 bytes
// holds any name a file system allows (255 bytes on ext4) with room for a caller's prefix.
inline constexpr std::size_t kMaxKeyBytes = 512;

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
bool is_valid_utf8(std::string_view text) noexcept;

// Why `key` is not a valid key, or nothing when it is. A key is 1 to kMaxKeyBytes bytes of well-formed UTF-8
// with no control character (U+0000-U+001F, U+007F-U+009F).
std::optional<std::string> invalid_key_reason(std::string_view key);

}  // namespace neardup::store
