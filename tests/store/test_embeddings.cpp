// The embedding channel in the store: the FAISS float index against a brute-force oracle, its segments and
// tombstones, and a store built with the tests' tiny ONNX model (tests/fixtures/embedder).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <unordered_set>

#include <faiss/impl/io.h>
#include <nlohmann/json.hpp>

#include "neardup/store/embedder_file.hpp"
#include "neardup/store/embedding_index.hpp"
#include "neardup/store/index_view.hpp"
#include "neardup/store/json.hpp"
#include "neardup/store/store.hpp"
#include "support/sample_photos.hpp"
#include "support/store_error.hpp"
#include "support/temp_dir.hpp"

using namespace neardup;
using namespace neardup::store;

namespace {

std::vector<float> unit_vector(std::mt19937_64& rng, int dimension) {
    std::normal_distribution<float> normal;
    std::vector<float> v(static_cast<std::size_t>(dimension));
    double norm = 0;
    for (float& x : v) {
        x = normal(rng);
        norm += double(x) * x;
    }
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    return v;
}

// `v` moved a little: what an edited copy's embedding is to its original's.
std::vector<float> nudged(std::vector<float> v, std::mt19937_64& rng, float amount) {
    const auto noise = unit_vector(rng, static_cast<int>(v.size()));
    double norm = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        v[i] += amount * noise[i];
        norm += double(v[i]) * v[i];
    }
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    return v;
}

// The k most similar of `refs` (id = 100 + index, skipping `inactive`) by exhaustive dot products.
std::vector<EmbeddingNeighbour> brute_force(const std::vector<std::vector<float>>& refs, const std::vector<float>& q, int k,
                                            const std::unordered_set<std::int64_t>& inactive = {}) {
    std::vector<EmbeddingNeighbour> all;
    for (std::size_t i = 0; i < refs.size(); ++i) {
        const std::int64_t id = 100 + static_cast<std::int64_t>(i);
        if (!inactive.contains(id)) all.push_back({id, cosine_similarity(q, refs[i])});
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.similarity != b.similarity ? a.similarity > b.similarity : a.id < b.id; });
    if (all.size() > static_cast<std::size_t>(k)) all.resize(static_cast<std::size_t>(k));
    return all;
}

std::vector<std::int64_t> ids_of(const std::vector<EmbeddingNeighbour>& n) {
    std::vector<std::int64_t> out;
    for (const auto& x : n) out.push_back(x.id);
    return out;
}

std::filesystem::path model_file(const std::string& name) { return std::filesystem::path(NEARDUP_FIXTURES_DIR) / "embedder" / name; }

std::shared_ptr<const Embedder> tiny_model(const std::string& name = "tiny-embedder.onnx") {
    EmbedderOptions options;
    options.input_side = 16;
    auto loaded = load_embedder_file(model_file(name), options);
    REQUIRE(loaded.ok());
    return loaded.value();
}

StoreOptions with_model(std::shared_ptr<const Embedder> model, OpenMode mode = OpenMode::create) {
    StoreOptions o;
    o.mode = mode;
    o.signature.embedder = std::move(model);
    return o;
}

}  // namespace

TEST_CASE("embedding search equals a brute-force scan, exact and through the graph, and survives save/load", "[store][embedding_index][oracle]") {
    std::mt19937_64 rng(11);
    constexpr int kDimension = 32;
    std::vector<std::vector<float>> refs;
    EmbeddingIndexOptions options;
    options.graph_threshold = 600;  // the graph from 600 vectors on, to test it at a small size
    EmbeddingIndex index(options);
    CHECK(index.dimension() == 0);
    CHECK(index.search(unit_vector(rng, kDimension), 5).empty());
    for (int i = 0; i < 1000; ++i) {
        refs.push_back(unit_vector(rng, kDimension));
        index.add(100 + i, refs.back());
    }
    // One model, one dimension: a row of another is refused by name.
    CHECK(test::store_error_of([&] { index.add(7, std::vector<float>(8, 0.5f)); }) ==
          "catalog row 7 has an embedding of 8 values, the index's have 32: its signature is of another model");
    CHECK(index.dimension() == kDimension);
    const EmbeddingIndex exact = index.clone();
    index.seal();
    REQUIRE(index.graph());
    REQUIRE_FALSE(exact.graph());
    test::TempDir dir;
    {
        faiss::FileIOWriter out((dir / "emb.faiss").c_str());
        index.save(out);
    }
    const EmbeddingIndex loaded = EmbeddingIndex::load(dir / "emb.faiss", options);
    CHECK(loaded.graph());
    {
        // A copy of the graph is a graph that saves and loads as one too.
        const EmbeddingIndex copy = index.clone();
        REQUIRE(copy.graph());
        faiss::FileIOWriter out((dir / "copy.faiss").c_str());
        copy.save(out);
    }
    CHECK(EmbeddingIndex::load(dir / "copy.faiss", options).graph());
    CHECK(loaded.size() == 1000u);
    CHECK(loaded.ids() == exact.ids());
    int graph_found = 0, graph_wanted = 0;
    for (int trial = 0; trial < 50; ++trial) {
        const auto q = trial % 2 ? nudged(refs[static_cast<std::size_t>(trial * 13)], rng, 0.3f) : unit_vector(rng, kDimension);
        const auto want = brute_force(refs, q, 10);
        // The exact index gives the oracle's answer, similarities included.
        const auto got = exact.search(q, 10);
        REQUIRE(ids_of(got) == ids_of(want));
        for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].similarity == Approx(want[i].similarity).margin(1e-5));
        // The graph is approximate: a copy's original is its first answer, and most of the ten are found.
        const auto approximate = loaded.search(q, 10);
        REQUIRE(approximate.size() == 10u);
        if (trial % 2) CHECK(approximate.front().id == 100 + trial * 13);
        const auto wanted = ids_of(want);
        for (const auto& n : approximate) graph_found += std::count(wanted.begin(), wanted.end(), n.id) > 0 ? 1 : 0;
        graph_wanted += static_cast<int>(want.size());
    }
    CHECK(graph_found >= graph_wanted * 95 / 100);
    CHECK(exact.search(std::vector<float>(kDimension + 1, 0.1f), 3).empty());  // another dimension finds nothing
}

