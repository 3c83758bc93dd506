#include "neardup/store/shard.hpp"

#include <charconv>

#include <openssl/evp.h>

namespace neardup::store {

std::uint32_t key_hash32(std::string_view key) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(key.data(), key.size(), digest, &n, EVP_sha256(), nullptr);  // cannot fail for SHA-256 in memory
    return (std::uint32_t{digest[0]} << 24) | (std::uint32_t{digest[1]} << 16) | (std::uint32_t{digest[2]} << 8) | std::uint32_t{digest[3]};
}

std::optional<Shard> parse_shard(std::string_view text) {
    constexpr int kMaxShards = 4096;
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    Shard s;
    const auto number = [](std::string_view part, int& out) {
        const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
        return ec == std::errc() && end == part.data() + part.size() && !part.empty();
    };
    if (!number(text.substr(0, slash), s.index) || !number(text.substr(slash + 1), s.count)) return std::nullopt;
    if (s.count < 1 || s.count > kMaxShards || s.index < 0 || s.index >= s.count) return std::nullopt;
    return s;
}

std::optional<Shard> parse_shard_argument(std::string_view text, const char* job_index) {
    if (!text.starts_with("job/")) return parse_shard(text);
    if (!job_index || !*job_index) return std::nullopt;
    return parse_shard(std::string(job_index) + std::string(text.substr(3)));
}

}  // namespace neardup::store
