#include "neardup/store/query_cache.hpp"

#include <cstring>

namespace neardup::store {
namespace {

std::size_t features_bytes(const LocalFeatures& f) {
    return f.keypoints.capacity() * sizeof(PackedKeypoint) + f.descriptors.capacity();
}

std::size_t query_bytes(const QuerySignature& q) {
    return sizeof(QuerySignature) + features_bytes(q.signature.features) + features_bytes(q.mirrored_features) +
           q.signature.pdq_dihedral.capacity() * sizeof(Hash256) + q.signature.embedding.capacity() * sizeof(float);
}

}  // namespace

std::size_t QuerySignatures::memory_bytes() const {
    std::size_t n = sizeof(QuerySignatures);
    if (whole) n += query_bytes(*whole);
    if (regions)
        for (const auto& r : *regions) n += sizeof(RegionQuery) - sizeof(QuerySignature) + query_bytes(r.signature);
    return n;
}

std::size_t QueryCache::ShaHash::operator()(const Sha256& s) const noexcept {
    std::size_t h;
    std::memcpy(&h, s.data(), sizeof h);  // a SHA-256 is uniform already
    return h;
}

QueryCache::QueryCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

std::shared_ptr<const QuerySignatures> QueryCache::find(const Sha256& sha) {
    std::lock_guard lock(mutex_);
    const auto it = index_.find(sha);
    if (it == index_.end()) {
        ++misses_;
        return nullptr;
    }
    ++hits_;
    recency_.splice(recency_.begin(), recency_, it->second);
    return it->second->signatures;
}

void QueryCache::erase(std::list<Entry>::iterator it) {
    bytes_ -= it->bytes;
    index_.erase(it->sha);
    recency_.erase(it);
}

void QueryCache::put(const Sha256& sha, std::shared_ptr<const QuerySignatures> signatures) {
    if (!signatures) return;
    const std::size_t bytes = signatures->memory_bytes() + sizeof(Entry) + 2 * sizeof(void*) + sizeof(Sha256);
    std::lock_guard lock(mutex_);
    if (const auto it = index_.find(sha); it != index_.end()) erase(it->second);
    if (bytes > max_bytes_ / 4) return;  // one huge query would flush everything else
    recency_.push_front({sha, std::move(signatures), bytes});
    index_.emplace(sha, recency_.begin());
    bytes_ += bytes;
    while (bytes_ > max_bytes_) erase(std::prev(recency_.end()));
}

QueryCacheStats QueryCache::stats() const {
    std::lock_guard lock(mutex_);
    return {hits_, misses_, index_.size(), bytes_};
}

}  // namespace neardup::store