TEST_CASE("an embedding file that is not one is refused with the exact error", "[store][embedding_index][bad_input]") {
    test::TempDir dir;
    {
        std::ofstream out(dir / "emb.faiss", std::ios::binary);
        out << "not a FAISS index";
    }
    const std::string error = test::store_error_of([&] { EmbeddingIndex::load(dir / "emb.faiss"); });
    CHECK(error.rfind("cannot read embedding index " + (dir / "emb.faiss").string() + ": ", 0) == 0);
    const auto missing = load_embedder_file(dir / "no-such-model.onnx");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == ErrorCode::io_error);
    CHECK(missing.error().message.rfind("embedding model " + (dir / "no-such-model.onnx").string() + ": ", 0) == 0);
    const auto not_a_model = load_embedder_file(dir / "emb.faiss");
    REQUIRE_FALSE(not_a_model.ok());
    CHECK(not_a_model.error().code == ErrorCode::bad_model);
}

TEST_CASE("embedding search over segments with tombstones equals a brute-force scan of the active references", "[store][embedding_index][oracle]") {
    std::mt19937_64 rng(12);
    std::vector<std::vector<float>> refs;
    IndexView view;
    auto inactive = std::make_shared<std::unordered_set<std::int64_t>>();
    // Three segments with a third of their references deleted, one with all but 2 of its 30 deleted (fewer
    // active than asked for: the search must stop at its end), and one with no embeddings at all.
    for (int s = 0; s < 5; ++s) {
        auto segment = std::make_shared<Segment>(DescriptorIndexOptions{});
        const int rows = s < 3 ? 200 : s == 3 ? 30 : 0;
        for (int i = 0; i < rows; ++i) {
            const auto id = 100 + static_cast<std::int64_t>(refs.size());
            refs.push_back(unit_vector(rng, 16));
            segment->embeddings.add(id, refs.back());
            if (s < 3 ? rng() % 3 == 0 : i >= 2) inactive->insert(id);
        }
        view.segments.push_back(std::move(segment));
    }
    view.inactive = inactive;
    CHECK(view.embedding_entries() == 630u);
    for (int trial = 0; trial < 50; ++trial) {
        // Queries near deleted references too: their tombstones must not take the places of active ones.
        const std::size_t near = trial < 40 ? static_cast<std::size_t>(trial * 15) : 600 + static_cast<std::size_t>(trial - 40) * 3;
        const auto q = nudged(refs[near], rng, 0.2f);
        CHECK(ids_of(view.embedding_search(q, 8)) == ids_of(brute_force(refs, q, 8, *inactive)));
    }
    // Asking for more than there are active references anywhere returns each active one once.
    const std::size_t active = refs.size() - inactive->size();
    CHECK(view.embedding_search(refs[0], 5000).size() == active);
}

