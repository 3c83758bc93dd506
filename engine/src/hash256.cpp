#include "neardup/engine/hash256.hpp"

#include <cstdio>

namespace neardup {

std::string Hash256::to_hex() const {
    std::string out(64, '0');
    static constexpr char digits[] = "0123456789abcdef";
    for (int w = 0; w < 4; ++w) {
        const std::uint64_t v = words[3 - w];
        for (int d = 0; d < 16; ++d) out[w * 16 + d] = digits[(v >> (60 - 4 * d)) & 0xF];
    }
    return out;
}

std::optional<Hash256> Hash256::from_hex(std::string_view hex) {
    if (hex.size() != 64) return std::nullopt;
    Hash256 h;
    for (int i = 0; i < 64; ++i) {
        const char c = hex[i];
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else return std::nullopt;
        h.words[3 - i / 16] |= std::uint64_t(v) << (60 - 4 * (i % 16));
    }
    return h;
}

}  // namespace neardup
