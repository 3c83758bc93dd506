// Catalog signature bytes to a Signature, for the store and its searcher: a row that does not decode is
// a damaged catalog (StoreError naming the row).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "neardup/engine/signature_codec.hpp"
#include "neardup/store/catalog.hpp"

namespace neardup::store::detail {

inline Signature decode_signature_or_throw(std::int64_t id, std::span<const std::uint8_t> bytes) {
    auto s = deserialize_signature(bytes);
    if (!s) throw StoreError("catalog row " + std::to_string(id) + ": " + s.error().message);
    return std::move(s).value();
}

}  // namespace neardup::store::detail
