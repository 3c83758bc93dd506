// Nearest reference embeddings by cosine similarity (FAISS float index, inner product over unit vectors):
// exact below a size, an HNSW graph above it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

namespace faiss {
struct Index;
struct IOWriter;
}

namespace neardup::store {

struct EmbeddingIndexOptions {
    // A sealed index of this many vectors or more is searched through an HNSW graph (FAISS IndexHNSWFlat)
    // instead of an exact scan: an exact scan of 512-value vectors costs about 0.1 ms per thousand
    // references, so 50k is where it reaches a few ms, while a graph's cost grows with log n.
    std::size_t graph_threshold = 50'000;
    int graph_links = 32;        // HNSW M: links per node (memory: about 2 x M x 4 B per vector more)
    int graph_build_depth = 80;  // efConstruction
    int graph_search_depth = 96; // efSearch: candidates kept while searching (recall against time)
};

struct EmbeddingNeighbour {
    std::int64_t id;
    float similarity;  // cosine similarity, in [-1, 1]
};

// Not thread-safe for writes; const search is safe from many threads while no write runs.
class EmbeddingIndex {
public:
    explicit EmbeddingIndex(EmbeddingIndexOptions options = {});
    ~EmbeddingIndex();
    EmbeddingIndex(EmbeddingIndex&&) noexcept;
    EmbeddingIndex& operator=(EmbeddingIndex&&) noexcept;

    // The first vector sets the dimension; a later one of another dimension (a catalog row of another
    // model) is a StoreError naming both: one store embeds with one model. An empty one: invalid_argument.
    void add(std::int64_t id, std::span<const float> embedding);
    // Declares the index complete (a closed segment): from graph_threshold vectors on it is rebuilt as an
    // HNSW graph. An add after it keeps the graph (HNSW takes adds).
    void seal();
    bool graph() const;
    std::size_t size() const;
    int dimension() const;  // 0 while empty
    std::vector<std::int64_t> ids() const;  // in insertion order (for consistency checks)
    EmbeddingIndex clone() const;
    // The k most similar references, most similar first (ties by id); empty when the query's dimension is
    // not the index's.
    std::vector<EmbeddingNeighbour> search(std::span<const float> query, int k) const;

    void save(faiss::IOWriter& out) const;
    // StoreError when the file is not an embedding index this build wrote.
    static EmbeddingIndex load(const std::filesystem::path& file, EmbeddingIndexOptions options = {});

private:
    EmbeddingIndexOptions options_;
    std::unique_ptr<faiss::Index> index_;  // IndexIDMap over IndexFlatIP or IndexHNSWFlat; null while empty
};

}  // namespace neardup::store
