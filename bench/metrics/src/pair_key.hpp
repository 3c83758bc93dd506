// One hashable key for a (query, reference) pair.
#pragma once

#include <string>

namespace neardup::bench::detail {

// The length prefix keeps two different pairs apart whatever characters their ids hold.
inline std::string pair_key(const std::string& query, const std::string& reference) {
    return std::to_string(query.size()) + ':' + query + reference;
}

}  // namespace neardup::bench::detail