TEST_CASE("a store with an embedding model embeds its references, verifies the most similar, and keeps them across opens",
          "[store][embedding]") {
    test::TempDir dir;
    const auto model = tiny_model();
    const auto coffee = test::read_bytes(test::sample_photo("coffee.jpg"));
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> photos = {
        {"coffee", coffee}, {"dome", test::read_bytes(test::sample_photo("dome.jpg"))},
        {"pot", test::read_bytes(test::sample_photo("pot-holder.jpg"))}};
    {
        Store store(dir.path(), with_model(model));
        for (const auto& [key, bytes] : photos) REQUIRE(store.add(key, bytes).ok());
        const StoreStats s = store.stats();
        CHECK(s.embedding_entries == 3u);
        CHECK(s.embedder == model->identity());
        CHECK(to_json(s)["embedder"] == model->identity());
        store.save_snapshot();
    }
    StoreOptions only_embeddings = with_model(model, OpenMode::write);
    // No PDQ and no descriptor candidates: whatever is verified came from the embedding channel.
    only_embeddings.pdq_max_distance = -1;
    only_embeddings.vote_candidates = 0;
    only_embeddings.embedding_min_similarity = -1;
    only_embeddings.search_regions = false;  // one search per query, so that the counts below are the whole image's
    Store store(dir.path(), only_embeddings);
    CHECK(store.stats().loaded_from_snapshot);
    CHECK(store.stats().embedding_entries == 3u);
    CHECK(store.check().healthy());
    SearchTrace trace;
    const auto hits = store.search(coffee, {}, &trace).value();
    REQUIRE_FALSE(hits.empty());
    CHECK(hits.front().key == "coffee");
    CHECK(hits.front().match);
    REQUIRE(hits.front().embedding_similarity);
    CHECK(*hits.front().embedding_similarity == Approx(1.0f).margin(1e-3));
    CHECK(to_json(hits.front()).contains("embedding_similarity"));
    CHECK(trace.verified == 3);  // embedding_neighbours (8) covers all three
    // The same search without the channel verifies nothing.
    StoreOptions without = only_embeddings;
    without.mode = OpenMode::read_only;
    without.signature.embedder = nullptr;
    Store blind(dir.path(), without);
    CHECK(blind.search(coffee).value().empty());
    // A deleted reference leaves the channel at once: the other two are verified, and nothing else.
    REQUIRE(store.remove("coffee"));
    SearchTrace after;
    SearchOptions every;
    every.top = 0;
    const auto rest = store.search(coffee, every, &after).value();
    CHECK(after.from_embeddings == 2);
    CHECK(after.verified == 2);
    for (const auto& h : rest) CHECK(h.key != "coffee");
}

TEST_CASE("an index refuses to be written with another embedding model, or without its own", "[store][embedding][bad_input]") {
    test::TempDir dir;
    const auto model = tiny_model();
    const auto dome = test::read_bytes(test::sample_photo("dome.jpg"));
    { REQUIRE(Store(dir.path(), with_model(model)).add("dome", dome).ok()); }
    const std::string where = "the index at " + dir.path().string();
    const auto other = tiny_model("other-embedder.onnx");
    REQUIRE(other->identity() != model->identity());
    CHECK(test::store_error_of([&] { Store(dir.path(), with_model(other, OpenMode::write)); }) ==
          where + " was built with the embedding model " + model->identity() + ", not " + other->identity() +
                                  ": embeddings of different models cannot be compared");
    CHECK(test::store_error_of([&] { Store(dir.path(), with_model(nullptr, OpenMode::write)); }) ==
          where + " embeds its references with the model " + model->identity() +
                                  ": open it with that model (--embedder), or its new references would have no embeddings");
    // Read-only without the model: searches work, without the channel.
    Store reader(dir.path(), with_model(nullptr, OpenMode::read_only));
    CHECK(reader.stats().embedder == model->identity());
    const auto found = reader.search(dome).value();
    REQUIRE_FALSE(found.empty());
    CHECK(found.front().key == "dome");

    test::TempDir plain;
    { REQUIRE(Store(plain.path()).add("dome", dome).ok()); }
    CHECK(test::store_error_of([&] { Store(plain.path(), with_model(model, OpenMode::write)); }) ==
          "the index at " + plain.path().string() + " was built without an embedding model, so its references "
                              "have no embeddings: index them again into a new directory with the model, or open this one without it");
    CHECK(test::store_error_of([&] { Store(plain.path(), with_model(model, OpenMode::read_only)); }) ==
          "the index at " + plain.path().string() + " was built without an embedding model, so its references "
                              "have no embeddings: open it without one");
}

TEST_CASE("check finds references whose embeddings the indexes lost", "[store][embedding]") {
    test::TempDir dir;
    const auto model = tiny_model();
    {
        Store store(dir.path(), with_model(model));
        REQUIRE(store.add("dome", test::read_bytes(test::sample_photo("dome.jpg"))).ok());
        store.save_snapshot();
    }
    // A snapshot that names no embedding file (written by hand): the segment loads without the embeddings.
    std::ifstream in(dir / "snapshot.json");
    const auto manifest = nlohmann::json::parse(in);
    in.close();
    auto edited = manifest;
    REQUIRE(edited["segments"][0].contains("embeddings"));
    edited["segments"][0].erase("embeddings");
    edited["segments"][0].erase("embeddings_sha256");
    std::ofstream(dir / "snapshot.json") << edited.dump(2);
    Store store(dir.path(), with_model(model, OpenMode::write));
    CHECK(store.stats().embedding_entries == 0u);
    const auto report = store.check();
    REQUIRE(report.indexes.size() == 1u);
    CHECK(report.indexes[0] == "catalog row 1 is in the embedding index 0 times, its signature has one");
}
