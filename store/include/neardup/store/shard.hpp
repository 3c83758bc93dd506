// Which shard a key belongs to: the first 32 bits of SHA-256(key), read big-endian, modulo the shard count.
// Stable across builds, machines and languages (any SHA-256 gives it), so an operator's script, the index
// jobs, the servers and a router agree on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace neardup::store {

std::uint32_t key_hash32(std::string_view key);

struct Shard {
    int index = 0;
    int count = 1;  // 1: every key

    bool all() const { return count == 1; }
    bool owns(std::string_view key) const { return all() || static_cast<int>(key_hash32(key) % static_cast<std::uint32_t>(count)) == index; }
    bool owns_hash(std::uint32_t hash) const { return all() || static_cast<int>(hash % static_cast<std::uint32_t>(count)) == index; }
    std::string text() const { return std::to_string(index) + "/" + std::to_string(count); }
    bool operator==(const Shard&) const = default;
};

// "k/N" with 0 <= k < N <= 4096; nothing for any other text.
std::optional<Shard> parse_shard(std::string_view text);
// A --shard argument: "k/N", or "job/N" with k from `job_index` (the JOB_COMPLETION_INDEX a Kubernetes Indexed
// Job gives each of its pods; nothing when it is unset or out of range).
std::optional<Shard> parse_shard_argument(std::string_view text, const char* job_index);

}  // namespace neardup::store
