#include "neardup/store/pdq_index.hpp"

#include <algorithm>
#include <unordered_map>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/MetaIndexes.h>
#include <faiss/index_io.h>

#include "durable_file.hpp"
#include "faiss_clone.hpp"
#include "hamming_scan.hpp"
#include "hash_tables.hpp"
#include "neardup/engine/hamming.hpp"
#include "neardup/store/catalog.hpp"

namespace neardup::store {
static_assert(PdqIndex::kExactDistance == detail::HashTables::kExactRadius, "the default lookup is the tables' exact one");
static_assert(detail::HashTables::kExactRadius == detail::HashTables::exact_radius(detail::HashTables::kMaxFlips));
namespace {

constexpr int kBits = 256;

std::unique_ptr<faiss::IndexBinary> empty_index() {
    auto map = std::make_unique<faiss::IndexBinaryIDMap>(new faiss::IndexBinaryFlat(kBits));
    map->own_fields = true;
    return map;
}

// FAISS reads a binary code as bytes; our words are little-endian, so the byte order is the bit order.
void to_code(const Hash256& h, std::uint8_t* out) {
    for (int w = 0; w < 4; ++w)
        for (int b = 0; b < 8; ++b) out[w * 8 + b] = static_cast<std::uint8_t>(h.words[w] >> (8 * b));
}

}  // namespace

PdqIndex::PdqIndex() : index_(empty_index()) {}
PdqIndex::~PdqIndex() = default;
PdqIndex::PdqIndex(PdqIndex&&) noexcept = default;
PdqIndex& PdqIndex::operator=(PdqIndex&&) noexcept = default;

void PdqIndex::add(std::int64_t id, const Hash256& hash) {
    std::uint8_t code[32];
    to_code(hash, code);
    const faiss::IndexBinary::idx_t fid = id;
    index_->add_with_ids(1, code, &fid);
    tables_.reset();
}

void PdqIndex::seal(std::size_t table_rows) {
    if (size() < std::max<std::size_t>(1, table_rows)) return;
    const auto* map = dynamic_cast<const faiss::IndexBinaryIDMap*>(index_.get());
    const auto* flat = map ? dynamic_cast<const faiss::IndexBinaryFlat*>(map->index) : nullptr;
    if (!flat || flat->code_size != 32) return;
    tables_ = std::make_shared<const detail::HashTables>(flat->xb.data(), static_cast<std::size_t>(flat->ntotal));
}

PdqIndex PdqIndex::clone() const {
    PdqIndex out;
    out.index_ = detail::clone_binary_index(*index_);
    out.tables_ = tables_;  // immutable, over the same rows
    return out;
}

std::size_t PdqIndex::size() const { return static_cast<std::size_t>(index_->ntotal); }

std::vector<HashNeighbour> PdqIndex::search(std::span<const Hash256> queries, int k, int crowd_distance, bool* crowded,
                                            int exact_distance) const {
    if (queries.empty() || index_->ntotal == 0 || k <= 0) return {};
    const int kk = static_cast<int>(std::min<faiss::IndexBinary::idx_t>(k, index_->ntotal));
    std::vector<std::uint8_t> codes(queries.size() * 32);
    for (std::size_t i = 0; i < queries.size(); ++i) to_code(queries[i], &codes[i * 32]);
    std::vector<std::int32_t> distances(queries.size() * kk);
    std::vector<faiss::IndexBinary::idx_t> labels(queries.size() * kk);
    // The POPCNT scan where it applies (always, for the flat index this class builds): FAISS's own search
    // calls libgcc per popcount and runs an OpenMP team whose threads spin after every query, taking the
    // core that the other search needs.
    if (tables_) {
        const auto& map = static_cast<const faiss::IndexBinaryIDMap&>(*index_);
        const int flips = detail::HashTables::flips_for(exact_distance);
        for (std::size_t q = 0; q < queries.size(); ++q) {
            NearestK nearest(kk, distances.data() + q * kk, labels.data() + q * kk);
            tables_->search(codes.data() + q * 32, map.id_map.data(), nearest, flips);
        }
    } else if (detail::fast_scan_supported(*index_))
        detail::fast_scan(*index_, static_cast<std::int64_t>(queries.size()), codes.data(), kk, distances.data(), labels.data());
    else
        index_->search(static_cast<faiss::IndexBinary::idx_t>(queries.size()), codes.data(), kk, distances.data(), labels.data());
    if (crowded && kk == k)
        for (std::size_t q = 0; q < queries.size(); ++q)
            if (labels[q * kk + kk - 1] >= 0 && distances[q * kk + kk - 1] <= crowd_distance) *crowded = true;
    std::unordered_map<std::int64_t, int> best;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (labels[i] < 0) continue;
        auto [it, inserted] = best.emplace(labels[i], distances[i]);
        if (!inserted) it->second = std::min(it->second, distances[i]);
    }
    std::vector<HashNeighbour> out;
    out.reserve(best.size());
    for (const auto& [id, d] : best) out.push_back({id, d});
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.distance != b.distance ? a.distance < b.distance : a.id < b.id; });
    return out;
}

std::vector<std::int64_t> PdqIndex::ids() const {
    const auto* map = dynamic_cast<const faiss::IndexBinaryIDMap*>(index_.get());
    if (!map) throw StoreError("PDQ index: not an id map");
    return {map->id_map.begin(), map->id_map.end()};
}

void PdqIndex::save(faiss::IOWriter& out) const { faiss::write_index_binary(index_.get(), &out); }

void PdqIndex::save(const std::filesystem::path& file) const {
    const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    write_file_durably(dir, file.filename().string(), [&](faiss::IOWriter& out) { save(out); });
}

PdqIndex PdqIndex::load(const std::filesystem::path& file, std::size_t table_rows) {
    PdqIndex out;
    try {
        out.index_.reset(faiss::read_index_binary(file.c_str()));
    } catch (const std::exception& e) {
        throw StoreError("cannot read PDQ index " + file.string() + ": " + e.what());
    }
    if (out.index_->d != kBits) throw StoreError("PDQ index " + file.string() + " is not 256-bit");
    out.seal(table_rows);  // a file is a closed segment
    return out;
}

}  // namespace neardup::store
