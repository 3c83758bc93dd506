#include "neardup/store/embedding_index.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/io.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>
#include <omp.h>

#include "neardup/store/catalog.hpp"

namespace neardup::store {
namespace {

faiss::IndexIDMap* id_map(const std::unique_ptr<faiss::Index>& index) { return static_cast<faiss::IndexIDMap*>(index.get()); }

std::unique_ptr<faiss::Index> flat(int dimension) {
    auto out = std::make_unique<faiss::IndexIDMap>(new faiss::IndexFlatIP(dimension));
    out->own_fields = true;
    return out;
}

}  // namespace

EmbeddingIndex::EmbeddingIndex(EmbeddingIndexOptions options) : options_(options) {}
EmbeddingIndex::~EmbeddingIndex() = default;
EmbeddingIndex::EmbeddingIndex(EmbeddingIndex&&) noexcept = default;
EmbeddingIndex& EmbeddingIndex::operator=(EmbeddingIndex&&) noexcept = default;

void EmbeddingIndex::add(std::int64_t id, std::span<const float> embedding) {
    if (embedding.empty()) throw std::invalid_argument("EmbeddingIndex::add: an empty embedding");
    if (!index_) index_ = flat(static_cast<int>(embedding.size()));
    if (static_cast<int>(embedding.size()) != index_->d)
        throw StoreError("catalog row " + std::to_string(id) + " has an embedding of " + std::to_string(embedding.size()) +
                         " values, the index's have " + std::to_string(index_->d) + ": its signature is of another model");
    const faiss::Index::idx_t ids[1] = {id};
    id_map(index_)->add_with_ids(1, embedding.data(), ids);
}

void EmbeddingIndex::seal() {
    if (!index_ || graph() || size() < options_.graph_threshold) return;
    auto* map = id_map(index_);
    const auto* vectors = static_cast<const faiss::IndexFlat*>(map->index)->get_xb();
    auto* hnsw = new faiss::IndexHNSWFlat(index_->d, options_.graph_links, faiss::METRIC_INNER_PRODUCT);
    hnsw->hnsw.efConstruction = options_.graph_build_depth;
    hnsw->hnsw.efSearch = options_.graph_search_depth;
    auto graph_index = std::make_unique<faiss::IndexIDMap>(hnsw);
    graph_index->own_fields = true;
    graph_index->add_with_ids(map->ntotal, vectors, map->id_map.data());
    index_ = std::move(graph_index);
}

bool EmbeddingIndex::graph() const {
    return index_ && dynamic_cast<const faiss::IndexHNSW*>(id_map(index_)->index) != nullptr;
}

std::size_t EmbeddingIndex::size() const { return index_ ? static_cast<std::size_t>(index_->ntotal) : 0; }

int EmbeddingIndex::dimension() const { return index_ ? index_->d : 0; }

std::vector<std::int64_t> EmbeddingIndex::ids() const {
    if (!index_) return {};
    const auto& m = id_map(index_)->id_map;
    return {m.begin(), m.end()};
}

EmbeddingIndex EmbeddingIndex::clone() const {
    EmbeddingIndex out(options_);
    if (!index_) return out;
    // Through the serialisation: FAISS 1.7's clone_index copies an IndexHNSWFlat as its base IndexHNSW,
    // which then neither saves nor loads as one.
    faiss::VectorIOWriter writer;
    faiss::write_index(index_.get(), &writer);
    faiss::VectorIOReader reader;
    reader.data = std::move(writer.data);
    out.index_.reset(faiss::read_index(&reader));
    return out;
}

std::vector<EmbeddingNeighbour> EmbeddingIndex::search(std::span<const float> query, int k) const {
    if (!index_ || k <= 0 || static_cast<int>(query.size()) != index_->d) return {};
    const auto n = static_cast<std::size_t>(std::min<faiss::Index::idx_t>(k, index_->ntotal));
    std::vector<float> similarities(n);
    std::vector<faiss::Index::idx_t> labels(n);
    // One query: FAISS's OpenMP region would only start idle threads beside the caller's (a TBB worker).
    // The thread count is the calling thread's own OpenMP setting.
    omp_set_num_threads(1);
    index_->search(1, query.data(), static_cast<faiss::Index::idx_t>(n), similarities.data(), labels.data());
    std::vector<EmbeddingNeighbour> out;
    for (std::size_t i = 0; i < n; ++i)
        if (labels[i] >= 0) out.push_back({labels[i], similarities[i]});
    // FAISS orders by similarity; ties by id (what FAISS returns at the k-th place may still differ).
    std::sort(out.begin(), out.end(), [](const EmbeddingNeighbour& a, const EmbeddingNeighbour& b) {
        return a.similarity != b.similarity ? a.similarity > b.similarity : a.id < b.id;
    });
    return out;
}

void EmbeddingIndex::save(faiss::IOWriter& out) const {
    if (!index_) throw std::logic_error("EmbeddingIndex::save: an empty index has no file");
    faiss::write_index(index_.get(), &out);
}

EmbeddingIndex EmbeddingIndex::load(const std::filesystem::path& file, EmbeddingIndexOptions options) {
    EmbeddingIndex out(options);
    try {
        out.index_.reset(faiss::read_index(file.c_str()));
    } catch (const std::exception& e) {
        throw StoreError("cannot read embedding index " + file.string() + ": " + e.what());
    }
    auto* map = dynamic_cast<faiss::IndexIDMap*>(out.index_.get());
    const bool known = map && map->metric_type == faiss::METRIC_INNER_PRODUCT &&
                       (dynamic_cast<const faiss::IndexFlatIP*>(map->index) || dynamic_cast<const faiss::IndexHNSWFlat*>(map->index));
    if (!known) throw StoreError("embedding index " + file.string() + " is not an id map over an inner-product index");
    if (auto* hnsw = dynamic_cast<faiss::IndexHNSWFlat*>(map->index)) hnsw->hnsw.efSearch = options.graph_search_depth;
    return out;
}

}  // namespace neardup::store
