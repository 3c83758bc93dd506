// A 256-bit hash value (PDQ, block-mean) with Hamming distance and the hex form PDQ tools print.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace neardup {

struct Hash256 {
    // Bit k lives in words[k / 64] at position k % 64. PDQ bit k is DCT coefficient (k / 16, k % 16).
    std::array<std::uint64_t, 4> words{};

    bool bit(int k) const noexcept { return (words[k >> 6] >> (k & 63)) & 1u; }
    void set_bit(int k) noexcept { words[k >> 6] |= std::uint64_t{1} << (k & 63); }

    // 64 hex digits, most significant 16-bit word first: the form the PDQ reference tools print.
    std::string to_hex() const;
    static std::optional<Hash256> from_hex(std::string_view hex);

    friend bool operator==(const Hash256&, const Hash256&) = default;
};

inline int hamming_distance(const Hash256& a, const Hash256& b) noexcept {
    return std::popcount(a.words[0] ^ b.words[0]) + std::popcount(a.words[1] ^ b.words[1]) +
           std::popcount(a.words[2] ^ b.words[2]) + std::popcount(a.words[3] ^ b.words[3]);
}

// A 64-bit hash value (OpenCV img_hash pHash and average hash).
struct Hash64 {
    std::uint64_t bits = 0;
    friend bool operator==(const Hash64&, const Hash64&) = default;
};

inline int hamming_distance(Hash64 a, Hash64 b) noexcept { return std::popcount(a.bits ^ b.bits); }

}  // namespace neardup
