#include "neardup/store/key.hpp"

#include <cstdint>

namespace neardup::store {

bool is_valid_utf8(std::string_view text) noexcept {
    const auto* s = reinterpret_cast<const std::uint8_t*>(text.data());
    const std::size_t n = text.size();
    for (std::size_t i = 0; i < n;) {
        const std::uint8_t c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint8_t lo = 0x80, hi = 0xBF;  // the allowed range of the second byte (RFC 3629, table 3-7)
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) len = 3, lo = 0xA0;
        else if (c >= 0xE1 && c <= 0xEC) len = 3;
        else if (c == 0xED) len = 3, hi = 0x9F;  // no UTF-16 surrogates
        else if (c >= 0xEE && c <= 0xEF) len = 3;
        else if (c == 0xF0) len = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else if (c == 0xF4) len = 4, hi = 0x8F;  // nothing past U+10FFFF
        else return false;                        // continuation byte, overlong lead (C0, C1) or F5..FF
        if (i + len > n) return false;
        if (s[i + 1] < lo || s[i + 1] > hi) return false;
        for (std::size_t k = 2; k < len; ++k)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
        i += len;
    }
    return true;
}

std::optional<std::string> invalid_key_reason(std::string_view key) {
    if (key.empty()) return "the key is empty";
    if (key.size() > kMaxKeyBytes)
        return "the key is " + std::to_string(key.size()) + " bytes, over the limit of " + std::to_string(kMaxKeyBytes);
    if (!is_valid_utf8(key)) return "the key is not valid UTF-8";
    for (std::size_t i = 0; i < key.size(); ++i) {
        const auto c = static_cast<std::uint8_t>(key[i]);
        const bool c1 = c == 0xC2 && i + 1 < key.size() && static_cast<std::uint8_t>(key[i + 1]) >= 0x80 &&
                        static_cast<std::uint8_t>(key[i + 1]) <= 0x9F;
        if (c < 0x20 || c == 0x7F || c1) return "the key holds a control character";
    }
    return std::nullopt;
}

}  // namespace neardup::store
